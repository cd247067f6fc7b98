"""The api_calls task: bounded cutting of long sequences, stratified disjoint folds, a tiny dataset learned."""
import numpy as np
import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.tasks.calls import (
    CallBag,
    CallsData,
    CallsModelConfig,
    CallsTask,
    cut,
    cut_runs,
    key_text,
    ngram_keys,
    text_key,
)
from rnnlab.training import prepare_task, seed_everything, train
from tiny_calls import FAMILIES, calls_config, write_calls_data

LONG = np.random.default_rng(0).integers(0, 300, 1_500_000).repeat(2)  # 3 M calls, runs of 2


def test_cut_runs_collapses_caps_and_counts():
    calls = np.array([5, 5, 5, 7, 5, 5, 8])
    assert [a.tolist() for a in cut_runs(calls, 1)] == [[5, 7, 5, 8], [3, 1, 2, 1]]
    assert [a.tolist() for a in cut_runs(calls, 2)] == [[5, 5, 7, 5, 5, 8], [3, 3, 1, 2, 2, 1]]
    assert [a.tolist() for a in cut_runs(calls, 0)] == [calls.tolist(), [3, 3, 3, 1, 2, 2, 1]]


@pytest.mark.parametrize("strategy, bound", [("head", 500), ("tail", 500), ("head_tail", 500), ("chunks", 7 * 64)])
@pytest.mark.parametrize("max_run", [0, 1, 3])
def test_every_strategy_is_bounded_on_a_very_long_sequence(strategy, bound, max_run):
    data = CallsData(strategy=strategy, max_calls=500, chunk_size=64, max_chunks=7, max_run=max_run)
    chunks, runs = cut(LONG, data)
    assert sum(len(c) for c in chunks) == bound
    assert [len(r) for r in runs] == [len(c) for c in chunks]
    assert len(chunks) == (7 if strategy == "chunks" else 1)


def test_strategies_keep_the_right_parts():
    calls = np.arange(1000)
    data = dict(max_calls=10, chunk_size=100, max_chunks=3)
    assert cut(calls, CallsData(strategy="head", **data))[0][0].tolist() == list(range(10))
    assert cut(calls, CallsData(strategy="tail", **data))[0][0].tolist() == list(range(990, 1000))
    head_tail = cut(calls, CallsData(strategy="head_tail", **data))[0][0].tolist()
    assert head_tail == [0, 1, 2, 3, 4, 995, 996, 997, 998, 999]
    chunks = cut(calls, CallsData(strategy="chunks", **data))[0]
    assert [c[0] for c in chunks] == [0, 400, 900]  # first, middle and last of 10 chunks
    assert [c[0] for c in cut(np.arange(950), CallsData(strategy="chunks", **data))[0]] == [0, 400, 850]  # full
    short = cut(np.arange(5), CallsData(strategy="chunks", **data))[0]
    assert [c.tolist() for c in short] == [[0, 1, 2, 3, 4]]


def test_a_huge_input_predicts_with_bounded_tokens(tmp_path):
    paths = write_calls_data(tmp_path / "d", per_family=4)
    cfg = calls_config(paths, tmp_path / "run", data={"strategy": "chunks", "chunk_size": 50, "max_chunks": 4,
                                                      "max_run": 1}, model={"run_feature": True})
    task, _ = prepare_task(cfg)
    model = task.build_model().eval()
    pred, = task.predict(model, [LONG])
    assert len(pred["tokens"]) == 200 and len(pred["text"]) < 2000
    assert sum(x["probability"] for x in pred["ranking"]) == pytest.approx(1.0, abs=1e-4)


def _split_config(tmp_path, **data):
    paths = write_calls_data(tmp_path / "d", per_family=20)
    return calls_config(paths, tmp_path / "run", data={"valid_fraction": 0.25, **data})


def test_folds_are_stratified_and_disjoint(tmp_path):
    seen_test = []
    for fold in range(4):
        task = CallsTask(_split_config(tmp_path, folds=4, fold=fold).data, CallsModelConfig())
        parts = {s: task.read(s) for s in task.splits()}
        assert task.splits() == ["train", "valid", "test"]
        lines = {s: {e.line for e in ex} for s, ex in parts.items()}
        assert not (lines["train"] & lines["valid"]) and not (lines["train"] | lines["valid"]) & lines["test"]
        assert len(lines["train"] | lines["valid"] | lines["test"]) == 60
        for split, n in (("test", 5), ("valid", 4)):  # 15 per family per fold, a quarter of 45 held out... stratified
            counts = {f: sum(e.label == f for e in parts[split]) for f in FAMILIES}
            assert set(counts.values()) <= {n - 1, n, n + 1} and max(counts.values()) - min(counts.values()) <= 1
        seen_test.append(lines["test"])
    assert sorted(x for s in seen_test for x in s) == list(range(1, 61))  # every line tested exactly once
    again = CallsTask(_split_config(tmp_path, folds=4, fold=2).data, CallsModelConfig()).read("test")
    assert {e.line for e in again} == seen_test[2]  # fixed split_seed: the same folds every time


def test_bad_split_settings_are_one_line_errors(tmp_path):
    cfg = _split_config(tmp_path)
    for data, message in (({"folds": 1}, "data.folds"), ({"folds": 3, "fold": 3}, "data.fold"),
                          ({"folds": 3, "test": "x.txt"}, "data.test must be empty"),
                          ({"strategy": "middle"}, "data.strategy"), ({"max_calls": 0}, "data.max_calls")):
        with pytest.raises(UserError, match=message):
            CallsTask(CallsData(**{**cfg.data.__dict__, **data}), CallsModelConfig())
    with pytest.raises(UserError, match="model.chunk_pool"):
        CallsTask(cfg.data, CallsModelConfig(chunk_pool="sum"))


def test_folds_that_cannot_be_stratified_are_a_one_line_error(tmp_path):
    paths = write_calls_data(tmp_path / "d", per_family=2)  # 2 sequences per family, 3 folds
    task = CallsTask(calls_config(paths, tmp_path / "run", data={"folds": 3, "fold": 0}).data, CallsModelConfig())
    with pytest.raises(UserError, match="data.folds=3: .*members"):
        task.read("train")


def test_the_model_keeps_the_classifier_as_core_under_its_saved_names(tmp_path):
    task, _ = prepare_task(_split_config(tmp_path))
    task.model_config = CallsModelConfig(cell="gru", embed_size=12, hidden_size=16, chunk_pool="attention",
                                         run_feature=True)
    keys = list(task.build_model().state_dict())
    # saved bundles hold these names (model.safetensors loads strictly): the shared classifier is `core`
    assert keys[:6] == ["core.embed.weight", "core.encoder.weight_ih_l0", "core.encoder.weight_hh_l0",
                        "core.encoder.bias_ih_l0", "core.encoder.bias_hh_l0", "core.head.weight"]
    assert keys[6:] == ["core.head.bias", "run_embed.weight", "run_embed.bias", "pool.0.weight", "pool.0.bias",
                        "pool.2.weight", "pool.2.bias"]


def test_unknown_calls_and_bad_input(tmp_path):
    task, _ = prepare_task(_split_config(tmp_path))
    model = task.build_model().eval()
    pred, = task.predict(model, [task.parse_input("10, 11 424242 90")])
    assert pred["tokens"] == ["api_10", "api_11", "424242", "api_90"]  # named by the index; unknown as the id
    assert pred["unknown"] == [False, False, True, False] and pred["answer_kind"] == "family"
    for text in ("", "1,x", "-3"):
        with pytest.raises(UserError):
            task.parse_input(text)


@pytest.mark.parametrize("data, model", [
    ({"strategy": "head"}, {}),
    ({"strategy": "chunks", "chunk_size": 6, "max_chunks": 4, "max_run": 1}, {"chunk_pool": "attention",
                                                                              "run_feature": True}),
])
def test_a_tiny_three_family_dataset_is_learned(tmp_path, one_thread, data, model):
    paths = write_calls_data(tmp_path / "d", per_family=20)
    cfg = calls_config(paths, tmp_path / "run", data={**data, "folds": 4, "fold": 0}, model=model)
    seed_everything(0)
    summary = train(cfg, echo=None)
    assert summary["test"]["accuracy"] >= 0.9 and summary["test"]["n"] == 15
    assert summary["test"]["macro_f1"] >= 0.9 and torch.isfinite(torch.tensor(summary["test"]["loss"]))


def test_input_length_counts_the_calls_read():
    task = CallsTask(CallsData(strategy="head", max_calls=50, max_run=1), CallsModelConfig())
    assert task.input_length("1,1,1,2,2,3") == 3  # runs collapsed
    assert task.input_length(",".join(str(i % 7) for i in range(10_000))) == 50


def test_predict_in_batches_gives_the_same_answers(tmp_path):
    task, _ = prepare_task(_split_config(tmp_path))
    model = task.build_model().eval()
    inputs = [",".join(str(10 * (i % 3) + j % 4) for j in range(5 + i % 7)) for i in range(70)]  # > one batch
    together = task.predict(model, inputs)
    assert len(together) == 70 and together[65] == task.predict(model, inputs[65:66])[0]


def test_predict_from_the_export_graph_gives_the_same_answers(tmp_path, one_thread):
    """predict_graphs on the graph (chunks, attention over them, the run feature as a third input), by PyTorch and
    by onnxruntime, batches of PREDICT_BATCH included: predict's answers."""
    from dataclasses import asdict

    from rnnlab.export import TRACE_SIZE, prepare, to_onnx
    from rnnlab.runtime import OnnxGraph, torch_graphs

    paths = write_calls_data(tmp_path / "d", per_family=4)
    cfg = calls_config(paths, tmp_path / "run", data={"strategy": "chunks", "chunk_size": 4, "max_chunks": 3,
                                                      "max_run": 1},
                       model={"run_feature": True, "chunk_pool": "attention"})
    seed_everything(0)
    task, _ = prepare_task(cfg)
    model = task.build_model().eval()
    inputs = [",".join(str(10 * (i % 3) + j % 4) for j in range(5 + i % 17)) for i in range(70)] + [LONG[:5000]]
    want = task.predict(model, inputs)
    graph = prepare(task.export_graph(model))
    assert [t.name for t in graph.inputs] == ["tokens", "lengths", "runs"]
    onnx = OnnxGraph(to_onnx(graph, task.export_example(model, *TRACE_SIZE)), [asdict(t) for t in graph.inputs],
                     [asdict(t) for t in graph.outputs])
    for graphs in (torch_graphs(task, model), {"model": onnx}):
        got = task.predict_graphs(graphs, inputs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert [x["label"] for x in g["ranking"]] == [x["label"] for x in w["ranking"]]
            assert [x["probability"] for x in g["ranking"]] == pytest.approx([x["probability"] for x in w["ranking"]],
                                                                            abs=1e-5)
            assert {k: v for k, v in g.items() if k not in ("ranking", "answer", "steps")} == {
                k: v for k, v in w.items() if k not in ("ranking", "answer", "steps")}
            assert [s["token"] for s in g["steps"]] == [s["token"] for s in w["steps"]]


# ---- the bag of n-grams (model.bag_size) ----------------------------------------------------------------


def test_ngram_keys_tell_every_ngram_of_any_length_apart():
    keys = ngram_keys(np.array([0, 1, 0, 1]), 3)
    # 4 one-grams, 3 two-grams, 2 three-grams; "0 1" twice, "0" and "1" twice each
    assert len(keys) == 9 and len(set(keys.tolist())) == 6
    assert {key_text(int(k)) for k in keys} == {"0", "1", "0 1", "1 0", "0 1 0", "1 0 1"}
    assert all(text_key(key_text(int(k))) == k for k in keys)
    big = ngram_keys(np.array([2**20 + 5, 7]), 2)  # an id beyond the key's digits shares the last one
    assert key_text(int(big[0])) == str(2**20 - 2) and key_text(int(big[2])) == f"{2**20 - 2} 7"


def test_the_bag_is_the_tfidf_baselines_vector():
    """All n-grams kept: the same vectors as scikit-learn's TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True)
    over the sequences written as words, the baseline of benchmarks/malware.py."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 12, rng.integers(3, 60)) for _ in range(30)]
    bag = CallBag.fit(seqs, 10**6, 3)
    docs = [" ".join(f"c{c}" for c in s) for s in seqs]
    vec = TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True, token_pattern=r"\S+", lowercase=False)
    want = vec.fit_transform(docs).toarray()
    column = {g.replace("c", ""): i for g, i in vec.vocabulary_.items()}
    assert len(bag) == len(column)
    for s, w in zip(seqs, want):
        idx, values = bag.vector(s)
        got = np.zeros(len(column))
        for i, v in zip(idx, values):
            got[column[key_text(int(bag.keys[i]))]] = v
        assert np.allclose(got, w, atol=1e-6)


def test_the_bag_keeps_the_most_common_ngrams_and_reads_back_from_json():
    seqs = [np.array([1, 2, 3]), np.array([1, 2]), np.array([1, 9])]
    bag = CallBag.fit(seqs, 2, 2)  # df: "1" 3, "2" 2, "1 2" 2, ...: "1", then "2" (the smaller key of the ties)
    assert sorted(key_text(int(k)) for k in bag.keys) == ["1", "2"]
    again = CallBag.from_json(bag.to_json())
    assert np.array_equal(again.keys, bag.keys) and np.allclose(again.idf, bag.idf)
    assert bag.vector(np.array([7, 7])) == ([], [])  # nothing it knows: an empty bag, not a NaN
    for bad in ({"ngrams": ["1 x"], "idf": [1.0], "n_max": 2}, {"ngrams": ["1"], "idf": [], "n_max": 2},
                {"ngrams": ["1 2 3"], "idf": [1.0], "n_max": 2}, {"ngrams": ["1"], "idf": [1.0], "n_max": 4}):
        with pytest.raises(ValueError):
            CallBag.from_json(bad)


def test_a_bag_model_learns_saves_predicts_and_exports(tmp_path, one_thread):
    """model.bag_size: trained with the recurrent part, saved as bag.ngrams.json, the same answers after loading
    and from the export graph (a fourth input) in onnxruntime; a bundle without its bag file is refused."""
    from dataclasses import asdict

    import rnnlab
    from rnnlab.errors import BundleError
    from rnnlab.export import TRACE_SIZE, prepare, to_onnx
    from rnnlab.runtime import OnnxGraph

    paths = write_calls_data(tmp_path / "d", per_family=20)
    cfg = calls_config(paths, tmp_path / "run", data={"strategy": "chunks", "chunk_size": 6, "max_chunks": 4,
                                                      "max_run": 1, "folds": 4, "fold": 0},
                       model={"run_feature": True, "bag_size": 50, "bag_ngrams": 2})
    seed_everything(0)
    summary = train(cfg, echo=None)
    assert summary["test"]["macro_f1"] >= 0.9
    bundle = tmp_path / "run" / "bundle"
    predictor = rnnlab.load(bundle)
    assert len(predictor.task.bag) == 50 and predictor.model.bag_head.weight.shape[1] == 50
    inputs = [",".join(str(10 * (i % 3) + j % 4) for j in range(5 + i % 17)) for i in range(10)]
    want = predictor.predict(inputs)
    graph = prepare(predictor.task.export_graph(predictor.model))
    assert [t.name for t in graph.inputs] == ["tokens", "lengths", "runs", "bag"]
    onnx = OnnxGraph(to_onnx(graph, predictor.task.export_example(predictor.model, *TRACE_SIZE)),
                     [asdict(t) for t in graph.inputs], [asdict(t) for t in graph.outputs])
    got = predictor.task.predict_graphs({"model": onnx}, inputs)
    for g, w in zip(got, want):
        assert [x["probability"] for x in g["ranking"]] == pytest.approx([x["probability"] for x in w["ranking"]],
                                                                        abs=1e-5)
    (bundle / "bag.ngrams.json").unlink()
    with pytest.raises(BundleError):
        rnnlab.load(bundle)


def test_bad_bag_settings_are_one_line_errors(tmp_path):
    for model, words in (({"bag_size": -1}, "model.bag_size"), ({"bag_size": 10, "bag_ngrams": 4}, "1 .. 3"),
                         ({"bag_size": 10, "bag_ngrams": 0}, "model.bag_ngrams")):
        with pytest.raises(UserError, match=words):
            CallsTask(CallsData(), CallsModelConfig(**model))

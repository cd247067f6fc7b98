"""The joint intent + slot task: metrics, decoding, and train / evaluate / predict end to end on a tiny CSV."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from rnnlab.bundle import load
from rnnlab.cli import main
from rnnlab.readers.utterances import read_csv
from rnnlab.tasks.joint import JointData, JointModelConfig, JointTask
from same_predictions import assert_same_predictions

TINY = Path(__file__).resolve().parent.parent / "data" / "slots_tiny.csv"
MODEL = ["model.embed_size=16", "model.char_dim=8", "model.char_filters=16", "model.hidden_size=24",
         "model.dropout=0.0",
         "model.word_dropout=0.1"]
TRAIN = ["train.epochs=15", "train.batch_size=8", "train.lr=0.02", "train.progress=false", "train.seed=0",
         "train.warmup_steps=0", "train.clip_norm=5.0"]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Two bundles trained from the tiny CSV with the CLI: a 2-layer LSTM+CRF and a 1-layer GRU with softmax."""
    root = tmp_path_factory.mktemp("slots")
    data = [f"data.train={TINY}", f"data.valid={TINY}", f"data.test={TINY}"]
    out = {}
    for name, extra in (("lstm_crf", ["model.cell=lstm", "model.num_layers=2", "model.crf=true"]),
                        ("gru_softmax", ["model.cell=gru", "model.num_layers=1", "model.crf=false"])):
        run = root / name
        assert main(["train", "task=intent_slots", f"run_dir={run}", *data, *MODEL, *TRAIN, *extra, "--quiet"]) == 0
        out[name] = run / "bundle"
    return out


@pytest.mark.parametrize("name", ["lstm_crf", "gru_softmax"])
def test_train_evaluate_from_csv(bundles, name, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(bundles[name]), "--split", "test", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # it fits its (tiny) training data: far above chance (1/3 intents), slots nearly all right
    assert metrics["intent_accuracy"] >= 0.95 and metrics["slot_f1"] >= 0.9 and metrics["exact_match"] >= 0.8
    assert {"slot_f1_strict", "loss"} <= set(metrics)
    assert not list(bundles[name].glob("*.pt")) and not list(bundles[name].glob("*.pkl"))


def test_predict_readable_line_and_json(bundles, capsys):
    capsys.readouterr()
    assert main(["predict", str(bundles["lstm_crf"]), "play some adele on spotify"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("play some adele on spotify\tintent: 'PlayMusic' (")
    assert "[adele]{artist}" in line and "[spotify]{service}" in line
    assert main(["predict", "--json", str(bundles["lstm_crf"]), "wake me up at noon zzyzx"]) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["task"] == "intent_slots" and p["text"] == "wake me up at noon zzyzx"
    assert p["answer"]["label"] == "SetAlarm" and p["answer_kind"] == "intent" and p["tokens"][-1] == "zzyzx"
    tags = [s["tag"] for s in p["steps"]]
    assert [s["token"] for s in p["steps"]] == p["tokens"] and len(tags) == len(p["tokens"])
    assert p["unknown"][-1] is True and p["unknown"][0] is False  # OOV: no exception
    for step in p["steps"]:
        intents = {x["label"]: x["probability"] for x in step["ranking"]}
        assert abs(sum(intents.values()) - 1) < 1e-3
        assert intents[step["ranking"][0]["label"]] == max(intents.values())


@pytest.mark.parametrize("name", ["lstm_crf", "gru_softmax"])
def test_per_token_intents_are_left_to_right(bundles, name):
    """The guess after word t depends on words 1..t only: changing later words leaves it unchanged."""
    predictor = load(bundles[name])
    a, b = predictor.predict(["play the beatles on spotify", "play the weather in tokyo tomorrow"])
    def intents(step):
        return {x["label"]: x["probability"] for x in step["ranking"]}

    for t in range(1):  # only "play" is shared
        assert intents(a["steps"][t]) == intents(b["steps"][t])
    c, d = predictor.predict(["set an alarm for noon", "set an alarm for 7 am please"])
    for t in range(4):
        assert intents(c["steps"][t]) == intents(d["steps"][t])
    # ...while the whole-sentence (bidirectional) intent sees everything and is a distribution too
    assert abs(sum(x["probability"] for x in c["ranking"]) - 1) < 1e-3


def test_unknown_characters_words_and_empty_input(bundles):
    predictor = load(bundles["gru_softmax"])
    [p] = predictor.predict(["PLAY ÆØÅ 🎵 on spotify"])  # unseen characters and words: mapped to <unk>
    assert len([s["tag"] for s in p["steps"]]) == 5
    from rnnlab.errors import UserError
    with pytest.raises(UserError, match="empty"):
        predictor.predict(["   "])


def test_predict_of_no_inputs_is_no_predictions(bundles):
    predictor = load(bundles["lstm_crf"])
    assert predictor.predict([]) == []  # not a failure to collate an empty batch
    assert predictor.task.predict(predictor.model, []) == []


def test_unseen_labels_in_evaluation_data_count_as_errors(tmp_path):
    train = read_csv(TINY)
    task = JointTask(JointData(), JointModelConfig(embed_size=8, char_filters=8, hidden_size=8, num_layers=1))
    task.fit(train)
    torch.manual_seed(0)
    model = task.build_model().eval()
    shutil.copy(TINY, tmp_path / "t.csv")
    with open(tmp_path / "t.csv", "a") as f:
        f.write("order a pizza,OrderFood,O O B-food\n")  # intent and slot type never seen in training
    feats = [task.encode(u) for u in read_csv(tmp_path / "t.csv")]
    assert feats[-1]["intent"] == -1 and feats[-1]["tags"][-1] >= len(task.tags)
    metrics = task.evaluate(model, [task.collate(feats)])
    assert 0 <= metrics["intent_accuracy"] < 1 and metrics["exact_match"] < 1
    batch = task.collate(feats)
    assert torch.isfinite(task.loss(model, batch).total)


def test_trace_matches_predict_and_records_every_layer(bundles):
    predictor = load(bundles["lstm_crf"])
    trace = predictor.trace("play adele on spotify")
    assert trace["answer"]["label"] == predictor.predict("play adele on spotify")[0]["answer"]["label"]
    assert sorted((l["layer"], l["direction"]) for l in trace["layers"]) == [
        (0, "backward"), (0, "forward"), (1, "backward"), (1, "forward")]
    first = next(l for l in trace["layers"] if (l["layer"], l["direction"]) == (0, "forward"))
    assert len(first["h"]) == 4 and len(first["h"][0]) == 24 and len(first["c"]) == 4 and first["gates"]


def test_singleton_dropout_replaces_only_words_seen_once():
    from rnnlab.readers.utterances import Utterance

    train = [Utterance(("book", "in", "paris"), "Book", ("O", "O", "B-city")),
             Utterance(("book", "in", "france"), "Book", ("O", "O", "B-country")),
             Utterance(("book", "in", "france"), "Book", ("O", "O", "B-country"))]
    task = JointTask(JointData(), JointModelConfig(word_dropout=0.0, singleton_dropout=0.5, members=1))
    task.fit(train)
    batch = task.collate([task.encode(u) for u in train] * 200)  # 600 sentences
    seen = {}
    torch.manual_seed(0)
    model = task.build_model().train()
    # the word ids that reach the embedding, after the model's own word dropout
    model.words.register_forward_pre_hook(lambda module, args: seen.update(words=args[0]))
    task.loss(model, batch)
    unk, paris = task.words.unk_id, task.words.stoi["paris"]
    replaced = seen["words"] == unk
    single = batch["words"] == paris
    assert not replaced[~single].any()  # "book", "in", "france" (seen 2-3 times) and padding are never replaced
    assert 0.4 < replaced[single].float().mean() < 0.6  # "paris" (seen once): about half of its 200 uses
    model.eval()
    task.loss(model, batch)
    assert torch.equal(seen["words"], batch["words"])  # no replacement outside training


def test_intent_smoothing_and_intent_nll():
    import torch.nn.functional as F

    train = read_csv(TINY)
    task = JointTask(JointData(), JointModelConfig(embed_size=16, char_dim=8, char_filters=16, hidden_size=24,
                                                   dropout=0.0, word_dropout=0.0, causal_weight=0.0))
    task.fit(train)
    batch = task.collate([task.encode(u) for u in train])
    torch.manual_seed(0)
    model = task.build_model().train()  # no dropout anywhere: train mode is deterministic
    out = model(batch["words"], batch["chars"], batch["lengths"])
    intent = F.cross_entropy(out["intent"], batch["intent"], reduction="sum")
    base = task.loss(model, batch).total
    task.model_config.intent_smoothing = 0.1
    smooth = F.cross_entropy(out["intent"], batch["intent"], reduction="sum", label_smoothing=0.1)
    # training sees the smoothed targets
    assert task.loss(model, batch).total.item() == pytest.approx(base.item() - intent.item() + smooth.item(), rel=1e-5)
    model.eval()
    assert task.loss(model, batch).total.item() == pytest.approx(base.item(), rel=1e-5)  # evaluation: plain loss
    metrics = task.evaluate(model, [batch])
    assert metrics["intent_nll"] == pytest.approx(intent.item() / len(train), rel=1e-5)


def test_attention_pool_ignores_padding():
    train = read_csv(TINY)
    task = JointTask(JointData(), JointModelConfig(embed_size=16, char_dim=8, char_filters=16, hidden_size=24,
                                                   attention_pool=True))
    task.fit(train)
    torch.manual_seed(0)
    model = task.build_model().eval()
    short, long = sorted(train, key=lambda u: len(u.tokens))[0], max(train, key=lambda u: len(u.tokens))
    assert len(long.tokens) > len(short.tokens)
    alone = task.collate([task.encode(short)])
    padded = task.collate([task.encode(short), task.encode(long)])  # the short one is padded here
    with torch.no_grad():
        a = model(alone["words"], alone["chars"], alone["lengths"])["intent"][0]
        b = model(padded["words"], padded["chars"], padded["lengths"])["intent"][0]
    assert model.intent_head.in_features == 6 * 24  # final states, max pool, attention pool
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("bad", ["model.singleton_dropout=1.0", "model.word_dropout=-0.1", "model.dropout=1.5",
                                 "model.intent_smoothing=1.0"])
def test_dropout_rates_out_of_range_are_refused(tmp_path, bad, capsys):
    data = [f"data.train={TINY}", f"data.valid={TINY}", f"data.test={TINY}"]
    assert main(["train", "task=intent_slots", f"run_dir={tmp_path / 'run'}", *data, *MODEL, *TRAIN, bad,
                 "--quiet"]) != 0
    assert f"{bad.split('=')[0]} must be in [0, 1)" in capsys.readouterr().err


def test_a_bundle_saved_with_the_old_config_names_loads_and_scores_the_same(bundles, tmp_path, capsys):
    """Bundles saved before model.word_dim / hidden / layers became embed_size / hidden_size / num_layers
    (and model.min_count became data.min_count, as in the other tasks) load unchanged: same config, same
    predictions, same metrics (JointTask.RENAMED, migrated by rnnlab.config as config.json is read)."""
    old = tmp_path / "old"
    shutil.copytree(bundles["lstm_crf"], old)
    raw = json.loads((old / "config.json").read_text())
    for new, name in (("embed_size", "word_dim"), ("hidden_size", "hidden"), ("num_layers", "layers")):
        raw["model"][name] = raw["model"].pop(new)
    raw["model"]["min_count"] = raw["data"].pop("min_count")
    (old / "config.json").write_text(json.dumps(raw))  # config.json is not in its own checksum manifest
    a, b = load(bundles["lstm_crf"]), load(old)
    assert (b.config.model, b.config.data) == (a.config.model, a.config.data)
    text = ["play adele on spotify", "what is the weather in zzqx"]
    assert b.predict(text) == a.predict(text) and b.trace(text[0]) == a.trace(text[0])
    scores = []
    for bundle in (bundles["lstm_crf"], old):
        capsys.readouterr()
        assert main(["evaluate", str(bundle), "--split", "test", "--json"]) == 0
        scores.append(json.loads(capsys.readouterr().out.strip().splitlines()[-1]))
    assert scores[0] == scores[1] and scores[0]["slot_f1"] > 0.5


@pytest.mark.parametrize("members", [1, 2], ids=["crf", "crf_ensemble"])
def test_a_crf_bundle_predicts_the_same_from_its_export(tmp_path, members, one_thread):
    """`rnnlab export` of a CRF model writes the CRF's scores as graph outputs; `rnnlab predict OUT` (onnxruntime)
    runs the Viterbi search under them: the bundle's tags, spans and intents (an ensemble: its mean CRF)."""
    from rnnlab.errors import UserError
    from rnnlab.export import export_bundle
    from rnnlab.runtime import load_predictor, torch_graphs

    lines = ["text,intent,tags"]
    artists, songs, cities = ["adele", "queen", "abba"], ["hello world", "blue sky song", "rain"], ["new york", "paris"]
    for i in range(24):
        song, artist, city = songs[i % 3], artists[i % 3], cities[i % 2]
        if i % 2:
            lines.append(f"play {song} by {artist},PlayMusic,O B-song{' I-song' * (len(song.split()) - 1)} O "
                         f"B-artist")
        else:
            lines.append(f"weather in {city} today,GetWeather,O O B-city{' I-city' * (len(city.split()) - 1)} O")
    (tmp_path / "slots.csv").write_text("\n".join(lines) + "\n")
    data = [f"data.{s}={tmp_path / 'slots.csv'}" for s in ("train", "valid", "test")]
    run = tmp_path / "run"
    assert main(["train", "task=intent_slots", f"run_dir={run}", *data, *MODEL, "model.crf=true",
                 f"model.members={members}", "model.num_layers=1", *TRAIN[1:], "train.epochs=4", "--quiet"]) == 0
    out = tmp_path / "export"
    meta = export_bundle(run / "bundle", out)
    k = len(json.loads((out / "vocab.tags.json").read_text())["tokens"])
    assert [(o["name"], o["shape"]) for o in meta["graphs"]["model"]["outputs"]][3:] == [
        ("transitions", [k, k]), ("start", [k]), ("end", [k])]

    bundle, served = load(run / "bundle"), load_predictor(out)
    assert served.runtime == "onnx"
    _, _, _, transitions, start, end = served.model.graphs["model"](*(
        served.task.export_example(None, 1, 3).values()))
    want = [w.detach() for w in bundle.model.crf_scores()]
    for got, w in zip((transitions, start, end), want):  # trained scores, BIO constraints' penalties included
        torch.testing.assert_close(got, w, atol=1e-5, rtol=0)
    assert float(want[0].abs().max()) >= 10000 and float(want[0].max()) != 0.0
    texts = ["play rain by queen", "weather in new york today", "play hello world by zzyzx", "weather in paris",
             "blue sky song", "play"]
    for batch in (texts[:1], texts):
        assert_same_predictions(served.predict(batch), bundle.predict(batch), tolerance=1e-4)
    assert_same_predictions(bundle.task.predict_graphs(torch_graphs(bundle.task, bundle.model), texts),
                            bundle.predict(texts), tolerance=1e-4)
    assert any(p["spans"] for p in bundle.predict(texts))

    # a CRF model's graph written before the scores were an output: told to export again, not decoded wrongly
    old = served.model.graphs["model"]
    with pytest.raises(UserError, match="export the bundle again"):
        served.task.predict_graphs({"model": lambda *x: old(*x)[:3]}, texts)

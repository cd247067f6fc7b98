"""The log anomaly task: it learns a small grammar of normal sessions, flags what breaks it (top-g rule and
scores), and reports recall at a false-positive rate; windows, unknown events and the end of a session."""
import random

import pytest
import torch

from rnnlab.config import load_config
from rnnlab.errors import UserError
from rnnlab.export import export_bundle
from rnnlab.runtime import load_predictor, torch_graphs
from rnnlab.tasks.base import check_prediction
from rnnlab.tasks.logs import MAX_SURPRISE, LogAnomalyTask, LogData, LogModelConfig
from rnnlab.training import train
from same_predictions import assert_same_predictions  # noqa: E402


def grammar_session(rng: random.Random) -> str:
    """1 2 (3 4 | 3 5)+ 6 7: after 3 the model cannot know 4 from 5, so top-2 is needed to pass everything."""
    return "1 2 " + " ".join(rng.choice(["3 4", "3 5"]) for _ in range(rng.randint(1, 4))) + " 6 7"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("logs")
    rng = random.Random(0)
    (tmp / "train.txt").write_text("".join(grammar_session(rng) + "\n" for _ in range(200)))
    (tmp / "abnormal.txt").write_text("a,1 2 3 9 6 7\nb,1 2 6 7\nc,1 2 3 4\nd,1 2 3 4 3 3 6 7\n")
    cfg = load_config(None, ["task=log_anomaly", f"run_dir={tmp / 'run'}", f"data.train={tmp / 'train.txt'}",
                             f"data.test_abnormal={tmp / 'abnormal.txt'}", "data.normal_holdout=0.2",
                             "model.window=4", "model.top_g=2", "model.hidden_size=32", "model.embed_size=8",
                             "train.epochs=15", "train.batch_size=16", "train.lr=0.01", "train.progress=false"])
    summary = train(cfg, overwrite=True, echo=None)
    import rnnlab

    return rnnlab.load(tmp / "run" / "bundle"), summary


def test_the_model_learns_the_grammar(trained):
    predictor, summary = trained
    # normal next events: every one is 4-or-5-after-3 (1 bit), else certain: top-2 accuracy is ~1
    assert summary["valid"]["top_g_accuracy"] > 0.99
    assert summary["valid"]["loss"] < 0.45  # the 4/5 choice costs log 2 = 0.69 on ~1/3 of the events
    assert summary["test"]["fpr"] == 0.0  # held-out normal sessions pass the top-2 rule
    assert summary["test"]["recall"] == 1.0  # every abnormal one is flagged
    assert summary["test"]["roc_auc"] == 1.0 and summary["test"]["recall_at_fpr_0.01"] == 1.0


def test_out_of_grammar_sessions_are_flagged_and_explained(trained):
    predictor, _ = trained
    normal, unknown, order, cut = predictor.predict(["1 2 3 4 3 5 6 7", "1 2 3 9 6 7", "1 2 6 7", "x,1 2 3 4"])
    for p in (normal, unknown, order, cut):
        check_prediction(p)
    assert normal["answer"]["label"] == "normal" and max(s["rank"] for s in normal["steps"]) <= 2
    assert unknown["answer"]["label"] == "abnormal" and unknown["unknown"] == [False] * 3 + [True] + [False] * 2
    assert unknown["steps"][3]["rank"] > 2 and unknown["steps"][3]["score"] == pytest.approx(MAX_SURPRISE)
    # in-vocabulary events in a wrong order: 6 right after 2 is outside the top 2
    assert order["answer"]["label"] == "abnormal" and order["steps"][2]["rank"] > 2
    # a session cut short: every event is expected, but its end is not
    assert cut["answer"]["label"] == "abnormal" and cut["scores"]["end_rank"] > 2
    assert max(s["rank"] for s in cut["steps"]) <= 2
    assert cut["scores"]["max_surprise"] > normal["scores"]["max_surprise"] + 2
    # after reading 3, the model's two guesses are 4 and 5
    assert {x["label"] for x in normal["steps"][2]["ranking"]} == {"4", "5"}
    assert len(normal["steps"][2]["ranking"]) == 2  # top g


def test_top_g_is_the_rule(trained):
    predictor, _ = trained
    task, model = predictor.task, predictor.model
    scored = task.score_sessions(model, [["1", "2", "3", "4", "6", "7"]])[0]
    assert task.verdict(scored, 2)["abnormal"] is False
    assert task.verdict(scored, 1)["abnormal"] is True  # 4 or 5 after 3 is a coin toss: one of them ranks 2nd
    assert task.verdict(scored)["top_g"] == 2  # the bundle's own g by default


def test_unknown_ids_never_raise_but_words_and_empty_input_do(trained):
    predictor, _ = trained
    (p,) = predictor.predict(["1 99 05 12345"])  # well-formed ids the model never saw: DeepLog's anomaly signal
    assert p["tokens"] == ["1", "99", "5", "12345"] and p["unknown"] == [False, True, False, True]
    assert p["answer"]["label"] == "abnormal"
    for text, words in [("1 zebra 05", "event id 'zebra' is not an integer"), ("1 -3", "event id -3 is negative"),
                        ("   ", "empty session"), ("id,", "empty session")]:
        with pytest.raises(UserError, match=words):  # a word is no event: refused, never called "abnormal"
            predictor.predict([text])


def test_trace_has_one_state_per_event(trained):
    predictor, _ = trained
    t = predictor.trace("1 2 3 4 6 7")
    assert t["cell"] == "lstm" and len(t["layers"]) == 2
    assert all(len(layer["h"]) == 6 and len(layer["h"][0]) == 32 for layer in t["layers"])


def test_windows_are_left_padded_with_the_start_symbol():
    task = LogAnomalyTask(LogData(train="x"), LogModelConfig(window=3))
    task.fit([type("S", (), {"tokens": ["1", "2"]})()])
    s, e = task.events.stoi["<s>"], task.events.stoi["</s>"]
    one, two = task.events.stoi["1"], task.events.stoi["2"]
    windows, targets = task._windows([one, two])
    assert windows.tolist() == [[s, s, s], [s, s, one], [s, one, two]]
    assert targets.tolist() == [one, two, e]


@pytest.mark.parametrize("key, value, words", [("window", -1, "model.window"), ("top_g", 0, "model.top_g"),
                                               ("cell", "foo", "model.cell")])
def test_bad_model_config_is_one_line(key, value, words):
    with pytest.raises(UserError, match=words):
        LogAnomalyTask(LogData(train="x"), LogModelConfig(**{key: value}))


def test_bad_fractions_and_no_train_file(tmp_path):
    with pytest.raises(UserError, match="data.normal_holdout"):
        LogAnomalyTask(LogData(train="x", normal_holdout=1.0), LogModelConfig())
    with pytest.raises(UserError, match="data.train is not set"):
        LogAnomalyTask(LogData(), LogModelConfig()).read("train")


def test_holdout_is_the_last_part_of_the_train_file(tmp_path):
    (tmp_path / "t.txt").write_text("".join(f"{i} {i}\n" for i in range(10)))
    task = LogAnomalyTask(LogData(train=str(tmp_path / "t.txt"), normal_holdout=0.2, valid_fraction=0.25),
                          LogModelConfig())
    train_, valid, test = task.read("train"), task.read("valid"), task.read("test")
    assert [s.id for s in test] == ["9", "10"] and all(s.label == 0 for s in test)
    assert len(valid) == 2 and len(train_) == 6
    assert {s.id for s in train_ + valid} == {str(i) for i in range(1, 9)}


def test_evaluate_a_users_file_unlabelled(trained, tmp_path, capsys):
    from rnnlab.cli import main

    predictor, _ = trained
    (tmp_path / "mine.txt").write_text("1 2 3 4 6 7\nz,1 2 3 9 6 7\n1 2 3 5 3 4 6 7\n1 2 6 7\n")
    assert main(["evaluate", str(predictor.path), "--data", str(tmp_path / "mine.txt"), "--json"]) == 0
    import json

    got = json.loads(capsys.readouterr().out)
    assert got["sessions"] == 4 and got["flagged_rate"] == 0.5  # the unknown event and 6 right after 2
    assert "recall" not in got and "fpr" not in got  # unlabelled: no rates


@pytest.mark.parametrize("step, ok", [({"rank": 1, "score": 0.5}, True), ({"rank": 0}, False), ({"rank": True}, False),
                                      ({"rank": 2.0}, False), ({"score": float("nan")}, False), ({"score": 1}, False)])
def test_the_schema_checks_a_steps_rank_and_score(step, ok):
    p = {"task": "log_anomaly", "text": "5", "tokens": ["5"], "steps": [{"token": "5", **step}]}
    if ok:
        check_prediction(p)
    else:
        with pytest.raises(ValueError, match="steps\\[0\\]"):
            check_prediction(p)


def test_the_export_gives_the_bundles_verdicts_under_every_option(trained, tmp_path):
    """`rnnlab predict OUT` (predict_graphs on the export's graph in onnxruntime) against the bundle, with top_g and
    rankings other than the bundle's: the same verdicts, ranks and guesses, surprises within float32 rounding."""
    predictor, _ = trained
    export_bundle(predictor.path, tmp_path / "export")
    served = load_predictor(tmp_path / "export")
    assert served.runtime == "onnx"
    sessions = ["1 2 3 4 3 5 6 7", "1 2 3 9 6 7", "1 2 6 7", "x,1 2 3 4", "1 2 3 5 6 7"]
    graphs = torch_graphs(predictor.task, predictor.model)
    for options in ({"top_g": 1}, {"top_g": 3, "rankings": False}, {}):
        want = predictor.predict(sessions, **options)
        assert_same_predictions(served.predict(sessions, **options), want, tolerance=1e-5)
        assert_same_predictions(predictor.task.predict_graphs(graphs, sessions, **options), want, tolerance=1e-5)
    # g = 1 calls the 4-or-5 coin toss after 3 abnormal, in both
    assert [p["answer"]["label"] for p in served.predict(sessions[:1], top_g=1)] == ["abnormal"]
    assert "ranking" not in served.predict(sessions[:1], rankings=False)[0]["steps"][0]

"""The log task on system-call traces (ADFA-LD's layout, configs/adfa.toml): trace directories read as sessions,
the whole trace read in one pass, a length-robust score, a threshold set at a stated false-positive rate on held-out
normal TRAINING traces (recorded in the bundle and the summary), and <unk> learned from rare calls."""
import json
import random

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cli import main
from rnnlab.config import load_config
from rnnlab.detectors.thresholds import threshold_at_fpr
from rnnlab.errors import UserError
from rnnlab.export import export_bundle
from rnnlab.runtime import load_predictor
from rnnlab.tasks.logs import MAX_SURPRISE, LogAnomalyTask, LogData, LogModelConfig, LogSession, session_score
from rnnlab.training import train
from same_predictions import assert_same_predictions  # noqa: E402


def normal_trace(rng: random.Random, repeats: int) -> str:
    """A toy process: a set-up of three calls of 1, 2, 3 in any order (the uncertain part), then a routine loop
    (4 2 4 3, as predictable as a process's main loop) `repeats` times, then close (5) and exit (6)."""
    return " ".join(rng.choice("123") for _ in range(3)) + " " + " ".join(["4 2 4 3"] * repeats) + " 5 6"


ATTACKS = {"Adduser_1": ["1 2 3 4 3 4 2 4 2 5 6", "3 3 3 3 3 3 6"],
           "Web_Shell_1": ["1 2 3 4 2 4 3 9 9 9 5 6", "5 6 1 2 3 4 2 4 3"]}


def write_traces(folder, traces: list[str], per_line: int = 5) -> None:
    """One trace a file, its calls over several lines (ADFA's files put them on one line: both are read)."""
    folder.mkdir(parents=True)
    for i, trace in enumerate(traces):
        calls = trace.split()
        (folder / f"UTD-{i:04d}.txt").write_text(
            "\n".join(" ".join(calls[j:j + per_line]) for j in range(0, len(calls), per_line)) + "\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("syscalls")
    rng = random.Random(0)
    train_traces = [normal_trace(rng, rng.randint(1, 12)) for _ in range(120)]
    train_traces[:2] = ["1 2 3 4 2 50 4 3 5 6", "3 2 1 4 2 51 4 3 5 6"]  # calls 50 and 51, seen once each: rare
    write_traces(tmp / "Training_Data_Master", train_traces)
    write_traces(tmp / "Validation_Data_Master", [normal_trace(rng, rng.randint(1, 12)) for _ in range(20)])
    for run, traces in ATTACKS.items():
        write_traces(tmp / "Attack_Data_Master" / run, traces)
    return tmp


def _overrides(tmp, run: str, *more: str) -> list[str]:
    return [f"run_dir={tmp / run}", f"data.train={tmp / 'Training_Data_Master'}",
            f"data.test_normal={tmp / 'Validation_Data_Master'}", f"data.test_abnormal={tmp / 'Attack_Data_Master'}",
            "data.valid_fraction=0.25", "model.hidden_size=32", "model.embed_size=8", "model.num_layers=1",
            "model.dropout=0.0", "model.fpr=0.05", "train.epochs=12", "train.batch_size=8", "train.lr=0.02",
            "train.max_minutes=0", "train.patience=0", "train.progress=false", *more]


@pytest.fixture(scope="module")
def trained(data):
    """configs/adfa.toml on toy traces: whole traces (window 0), mean surprise, threshold at 5 % FPR, min_count 2."""
    torch.set_num_threads(1)
    cfg = load_config("configs/adfa.toml", _overrides(data, "run", "model.min_count=2"))
    summary = train(cfg, overwrite=True, echo=None)
    return rnnlab.load(data / "run" / "bundle"), summary


def test_the_recipe_reads_whole_traces_and_sets_a_threshold(trained):
    predictor, summary = trained
    m = predictor.task.model_config
    assert (m.window, m.score, m.verdict, predictor.task.data.format) == (0, "mean", "threshold", "traces")
    assert summary["valid"]["loss"] < 0.7  # the toy grammar is learned: the set-up and the loop's end are uncertain


def test_the_threshold_is_set_at_the_fpr_on_held_out_normal_training_traces(trained):
    """The bundle's threshold is threshold_at_fpr(0.05) of the VALID traces' scores (a fraction of the training
    directory, never trained on), and the summary records it; the test split has no say in it."""
    predictor, summary = trained
    task = predictor.task
    valid = task.read("valid")
    assert 0 < len(valid) < 120 and all(s.id.startswith("UTD-") for s in valid)
    train_ids = {s.id for s in task.read("train")}
    assert not train_ids & {s.id for s in valid}
    scored = task.score_sessions(predictor.model, [s.tokens for s in valid])
    scores = [session_score(s["surprise"] + [s["end_surprise"]], "mean") for s in scored]
    assert task.threshold == pytest.approx(threshold_at_fpr(scores, 0.05), rel=1e-5)
    assert np.mean(np.array(scores) > task.threshold) <= 0.05
    assert summary["calibration"]["threshold"] == pytest.approx(task.threshold)
    assert summary["calibration"]["fpr_target"] == 0.05 and summary["calibration"]["sessions"] == len(valid)
    # recorded in the bundle (its threshold.json, read back by rnnlab.load) and in the run's metrics
    assert json.loads((predictor.path / "threshold.json").read_text()) == task.threshold
    metrics = json.loads((predictor.path / "metrics.json").read_text())
    assert metrics["calibration"]["threshold"] == task.threshold


def test_the_test_split_reports_auc_recall_and_fpr_at_the_recorded_threshold(trained):
    _, summary = trained
    test = summary["test"]
    assert test["threshold"] == pytest.approx(summary["calibration"]["threshold"])
    assert test["sessions"] == 20 + 4
    assert test["roc_auc"] > 0.9 and test["recall"] >= 0.75 and test["fpr"] <= 0.2
    assert {"pr_auc", "precision", "f1"} <= set(test)


def test_the_mean_score_does_not_grow_with_length(trained):
    """Long normal traces do not score above short ones by mean surprise (their routine loop dilutes the uncertain
    set-up), and are not flagged; by the largest surprise a long trace can only gain (more events, more chances of
    one unusual one), which is what made every long ADFA trace an alarm under the max."""
    predictor, _ = trained
    rng = random.Random(5)
    short = predictor.predict([normal_trace(rng, 1) for _ in range(5)])
    long = predictor.predict([normal_trace(rng, 12) for _ in range(5)])
    assert max(p["scores"]["score"] for p in long) <= min(p["scores"]["score"] for p in short)
    assert all(p["answer"]["label"] == "normal" for p in long)
    assert all(p["scores"]["max_surprise"] >= p["scores"]["score"] for p in long)
    assert session_score([0.1] * 400 + [3.0], "mean") < session_score([0.1] * 20 + [3.0], "mean")
    assert session_score([0.1] * 400 + [3.0], "max") == session_score([0.1] * 20 + [3.0], "max")
    assert session_score([0.0] * 95 + [1.0] * 5, "q95") == pytest.approx(0.05)


def test_an_unseen_call_is_scored_as_the_learned_unk_not_an_alarm(trained):
    """min_count 2: calls 50 and 51 (once each in training) became <unk>, so a call never seen (999) is scored
    exactly as a rare call is, by what the model learned of <unk>, below the automatic MAX_SURPRISE."""
    predictor, _ = trained
    task = predictor.task
    assert "50" not in task.events and "1" in task.events
    unseen, rare = predictor.predict(["1 2 3 4 2 999 4 3 5 6", "1 2 3 4 2 50 4 3 5 6"])
    assert unseen["unknown"][5] and rare["unknown"][5] and not any(unseen["unknown"][:5])
    assert unseen["steps"][5]["score"] == pytest.approx(rare["steps"][5]["score"])
    assert unseen["steps"][5]["score"] < MAX_SURPRISE - 1
    assert unseen["scores"]["score"] == pytest.approx(rare["scores"]["score"])


def test_min_count_one_keeps_deeplogs_rule_for_unknown_events():
    task = LogAnomalyTask(LogData(), LogModelConfig())
    task.fit([LogSession(["1", "2"], "a", 0)])
    rank, surprise = task._rank_surprise(torch.zeros(1, len(task.events)), torch.tensor([task.events.unk_id]))
    assert float(surprise[0]) == pytest.approx(MAX_SURPRISE) and int(rank[0]) == len(task.events) + 1


def test_detect_on_a_directory_of_traces(trained, data, capsys):
    """`rnnlab detect BUNDLE DIR`: one line per trace named by its file, the verdict at the recorded threshold."""
    predictor, _ = trained
    assert main(["detect", str(predictor.path), str(data / "Attack_Data_Master")]) == 0
    out = capsys.readouterr()
    rows = [line.split("\t") for line in out.out.strip().splitlines()]
    assert [r[0] for r in rows] == ["Adduser_1/UTD-0000.txt", "Adduser_1/UTD-0001.txt",
                                    "Web_Shell_1/UTD-0000.txt", "Web_Shell_1/UTD-0001.txt"]
    assert sum(r[1] == "abnormal" for r in rows) >= 3
    assert all(float(r[2]) > predictor.task.threshold for r in rows if r[1] == "abnormal")
    assert "set at FPR 0.05 on held-out normal sessions" in out.err
    # one trace file works too, and --json names the trace
    assert main(["detect", str(predictor.path), str(data / "Validation_Data_Master" / "UTD-0003.txt"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["session"] == "UTD-0003.txt" and record["line"] is None
    assert record["verdict"] in ("normal", "abnormal") and len(record["events"]) >= 5


def test_the_export_gives_the_bundles_verdicts(trained, tmp_path):
    """Whole traces through the export's graph (tokens (B, T) -> logits (B, T, V)) in onnxruntime: the same
    verdicts, ranks and surprises as the bundle's."""
    predictor, _ = trained
    export_bundle(predictor.path, tmp_path / "export")
    served = load_predictor(tmp_path / "export")
    traces = ["1 2 3 4 2 4 3 5 6", "3 3 3 3 3 3 6", "t,1 2 3 4 2 999 4 3 5 6", "1 1 1 " + "4 2 4 3 " * 40 + "5 6"]
    assert_same_predictions(served.predict(traces), predictor.predict(traces), tolerance=1e-5)


def test_trace_has_one_state_per_call(trained):
    predictor, _ = trained
    t = predictor.trace("1 2 3 5 6")
    assert t["cell"] == "lstm" and len(t["layers"]) == 1
    assert len(t["layers"][0]["h"]) == 5 and len(t["layers"][0]["h"][0]) == 32
    # the state after call t is the one the next call is predicted from: the same as reading the prefix alone
    prefix = predictor.trace("1 2 3")
    torch.testing.assert_close(torch.tensor(t["layers"][0]["h"][:3]), torch.tensor(prefix["layers"][0]["h"]))


@pytest.mark.parametrize("override, words", [
    ("data.format=csv", "data.format"), ("model.score=median", "model.score"), ("model.score=q100", "model.score"),
    ("model.verdict=vote", "model.verdict"), ("model.fpr=0", "model.fpr"), ("model.window=-1", "model.window"),
    ("model.min_count=0", "model.min_count"),
])
def test_bad_settings_are_one_line(override, words):
    with pytest.raises(UserError, match=words) as e:
        cfg = load_config("configs/adfa.toml", [override])
        LogAnomalyTask(cfg.data, cfg.model)
    assert "\n" not in str(e.value)


def test_a_threshold_needs_held_out_normal_sessions_and_top_g_takes_no_fpr():
    cfg = load_config("configs/adfa.toml", ["data.valid_fraction=0"])
    with pytest.raises(UserError, match="data.valid_fraction"):
        LogAnomalyTask(cfg.data, cfg.model)
    with pytest.raises(UserError, match="model.fpr"):
        load_config("configs/hdfs.toml", ["model.fpr=0.05"])


def test_traces_of_any_lengths_come_back_in_order(trained):
    """Whole traces are run shortest first (less padding); the answers still follow the inputs, one by one."""
    predictor, _ = trained
    rng = random.Random(9)
    traces = [normal_trace(rng, n) for n in (30, 1, 12, 3)] + ["3 3 3 3 3 3 6"]
    together = predictor.predict(traces, rankings=False)
    assert [p["text"] for p in together] == traces
    for trace, p in zip(traces, together):
        alone = predictor.predict([trace], rankings=False)[0]
        assert p["scores"]["score"] == pytest.approx(alone["scores"]["score"], abs=1e-5)


def test_evaluate_scores_the_test_split_and_a_directory_at_the_recorded_threshold(trained, data, capsys):
    """`rnnlab evaluate BUNDLE`: the labelled test (normal + attack directories) at the bundle's threshold, ROC AUC
    beside it; `--data DIR` reads a directory of traces, unlabelled (how many flagged, no rates)."""
    predictor, summary = trained
    assert main(["evaluate", str(predictor.path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["threshold"] == pytest.approx(predictor.task.threshold)
    for key in ("roc_auc", "recall", "fpr"):
        assert got[key] == pytest.approx(summary["test"][key], abs=1e-6)
    assert main(["evaluate", str(predictor.path), "--data", str(data / "Attack_Data_Master"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["sessions"] == 4 and got["flagged_rate"] >= 0.75 and "recall" not in got and "roc_auc" not in got


def test_event_names_reach_the_bundle_predict_detect_and_the_export(data, tmp_path, capsys):
    """data.event_names: the training log says how much of the training calls the file names (a warning when some
    are not: a table of another numbering shows there); each step of predict, detect --json and the export's
    predictions carry the call's name; the names travel in the bundle as names.events.json."""
    torch.set_num_threads(1)
    names = tmp_path / "calls.txt"
    names.write_text("# toy calls\n1 open\n2 read\n3 write\n4 poll\n5 close\n6 exit_group\n9 execve\n")
    lines = []
    cfg = load_config("configs/adfa.toml", _overrides(data, "named", f"data.event_names={names}", "train.epochs=2"))
    train(cfg, overwrite=True, echo=lines.append)
    note = next(line for line in lines if line.startswith(("event names", "warning: event names")))
    # call 50 or 51 (one of them is held out) is unnamed: a warning, with the share of the calls the file names
    assert note.startswith("warning: event names from") and "6 of the 7 events" in note and "4 poll" in note
    assert "(99.9" in note  # one call of about a thousand is unnamed
    bundle = data / "named" / "bundle"
    assert json.loads((bundle / "names.events.json").read_text())["9"] == "execve"
    predictor = rnnlab.load(bundle)
    pred = predictor.predict(["1 2 9 51 6"])[0]
    assert [s.get("name") for s in pred["steps"]] == ["open", "read", "execve", None, "exit_group"]
    assert main(["detect", str(bundle), str(data / "Attack_Data_Master" / "Adduser_1"), "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert [e["name"] for e in record["events"][:3]] == ["open", "read", "write"]  # "1 2 3 ..."
    export_bundle(bundle, tmp_path / "export")
    served = load_predictor(tmp_path / "export").predict(["1 2 9 51 6"])[0]
    assert [s.get("name") for s in served["steps"]] == ["open", "read", "execve", None, "exit_group"]


def test_a_bad_names_file_stops_training_with_its_line(data, tmp_path):
    names = tmp_path / "calls.txt"
    names.write_text("1 open\nread 2\n")
    cfg = load_config("configs/adfa.toml", _overrides(data, "badnames", f"data.event_names={names}"))
    with pytest.raises(UserError, match=r"calls.txt:2: 'read' is not an event id"):
        train(cfg, overwrite=True, echo=None)

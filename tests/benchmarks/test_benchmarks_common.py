"""Every committed benchmark JSON names its machine and carries the `targets` list the guide describes."""
import importlib.util
import json
import math
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# not memory/ (`rnnlab memory` writes that); reruns of part of a benchmark in their own folder (ett-long-4min/) too
RESULTS = sorted((ROOT / "benchmarks" / "results").glob("*.json")) + sorted(
    (ROOT / "benchmarks" / "results").glob("ett-*/*.json")) + sorted(
    (ROOT / "benchmarks" / "results").glob("speech-*/*.json"))


def load_benchcommon():
    spec = importlib.util.spec_from_file_location("benchcommon", ROOT / "benchmarks" / "benchcommon.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_results():
    assert {p.name for p in RESULTS} >= {"cells.json", "charlm.json", "cloze.json", "ptb.json", "serve.json",
                                         "snips.json", "multi30k.json", "logs.json", "malware.json", "ett.json",
                                         "sp500.json", "speech.json"}


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_json_has_machine_and_targets(path):
    result = json.loads(path.read_text())
    machine = result["machine"]
    assert isinstance(machine, dict)
    assert {"cpu", "cpu_capability", "native_bf16", "threads"} <= set(machine)
    # null only where the run did not record it (results from before the fields existed)
    assert machine["cpu"] is None or isinstance(machine["cpu"], str) and machine["cpu"]
    assert machine["cpu_capability"] is None or isinstance(machine["cpu_capability"], str)
    assert machine["native_bf16"] in (None, True, False)
    assert machine["threads"] is None or isinstance(machine["threads"], int) and machine["threads"] >= 1
    targets = result["targets"]
    assert isinstance(targets, list)
    for t in targets:
        assert {"name", "value", "target", "direction"} <= set(t)
        assert isinstance(t["name"], str) and t["name"]
        assert t["direction"] in ("<=", ">=")
        for key in ("value", "target"):
            assert isinstance(t[key], (int, float)) and not isinstance(t[key], bool) and math.isfinite(t[key])
        if "met" in t:
            assert t["met"] == (t["value"] <= t["target"] if t["direction"] == "<=" else t["value"] >= t["target"])
    assert len({t["name"] for t in targets}) == len(targets)


@pytest.mark.parametrize("name", ["charlm.json", "ptb.json"])
def test_lm_targets_agree_with_the_verdict(name):
    result = json.loads((ROOT / "benchmarks" / "results" / name).read_text())
    names = [t["name"] for t in result["targets"]]
    # the loss and the 60-minute budget; charlm's block loss (nanoGPT's protocol) first once measured
    assert names[-1] == "best_reached_train_minutes" and len(names) in (2, 3)
    assert all(t["met"] for t in result["targets"]) == result["target"]["met"]


def test_cells_targets_agree_with_their_details():
    result = json.loads((ROOT / "benchmarks" / "results" / "cells.json").read_text())
    details = result["target_details"]
    # issue 2's targets (with per-row details) first, then issue 25's (the native engine's speed-ups, GRU / LSTM)
    assert [t["name"] for t in result["targets"]][:len(details)] == list(details)
    for t in result["targets"][:len(details)]:
        assert t["value"] == details[t["name"]]["worst"] and t["met"] == details[t["name"]]["met"]
    speed = {t["name"]: t for t in result["targets"][len(details):]}
    gru = speed["native_gru_speedup_over_nn_GRU_fwd_bwd_fp32"]
    assert gru["value"] == result["native_speedups"]["gru"]["worst"] == min(gru["per_shape"].values())
    assert gru["met"] == (gru["value"] >= gru["target"] == 1.5)
    ratio = speed["gru_time_over_lstm_time_fwd_bwd_fp32"]
    assert ratio["value"] == max(v["ratio"] for v in result["gru_over_lstm"]["float32"].values())


def test_flickr8k_chose_on_dev_and_scored_test_once():
    """Captioning: the beam of each row is the one with the best dev BLEU-4, test is scored with it alone, and the
    targets are the attention row's test figures; the feature map was chosen on dev before (layer selection)."""
    result = json.loads((ROOT / "benchmarks" / "results" / "flickr8k.json").read_text())
    for row in result["rows"]:
        dev = row["dev_by_beam"]  # JSON keys: "1", "3", "5"
        assert row["beam_chosen_on_dev"] == int(max(dev, key=lambda b: (dev[b]["bleu4"], -int(b))))
        assert row["test"]["beam"] == row["beam_chosen_on_dev"] and row["test"]["photos"] == 1000
    main = next(r for r in result["rows"] if r["row"] == "attention")
    targets = {t["name"]: t for t in result["targets"]}
    assert targets["test_bleu4"]["value"] == main["test"]["bleu4"] and targets["test_cider"]["value"] == main[
        "test"]["cider"]
    selection = json.loads((ROOT / "benchmarks" / "results" / "flickr8k_layer_selection.json").read_text())
    assert selection["chosen"] == result["feature_extraction"]["layer"] == "top"


def test_target_item():
    bench = load_benchcommon()
    assert bench.target("loss", 1.4, 1.47, "<=") == {"name": "loss", "value": 1.4, "target": 1.47,
                                                     "direction": "<=", "met": True}
    assert bench.target("acc", 0.97, 0.98, ">=", row="lstm")["met"] is False
    assert bench.target("acc", 0.98, 0.98, ">=", row="lstm")["row"] == "lstm"
    assert bench.target("loss", float("nan"), 1.0, "<=")["met"] is False
    with pytest.raises(ValueError):
        bench.target("loss", 1.0, 1.0, "<")


def test_machine_names_this_cpu():
    from rnnlab.precision import cpu_native_bf16

    machine = load_benchcommon().machine(1, loadavg=[0.0])
    assert machine["threads"] == 1 and machine["native_bf16"] == cpu_native_bf16() and machine["loadavg"] == [0.0]
    assert isinstance(machine["cpu"], str) and machine["cpu_capability"]

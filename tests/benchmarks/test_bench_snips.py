"""benchmarks/snips.py --quick --members 2: two seeds trained as separate processes, joined into one ensemble
row (structure, not accuracy: one epoch on 500 utterances)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not os.environ.get("RNNLAB_DATA"), reason="RNNLAB_DATA is not set: the benchmark reads real SNIPS")
def test_quick_ensemble_benchmark_writes_its_row(tmp_path):
    out = tmp_path / "snips.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "snips.py"), "--quick", "--members", "2",
                           "--jobs", "2", "--variants", "gru", "--out", str(out),
                           "--runs", str(tmp_path / "runs"), "model.hidden_size=16",
                           "model.embed_size=16"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(out.read_text())
    [row] = result["rows"]
    assert row["variant"] == "gru-x2" and row["members"] == 2 and row["jobs"] == 2
    # the machine (threads per training process: one each) and the targets list, judged on that one row
    assert {"cpu", "cpu_capability", "native_bf16", "threads"} <= set(result["machine"])
    assert result["machine"]["threads"] == 1 and row["machine"]["cpu"] == result["machine"]["cpu"]
    assert [t["name"] for t in result["targets"]] == ["intent_accuracy", "slot_f1", "train_minutes",
                                                      "cpu_minutes_per_core"]
    assert {t["row"] for t in result["targets"]} == {"gru-x2"}
    assert result["targets"][0]["value"] == row["test"]["intent_accuracy"]
    assert result["targets"][0]["met"] == (row["test"]["intent_accuracy"] >= 0.98)
    assert [m["seed"] for m in row["member_rows"]] == [0, 1]
    assert row["cpu_time_s"] == pytest.approx(sum(m["cpu_time_s"] for m in row["member_rows"]), abs=0.2)
    assert set(row["test"]) >= {"intent_accuracy", "slot_f1", "exact_match"} and 0 <= row["test"]["slot_f1"] <= 1
    ensemble = tmp_path / "runs" / "bench-snips-gru-ensemble"
    assert json.loads((ensemble / "config.json").read_text())["model"]["members"] == 2
    # benchmarks/snips_errors.py on that bundle: the data facts are fixed figures of SNIPS; the report parses
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "snips_errors.py"), str(ensemble)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if "%" in line}  # the facts table
    assert lines["city"][1:] == ["54%", "63", "of", "71"] and lines["country"][1:] == ["2%", "0", "of", "44"]
    assert "intent wrong on valid:" in proc.stdout and "of 700" in proc.stdout
    # each wrong utterance: its gold intent, then the prediction as rnnlab predict prints it
    wrong = proc.stdout.split("intent wrong on valid:", 1)[1].splitlines()[1:]
    assert all(" -> intent: '" in line for line in wrong if line.strip()), wrong[:3]


def load_snips():
    import importlib.util

    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("snips_bench", ROOT / "benchmarks" / "snips.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(variant, valid_exact, test_exact, *, budget=True, params=100):
    figures = lambda exact: {"exact_match": exact, "slot_f1": 0.94, "intent_accuracy": 0.98}  # noqa: E731
    return {"variant": variant, "valid": figures(valid_exact), "test": figures(test_exact), "parameters": params,
            "within_budget_cpu": budget, "within_budget_wall": budget, "train_time_s": 60, "cpu_time_s": 60}


def test_the_recipe_is_chosen_on_valid_never_on_test():
    snips = load_snips()
    rows = [_row("a", 0.86, 0.90), _row("b", 0.88, 0.80), _row("c", 0.95, 0.99, budget=False)]
    # b: best valid within the budget, although a is better on test and c (over budget) better on both
    assert snips.choose(rows)["variant"] == "b"
    result = snips.record_choice({"rows": rows})
    assert result["chosen"] == "b" and {t["row"] for t in result["targets"]} == {"b"}
    assert [t["variant"] for t in result["valid_figures"]] == ["b", "a", "c"]
    assert "test" not in result["valid_figures"][0]
    # a tie on valid goes to the smaller model, whatever test says
    tied = [_row("big", 0.88, 0.99, params=200), _row("small", 0.88, 0.70, params=100)]
    assert snips.choose(tied)["variant"] == "small"


def test_reruns_of_the_chosen_recipe_count_on_the_mean_and_are_never_chosen_themselves():
    snips = load_snips()
    rows = [_row("a", 0.88, 0.90), _row("b", 0.86, 0.95)]
    rows[0]["test"]["intent_accuracy"] = 0.99
    again = [{**_row("a@seeds4-7", 0.99, 0.80), "repeat_of": "a"},
             {**_row("a@seeds8-11", 0.99, 0.85), "repeat_of": "a"}]
    again[0]["test"]["intent_accuracy"], again[1]["test"]["intent_accuracy"] = 0.97, 0.98
    result = snips.record_choice({"rows": rows + again})
    assert result["chosen"] == "a"  # the reruns' better valid figures do not make them candidates
    assert result["chosen_over_seeds"]["n"] == 3
    intent = next(t for t in result["targets"] if t["name"] == "intent_accuracy")
    assert intent["value"] == pytest.approx(0.98) and intent["seeds"] == 3 and intent["std"] == pytest.approx(0.01)
    assert intent["met"] and intent["row"] == "a"

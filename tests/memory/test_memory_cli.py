"""`rnnlab memory`: the whole suite end to end (--quick), its flags, and the report's reasoning."""
import json
import math

import pytest

from rnnlab.cli import main
from rnnlab.memory.report import render_report
from rnnlab.memory.run import SuiteConfig, run_one

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_memory_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "mem"
    assert main(["memory", "--quick", "--out", str(out), "--quiet"]) == 0
    result = json.loads((out / "memory.json").read_text())
    cfg = SuiteConfig.quick()
    assert result["config"]["seeds"] == cfg.seeds and result["command"].startswith("rnnlab memory")
    for key in ("machine", "versions", "tasks", "runs", "table"):
        assert key in result

    # The table: one row per task × length × cell, every one trained and measured.
    expected = {(t, L, c) for t in cfg.tasks for L in cfg.lengths(t) for c in cfg.cells}
    assert {(r["task"], r["length"], r["cell"]) for r in result["table"]} == expected
    for row in result["table"]:
        assert row["seeds"] == cfg.seeds
        assert math.isfinite(row["mean"]) and math.isfinite(row["std"])
        assert row["metric"] == ("mse" if row["task"] == "adding" else "accuracy")
    assert len(result["runs"]) == len(expected) * cfg.seeds
    for run in result["runs"]:
        assert 0 < run["steps_trained"] <= cfg.steps[run["task"]]
        assert math.isfinite(run["final_metric"])
        seq_len = {"adding": run["length"], "copy": cfg.copy_layout().steps(run["length"]), "digits": 64}[run["task"]]
        for phase in ("init", "trained"):  # a gradient curve over every distance, before and after training
            curve = run["gradient"][phase]
            assert len(curve) == seq_len and all(math.isfinite(g) and g >= 0 for g in curve)
            assert curve[0] > 0
    # Parameter counts matched across cells (within 2 %) and reported per task.
    for task, info in result["tasks"].items():
        counts = [c["parameters"] for c in info["cells"].values()]
        assert max(counts) / min(counts) < 1.04, task
    # Something was learned: on the shortest recall delay every cell beats chance.
    short = [r for r in result["table"] if r["task"] == "copy" and r["length"] == min(cfg.copy_delays)]
    assert all(r["mean"] > result["tasks"]["copy"]["chance"] + 0.1 for r in short)

    for name in ["metric_vs_length.png"] + [f"gradient_{t}.png" for t in cfg.tasks]:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
    report = (out / "report.md").read_text()
    for heading in ("## Results", "## What the numbers say", "### Gradient flow",
                    "## Comparison with the published anchors"):
        assert heading in report
    assert "T = 100" in report  # the tanh-RNN anchor is at T = 100, which --quick measures
    assert "wrote" in capsys.readouterr().out

    # --report-only redraws everything from memory.json alone, and says the same.
    (out / "report.md").unlink()
    (out / "metric_vs_length.png").unlink()
    assert main(["memory", "--report-only", "--out", str(out)]) == 0
    assert (out / "report.md").read_text() == report
    assert (out / "metric_vs_length.png").read_bytes()[:8] == PNG_MAGIC


def test_bad_flags_are_one_line_user_errors(tmp_path, capsys):
    assert main(["memory", "--tasks", "parity", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown task 'parity'" in err and err.count("\n") == 1
    assert main(["memory", "--seeds", "0", "--out", str(tmp_path)]) == 1
    capsys.readouterr()
    assert main(["memory", "--report-only", "--out", str(tmp_path)]) == 1
    assert "memory.json: not found" in capsys.readouterr().err
    for flag in (["--params", "parity=100"], ["--params", "adding=0"], ["--batch", "adding"]):
        assert main(["memory", *flag, "--out", str(tmp_path)]) == 1
        assert "write TASK=N" in capsys.readouterr().err


def test_params_and_batch_set_a_tasks_model_size_and_batch():
    import argparse

    from rnnlab.cli.memory import add_arguments, config_from_args
    from rnnlab.memory.models import hidden_size_for

    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args(["--params", "adding=67713", "--batch", "adding=50", "copy=16"]))
    assert cfg.params["adding"] == 67713 and cfg.batch == {"adding": 50, "copy": 16, "digits": 64}
    assert hidden_size_for("lstm", 2, 1, cfg.params["adding"]) == 128  # IndRNN's LSTM: 128 units


def test_progress_accounts_for_the_whole_budget_even_when_stopping_early():
    cfg = SuiteConfig(seeds=1, steps={"adding": 30, "copy": 30, "digits": 30}, eval_every=7, eval_size=16,
                      grad_batch=4, patience=1, precision="fp32")
    cfg.copy_delays = [0]
    seen = []
    run = run_one(cfg, "copy", 0, "lstm", 0, progress=seen.append)
    assert sum(seen) == 30 * cfg.copy_layout().steps(0)  # the bar reaches exactly 100 %
    assert [s for s, _ in run["curve"]][:2] == [0, 7]


def _fake_result(lstm_solved: dict, rnn_solved: dict) -> dict:
    """A memory.json-shaped dict for the adding problem with chosen outcomes."""
    cfg = SuiteConfig(tasks=["adding"], seeds=2)
    lengths = cfg.adding_lengths
    table, runs = [], []
    for cell, solved in (("lstm", lstm_solved), ("rnn_tanh", rnn_solved), ("gru", {})):
        for L in lengths:
            k = solved.get(L, 0)
            mean = 0.001 if k == 2 else 0.16
            table.append({"task": "adding", "length": L, "cell": cell, "seeds": 2, "metric": "mse", "mean": mean,
                          "std": 0.0, "min": mean, "max": mean, "solved_seeds": k,
                          "steps_to_solve": [100 * L // 50] * k + [None] * (2 - k),
                          "steps_to_solve_mean": 100 * L // 50 if k else None, "seconds": 1.0})
            for seed in range(2):
                curve = [0.5 ** d for d in range(4)]
                summary = {"at_last_step": 1.0, "at_first_step": 0.125, "first_over_last": 0.125,
                           "factor_per_step": 0.5}
                runs.append({"task": "adding", "length": L, "cell": cell, "seed": seed,
                             "gradient": {"init": curve, "trained": curve},
                             "gradient_summary": {"init": summary, "trained": summary}})
    info = {"metric": "mse", "higher_is_better": False, "chance": 1 / 6, "solved_threshold": 0.01, "lengths": lengths,
            "length_name": "T", "input_size": 2, "output_size": 1,
            "cells": {c: {"hidden_size": 8, "parameters": 100} for c in cfg.cells}}
    import dataclasses
    return {"command": "test", "machine": {"cpu_count": 2, "workers": 1}, "versions": {"torch": "x"},
            "config": dataclasses.asdict(cfg), "tasks": {"adding": info}, "runs": runs, "table": table, "seconds": 60}


def test_report_conclusions_follow_the_numbers():
    # As the paper: RNN fails at 100, LSTM solves 50..500 and fails at 1000.
    agree = render_report(_fake_result({50: 2, 100: 2, 200: 2, 500: 2}, {50: 2}))
    assert "*tanh RNN fails the adding problem already at T = 100*: **agree**" in agree
    assert "fails at 1,000*: **agree**" in agree
    # RNN solves 100, LSTM only 50 and 100: the report must say so, and blame the budget for the LSTM gap.
    differ = render_report(_fake_result({50: 2, 100: 2}, {50: 2, 100: 1}))
    assert "at T = 100*: **disagree**" in differ
    assert "fails at 1,000*: **partly agree**" in differ
    steps = SuiteConfig().steps["adding"]
    assert "T = 200, T = 500 not solved" in differ and f"our budget is {steps} Adam steps" in differ
    assert "solved by every seed at T = 50; by some seeds at T = 100" in differ


def test_resume_runs_only_what_is_missing(tmp_path, capsys):
    out = tmp_path / "mem"
    flags = ["memory", "--tasks", "adding", "--cells", "lstm", "gru", "--adding-lengths", "6", "--steps", "4",
             "--seeds", "1", "--workers", "1", "--quiet", "--out", str(out)]
    assert main(flags) == 0
    path = out / "memory.json"
    result = json.loads(path.read_text())
    kept, dropped = result["runs"]
    result["runs"] = [kept]  # as if the suite had been interrupted after one run
    path.write_text(json.dumps(result))
    assert main(flags + ["--resume"]) == 0
    resumed = json.loads(path.read_text())
    assert len(resumed["runs"]) == 2 and len(resumed["table"]) == 2
    assert kept in resumed["runs"]  # untouched, not rerun
    # A file written before the curriculum existed (no such key) resumes: it had none.
    result["runs"] = [kept]
    del result["config"]["curriculum"]
    path.write_text(json.dumps(result))
    assert main(flags + ["--resume"]) == 0
    capsys.readouterr()
    assert main(flags[:-2] + ["--steps", "5", "--out", str(out), "--resume"]) == 1
    assert "different configuration (steps)" in capsys.readouterr().err


def test_memory_json_carries_the_anchor_targets():
    """The committed memory.json has the benchmarks' `targets` list: each Li et al. claim against the threshold."""
    from pathlib import Path

    from rnnlab.memory.run import anchor_targets

    result = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "memory" / "memory.json")
                        .read_text())
    assert result["targets"] == anchor_targets(result) and len(result["targets"]) == 3
    for t in result["targets"]:
        assert set(t) == {"name", "value", "target", "direction", "met"} and t["direction"] in ("<=", ">=")
        assert t["met"] == (t["value"] >= t["target"] if t["direction"] == ">=" else t["value"] <= t["target"])


def test_curriculum_trains_the_shorter_lengths_first_on_their_validation_sets(monkeypatch):
    from rnnlab.memory import tasks as T
    from rnnlab.memory.run import _units

    cfg = SuiteConfig(seeds=1, steps={"adding": 14, "copy": 14, "digits": 14}, eval_every=7, eval_size=16,
                      grad_batch=4, patience=1, precision="fp32", lr_grid=[0.01], curriculum=[5, 10, 40])
    seen = []
    run = run_one(cfg, "adding", 20, "lstm", 0, progress=seen.append)
    # Only the stages shorter than the run's length, in increasing order; the bar counts every stage.
    assert [st["length"] for st in run["curriculum"]] == [5, 10]
    assert sum(seen) == _units(cfg, "adding", 20) == 14 * (5 + 10 + 20)
    assert run["steps_total"] == run["steps_trained"] + sum(st["steps_trained"] for st in run["curriculum"])
    # A stage is scored on its length's validation set (the tuning set), never on a test set.
    plain = SuiteConfig(**{**cfg.__dict__, "curriculum": []})
    assert run["curriculum"][0]["curve"][0][1] == run_one(plain, "adding", 5, "lstm", 0, tuning=True)["curve"][0][1]
    # The run at T = 20 starts from the weights the stages trained, not from its initialisation.
    scratch = run_one(plain, "adding", 20, "lstm", 0)
    assert "curriculum" not in scratch
    assert run["curve"][0][1] != scratch["curve"][0][1]
    # A stage moves on once solved (patience 1: at the first evaluation that is), keeping the rest of its budget.
    monkeypatch.setattr(T, "ADDING_SOLVED_MSE", 1e9)
    easy = run_one(cfg, "adding", 20, "lstm", 0)
    assert [(st["steps_trained"], st["steps_to_solve"]) for st in easy["curriculum"]] == [(7, 7), (7, 7)]


def test_curriculum_flag_reaches_the_config_and_the_report(tmp_path):
    out = tmp_path / "mem"
    assert main(["memory", "--tasks", "adding", "--cells", "lstm", "--adding-lengths", "20", "--curriculum", "10",
                 "--steps", "10", "--seeds", "1", "--workers", "1", "--lr-grid", "0.01", "--quiet",
                 "--out", str(out)]) == 0
    result = json.loads((out / "memory.json").read_text())
    assert result["config"]["curriculum"] == [10]
    [run] = result["runs"]
    assert run["curriculum"][0]["length"] == 10 and run["steps_total"] >= run["steps_trained"]
    report = (out / "report.md").read_text()
    assert "### Length curriculum" in report and "T = 10: " in report and "not the anchors' protocol" in report
    from rnnlab.memory.run import anchor_targets

    fake = {**result, "tasks": result["tasks"], "table": [{**result["table"][0], "length": 500}]}
    assert anchor_targets(fake)[0]["curriculum"] == [10]  # a target met with a curriculum says so
    assert main(["memory", "--curriculum", "1", "--out", str(tmp_path / "bad")]) == 1

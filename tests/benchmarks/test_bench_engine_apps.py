"""benchmarks/engine_apps.py --quick: both engines train one recipe; the JSON holds what the full run's does."""
import importlib.util
import json
import os
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "engine_apps.py"
DATA = os.environ.get("RNNLAB_DATA", "")


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine_apps", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.skipif(not DATA or not (Path(DATA) / "ett" / "ETTh1.csv").exists(),
                    reason="$RNNLAB_DATA/ett/ETTh1.csv is not here (benchmarks/engine_apps.py reads the recipes' data)")
def test_quick_run_times_both_engines_on_a_recipe(tmp_path):
    bench = load_bench()
    out = tmp_path / "apps.json"
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--apps", "forecast_ett", "--threads", "1", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    r = report["results"]["forecast_ett"]
    assert r["before"]["engine"] == "fused" and r["after"]["engine"] == "auto"
    assert r["steps_timed"] == 4 and r["steps_per_epoch"] > 0 and r["recurrent_cells"]
    for side in ("before", "after"):
        s = r[side]
        assert s["median_step_ms"] > 0
        assert abs(s["epochs_per_minute"] - 60 / (s["median_step_ms"] / 1e3 * r["steps_per_epoch"])) < 0.01 * s[
            "epochs_per_minute"] + 1e-3
    assert abs(r["speedup"] - r["after"]["epochs_per_minute"] / r["before"]["epochs_per_minute"]) < 0.01
    [target] = report["targets"]
    assert target["name"] == "forecast_ett_epochs_per_minute_after_over_before" and target["value"] == r["speedup"]
    assert target["direction"] == ">=" and report["machine"]["threads"] == 1


def test_without_data_it_says_so_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RNNLAB_DATA", raising=False)
    assert load_bench().main(["--quick", "--out", str(tmp_path / "x.json")]) == 1
    assert capsys.readouterr().out.strip().startswith("engine_apps: set RNNLAB_DATA")

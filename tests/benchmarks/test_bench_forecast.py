"""benchmarks/forecast.py: the S&P 500 figures and target (Diebold-Mariano), rows over seeds, PatchTST's
drop-last figure and a partial rerun keeping the parts it did not run."""
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("RNNLAB_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_forecast", ROOT / "benchmarks" / "forecast.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def folds(rng, years, skill):
    """Walk-forward folds of synthetic next-day returns; the network's error is `skill` x the truth's size."""
    out = []
    for i, year in enumerate(years):
        truth = 0.01 * rng.normal(size=250)
        out.append({"year": year, "train_rows": 1000 + 250 * i, "pred": truth + skill * 0.01 * rng.normal(size=250),
                    "truth": truth, "mean": 0.0003, "inside": 0.8, "train_minutes": 0.02, "epochs_run": 5})
    return out


def test_sp500_result_gives_every_years_ratio_and_the_dm_verdict(bench):
    rng = np.random.default_rng(0)
    sp = bench.sp500_result(folds(rng, [2016, 2017, 2018], skill=0.5))  # errors half the random walk's
    assert [f["year"] for f in sp["folds"]] == [2016, 2017, 2018]
    for f in sp["folds"]:
        assert f["mse_ratio_to_random_walk"] < 0.5 and f["dm_pvalue"] < 1e-6 and f["test_days"] == 250
        assert sp["mse_ratio_by_year"][str(f["year"])] == f["mse_ratio_to_random_walk"]
    assert sp["years_worse_than_random_walk"] == [] and sp["test_days"] == 750
    dm = sp["diebold_mariano"]
    assert dm["n"] == 750 and dm["h"] == 1 and dm["statistic"] < 0 and dm["pvalue"] < 1e-12
    assert sp["beats_random_walk"] and sp["verdict"].startswith("yes")
    (t,) = bench.sp500_targets(sp)
    assert t["name"] == "sp500_beats_random_walk_dm_pvalue" and t["direction"] == "<=" and t["target"] == 0.05
    assert t["value"] == dm["pvalue"] and t["met"]
    json.dumps(sp)  # what the writer dumps: plain numbers and strings


def test_sp500_a_ratio_just_below_one_is_not_a_win(bench):
    rng = np.random.default_rng(1)
    fs = folds(rng, list(range(2006, 2019)), skill=0.0)
    for f in fs:  # the network forecasts 1 % of tomorrow's return: MSE 0.9801 x the random walk's, ...
        f["pred"] = 0.01 * f["truth"] + 0.01 * 0.9 * rng.normal(size=250)  # ... drowned in noise as big as it
    sp = bench.sp500_result(fs)
    assert len(sp["mse_ratio_by_year"]) == 13
    assert len(sp["years_worse_than_random_walk"]) == sum(f["mse_ratio_to_random_walk"] > 1 for f in sp["folds"])
    assert sp["diebold_mariano"]["pvalue"] > 0.05 and not sp["beats_random_walk"]
    assert sp["verdict"].startswith("no") and not bench.sp500_targets(sp)[0]["met"]


def run(seed, mse, **extra):
    return {"name": f"long-96-lookback336{'-seed%d' % seed if seed else ''}", "seed": seed, "train_minutes": 1.5,
            "epochs_run": 6, "out_of_time": True, "valid": {"mse": 0.6}, "dlinear": {"train_minutes": 0.2},
            "test": {"mse": mse, "mse_drop_last128": mse - 0.001, "repeat_last_mse": 1.29, "windows": 2785, **extra}}


def test_a_row_over_seeds_is_their_mean_with_std_and_each_seed(bench):
    row = bench.over_seeds([run(0, 0.36), run(1, 0.37), run(2, 0.38)])
    assert row["name"] == "long-96-lookback336" and row["seeds"] == [0, 1, 2] and "seed" not in row
    assert row["test"]["mse"] == pytest.approx(0.37) and row["test"]["mse_drop_last128"] == pytest.approx(0.369)
    assert row["test_std"]["mse"] == pytest.approx(0.01)  # ddof 1
    assert row["test"]["repeat_last_mse"] == 1.29 and row["test"]["windows"] == 2785  # the same at every seed
    assert "repeat_last_mse" not in row["test_std"]
    assert [s["test"]["mse"] for s in row["per_seed"]] == [0.36, 0.37, 0.38]
    assert bench.seed0(row)["test"]["mse"] == 0.36  # what the one-seed cells table shows for GRU


def test_targets_count_on_the_mean_and_give_patchtsts_figure(bench):
    row = bench.over_seeds([run(0, 0.364), run(1, 0.372), run(2, 0.380)])
    row.update(horizon=96, lookback=336, train_minutes_all_lookbacks=3.0)
    t = {x["name"]: x for x in bench._targets(None, {"rows": [row]}, None)}["long_horizon_96_mse_vs_patchtst64"]
    assert t["value"] == pytest.approx(0.372) and not t["met"]  # seed 0 alone (0.364) would have met 0.370
    assert t["seeds"] == 3 and t["std"] == pytest.approx(0.008) and t["mse_drop_last128"] == pytest.approx(0.371)


def test_a_partial_rerun_keeps_the_parts_it_did_not_run(bench):
    old_long = [dict(run(0, 0.40 + h / 1e4), horizon=h, lookback=336, cell="gru") for h in (96, 192, 336, 720)]
    old = {"command": "python benchmarks/forecast.py --minutes 1.5",
           "informer_protocol": {"multivariate": ["an old row"]},
           "long_horizon_protocol": {"rows": old_long, "chosen_lookback": {"96": 336, "192": 336, "336": 336,
                                                                            "720": 720}, "quantile_row": {"q": 1}},
           "cells": [{"cell": "rnn", "horizon": 96}, {"cell": "gru", "horizon": 96, "test": {"mse": 0.4096}}]}
    new = bench.over_seeds([run(0, 0.36), run(1, 0.37)])
    new.update(horizon=96, lookback=720)
    parts = {"long-96": "python benchmarks/forecast.py --only long --long-horizons 96"}
    informer, long, cells = bench.keep_earlier(None, {"rows": [new], "chosen_lookback": {96: 720},
                                                      "quantile_row": None}, None, old, parts)
    assert informer == old["informer_protocol"]
    assert [r["horizon"] for r in long["rows"]] == [96, 192, 336, 720] and long["rows"][0] is new
    assert long["chosen_lookback"] == {96: 720, 192: 336, 336: 336, 720: 720}
    assert long["quantile_row"] == {"q": 1}
    # the cells table's GRU row follows the new long-horizon row (seed 0), the others are kept
    assert cells[0] == {"cell": "rnn", "horizon": 96}
    assert cells[1]["test"]["mse"] == 0.36 and cells[1]["same_as"] == new["name"]
    assert parts == {"long-96": "python benchmarks/forecast.py --only long --long-horizons 96",
                     **{k: old["command"] for k in ("informer", "long-192", "long-336", "long-720", "quantile_row",
                                                    "cells")}}


@pytest.mark.skipif(not (DATA / "ett" / "ETTh1.csv").exists(), reason=f"ETTh1 not under {DATA} (set RNNLAB_DATA)")
def test_quick_long_rerun_writes_seeds_and_patchtsts_figure_and_keeps_the_rest(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(DATA))
    out = tmp_path / "out"
    out.mkdir()
    (out / "ett_quick.json").write_text(json.dumps({
        "command": "an earlier run", "informer_protocol": {"multivariate": []},
        "long_horizon_protocol": {"rows": [], "chosen_lookback": {}, "quantile_row": None},
        "cells": [{"cell": "rnn", "horizon": 720}]}))
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--only", "long", "--threads", "1", "--runs", str(tmp_path),
                           "--out-dir", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)  # the benchmark sets it for the whole process
    report = json.loads((out / "ett_quick.json").read_text())
    assert report["seeds"] == 2 and report["parts"]["informer"] == "an earlier run"
    assert report["cells"] == [{"cell": "rnn", "horizon": 720}]
    (row,) = report["long_horizon_protocol"]["rows"]
    assert row["seeds"] == [0, 1] and len(row["per_seed"]) == 2
    assert row["test"]["mse"] == pytest.approx(np.mean([s["test"]["mse"] for s in row["per_seed"]]), abs=1e-5)
    # quick: 480 test rows, 385 windows at 96; PatchTST's loader scores 3 batches of 128
    assert row["test"]["windows"] == 385 and row["test"]["windows_drop_last128"] == 384
    assert row["test"]["mse_drop_last128"] > 0 and row["test_std"]["mse"] >= 0
    assert report["long_horizon_protocol"]["quantile_row"]["test"]["coverage80"] >= 0
    names = {t["name"] for t in report["targets"]}
    assert names == {"long_horizon_96_mse_vs_patchtst64", "long_horizon_96_train_minutes"}


@pytest.mark.skipif(not (DATA / "sp500" / "sp500.csv").exists(), reason=f"S&P 500 not under {DATA}")
def test_quick_sp500_writes_per_fold_ratios_and_the_dm_target(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(DATA))
    threads = torch.get_num_threads()
    try:
        assert bench.main(["--quick", "--only", "sp500", "--threads", "1", "--runs", str(tmp_path),
                           "--out-dir", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    report = json.loads((tmp_path / "sp500_quick.json").read_text())
    assert [f["year"] for f in report["folds"]] == [2016, 2017]
    assert set(report["mse_ratio_by_year"]) == {"2016", "2017"}
    assert all(0 <= f["dm_pvalue"] <= 1 for f in report["folds"])
    (t,) = report["targets"]
    assert t["name"] == "sp500_beats_random_walk_dm_pvalue" and t["value"] == report["diebold_mariano"]["pvalue"]
    assert t["met"] == report["beats_random_walk"]
    assert not (tmp_path / "ett_quick.json").exists()  # an S&P-only run leaves the ETT JSON alone

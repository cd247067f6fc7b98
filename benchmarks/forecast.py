"""Forecasting benchmark: ETTh1 under the Informer and the long-horizon protocols, and the S&P 500 next day.

    python benchmarks/forecast.py                          # everything (about 40 minutes on 2 cores)
    python benchmarks/forecast.py --only informer long     # parts: informer, long, cells, sp500
    python benchmarks/forecast.py --quick                  # a smoke run (< 2 minutes): one horizon each, tiny budgets

Every figure is on the same windows as its baselines, computed by the same code (rnnlab.forecasting):
repeat-last, seasonal naive (24 h) and a linear model (DLinear, trained by the same task and loop).

- Informer protocol (Zhou et al. 2021): ETTh1 rows 0-8640 / 8640-11520 / 11520-14400 (12/4/4 months),
  z-scored with the training rows' statistics, MSE / MAE on the scaled data, horizons 24 48 168 336 720,
  multivariate (7 -> 7) and univariate (OT -> OT), lookback 336; targets LSTMa's and Informer's figures.
- Long-horizon protocol (LTSF-Linear, PatchTST, SegRNN): the same split and scaling, horizons 96 192 336 720,
  multivariate, lookback chosen on valid among LOOKBACKS; target PatchTST/64's MSE. Rows per cell (rnn,
  lstm, gru) at one shared budget at horizons 96 and 720 (`cells`; the GRU rows are the long-horizon rows),
  and a quantile-head row at 96 with its 80 % interval's empirical coverage.
- Each model trains within --minutes (0.9) of training time, 12 epochs at most, patience 3; a run's JSON
  gives its config (configs/ett.toml + its overrides), epochs run and training minutes.
- Every test window is scored (no partial batch dropped); `mse_drop_last` is the figure with the original
  loaders' drop_last=True at batch 32 (SegRNN's authors corrected that later), given beside it.
- S&P 500: next-day log return of the close, walk-forward: for each test year, train on every earlier
  day (its last 250 days for early stopping), test on the year, roll forward. Against the random walk
  (tomorrow's price = today's: log return 0) and the historical mean (the training days' mean return):
  MSE ratio to the random walk, directional accuracy with a one-sided binomial test (scipy) against 50 %
  and against always-up. Writes benchmarks/results/ett.json, sp500.json and PNGs of test windows.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402
import lmbench  # noqa: E402

ETT, SP500 = ROOT / "configs" / "ett.toml", ROOT / "configs" / "sp500.toml"
INFORMER_HORIZONS = (24, 48, 168, 336, 720)
LONG_HORIZONS = (96, 192, 336, 720)
LOOKBACKS = (336, 720)
INFORMER_LOOKBACK = 336  # one lookback for the Informer protocol (its papers tune it per model; 336 is LTSF's)
CELL_HORIZONS = (96, 720)  # the cells' rows: the shortest and the longest horizon (the budget allows no more)
# published test MSE (Zhou et al. 2021, Table 1 / 2 for LSTMa and Informer; Nie et al. 2023 PatchTST/64;
# Lin et al. 2023 SegRNN; Zeng et al. 2023 DLinear)
LSTMA_MULTI = dict(zip(INFORMER_HORIZONS, (0.650, 0.702, 1.212, 1.424, 1.960)))
LSTMA_UNI = dict(zip(INFORMER_HORIZONS, (0.114, 0.193, 0.236, 0.590, 0.683)))
INFORMER_MULTI = dict(zip(INFORMER_HORIZONS, (0.577, 0.685, 0.931, 1.128, 1.215)))
PATCHTST64 = dict(zip(LONG_HORIZONS, (0.370, 0.413, 0.422, 0.447)))
SEGRNN = dict(zip(LONG_HORIZONS, (0.351, 0.392, 0.423, 0.466)))
DLINEAR = dict(zip(LONG_HORIZONS, (0.375, 0.405, 0.439, 0.472)))
TRAIN_MINUTES_TARGET = 30.0


def _r(v: float) -> float:
    return round(float(v), 5)


class Bench:
    def __init__(self, args: argparse.Namespace, command: str):
        self.args, self.command, self.quick = args, command, args.quick
        self.runs = Path(args.runs)
        self.plots: list[str] = []

    # ---- one training -------------------------------------------------------------------------------

    def train(self, name: str, config: Path, overrides: list[str], minutes: float, epochs: int) -> dict[str, Any]:
        """Train one config within `minutes`; the summary, the config's overrides and the bundle path."""
        from rnnlab.config import load_config
        from rnnlab.training import train

        run_dir = self.runs / f"bench-forecast-{name}"
        # quick: every 8th training window, shorter valid / test ranges (a smoke run, not the protocol)
        extra = ["data.stride=8"] + (["data.valid_rows=480", "data.test_rows=480"] if config == ETT else []) \
            if self.quick else []
        cfg = load_config(config, overrides + extra + [
            f"run_dir={run_dir}", f"train.max_minutes={minutes}", f"train.epochs={epochs}", "train.progress=false",
            f"train.threads={self.args.threads}", "train.patience=3"])
        t0 = time.perf_counter()
        summary = train(cfg, overwrite=True, command=self.command, echo=None)
        test = summary.get("test", {})
        print(f"[{name}] {summary['epochs_run']} epochs, {summary['train_time_s'] / 60:.2f} min: "
              f"valid mse {summary.get('valid', {}).get('mse', float('nan')):.4f}  test mse {test.get('mse', 0):.4f} "
              f"mae {test.get('mae', 0):.4f} (repeat-last {test.get('repeat_last_mse', 0):.4f})", flush=True)
        return {"name": name, "overrides": overrides + extra, "budget_minutes": minutes, "epochs": epochs,
                "train_minutes": round(summary["train_time_s"] / 60, 3),
                "wall_minutes": round((time.perf_counter() - t0) / 60, 3),
                "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
                "parameters": summary["parameters"], "out_of_time": summary["out_of_time"],
                "valid": {k: _r(v) for k, v in summary.get("valid", {}).items()},
                "test": {k: _r(v) for k, v in test.items()}, "bundle": str(run_dir / "bundle")}

    def seasonal_and_windows(self, bundle: str, n_plot: int = 3) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """Seasonal naive (24 h) on the bundle's test windows, and a few windows (OT) to plot."""
        import rnnlab
        from rnnlab.forecasting.baselines import ErrorSums, seasonal_naive
        from rnnlab.forecasting.models import point_and_interval

        p = rnnlab.load(bundle)
        task, model = p.task, p.model
        starts = task.read("test")
        feats = [task.encode(s) for s in starts]
        sums = ErrorSums()
        for i in range(0, len(feats), 512):
            batch = task.collate(feats[i:i + 512])
            sums.add(seasonal_naive(batch["x"][:, :, task.targets], task.data.horizon), batch["y"])
        col = task.columns.index("OT") if "OT" in task.columns else task.targets[-1]
        j = task.targets.index(col) if col in task.targets else len(task.targets) - 1
        picks = [feats[int(k)] for k in np.linspace(0, len(feats) - 1, n_plot)]
        batch = task.collate(picks)
        with torch.no_grad():
            point, lower, upper = point_and_interval(model(batch["x"]).float(), task.model_config.head)
        show = min(task.data.lookback, 2 * task.data.horizon)
        windows = [{"start": f["start"], "history": batch["x"][b, -show:, col].tolist(),
                    "truth": batch["y"][b, :, j].tolist(), "forecast": point[b, :, j].tolist(),
                    **({"lower": lower[b, :, j].tolist(), "upper": upper[b, :, j].tolist()}
                       if lower is not None else {})}
                   for b, f in enumerate(picks)]
        return {"seasonal_naive_mse": _r(sums.mse()), "seasonal_naive_mae": _r(sums.mae())}, windows

    def plot(self, png: str, rows: list[dict[str, Any]], title: str) -> None:
        from rnnlab.forecasting.plots import Panel, plot_panels

        panels = [Panel(f"{r['name']}  window {w['start']}  (scaled OT)", w["history"], w["forecast"], w["truth"],
                        w.get("lower"), w.get("upper")) for r in rows for w in r.get("windows", [])]
        if panels:
            path = Path(self.args.out_dir) / png
            plot_panels(path, panels, columns=3, title=title)
            self.plots.append(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))

    def full_row(self, name: str, overrides: list[str], minutes: float, epochs: int) -> dict[str, Any]:
        row = self.train(name, ETT, overrides, minutes, epochs)
        seasonal, windows = self.seasonal_and_windows(row["bundle"])
        row["test"].update(seasonal)
        row["windows"] = windows
        return row

    # ---- the parts ------------------------------------------------------------------------------------

    def informer(self) -> dict[str, Any]:
        """Both variants, every horizon: the RNN (SegRNN-style GRU) and DLinear on the same windows."""
        horizons = (24,) if self.quick else INFORMER_HORIZONS
        minutes, epochs = (0.1, 1) if self.quick else (self.args.minutes, 12)
        out: dict[str, Any] = {}
        variants = (("multivariate", []), ("univariate", ["data.columns=OT", "data.targets=OT"]))
        for variant, cols in variants[:1] if self.quick else variants:
            rows = []
            for h in horizons:
                lookback = INFORMER_LOOKBACK
                base = cols + [f"data.horizon={h}", f"data.lookback={lookback}"]
                row = self.full_row(f"informer-{variant}-{h}", base, minutes, epochs)
                lin = self.train(f"informer-{variant}-{h}-dlinear", ETT,
                                 base + ["model.arch=dlinear", "model.norm=none", "model.loss=mse", "train.lr=0.005"],
                                 min(minutes, 0.5), epochs)
                row["test"]["dlinear_mse"], row["test"]["dlinear_mae"] = lin["test"]["mse"], lin["test"]["mae"]
                row["dlinear"] = {k: lin[k] for k in ("overrides", "train_minutes", "epochs_run", "test")}
                row["horizon"], row["lookback"] = h, lookback
                rows.append(row)
            self.plot(f"ett_informer_{variant}.png", rows, f"ETTh1, Informer protocol, {variant}: test windows")
            out[variant] = rows
        return out

    def long(self) -> dict[str, Any]:
        """Lookback chosen on valid (GRU), every horizon, DLinear beside it; a quantile-head row at 96."""
        horizons = (96,) if self.quick else tuple(self.args.long_horizons)
        lookbacks = (336,) if self.quick else LOOKBACKS
        minutes, epochs = (0.1, 1) if self.quick else (self.args.minutes, 12)
        rows, chosen = [], {}
        for h in horizons:
            tried = [self.train(f"long-{h}-lookback{lb}", ETT, [f"data.horizon={h}", f"data.lookback={lb}"],
                                minutes, epochs) for lb in lookbacks]
            best = min(tried, key=lambda r: r["valid"]["mse"])
            lb = int(best["overrides"][1].split("=")[1])
            chosen[h] = lb
            seasonal, windows = self.seasonal_and_windows(best["bundle"])
            best["test"].update(seasonal)
            best["windows"] = windows
            lin = self.train(f"long-{h}-dlinear", ETT,
                             [f"data.horizon={h}", f"data.lookback={lb}", "model.arch=dlinear", "model.norm=none",
                              "model.loss=mse", "train.lr=0.005"], min(minutes, 0.5), epochs)
            best["test"]["dlinear_mse"], best["test"]["dlinear_mae"] = lin["test"]["mse"], lin["test"]["mae"]
            best["dlinear"] = {k: lin[k] for k in ("overrides", "train_minutes", "epochs_run", "test")}
            best.update(horizon=h, lookback=lb, lookback_selection={
                r["overrides"][1]: {"valid_mse": r["valid"]["mse"], "test_mse": r["test"]["mse"],
                                    "train_minutes": r["train_minutes"]} for r in tried},
                train_minutes_all_lookbacks=round(sum(r["train_minutes"] for r in tried), 3))
            rows.append(best)
        self.plot("ett_long_horizon.png", rows, "ETTh1, long-horizon protocol, multivariate: test windows")
        q = None
        if horizons[0] == 96 or self.quick:  # the interval row: at the shortest horizon, when it is run
            h = horizons[0]
            q = self.full_row(f"long-{h}-quantile", [f"data.horizon={h}", f"data.lookback={chosen[h]}",
                                                     "model.head=quantile"], minutes, epochs)
            q.update(horizon=h, lookback=chosen[h])
            self.plot("ett_long_horizon_interval.png", [q], f"ETTh1 {h} h, quantile head: the 80 % interval")
        return {"rows": rows, "chosen_lookback": chosen, "quantile_row": q}

    def cells(self, long: dict[str, Any]) -> list[dict[str, Any]]:
        """rnn, lstm, gru at one shared budget, long-horizon protocol, at the lookback chosen for GRU (the GRU
        rows are the long-horizon rows themselves: the same config and budget)."""
        chosen = long["chosen_lookback"]
        gru = {r["horizon"]: r for r in long["rows"]}
        horizons = (96,) if self.quick else CELL_HORIZONS
        cells = ("lstm",) if self.quick else ("rnn", "lstm", "gru")
        minutes, epochs = (0.1, 1) if self.quick else (self.args.minutes, 12)
        rows = []
        for cell in cells:
            for h in horizons:
                lb = chosen.get(h, 720)
                if cell == "gru" and h in gru:
                    rows.append({**{k: v for k, v in gru[h].items() if k not in ("windows", "lookback_selection")},
                                 "cell": "gru", "same_as": gru[h]["name"]})
                    continue
                r = self.train(f"cells-{cell}-{h}", ETT, [f"data.horizon={h}", f"data.lookback={lb}",
                                                          f"model.cell={cell}"], minutes, epochs)
                r.update(cell=cell, horizon=h, lookback=lb)
                rows.append(r)
        return rows

    def sp500(self) -> dict[str, Any]:
        from scipy.stats import binomtest

        import rnnlab
        from rnnlab.readers.paths import resolve_path
        from rnnlab.readers.series import read_series

        series = read_series(resolve_path("$RNNLAB_DATA/sp500/sp500.csv"), columns="Close", time_column="Date",
                             time_format="%d-%m-%y")
        years = np.array([s.year for s in series.stamps[1:]])  # the year of each log-return row
        test_years = [2016, 2017] if self.quick else list(range(2006, 2019))
        minutes, epochs = (0.05, 1) if self.quick else (self.args.sp500_minutes, 15)
        folds, preds, truths, means = [], [], [], []
        for year in test_years:
            first, n_year = int(np.argmax(years == year)), int((years == year).sum())
            valid = 250
            row = self.train(f"sp500-{year}", SP500, [f"data.train_rows={first - valid}", f"data.valid_rows={valid}",
                                                      f"data.test_rows={n_year}"], minutes, epochs)
            p = rnnlab.load(row["bundle"])
            task = p.task
            feats = [task.encode(s) for s in task.read("test")]
            batch = task.collate(feats)
            from rnnlab.forecasting.models import point_and_interval

            with torch.no_grad():
                point, lower, upper = point_and_interval(p.model(batch["x"]).float(), task.model_config.head)
            pred = task.scaler.inverse(point[:, 0, :].double().numpy(), task.targets)[:, 0]  # log returns
            truth = task.scaler.inverse(batch["y"][:, 0, :].double().numpy(), task.targets)[:, 0]
            mean = float(task._values[: first - valid, 0].mean())  # the training days' mean log return
            inside = None
            if lower is not None:
                lo = task.scaler.inverse(lower[:, 0, :].double().numpy(), task.targets)[:, 0]
                hi = task.scaler.inverse(upper[:, 0, :].double().numpy(), task.targets)[:, 0]
                inside = float(np.mean((truth >= lo) & (truth <= hi)))
            rw = float(np.mean(truth ** 2))
            folds.append({"year": year, "train_rows": first - valid, "test_days": len(truth),
                          "mse_ratio_to_random_walk": _r(np.mean((pred - truth) ** 2) / rw),
                          "historical_mean_mse_ratio": _r(np.mean((mean - truth) ** 2) / rw),
                          "coverage80": None if inside is None else _r(inside),
                          "train_minutes": row["train_minutes"], "epochs_run": row["epochs_run"]})
            print(f"[sp500-{year}] MSE / random walk {folds[-1]['mse_ratio_to_random_walk']:.4f}", flush=True)
            preds.append(pred)
            truths.append(truth)
            means.append(np.full_like(truth, mean))
        pred, truth, mean = np.concatenate(preds), np.concatenate(truths), np.concatenate(means)
        rw = float(np.mean(truth ** 2))
        moved = truth != 0
        hits = int(np.sum(np.sign(pred[moved]) == np.sign(truth[moved])))
        n = int(moved.sum())
        up = float(np.mean(truth[moved] > 0))
        ratio = float(np.mean((pred - truth) ** 2) / rw)
        p_up = float(binomtest(hits, n, up, alternative="greater").pvalue)
        beats = ratio < 1.0 and p_up < 0.05
        result = {
            "protocol": "walk-forward: for each test year, train on every earlier day (the last 250 for early "
                        "stopping), test on the year's days; next-day log return of the close",
            "model": "configs/sp500.toml (SegRNN-style GRU over the last 60 log returns, Gaussian head)",
            "test_days": n, "mse_ratio_to_random_walk": _r(ratio),
            "historical_mean_mse_ratio_to_random_walk": _r(np.mean((mean - truth) ** 2) / rw),
            "directional_accuracy": _r(hits / n),
            "binomial_p_vs_half": float(binomtest(hits, n, 0.5, alternative="greater").pvalue),
            "always_up_accuracy": _r(up),
            "binomial_p_vs_always_up": p_up,
            "beats_random_walk": bool(beats),
            "verdict": (f"yes: MSE {ratio:.4f} x the random walk's and more right directions than always-up "
                        f"({hits / n:.3f} vs {up:.3f}, p = {p_up:.3g})" if beats else
                        f"no: the network does not clearly beat the random walk: MSE {ratio:.4f} x the random "
                        f"walk's, directional accuracy {hits / n:.3f} against always-up {up:.3f} (p = {p_up:.3g})"),
            "folds": folds}
        print(f"[sp500] {result['verdict']}", flush=True)
        return result


def _targets(informer, long, cells) -> list[dict[str, Any]]:
    t = []
    for variant, rows in (informer or {}).items():
        for r in rows:
            h, mse = r["horizon"], r["test"]["mse"]
            anchor = LSTMA_MULTI if variant == "multivariate" else LSTMA_UNI
            t.append(benchcommon.target(f"informer_{variant}_{h}_mse_vs_lstma", mse, anchor[h], "<=", row=r["name"]))
            if variant == "multivariate":
                t.append(benchcommon.target(f"informer_multivariate_{h}_mse_vs_informer", mse, INFORMER_MULTI[h], "<=",
                                            row=r["name"]))
    for r in (long or {}).get("rows", []):
        h = r["horizon"]
        t.append(benchcommon.target(f"long_horizon_{h}_mse_vs_patchtst64", r["test"]["mse"], PATCHTST64[h], "<=",
                                    row=r["name"], lookback=r["lookback"]))
        t.append(benchcommon.target(f"long_horizon_{h}_train_minutes", r["train_minutes_all_lookbacks"],
                                    TRAIN_MINUTES_TARGET, "<=", row=r["name"]))
    return t


def without_plot_data(x: Any) -> Any:
    """The result as written: every row's `windows` (the series drawn in the PNGs, ~1 MB) left out."""
    if isinstance(x, dict):
        return {k: without_plot_data(v) for k, v in x.items() if k != "windows"}
    if isinstance(x, list):
        return [without_plot_data(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=("informer", "long", "cells", "sp500"),
                   default=["informer", "long", "cells", "sp500"])
    p.add_argument("--quick", action="store_true", help="one horizon per part, tiny budgets: a smoke run")
    # 23 recurrent trainings at 0.9 min + their evaluations + 14 DLinear + 13 S&P folds: about 40 min on 2 cores
    p.add_argument("--minutes", type=float, default=0.9, help="training budget of each ETTh1 model (minutes)")
    p.add_argument("--sp500-minutes", type=float, default=0.25, help="training budget per S&P 500 fold")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--long-horizons", nargs="+", type=int, choices=LONG_HORIZONS, default=list(LONG_HORIZONS),
                   help="the long-horizon protocol's horizons to run (e.g. a longer budget for some, with --out-dir)")
    p.add_argument("--runs", default="runs")
    p.add_argument("--out-dir", default="", help="default benchmarks/results (--quick: RUNS/bench-forecast-quick)")
    args = p.parse_args(argv)
    given = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/forecast.py " + " ".join(shlex.quote(a) for a in given)
    torch.set_num_threads(args.threads)
    bench, t0 = Bench(args, command), time.perf_counter()
    out_dir = Path(args.out_dir or (Path(args.runs) / "bench-forecast-quick" if args.quick else
                                    ROOT / "benchmarks" / "results"))
    args.out_dir = str(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    informer = bench.informer() if "informer" in args.only else None
    long = bench.long() if ("long" in args.only or "cells" in args.only) else None
    cells = bench.cells(long) if "cells" in args.only else None
    targets = _targets(informer, long, cells)
    if informer or long:
        result = {"benchmark": "ett", "command": command, "quick": args.quick, "machine": lmbench.machine(),
                  "data": "ETTh1 (zhouhaoyi/ETDataset), rows 0-8640 train, 8640-11520 valid, 11520-14400 test",
                  "scoring": "MSE / MAE on the z-scored data (training rows' statistics), every test window "
                             "(none dropped); mse_drop_last: batches of 32, the last partial one dropped, as the "
                             "original Informer / LTSF-Linear loaders did",
                  "model_config": "configs/ett.toml + each row's overrides",
                  "anchors_mse": {"lstma_multivariate": LSTMA_MULTI, "lstma_univariate": LSTMA_UNI,
                                  "informer_multivariate": INFORMER_MULTI, "patchtst64": PATCHTST64,
                                  "segrnn": SEGRNN, "dlinear": DLINEAR},
                  "informer_protocol": informer, "long_horizon_protocol": long, "cells": cells,
                  "plots": bench.plots, "targets": targets, "all_targets_met": benchcommon.all_met(targets),
                  "wall_minutes": round((time.perf_counter() - t0) / 60, 2)}
        lmbench.write_json(out_dir / f"ett{suffix}.json", without_plot_data(result))
        print(benchcommon.describe(targets))
        print(f"wrote {out_dir / f'ett{suffix}.json'}")
    if "sp500" in args.only:
        sp = bench.sp500()
        # the MSE ratio alone; `beats_random_walk` / `verdict` also ask the direction to beat always-up
        sp_targets = [benchcommon.target("sp500_mse_ratio_to_random_walk", sp["mse_ratio_to_random_walk"], 1.0, "<=",
                                         beats_random_walk=sp["beats_random_walk"])]
        lmbench.write_json(out_dir / f"sp500{suffix}.json", {
            "benchmark": "sp500", "command": command, "quick": args.quick, "machine": lmbench.machine(), **sp,
            "targets": sp_targets})
        print(benchcommon.describe(sp_targets))
        print(f"wrote {out_dir / f'sp500{suffix}.json'}")
    print(f"total {(time.perf_counter() - t0) / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

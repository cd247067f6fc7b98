"""Forecasting benchmark: ETTh1 under the Informer and the long-horizon protocols, and the S&P 500 next day.

    python benchmarks/forecast.py --minutes 1.5              # everything (about 90 minutes on 2 cores, 3 seeds)
    python benchmarks/forecast.py --only long --minutes 1.5  # parts: informer, long, cells, sp500 (see below)
    python benchmarks/forecast.py --quick                    # a smoke run (about a minute): one horizon, 2 seeds

Every figure is on the same windows as its baselines, computed by the same code (rnnlab.forecasting):
repeat-last, seasonal naive (24 h) and a linear model (DLinear, trained by the same task and loop).

- Informer protocol (Zhou et al. 2021): ETTh1 rows 0-8640 / 8640-11520 / 11520-14400 (12/4/4 months),
  z-scored with the training rows' statistics, MSE / MAE on the scaled data, horizons 24 48 168 336 720,
  multivariate (7 -> 7) and univariate (OT -> OT), lookback 336; targets LSTMa's and Informer's figures.
- Long-horizon protocol (LTSF-Linear, PatchTST, SegRNN): the same split and scaling, horizons 96 192 336 720,
  multivariate, lookback chosen on valid among LOOKBACKS (at seed 0); target PatchTST/64's MSE. Rows per cell
  (rnn, lstm, gru) at one shared budget at horizons 96 and 720 (`cells`, one seed; the GRU rows are seed 0 of
  the long-horizon rows), and a quantile-head row at 96 (one seed) with its 80 % interval's empirical coverage.
- Seeds: every row with a target (Informer and long-horizon protocols; DLinear beside it too) is trained with
  --seeds seeds (3): its `test` is the mean over them, `test_std` their standard deviation (ddof 1) and
  `per_seed` each seed's figures; the targets count on the mean. Plots and bundle paths are seed 0's.
- Each model trains within --minutes of training time, 12 epochs at most, patience 3; a run's JSON gives its
  config (configs/ett.toml + its overrides), epochs run and training minutes.
- Every test window is scored (no partial batch dropped). Beside it: `mse_drop_last`, the original Informer /
  LTSF-Linear loaders' test batches of 32 with drop_last=True (SegRNN's authors corrected that later), and
  `mse_drop_last128`, PatchTST's (its data_factory gives the test loader drop_last=True, shuffle off, and its
  ETTh1 scripts batch 128): the figure PatchTST/64's published one was computed like.
- S&P 500: next-day log return of the close, walk-forward: for each test year, train on every earlier
  day (its last 250 days for early stopping), test on the year, roll forward. Against the random walk
  (tomorrow's price = today's: log return 0) and the historical mean (the training days' mean return):
  MSE ratio to the random walk per year and pooled, and the target: a one-sided Diebold-Mariano test
  (squared-error loss, HLN correction; rnnlab.forecasting.comparison) that the network's errors are smaller
  than the random walk's over every test day pooled, p <= 0.05; directional accuracy with a one-sided
  binomial test (scipy) against 50 % and against always-up.
- --only runs some parts; the parts it does not run (and long-horizon rows at horizons not run) are kept from
  the ETT JSON it replaces, with the command that made each in `parts`. Times at --minutes 1.5 on 2 cores, 3
  seeds: informer about 42 min, long (with its quantile row) about 37, cells about 7 after long (`--only cells`
  runs long too), sp500 about 3.
Writes benchmarks/results/ett.json, sp500.json and PNGs of test windows.
"""
from __future__ import annotations

import argparse
import json
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
DLINEAR_OVERRIDES = ["model.arch=dlinear", "model.norm=none", "model.loss=mse", "train.lr=0.005"]
PATCHTST_TEST_BATCH = 128  # PatchTST's scripts/PatchTST/etth1.sh --batch_size 128; its test loader drops the last
# the figures of a row that depend on the seed: averaged over seeds, with their standard deviation
SEED_KEYS = ("mse", "mae", "loss", "mse_drop_last", "mae_drop_last", "mse_drop_last128", "mae_drop_last128",
             "dlinear_mse", "dlinear_mae", "coverage80", "interval_width")
SP500_ALPHA = 0.05  # the Diebold-Mariano test's level for "beats the random walk"


def _r(v: float) -> float:
    return round(float(v), 5)


def _p(p: float) -> str:
    """A p-value in a sentence: 0.9998 stays 0.9998 (not "1"), tiny ones in powers of ten."""
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def over_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the same row trained at several seeds (runs[0]: seed 0, whose bundle, plots and run details
    the row keeps): `test` the mean of each figure, `test_std` the seed-dependent ones' standard deviation
    (ddof 1), `per_seed` each seed's figures."""
    row = {k: v for k, v in runs[0].items() if k != "seed"}
    keys = [k for k in runs[0]["test"] if all(k in r["test"] for r in runs)]
    row["test"] = {}
    for k in keys:
        values = [r["test"][k] for r in runs]
        row["test"][k] = values[0] if all(v == values[0] for v in values) else _r(np.mean(values))
    row["test_std"] = {k: _r(np.std([r["test"][k] for r in runs], ddof=1)) if len(runs) > 1 else 0.0
                       for k in SEED_KEYS if k in keys}
    row["seeds"] = [r.get("seed", 0) for r in runs]
    row["per_seed"] = [{"seed": r.get("seed", 0), "name": r["name"], "train_minutes": r["train_minutes"],
                        "epochs_run": r["epochs_run"], "out_of_time": r["out_of_time"],
                        "valid_mse": r["valid"].get("mse"),
                        "dlinear_train_minutes": r.get("dlinear", {}).get("train_minutes"),
                        "test": {k: r["test"][k] for k in SEED_KEYS if k in r["test"]}} for r in runs]
    return row


def seed0(row: dict[str, Any]) -> dict[str, Any]:
    """A row as its seed-0 run scored it (a row from before seeds is that already)."""
    if not row.get("per_seed"):
        return row
    out = {k: v for k, v in row.items() if k not in ("test_std", "per_seed", "seeds")}
    out["test"] = {**row["test"], **row["per_seed"][0]["test"]}
    return out


class Bench:
    def __init__(self, args: argparse.Namespace, command: str):
        self.args, self.command, self.quick = args, command, args.quick
        self.runs = Path(args.runs)
        self.seeds = args.seeds
        self.plots: list[str] = []

    # ---- one training -------------------------------------------------------------------------------

    def train(self, name: str, config: Path, overrides: list[str], minutes: float, epochs: int,
              seed: int = 0) -> dict[str, Any]:
        """Train one config within `minutes`; the summary, the config's overrides and the bundle path."""
        from rnnlab.config import load_config
        from rnnlab.training import train

        name = name if seed == 0 else f"{name}-seed{seed}"
        run_dir = self.runs / f"bench-forecast-{name}"
        # quick: every 8th training window, shorter valid / test ranges (a smoke run, not the protocol)
        extra = ["data.stride=8"] + (["data.valid_rows=480", "data.test_rows=480"] if config == ETT else []) \
            if self.quick else []
        cfg = load_config(config, overrides + extra + [
            f"run_dir={run_dir}", f"train.max_minutes={minutes}", f"train.epochs={epochs}", "train.progress=false",
            f"train.threads={self.args.threads}", "train.patience=3", f"train.seed={seed}"])
        t0 = time.perf_counter()
        summary = train(cfg, overwrite=True, command=self.command, echo=None)
        test = summary.get("test", {})
        print(f"[{name}] {summary['epochs_run']} epochs, {summary['train_time_s'] / 60:.2f} min: "
              f"valid mse {summary.get('valid', {}).get('mse', float('nan')):.4f}  test mse {test.get('mse', 0):.4f} "
              f"mae {test.get('mae', 0):.4f} (repeat-last {test.get('repeat_last_mse', 0):.4f})", flush=True)
        return {"name": name, "seed": seed, "overrides": overrides + extra, "budget_minutes": minutes,
                "epochs": epochs, "train_minutes": round(summary["train_time_s"] / 60, 3),
                "wall_minutes": round((time.perf_counter() - t0) / 60, 3),
                "epochs_run": summary["epochs_run"], "best_epoch": summary["best_epoch"],
                "parameters": summary["parameters"], "out_of_time": summary["out_of_time"],
                "valid": {k: _r(v) for k, v in summary.get("valid", {}).items()},
                "test": {k: _r(v) for k, v in test.items()}, "bundle": str(run_dir / "bundle")}

    def rescore(self, bundle: str, n_plot: int = 3) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The bundle's test windows again, in order: seasonal naive (24 h), the model with PatchTST's test
        loader (batches of 128, the last partial one dropped), and a few windows (OT) to plot."""
        import rnnlab
        from rnnlab.forecasting.baselines import ErrorSums, seasonal_naive
        from rnnlab.forecasting.models import point_and_interval

        p = rnnlab.load(bundle)  # in eval mode: no dropout
        task, model = p.task, p.model
        starts = task.read("test")
        feats = [task.encode(s) for s in starts]
        seasonal, errors = ErrorSums(), ErrorSums()
        with torch.no_grad():
            for i in range(0, len(feats), 512):
                batch = task.collate(feats[i:i + 512])
                seasonal.add(seasonal_naive(batch["x"][:, :, task.targets], task.data.horizon), batch["y"])
                y = model(batch["x"], scaled=True).float()  # the z-scored windows: the protocol's figures
                errors.add(point_and_interval(y, task.model_config.head)[0], batch["y"])
        scores = {"seasonal_naive_mse": _r(seasonal.mse()), "seasonal_naive_mae": _r(seasonal.mae()),
                  "windows": len(feats)}
        dropped = errors.drop_last(PATCHTST_TEST_BATCH)
        if dropped is not None:
            keep = len(feats) // PATCHTST_TEST_BATCH * PATCHTST_TEST_BATCH
            scores.update(mse_drop_last128=_r(dropped[0]), mae_drop_last128=_r(dropped[1]), windows_drop_last128=keep)
        col = task.columns.index("OT") if "OT" in task.columns else task.targets[-1]
        j = task.targets.index(col) if col in task.targets else len(task.targets) - 1
        picks = [feats[int(k)] for k in np.linspace(0, len(feats) - 1, n_plot)]
        batch = task.collate(picks)
        with torch.no_grad():
            point, lower, upper = point_and_interval(model(batch["x"], scaled=True).float(), task.model_config.head)
        show = min(task.data.lookback, 2 * task.data.horizon)
        windows = [{"start": f["start"], "history": batch["x"][b, -show:, col].tolist(),
                    "truth": batch["y"][b, :, j].tolist(), "forecast": point[b, :, j].tolist(),
                    **({"lower": lower[b, :, j].tolist(), "upper": upper[b, :, j].tolist()}
                       if lower is not None else {})}
                   for b, f in enumerate(picks)]
        return scores, windows

    def plot(self, png: str, rows: list[dict[str, Any]], title: str) -> None:
        from rnnlab.forecasting.plots import Panel, plot_panels

        panels = [Panel(f"{r['name']}  window {w['start']}  (scaled OT)", w["history"], w["forecast"], w["truth"],
                        w.get("lower"), w.get("upper")) for r in rows for w in r.get("windows", [])]
        if panels:
            path = Path(self.args.out_dir) / png
            plot_panels(path, panels, columns=3, title=title)
            self.plots.append(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))

    def scored(self, row: dict[str, Any]) -> dict[str, Any]:
        """A trained row with its rescoring (seasonal naive, PatchTST's figure) and plot windows added."""
        scores, windows = self.rescore(row["bundle"])
        row["test"].update(scores)
        row["windows"] = windows
        return row

    def with_dlinear(self, row: dict[str, Any], name: str, base: list[str], minutes: float,
                     epochs: int) -> dict[str, Any]:
        """DLinear on the row's windows at the row's seed, its figures beside the row's."""
        lin = self.train(name, ETT, base + DLINEAR_OVERRIDES, min(minutes, 0.5), epochs, row["seed"])
        row["test"]["dlinear_mse"], row["test"]["dlinear_mae"] = lin["test"]["mse"], lin["test"]["mae"]
        row["dlinear"] = {k: lin[k] for k in ("overrides", "train_minutes", "epochs_run", "test")}
        return row

    def seeded(self, first: dict[str, Any], name: str, dlinear: str, base: list[str], minutes: float,
               epochs: int) -> dict[str, Any]:
        """`first` (seed 0, scored, DLinear beside it) and the same row at seeds 1 .. --seeds - 1, as one row."""
        runs = [first]
        for seed in range(1, self.seeds):
            row = self.scored(self.train(name, ETT, base, minutes, epochs, seed))
            runs.append(self.with_dlinear(row, dlinear, base, minutes, epochs))
        out = over_seeds(runs)
        print(f"[{name}] test mse over seeds {out['seeds']}: {out['test']['mse']:.4f} "
              f"+- {out['test_std'].get('mse', 0):.4f}", flush=True)
        return out

    # ---- the parts ------------------------------------------------------------------------------------

    def informer(self) -> dict[str, Any]:
        """Both variants, every horizon: the RNN (SegRNN-style GRU) and DLinear on the same windows, every seed."""
        horizons = (24,) if self.quick else INFORMER_HORIZONS
        minutes, epochs = (0.1, 1) if self.quick else (self.args.minutes, 12)
        out: dict[str, Any] = {}
        variants = (("multivariate", []), ("univariate", ["data.columns=OT", "data.targets=OT"]))
        for variant, cols in variants[:1] if self.quick else variants:
            rows = []
            for h in horizons:
                lookback = INFORMER_LOOKBACK
                base = cols + [f"data.horizon={h}", f"data.lookback={lookback}"]
                name = f"informer-{variant}-{h}"
                first = self.with_dlinear(self.scored(self.train(name, ETT, base, minutes, epochs)),
                                          f"{name}-dlinear", base, minutes, epochs)
                row = self.seeded(first, name, f"{name}-dlinear", base, minutes, epochs)
                row["horizon"], row["lookback"] = h, lookback
                rows.append(row)
            self.plot(f"ett_informer_{variant}.png", rows, f"ETTh1, Informer protocol, {variant}: test windows")
            out[variant] = rows
        return out

    def long(self) -> dict[str, Any]:
        """Lookback chosen on valid (GRU, seed 0), every horizon at every seed, DLinear beside it; a quantile-head
        row at 96."""
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
            base = [f"data.horizon={h}", f"data.lookback={lb}"]
            first = self.with_dlinear(self.scored(best), f"long-{h}-dlinear", base, minutes, epochs)
            row = self.seeded(first, f"long-{h}-lookback{lb}", f"long-{h}-dlinear", base, minutes, epochs)
            row.update(horizon=h, lookback=lb, lookback_selection={
                r["overrides"][1]: {"valid_mse": r["valid"]["mse"], "test_mse": r["test"]["mse"],
                                    "train_minutes": r["train_minutes"]} for r in tried},
                train_minutes_all_lookbacks=round(sum(r["train_minutes"] for r in tried), 3))
            rows.append(row)
        self.plot("ett_long_horizon.png", rows, "ETTh1, long-horizon protocol, multivariate: test windows")
        q = None
        if horizons[0] == 96 or self.quick:  # the interval row: at the shortest horizon, when it is run
            h = horizons[0]
            q = self.scored(self.train(f"long-{h}-quantile", ETT, [f"data.horizon={h}", f"data.lookback={chosen[h]}",
                                                                   "model.head=quantile"], minutes, epochs))
            q.update(horizon=h, lookback=chosen[h])
            self.plot("ett_long_horizon_interval.png", [q], f"ETTh1 {h} h, quantile head: the 80 % interval")
        return {"rows": rows, "chosen_lookback": chosen, "quantile_row": q}

    def cells(self, long: dict[str, Any]) -> list[dict[str, Any]]:
        """rnn, lstm, gru at one shared budget and one seed (0), long-horizon protocol, at the lookback chosen for
        GRU (the GRU rows are seed 0 of the long-horizon rows themselves: the same config and budget)."""
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
                    rows.append(gru_cell_row(gru[h]))
                    continue
                r = self.train(f"cells-{cell}-{h}", ETT, [f"data.horizon={h}", f"data.lookback={lb}",
                                                          f"model.cell={cell}"], minutes, epochs)
                r.update(cell=cell, horizon=h, lookback=lb)
                rows.append(r)
        return rows

    def sp500(self) -> dict[str, Any]:
        """Walk-forward over the test years: each fold's network forecasts, truths and training mean, scored by
        sp500_result."""
        import rnnlab
        from rnnlab.forecasting.models import point_and_interval
        from rnnlab.readers.paths import resolve_path
        from rnnlab.readers.series import read_series

        series = read_series(resolve_path("$RNNLAB_DATA/sp500/sp500.csv"), columns="Close", time_column="Date",
                             time_format="%d-%m-%y")
        years = np.array([s.year for s in series.stamps[1:]])  # the year of each log-return row
        test_years = [2016, 2017] if self.quick else list(range(2006, 2019))
        minutes, epochs = (0.05, 1) if self.quick else (self.args.sp500_minutes, 15)
        folds = []
        for year in test_years:
            first, n_year = int(np.argmax(years == year)), int((years == year).sum())
            valid = 250
            row = self.train(f"sp500-{year}", SP500, [f"data.train_rows={first - valid}", f"data.valid_rows={valid}",
                                                      f"data.test_rows={n_year}"], minutes, epochs)
            p = rnnlab.load(row["bundle"])
            task = p.task
            batch = task.collate([task.encode(s) for s in task.read("test")])
            with torch.no_grad():
                y = p.model(batch["x"], scaled=True).float()  # z-scores in, z-scores out
                point, lower, upper = point_and_interval(y, task.model_config.head)
            pred = task.scaler.inverse(point[:, 0, :].double().numpy(), task.targets)[:, 0]  # log returns
            truth = task.scaler.inverse(batch["y"][:, 0, :].double().numpy(), task.targets)[:, 0]
            fold = {"year": year, "train_rows": first - valid, "pred": pred, "truth": truth,
                    "mean": float(task._values[: first - valid, 0].mean()),  # the training days' mean log return
                    "inside": None, "train_minutes": row["train_minutes"], "epochs_run": row["epochs_run"]}
            if lower is not None:
                lo = task.scaler.inverse(lower[:, 0, :].double().numpy(), task.targets)[:, 0]
                hi = task.scaler.inverse(upper[:, 0, :].double().numpy(), task.targets)[:, 0]
                fold["inside"] = float(np.mean((truth >= lo) & (truth <= hi)))
            print(f"[sp500-{year}] MSE / random walk {np.mean((pred - truth) ** 2) / np.mean(truth ** 2):.4f}",
                  flush=True)
            folds.append(fold)
        result = sp500_result(folds)
        print(f"[sp500] {result['verdict']}", flush=True)
        return result


def gru_cell_row(long_row: dict[str, Any]) -> dict[str, Any]:
    """The cells table's GRU row: seed 0 of the long-horizon row (the other cells run one seed)."""
    row = seed0(long_row)
    return {**{k: v for k, v in row.items() if k not in ("windows", "lookback_selection")},
            "cell": "gru", "same_as": long_row["name"]}


def sp500_result(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The S&P 500 figures from the walk-forward folds (each: year, train_rows, pred and truth (n,) next-day log
    returns, the training days' mean return, interval coverage or None, train_minutes, epochs_run). The random
    walk forecasts a log return of 0, so its errors are the truths themselves."""
    from scipy.stats import binomtest

    from rnnlab.forecasting.comparison import diebold_mariano

    out_folds = []
    for f in folds:
        pred, truth = np.asarray(f["pred"], dtype=np.float64), np.asarray(f["truth"], dtype=np.float64)
        rw = float(np.mean(truth ** 2))
        dm = diebold_mariano(pred - truth, -truth, h=1)
        out_folds.append({"year": f["year"], "train_rows": f["train_rows"], "test_days": len(truth),
                          "mse_ratio_to_random_walk": _r(np.mean((pred - truth) ** 2) / rw),
                          "historical_mean_mse_ratio": _r(np.mean((f["mean"] - truth) ** 2) / rw),
                          "dm_statistic": _r(dm.statistic), "dm_pvalue": float(dm.pvalue),
                          "coverage80": None if f["inside"] is None else _r(f["inside"]),
                          "train_minutes": f["train_minutes"], "epochs_run": f["epochs_run"]})
    pred = np.concatenate([np.asarray(f["pred"], dtype=np.float64) for f in folds])
    truth = np.concatenate([np.asarray(f["truth"], dtype=np.float64) for f in folds])
    mean = np.concatenate([np.full(len(f["truth"]), f["mean"]) for f in folds])
    rw = float(np.mean(truth ** 2))
    ratio = float(np.mean((pred - truth) ** 2) / rw)
    # every test day pooled, in time order (the folds are consecutive years); h = 1: next-day forecasts
    dm = diebold_mariano(pred - truth, -truth, h=1)
    moved = truth != 0
    hits, n = int(np.sum(np.sign(pred[moved]) == np.sign(truth[moved]))), int(moved.sum())
    up = float(np.mean(truth[moved] > 0))
    p_up = float(binomtest(hits, n, up, alternative="greater").pvalue)
    beats = dm.pvalue <= SP500_ALPHA
    above = [f["year"] for f in out_folds if f["mse_ratio_to_random_walk"] > 1]
    dm_text = f"Diebold-Mariano one-sided p = {_p(dm.pvalue)} (DM* = {dm.statistic:.2f}, {len(truth)} days)"
    return {
        "protocol": "walk-forward: for each test year, train on every earlier day (the last 250 for early "
                    "stopping), test on the year's days; next-day log return of the close",
        "model": "configs/sp500.toml (SegRNN-style GRU over the last 60 log returns, Gaussian head)",
        "test_days": len(truth), "mse_ratio_to_random_walk": _r(ratio),
        "mse_ratio_by_year": {str(f["year"]): f["mse_ratio_to_random_walk"] for f in out_folds},
        "years_worse_than_random_walk": above,
        "historical_mean_mse_ratio_to_random_walk": _r(np.mean((mean - truth) ** 2) / rw),
        "diebold_mariano": {
            "test": "squared-error loss differential d = e_network^2 - e_random_walk^2 over every test day pooled "
                    "across the folds; Harvey-Leybourne-Newbold small-sample correction, Newey-West variance "
                    "with lag h-1 = 0 (h = 1), Student t with n-1 degrees of freedom; one-sided, H1: the "
                    "network's squared errors are smaller (rnnlab.forecasting.comparison)",
            "statistic": _r(dm.statistic), "pvalue": float(dm.pvalue),
            "mean_loss_differential": float(dm.mean_loss_differential), "n": dm.n, "h": dm.h, "alpha": SP500_ALPHA},
        "directional_accuracy": _r(hits / n),
        "binomial_p_vs_half": float(binomtest(hits, n, 0.5, alternative="greater").pvalue),
        "always_up_accuracy": _r(up),
        "binomial_p_vs_always_up": p_up,
        "beats_random_walk": bool(beats),
        "verdict": (f"yes: the network's squared errors are significantly smaller than the random walk's "
                    f"(MSE {ratio:.4f} x; {dm_text})" if beats else
                    f"no: the network does not beat the random walk: MSE {ratio:.4f} x the random walk's is no "
                    f"significant gain ({dm_text}; {len(above)} of {len(out_folds)} years above 1)")
                   + f"; directional accuracy {hits / n:.3f} against always-up {up:.3f} (binomial p = {_p(p_up)})",
        "folds": out_folds}


def sp500_targets(sp: dict[str, Any]) -> list[dict[str, Any]]:
    """The target is the Diebold-Mariano test's verdict: p <= 0.05 that the network beats the random walk."""
    dm = sp["diebold_mariano"]
    return [benchcommon.target("sp500_beats_random_walk_dm_pvalue", dm["pvalue"], SP500_ALPHA, "<=",
                               statistic=dm["statistic"], mse_ratio_to_random_walk=sp["mse_ratio_to_random_walk"],
                               years_worse_than_random_walk=len(sp["years_worse_than_random_walk"]),
                               years=len(sp["folds"]))]


def _targets(informer, long, cells) -> list[dict[str, Any]]:
    """One item per row and anchor, on the row's mean over its seeds (`seeds` and `std` beside it)."""
    def extra(r: dict[str, Any]) -> dict[str, Any]:
        return {"row": r["name"], "seeds": len(r.get("per_seed") or [r]),
                "std": r.get("test_std", {}).get("mse")}

    t = []
    for variant, rows in (informer or {}).items():
        for r in rows:
            h, mse = r["horizon"], r["test"]["mse"]
            anchor = LSTMA_MULTI if variant == "multivariate" else LSTMA_UNI
            t.append(benchcommon.target(f"informer_{variant}_{h}_mse_vs_lstma", mse, anchor[h], "<=", **extra(r)))
            if variant == "multivariate":
                t.append(benchcommon.target(f"informer_multivariate_{h}_mse_vs_informer", mse, INFORMER_MULTI[h], "<=",
                                            **extra(r)))
    for r in (long or {}).get("rows", []):
        h = r["horizon"]
        # PatchTST's own scoring (its last partial test batch dropped) beside the figure on every window
        t.append(benchcommon.target(f"long_horizon_{h}_mse_vs_patchtst64", r["test"]["mse"], PATCHTST64[h], "<=",
                                    **extra(r), lookback=r["lookback"],
                                    mse_drop_last128=r["test"].get("mse_drop_last128")))
        t.append(benchcommon.target(f"long_horizon_{h}_train_minutes", r["train_minutes_all_lookbacks"],
                                    TRAIN_MINUTES_TARGET, "<=", row=r["name"]))
    return t


def keep_earlier(informer, long, cells, old: dict[str, Any], parts: dict[str, str]):
    """The ETT parts this run did not run, taken from the JSON it replaces (`old`), and `parts`: which command
    made each (long-horizon rows by horizon). The cells table's GRU rows follow the long-horizon rows."""
    earlier = old.get("parts") or {}

    def made(part: str) -> str:
        return earlier.get(part, old.get("command", ""))

    if informer is None and old.get("informer_protocol"):
        informer = old["informer_protocol"]
        parts["informer"] = made("informer")
    old_long = old.get("long_horizon_protocol")
    if old_long:
        if long is None:
            long = {"rows": [], "chosen_lookback": {}, "quantile_row": None}
        run = {r["horizon"] for r in long["rows"]}
        kept = [r for r in old_long.get("rows", []) if r["horizon"] not in run]
        for r in kept:
            parts[f"long-{r['horizon']}"] = made(f"long-{r['horizon']}")
        long = {"rows": sorted(long["rows"] + kept, key=lambda r: r["horizon"]),
                "chosen_lookback": {**{int(k): v for k, v in old_long.get("chosen_lookback", {}).items()},
                                    **long["chosen_lookback"]},
                "quantile_row": long["quantile_row"]}
        if long["quantile_row"] is None and old_long.get("quantile_row"):
            long["quantile_row"] = old_long["quantile_row"]
            parts["quantile_row"] = made("quantile_row")
    if cells is None and old.get("cells"):
        by_h = {r["horizon"]: r for r in (long or {}).get("rows", [])}
        cells = [gru_cell_row(by_h[r["horizon"]]) if r.get("cell") == "gru" and r["horizon"] in by_h else r
                 for r in old["cells"]]
        parts["cells"] = made("cells")
    return informer, long, cells


def without_plot_data(x: Any) -> Any:
    """The result as written: every row's `windows` (the series drawn in the PNGs, ~1 MB) left out; the window
    counts in `test` (numbers) stay."""
    if isinstance(x, dict):
        return {k: without_plot_data(v) for k, v in x.items() if not (k == "windows" and isinstance(v, list))}
    if isinstance(x, list):
        return [without_plot_data(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=("informer", "long", "cells", "sp500"),
                   default=["informer", "long", "cells", "sp500"],
                   help="parts to run; the ETT parts not run are kept from the ETT JSON in --out-dir")
    p.add_argument("--quick", action="store_true", help="one horizon per part, tiny budgets: a smoke run")
    # at 1.5 min, 3 seeds: 30 Informer rows + 12 long-horizon rows + 4 lookback trials + 5 cells / quantile rows
    # and their DLinears, 13 S&P folds: about 90 min on 2 cores
    p.add_argument("--minutes", type=float, default=0.9, help="training budget of each ETTh1 model (minutes)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds of every row with a target (Informer and long-horizon rows); default 3 (--quick: 2)")
    p.add_argument("--sp500-minutes", type=float, default=0.25, help="training budget per S&P 500 fold")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--long-horizons", nargs="+", type=int, choices=LONG_HORIZONS, default=list(LONG_HORIZONS),
                   help="the long-horizon protocol's horizons to run (e.g. a longer budget for some, with --out-dir)")
    p.add_argument("--runs", default="runs")
    p.add_argument("--out-dir", default="", help="default benchmarks/results (--quick: RUNS/bench-forecast-quick)")
    args = p.parse_args(argv)
    args.seeds = args.seeds or (2 if args.quick else 3)
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
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
    if informer or long:
        ett_json = out_dir / f"ett{suffix}.json"
        parts = {**({"informer": command} if informer else {}),
                 **{f"long-{r['horizon']}": command for r in (long or {}).get("rows", [])},
                 **({"quantile_row": command} if long and long["quantile_row"] else {}),
                 **({"cells": command} if cells else {})}
        old = json.loads(ett_json.read_text()) if ett_json.exists() else {}
        ran = set(parts)
        informer, long, cells = keep_earlier(informer, long, cells, old, parts)
        # the machine each part ran on: this one for the parts run now, the JSON's record for the parts kept
        # (a JSON from before this record: its top-level machine, the machine of the run that wrote it)
        here = lmbench.machine()
        part_machines = {part: here if part in ran else (old.get("part_machines") or {}).get(part, old.get("machine"))
                         for part in parts}
        plots = sorted(set(bench.plots) | {p for p in old.get("plots", []) if (ROOT / p).exists()})
        targets = _targets(informer, long, cells)
        result = {"benchmark": "ett", "command": command, "parts": parts, "quick": args.quick,
                  "machine": here, "part_machines": part_machines,
                  "data": "ETTh1 (zhouhaoyi/ETDataset), rows 0-8640 train, 8640-11520 valid, 11520-14400 test",
                  "scoring": "MSE / MAE on the z-scored data (training rows' statistics), every test window "
                             "(none dropped); mse_drop_last: batches of 32, the last partial one dropped, as the "
                             "original Informer / LTSF-Linear loaders did; mse_drop_last128: batches of 128, the "
                             "last partial one dropped, as PatchTST's test loader (its published figures); a row "
                             "with `per_seed`: `test` is the mean over its seeds, `test_std` the standard "
                             "deviation (ddof 1), the targets count on the mean",
                  "seeds": args.seeds,
                  "model_config": "configs/ett.toml + each row's overrides",
                  "anchors_mse": {"lstma_multivariate": LSTMA_MULTI, "lstma_univariate": LSTMA_UNI,
                                  "informer_multivariate": INFORMER_MULTI, "patchtst64": PATCHTST64,
                                  "segrnn": SEGRNN, "dlinear": DLINEAR},
                  "informer_protocol": informer, "long_horizon_protocol": long, "cells": cells,
                  "plots": plots, "targets": targets, "all_targets_met": benchcommon.all_met(targets),
                  "wall_minutes": round((time.perf_counter() - t0) / 60, 2)}
        lmbench.write_json(ett_json, without_plot_data(result))
        print(benchcommon.describe(targets))
    if "sp500" in args.only:
        sp = bench.sp500()
        sp_targets = sp500_targets(sp)
        lmbench.write_json(out_dir / f"sp500{suffix}.json", {
            "benchmark": "sp500", "command": command, "quick": args.quick, "machine": lmbench.machine(), **sp,
            "targets": sp_targets})
        print(benchcommon.describe(sp_targets))
    print(f"total {(time.perf_counter() - t0) / 60:.1f} minutes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

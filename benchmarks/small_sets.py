"""Your own data, small: three shipped recipes on sets of a few hundred examples, the DEFAULT recipe (the
shipped config with only the data keys set: `rnnlab train configs/X.toml data.<key>=...`) beside a
HAND-TUNED one (a grid of at most 4 settings, the default among them, chosen on the validation figure only).

    python benchmarks/small_sets.py --runs /tmp/small_sets                 # every row
    python benchmarks/small_sets.py --runs /tmp/small_sets --only logs     # some rows
    python benchmarks/small_sets.py --runs /tmp/small_sets --quick         # a smoke run (tiny budgets)

Importable: `build_<row>(out_dir) -> {data key: value}` writes the row's small files and returns the data
overrides that point the config at them; `run_<row>(runs_dir, quick=False) -> dict` trains the row's grid and
returns {"default": {...}, "tuned": {...}, "grid": [...], "chosen": ..., "within_10pct": bool, ...}.

Rows (every file cut from the real datasets under $RNNLAB_DATA, see its README):
- translation: Multi30k de->en, the first 300 training pairs as train, the first 100 validation pairs as
  valid, the first 300 pairs of test_2016_flickr as test; configs/multi30k.toml. Figure: test BLEU as the
  trainer reports it (the config's train.metric, bleu_lowercase; cased `bleu` beside it), greedy decoding.
- forecasting: ETTh1's first 720 rows (30 days, hourly, 7 variables) as one CSV, split 480 / 120 / 120 rows
  (data.train_rows / valid_rows / test_rows); configs/ett.toml. The shipped lookback of 720 rows and horizon
  of 96 do not fit in 720 rows at all, so the row's data keys also set data.lookback = 96, data.horizon = 24
  (the Informer setting for the 24-hour horizon): a problem of this size, asked the way such a user would.
  Figure: test MSE (z-scored with the training rows' statistics, every test window).
- logs: HDFS (DeepLog's files), the first 300 normal training sessions as data.train (the config holds out
  the last 20 % of them, 60 sessions, never trained on, as the normal test sessions that measure the
  false-positive rate; 10 % of the rest validate) and the first 300 abnormal test sessions as
  data.test_abnormal; configs/hdfs.toml. Figure: test recall at a false-positive rate <= 1 % (cross-fitted on
  the held-out normal sessions; the config's headline figure, benchmarks/logs.py's target), with DeepLog's
  rule's recall, FPR and F1 beside it.

Protocol per row: every grid setting is one ordinary training run (rnnlab.training.train, the config plus the
data overrides plus the setting; run_dir, train.threads = 1 and train.progress = false are the harness's and
change no figure). The setting is chosen by the row's VALIDATION figure alone (SELECT: the row's figure on
valid; for logs the next-event loss, the config's own selection figure, as HDFS's validation sessions are all
normal), `choose`: the best valid figure, a tie to the earlier setting (the default first). The trainer itself
scores each run's best epoch on test when it finishes; this module reads the test figure of the default and
of the chosen setting only, never compares settings on test. Target per row: the default's test figure within
10 % of the tuned one (lower is better: default <= 1.1 x tuned; higher is better: default >= 0.9 x tuned).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402

CONFIGS = {"translation": ROOT / "configs" / "multi30k.toml", "forecasting": ROOT / "configs" / "ett.toml",
           "logs": ROOT / "configs" / "hdfs.toml"}
ROWS = ("translation", "forecasting", "logs")
THREADS = 1
WITHIN = 0.10
# per row: the selection figure (valid) and the reported figure (test), "max" = higher is better
FIGURES = {"translation": ("bleu_lowercase", "max"), "forecasting": ("mse", "min"),
           "logs": ("recall_at_fpr_0.01", "max")}
# the figure settings are chosen on, on valid: the row's figure where valid has it; HDFS's validation sessions are
# all normal (no recall there), so the config's own selection figure, the next-event loss
SELECT = {"translation": FIGURES["translation"], "forecasting": FIGURES["forecasting"], "logs": ("loss", "min")}
# beside the figure, what else each row reports of valid / test
EXTRA = {"translation": ("bleu", "chrf", "loss"), "forecasting": ("mae", "repeat_last_mse", "loss"),
         "logs": ("recall", "fpr", "f1", "roc_auc", "loss")}
# the hand-tuned grids: at most 4 settings, the default ({}) first; chosen on valid only
GRIDS: dict[str, list[dict[str, Any]]] = {
    "translation": [{}, {"model.hidden_size": 64, "model.embed_size": 128}, {"data.lowercase": True},
                    {"data.source_vocab_size": 300, "data.target_vocab_size": 300}],
    "forecasting": [{}, {"train.epochs": 30}, {"model.hidden_size": 64}, {"train.lr": 0.003}],
    "logs": [{}, {"model.min_count": 2}, {"model.hidden_size": 32}, {"train.epochs": 60}],
}
TIE_RULE = ("the best validation figure; on a tie the earlier setting in the grid (the default is first): fixed "
            "in the code, never decided by test")


def data_root() -> Path:
    if not os.environ.get("RNNLAB_DATA"):
        raise SystemExit("RNNLAB_DATA is not set: it must hold multi30k/, ett/ and logs/hdfs/")
    return Path(os.environ["RNNLAB_DATA"])


def _head(src: Path, dst: Path, n: int, skip: int = 0) -> int:
    """Lines [skip, skip + n) of src into dst; how many were written."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)[skip:skip + n]
    dst.write_text("".join(lines), encoding="utf-8")
    return len(lines)


# ---- the small sets -----------------------------------------------------------------------------


def build_translation(out_dir: Path, n_train: int = 300, n_valid: int = 100, n_test: int = 300) -> dict[str, str]:
    """Multi30k de->en: the first n_train training pairs, the first n_valid validation pairs, the first n_test
    pairs of test_2016_flickr, as line-aligned .de / .en files; the data overrides of configs/multi30k.toml."""
    src, out = data_root() / "multi30k", Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    overrides = {}
    for split, name, n in (("train", "train", n_train), ("valid", "val", n_valid),
                           ("test", "test_2016_flickr", n_test)):
        for side, lang in (("source", "de"), ("target", "en")):
            _head(src / f"{name}.{lang}", out / f"{split}.{lang}", n)
            overrides[f"data.{split}_{side}"] = str(out / f"{split}.{lang}")
    return overrides


def build_forecasting(out_dir: Path, train_rows: int = 480, valid_rows: int = 120, test_rows: int = 120,
                      lookback: int = 96, horizon: int = 24) -> dict[str, Any]:
    """ETTh1's first train + valid + test rows as one CSV (header kept); the data overrides of configs/ett.toml:
    the path, the row counts, and a lookback / horizon that fit (the shipped 720 / 96 need 816 rows a window)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ett_small.csv"
    _head(data_root() / "ett" / "ETTh1.csv", path, 1 + train_rows + valid_rows + test_rows)
    return {"data.path": str(path), "data.train_rows": train_rows, "data.valid_rows": valid_rows,
            "data.test_rows": test_rows, "data.lookback": lookback, "data.horizon": horizon}


def build_logs(out_dir: Path, n_train: int = 300, n_abnormal: int = 300) -> dict[str, str]:
    """HDFS: the first n_train normal training sessions (the config's normal_holdout keeps their last 20 % out of
    training, as normal test sessions) and the first n_abnormal abnormal test sessions."""
    src, out = data_root() / "logs" / "hdfs", Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _head(src / "hdfs_train", out / "train", n_train)
    _head(src / "hdfs_test_abnormal", out / "test_abnormal", n_abnormal)
    return {"data.train": str(out / "train"), "data.test_abnormal": str(out / "test_abnormal")}


BUILDERS = {"translation": build_translation, "forecasting": build_forecasting, "logs": build_logs}


# ---- training and choosing ----------------------------------------------------------------------


def _value(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def as_overrides(settings: dict[str, Any]) -> list[str]:
    return [f"{k}={_value(v)}" for k, v in settings.items()]


def cli_command(row: str, data: dict[str, Any], setting: dict[str, Any], run_dir: Path) -> str:
    """The CLI equivalent of one run: `rnnlab train CONFIG data... [setting...]` plus the harness's keys."""
    harness = {"run_dir": str(run_dir), "train.threads": THREADS, "train.progress": False}
    args = ["rnnlab", "train", str(CONFIGS[row].relative_to(ROOT))] + as_overrides({**data, **setting, **harness})
    return f"OMP_NUM_THREADS={THREADS} RNNLAB_DATA={shlex.quote(str(data_root()))} " + shlex.join(args)


def train_one(row: str, data: dict[str, Any], setting: dict[str, Any], run_dir: Path, quick: bool) -> dict[str, Any]:
    """One training run of the row's config with the data overrides and `setting`; its figures (valid always, test
    kept aside in `_test` for the caller to read only where allowed), minutes and command."""
    from rnnlab.config import load_config
    from rnnlab.training import train

    command = cli_command(row, data, setting, run_dir)
    overrides = as_overrides({**data, **setting}) + [f"run_dir={run_dir}", f"train.threads={THREADS}",
                                                     "train.progress=false"]
    if quick:  # a smoke run: two epochs, whatever the row
        overrides += ["train.epochs=2", "train.max_minutes=1", "train.adapt=false"]
    cfg = load_config(CONFIGS[row], overrides)
    start = time.perf_counter()
    summary = train(cfg, overwrite=True, command=command, echo=None)
    wall = time.perf_counter() - start
    keep = (FIGURES[row][0], SELECT[row][0]) + EXTRA[row]
    pick = lambda split: {k: round(float(v), 5) for k, v in summary.get(split, {}).items() if k in keep}  # noqa: E731
    out = {"setting": setting, "command": command, "valid": pick("valid"), "_test": pick("test"),
           "train_minutes": round(summary["train_time_s"] / 60, 2), "wall_minutes": round(wall / 60, 2),
           "epochs_run": summary["epochs_run"], "steps_run": summary.get("steps_run"),
           "best_epoch": summary["best_epoch"], "stop_reason": summary.get("stop_reason"),
           "out_of_time": summary["out_of_time"], "adapted": summary.get("adapted", {}),
           "budget_minutes": cfg.train.max_minutes, "parameters": summary["parameters"]}
    print(f"[{row} {setting or 'default'}] {out['epochs_run']} epochs / {out['steps_run']} steps, "
          f"{out['wall_minutes']} min: valid {out['valid']}  adapted {out['adapted']}", flush=True)
    return out


def choose(valid_figures: list[float], mode: str) -> int:
    """The index of the chosen setting from the settings' VALIDATION figures (TIE_RULE)."""
    best = 0
    for i, v in enumerate(valid_figures):
        if (v > valid_figures[best]) if mode == "max" else (v < valid_figures[best]):
            best = i
    return best


def within(default: float, tuned: float, mode: str, share: float = WITHIN) -> bool:
    """Whether the default's figure is within `share` of the tuned one (in the figure's own direction)."""
    return default >= (1 - share) * tuned if mode == "max" else default <= (1 + share) * tuned


def run_row(row: str, runs_dir: Path, quick: bool = False, grid: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    """Build the row's small set under runs_dir/row/data, train every grid setting, choose on valid, report."""
    runs = Path(runs_dir) / row
    data = BUILDERS[row](runs / "data")
    grid = GRIDS[row] if grid is None else grid
    if not grid or grid[0] != {} or len(grid) > 4:
        raise ValueError("a grid is at most 4 settings, the default ({}) first")
    metric, mode = FIGURES[row]
    select, select_mode = SELECT[row]
    runs_out = [train_one(row, data, setting, runs / f"setting{i}", quick) for i, setting in enumerate(grid)]
    chosen = choose([r["valid"][select] for r in runs_out], select_mode)
    default, tuned = runs_out[0], runs_out[chosen]
    # test: read for the default (what a user gets) and the chosen setting only
    for r in (default, tuned):
        r["test"] = r["_test"]
    for r in runs_out:
        del r["_test"]
    ok = within(default["test"][metric], tuned["test"][metric], mode)
    result = {"config": str(CONFIGS[row].relative_to(ROOT)), "data": data, "metric": metric,
              "direction": ">=" if mode == "max" else "<=",
              "selected_on": f"valid_{select} ({select_mode})", "default": default, "tuned": tuned,
              "grid": [{"setting": r["setting"], f"valid_{select}": r["valid"][select],
                        "train_minutes": r["train_minutes"]} for r in runs_out],
              "chosen": grid[chosen], "chosen_index": chosen, "tie_rule": TIE_RULE, "within_10pct": ok,
              "target": benchcommon.target(f"{row}_default_test_{metric}", default["test"][metric],
                                           ((1 - WITHIN) if mode == "max" else (1 + WITHIN)) * tuned["test"][metric],
                                           ">=" if mode == "max" else "<=")}
    print(f"[{row}] default test {metric} {default['test'][metric]:.4f} vs tuned ({grid[chosen] or 'default'}) "
          f"{tuned['test'][metric]:.4f}: {'within' if ok else 'NOT within'} 10 %", flush=True)
    return result


def run_translation(runs_dir: Path, quick: bool = False) -> dict[str, Any]:
    return run_row("translation", runs_dir, quick)


def run_forecasting(runs_dir: Path, quick: bool = False) -> dict[str, Any]:
    return run_row("forecasting", runs_dir, quick)


def run_logs(runs_dir: Path, quick: bool = False) -> dict[str, Any]:
    return run_row("logs", runs_dir, quick)


RUNNERS = {"translation": run_translation, "forecasting": run_forecasting, "logs": run_logs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, default=Path("/tmp/small_sets"))
    ap.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write the result here (default: print only)")
    args = ap.parse_args(argv)
    result = {"machine": benchcommon.machine(THREADS), "rows": {}}
    for row in args.only:
        result["rows"][row] = RUNNERS[row](args.runs, quick=args.quick)
    result["targets"] = [r["target"] for r in result["rows"].values()]
    print(benchcommon.describe(result["targets"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if benchcommon.all_met(result["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the applications' training speed before and after the native engine (issue 25, target 5).

    RNNLAB_DATA=../shared/data python benchmarks/engine_apps.py            # -> benchmarks/results/engine_apps.json
    RNNLAB_DATA=../shared/data python benchmarks/engine_apps.py --quick --out /tmp/apps.json   # seconds

"Before" is model.engine=fused (torch's kernels, every task's default until the native engine), "after" is
model.engine=auto (the default now: the native engine for the GRU and the RNN, torch's kernels for the LSTM).
Everything else is the application's own recipe (its config in configs/, its precision: train.precision
as the config says, "auto" resolving on this CPU; --precision overrides it for both).

Method: for each application, two trainers are set up from the same config and seed (so the same
initial weights and the same batches), one per engine; after --warmup steps each, they take --steps
optimizer steps of epoch 1 in alternating rounds of --round steps (the two share the machine's load),
each step timed (batch collation, forward, backward, clipping, optimizer: the whole train_step).
Epochs per minute = 60 / (median step seconds x steps per epoch): validation is not counted.
The figure is the ratio after / before of epochs per minute (> 1: faster). Applications: translation
(configs/multi30k.toml), speech (configs/fsdd.toml, digits.toml, an4.toml), forecasting (configs/ett.toml).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchcommon  # noqa: E402

APPS = {"translation": "multi30k", "speech_fsdd": "fsdd", "speech_digits": "digits", "speech_an4": "an4",
        "forecast_ett": "ett"}
ENGINES = {"before": "fused", "after": "auto"}


def make_trainer(config: Path, engine: str, precision: str | None, run_dir: Path, quick: bool):
    """A Trainer set up (data read, model built, optimizer made) for `config` with model.engine=`engine`."""
    from rnnlab.config import load_config
    from rnnlab.precision import describe as describe_precision
    from rnnlab.precision import resolve as resolve_precision
    from rnnlab.training import Dist, Trainer

    overrides = [f"model.engine={engine}", f"run_dir={run_dir}", "train.progress=false", "train.max_minutes=0"]
    if precision:
        overrides.append(f"train.precision={precision}")
    if quick:  # the smallest model of the recipe's shape: a smoke run of the harness, not a figure
        overrides += ["model.hidden_size=8"]
    cfg = load_config(config, overrides)
    ddp = Dist(cfg.train.device)
    requested = cfg.train.precision
    cfg.train.precision = resolve_precision(requested, ddp.device)
    trainer = Trainer(cfg, ddp, run_dir, "", None, describe_precision(requested, cfg.train.precision, ddp.device))
    trainer.setup(False)
    trainer.batches = trainer.task.batches(trainer.feats["train"], cfg.train.batch_size, shuffle=True,
                                           seed=cfg.train.seed, epoch=0)
    trainer.t_start = time.perf_counter()
    return trainer


def timed_steps(trainer, first: int, count: int) -> list[float]:
    """Seconds of each of `count` train steps of epoch 1, from step `first`."""
    times = []
    for step in range(first, first + count):
        start = time.perf_counter()
        trainer.train_step(0, step, trainer.batches[step % len(trainer.batches)])
        times.append(time.perf_counter() - start)
    return times


def measure(app: str, config: Path, steps: int, warmup: int, rounds_of: int, precision: str | None,
            quick: bool) -> dict:

    with tempfile.TemporaryDirectory(prefix=f"rnnlab-apps-{app}-") as tmp:
        trainers = {side: make_trainer(config, engine, precision, Path(tmp) / side, quick)
                    for side, engine in ENGINES.items()}
        for trainer in trainers.values():
            timed_steps(trainer, 0, warmup)
        times = {side: [] for side in ENGINES}
        done = 0
        while done < steps:
            n = min(rounds_of, steps - done)
            for side in (ENGINES if (done // rounds_of) % 2 == 0 else reversed(list(ENGINES))):
                times[side] += timed_steps(trainers[side], warmup + done, n)
            done += n
        trainer = trainers["after"]
        cells = sorted({m.mode for m in trainer.model.modules() if m.__class__.__name__ == "Recurrent"})
        out = {"config": str(config.relative_to(benchcommon.ROOT)), "steps_per_epoch": trainer.steps_per_epoch,
               "batch_size": trainer.tc.batch_size, "precision": trainer.tc.precision, "recurrent_cells": cells,
               "steps_timed": steps, "warmup_steps": warmup}
        for side, engine in ENGINES.items():
            median = statistics.median(times[side])
            out[side] = {"engine": engine, "median_step_ms": round(median * 1e3, 2),
                         "epochs_per_minute": round(60 / (median * trainer.steps_per_epoch), 3)}
        out["speedup"] = round(out["after"]["epochs_per_minute"] / out["before"]["epochs_per_minute"], 3)
        del trainers
        return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", nargs="*", default=list(APPS), choices=list(APPS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps per engine (default 60; 4 quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; 1 quick)")
    parser.add_argument("--round", type=int, default=5, help="steps per engine before the other takes its turn")
    parser.add_argument("--precision", default=None, choices=["fp32", "bf16", "auto"],
                        help="override every recipe's train.precision (default: as each config says)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny models, a few steps")
    parser.add_argument("--out", default=str(benchcommon.ROOT / "benchmarks" / "results" / "engine_apps.json"))
    args = parser.parse_args(argv)
    import os

    import torch

    import rnnlab
    from rnnlab.engines import native

    if not os.environ.get("RNNLAB_DATA"):
        print("engine_apps: set RNNLAB_DATA to the shared data directory (the recipes read their data from it)")
        return 1
    torch.set_num_threads(args.threads)
    steps, warmup = args.steps or (4 if args.quick else 60), args.warmup or (1 if args.quick else 5)
    started = time.perf_counter()
    results = {}
    for app in args.apps:
        config = benchcommon.ROOT / "configs" / f"{APPS[app]}.toml"
        results[app] = measure(app, config, steps, warmup, args.round, args.precision, args.quick)
        r = results[app]
        print(f"{app:14s} {r['precision']:5s} {','.join(r['recurrent_cells'])}: epochs/min fused "
              f"{r['before']['epochs_per_minute']:.3f} -> auto {r['after']['epochs_per_minute']:.3f} "
              f"(x{r['speedup']:.2f}; steps of {r['before']['median_step_ms']:.1f} -> "
              f"{r['after']['median_step_ms']:.1f} ms)", flush=True)
    report = {
        "command": " ".join(["python benchmarks/engine_apps.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": benchcommon.machine(torch.get_num_threads()),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "rnnlab": rnnlab.__version__},
        "native_engine": {"built": native.available(), "why_not": native.why()},
        "method": {"before": "model.engine=fused", "after": "model.engine=auto",
                   "statistic": "median step time over interleaved rounds; epochs/min = 60 / (median x steps/epoch)",
                   "seconds": round(time.perf_counter() - started, 1)},
        "quick": args.quick, "results": results,
        # issue 25 asks for the figures before/after, with no limit: each is listed against "no slower" (1.0)
        "targets": [benchcommon.target(f"{app}_epochs_per_minute_after_over_before", r["speedup"], 1.0, ">=")
                    for app, r in results.items()],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`rnnlab memory [--quick] [--out DIR] ...`: the memory lab (adding, recall, sequential digits).

Trains tanh RNN, LSTM and GRU at matched parameter counts on each task and length, several seeds,
the same optimiser budget, and writes DIR/memory.json, PNG plots and DIR/report.md.
"""
from __future__ import annotations

import argparse
import math
import shlex
import signal
import sys
from pathlib import Path

from rnnlab.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true",
                   help="small settings (T up to 100, 200 steps, 1 seed): a couple of minutes on 2 cores")
    p.add_argument("--out", default="memory_results", help="output directory (default: memory_results)")
    p.add_argument("--seeds", type=int, help="seeds per setting (default: 2, or 1 with --quick)")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="subset of: adding copy digits")
    p.add_argument("--cells", nargs="+", metavar="CELL", help="subset of: rnn_tanh lstm gru")
    p.add_argument("--adding-lengths", nargs="+", type=int, metavar="T", help="sequence lengths of the adding problem")
    p.add_argument("--copy-delays", nargs="+", type=int, metavar="D", help="noise stretches of the recall task")
    p.add_argument("--steps", type=int, help="optimiser steps per run, for every task (overrides the preset)")
    p.add_argument("--params", nargs="+", metavar="TASK=N",
                   help="parameter budget of a task's models (each cell gets the hidden size closest to it), e.g. "
                        "adding=67713: an LSTM of 128 units, the size Li et al. 2018 (IndRNN) train")
    p.add_argument("--batch", nargs="+", metavar="TASK=N",
                   help="sequences per optimiser step of a task, e.g. adding=50")
    p.add_argument("--workers", type=int, help="parallel worker processes (default 2; 1 = run in this process)")
    p.add_argument("--precision", choices=["fp32", "auto", "bf16"],
                   help="fp32 (default: every cell at the same precision), auto or bf16 (autocast where the CPU "
                        "runs bf16 natively; torch then keeps the GRU in float32)")
    p.add_argument("--fp32", action="store_true", help="the same as --precision fp32 (the default)")
    p.add_argument("--lr-grid", nargs="+", type=float, metavar="LR",
                   help="learning rates each cell chooses from on held-out data (default 0.003 0.01 0.03)")
    p.add_argument("--curriculum", nargs="+", type=int, metavar="L",
                   help="a length curriculum (adding, copy): a run at length L first trains on each of these "
                        "shorter lengths until its validation set is solved (or the step budget), then at L, "
                        "e.g. --curriculum 100 for T = 500")
    p.add_argument("--forget-bias", type=float, help="the LSTM's initial forget-gate bias (default 1.0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="keep the finished runs in DIR/memory.json (same flags) and run only the missing ones")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: redraw the plots and report.md from DIR/memory.json "
                        "(and recompute its per-run gradient summaries from the stored curves)")


def config_from_args(args: argparse.Namespace):
    from rnnlab.memory.models import CELLS
    from rnnlab.memory.run import TASKS, SuiteConfig

    cfg = SuiteConfig.quick() if args.quick else SuiteConfig()
    for name, allowed in (("tasks", TASKS), ("cells", CELLS)):
        chosen = getattr(args, name)
        if chosen:
            bad = [c for c in chosen if c not in allowed]
            if bad:
                raise UserError(f"--{name}: unknown {name[:-1]} {bad[0]!r}; choose from {', '.join(allowed)}")
            setattr(cfg, name, list(dict.fromkeys(chosen)))
    for flag, value in (("--seeds", args.seeds), ("--steps", args.steps), ("--workers", args.workers)):
        if value is not None and value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    if args.seeds:
        cfg.seeds = args.seeds
    if args.steps:
        cfg.steps = {t: args.steps for t in cfg.steps}
    if args.workers:
        cfg.workers = args.workers
    for flag, values, target in (("--params", args.params, cfg.params), ("--batch", args.batch, cfg.batch)):
        for item in values or []:
            task, _, number = item.partition("=")
            if task not in TASKS or not number.isdigit() or int(number) < 1:
                raise UserError(f"{flag} {item!r}: write TASK=N with TASK one of {', '.join(TASKS)} and N >= 1")
            target[task] = int(number)
    if args.adding_lengths:
        if min(args.adding_lengths) < 2:
            raise UserError("--adding-lengths: every T must be at least 2")
        cfg.adding_lengths = sorted(set(args.adding_lengths))
    if args.copy_delays:
        if min(args.copy_delays) < 0:
            raise UserError("--copy-delays: delays must be >= 0")
        cfg.copy_delays = sorted(set(args.copy_delays))
    if args.precision and args.fp32 and args.precision != "fp32":
        raise UserError("--fp32 and --precision disagree: give one")
    cfg.precision = args.precision or ("fp32" if args.fp32 else cfg.precision)
    from rnnlab.precision import resolve

    resolve(cfg.precision, "cpu", key="--precision")  # an explicit bf16 without native bf16: one line, now
    if args.lr_grid:
        if not all(math.isfinite(lr) and lr > 0 for lr in args.lr_grid):
            raise UserError("--lr-grid: every learning rate must be a finite number > 0")
        cfg.lr_grid = sorted(set(args.lr_grid))
    if args.curriculum:
        if min(args.curriculum) < 2:
            raise UserError("--curriculum: every length must be at least 2")
        cfg.curriculum = sorted(set(args.curriculum))
    if args.forget_bias is not None:
        if not math.isfinite(args.forget_bias):
            raise UserError("--forget-bias must be a finite number")
        cfg.forget_bias = args.forget_bias
    return cfg


def run(args: argparse.Namespace) -> int:
    from rnnlab.memory.run import plan, run_suite

    if args.report_only:
        return _report_only(Path(args.out))
    cfg = config_from_args(args)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the workers too and keeps the finished runs
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    command = ("rnnlab memory " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 1
               else "rnnlab memory")
    print(f"memory lab: {len(plan(cfg))} runs ({', '.join(cfg.tasks)} × {', '.join(cfg.cells)} × {cfg.seeds} seed(s)), "
          f"{cfg.workers} worker(s) -> {out}", file=sys.stderr)
    result = run_suite(cfg, out, command=command, progress=not args.quiet, resume=args.resume)
    print(f"wrote {out / 'memory.json'}, {out / 'report.md'} and plots ({result['seconds'] / 60:.1f} min)")
    return 0


def _report_only(out: Path) -> int:
    from rnnlab.files import read_json
    from rnnlab.memory.report import refresh_gradient_summaries, write_outputs
    from rnnlab.memory.run import TARGETS_NOTE, anchor_targets, write_json

    path = out / "memory.json"
    result = read_json(path, f"not found; run `rnnlab memory --out {out}` first")
    if not isinstance(result, dict) or "table" not in result or "runs" not in result:
        raise UserError(f"{path}: not a memory.json written by `rnnlab memory` (no 'table'/'runs')")
    targets = {"targets": anchor_targets(result), "targets_note": TARGETS_NOTE}
    stale_targets = any(result.get(k) != v for k, v in targets.items())
    result.update(targets)
    if refresh_gradient_summaries(result) or stale_targets:  # derived numbers only: the curves are untouched
        write_json(path, result)
        print(f"updated the gradient summaries and targets in {path} from its runs")
    for p in write_outputs(result, out):
        print(f"wrote {p}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt

"""`rnnlab train CONFIG.toml [key=value ...]`: train any task from a config file plus overrides."""
from __future__ import annotations

import argparse
import shlex
import sys

from rnnlab.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("items", nargs="*", metavar="CONFIG|KEY=VALUE",
                   help="a TOML config file, then dotted overrides, "
                        "e.g. configs/demo.toml train.lr=0.001 model.cell=gru")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--run-dir", help="where checkpoints, metrics and the bundle go (overrides run_dir)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="auto = bf16 autocast where the CPU runs bf16 natively, else fp32 (overrides train.precision)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    p.add_argument("--dry-run", action="store_true",
                   help="read and check the data, build the model, compute the loss of one batch; write nothing")
    p.add_argument("--force", action="store_true", help="start afresh even if the run directory holds a run")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")


def split_items(items: list[str]) -> tuple[str | None, list[str]]:
    """The config file (first item without '=') and the overrides."""
    if items and "=" not in items[0]:
        return items[0], items[1:]
    stray = [i for i in items if "=" not in i]
    if stray:
        raise UserError(f"{stray[0]!r}: the config file must come first; overrides look like key=value")
    return None, items


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's stop, `timeout`, `kill`), raised where the process is as Ctrl-C raises
    KeyboardInterrupt, so the clean-ups of unfinished writes run and the run stops as Ctrl-C stops it."""


def _terminate(signum: int, frame) -> None:
    raise Terminated()


def run(args: argparse.Namespace) -> int:
    import signal
    import threading

    # Python's default for SIGTERM ends the process on the spot: files are safe (every write is atomic), but
    # temporary files stay behind and nothing is said. Handled, it ends as Ctrl-C does, with exit 128 + 15.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return _run(args)
    except Terminated:  # before or after training (reading the config, a dry run): nothing was written
        sys.stderr.write("rnnlab train: terminated (SIGTERM)\n")
        return 143
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def interrupted(error: KeyboardInterrupt, run_dir) -> int:
    """One line on what an interrupted run left (the last complete checkpoint, or none), and the exit code
    a shell gives a process that signal stopped: 130 (SIGINT), 143 (SIGTERM)."""
    from rnnlab.training import CHECKPOINT

    how, code = ("terminated (SIGTERM)", 143) if isinstance(error, Terminated) else ("interrupted", 130)
    if (run_dir / CHECKPOINT).exists():
        left = f"{run_dir} keeps its last complete checkpoint: continue with `rnnlab train --resume {run_dir}`"
    else:
        left = f"no checkpoint was written to {run_dir} yet: start the run again"
    sys.stderr.write(f"rnnlab train: {how}; {left}\n")
    return code


def _run(args: argparse.Namespace) -> int:
    from rnnlab.config import load_config, to_toml
    from rnnlab.training import check_train_config, load_run_config, run_dir_of, train

    config_path, overrides = split_items(args.items)
    if args.resume:
        if config_path or overrides or args.run_dir:
            raise UserError("--resume RUN_DIR continues with the config saved in RUN_DIR; give no config, "
                            "overrides or --run-dir with it")
        cfg = load_run_config(args.resume)
    else:
        if config_path is None and not any(o.startswith("task=") for o in overrides):
            raise UserError("give a config file (e.g. configs/demo.toml) or at least task=NAME")
        extra = [f"run_dir={args.run_dir}"] if args.run_dir else []
        cfg = load_config(config_path, overrides + extra)
    if args.precision:
        cfg.train.precision = args.precision
    if args.quiet:
        cfg.train.progress = False
    if args.print_config:
        from rnnlab.tasks import get_task_class

        check_train_config(cfg.train)  # the values checked as training checks them: a config that prints, starts
        get_task_class(cfg.task)(cfg.data, cfg.model)
        sys.stdout.write(to_toml(cfg))
        return 0
    if args.dry_run:
        return dry_run(cfg)
    command = "rnnlab " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    try:
        train(cfg, resume=bool(args.resume), overwrite=args.force, command=command,
              echo=None if args.quiet else print)
    except KeyboardInterrupt as e:
        return interrupted(e, run_dir_of(cfg))
    return 0


def dry_run(cfg) -> int:
    """Everything up to the first optimizer step, on one batch; nothing is written."""
    import torch

    from rnnlab import precision
    from rnnlab.training import build_model, check_train_config, prepare_task, seed_everything

    check_train_config(cfg.train)
    resolved = precision.resolve(cfg.train.precision, "cpu")  # the precision training would use, checked
    seed_everything(cfg.train.seed)
    task, feats = prepare_task(cfg)
    model = build_model(task)
    batches = task.batches(feats["train"], cfg.train.batch_size, shuffle=True, seed=cfg.train.seed, epoch=0)
    if not batches:
        raise UserError("the training split makes no batch (too little data for the batch and sequence sizes)")
    batch = task.collate([feats["train"][i] for i in batches[0]])
    with precision.autocast(resolved, "cpu"):  # the same kernels as training, so a failure shows here
        out = task.loss(model, batch)
    out.total.float().backward()
    n_params = sum(p.numel() for p in model.parameters())
    sizes = ", ".join(f"{k} {len(v)}" for k, v in feats.items())
    print(f"dry run ok: task {cfg.task}; examples: {sizes}; {len(batches)} batches/epoch; "
          f"model {n_params:,} parameters; {precision.describe(cfg.train.precision, resolved)}; "
          f"first batch loss {out.total.item() / out.count:.4f} over {out.count} items; "
          f"grads finite: {all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)}")
    return 0

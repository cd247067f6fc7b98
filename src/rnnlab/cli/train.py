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


def run(args: argparse.Namespace) -> int:
    from rnnlab.config import load_config, to_toml
    from rnnlab.training import check_train_config, load_run_config, train

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
    train(cfg, resume=bool(args.resume), overwrite=args.force, command=command,
          echo=None if args.quiet else print)
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

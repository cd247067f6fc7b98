"""`rnnlab evaluate BUNDLE [--split test] [--data FILE]`: the bundle's task metrics on a data split."""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a bundle directory (e.g. runs/demo/bundle)")
    p.add_argument("--split", help="which split of the bundle's data config (default: test, or valid where the "
                                   "task has no test split, as a character LM)")
    p.add_argument("--data", metavar="FILE", help="read the split from FILE instead of the path in the bundle")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.errors import UserError
    from rnnlab.training import evaluate

    predictor = load(args.bundle)
    task = predictor.task
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    split = args.split or task.default_split()
    examples = task.read_file(split, args.data) if args.data else task.read(split)
    features = [task.encode(e) for e in examples]
    if not features:
        raise UserError(f"split {split!r} is empty")
    metrics = evaluate(task, predictor.model, features, args.batch_size, next(predictor.model.parameters()).device)
    if args.json:
        print(json.dumps({"split": split, **metrics}))
    else:
        print(f"{args.bundle} on {args.data or split}: " + "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return 0

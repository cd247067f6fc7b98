"""`rnnlab evaluate BUNDLE [--split test] [--data FILE]`: the bundle's task metrics on a data split."""
from __future__ import annotations

import argparse
import dataclasses
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a bundle directory (e.g. runs/demo/bundle)")
    p.add_argument("--split", default="test", help="which split of the bundle's data config (default: test)")
    p.add_argument("--data", metavar="FILE", help="read the split from FILE instead of the path in the bundle")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.errors import UserError
    from rnnlab.training import evaluate

    predictor = load(args.bundle)
    task = predictor.task
    if args.data:
        fields = {f.name for f in dataclasses.fields(task.data)}
        if args.split not in fields:
            raise UserError(f"--data: task {task.name!r} has no data path named {args.split!r} "
                            f"(data fields: {', '.join(sorted(fields))})")
        task.data = dataclasses.replace(task.data, **{args.split: args.data})
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    features = [task.encode(e) for e in task.read(args.split)]
    if not features:
        raise UserError(f"split {args.split!r} is empty")
    metrics = evaluate(task, predictor.model, features, args.batch_size, next(predictor.model.parameters()).device)
    if args.json:
        print(json.dumps({"split": args.split, **metrics}))
    else:
        print(f"{args.bundle} on {args.split}: " + "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return 0

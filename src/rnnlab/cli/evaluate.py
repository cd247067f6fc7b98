"""`rnnlab evaluate BUNDLE [--split test] [--data FILE]`: the bundle's task metrics on a data split."""
from __future__ import annotations

import argparse
import json
import math


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a bundle directory (e.g. runs/demo/bundle)")
    p.add_argument("--split", help="which split of the bundle's data config (default: test, or valid where the "
                                   "task has no test split, as a character LM)")
    p.add_argument("--data", metavar="FILE", nargs="+", action=_OneFile,
                   help="read the split from FILE (one file) instead of the path in the bundle")
    p.add_argument("--batch-size", type=int, help="default: the bundle's train.eval_batch_size, the batches its "
                                                   "training summary was computed in")
    p.add_argument("--precision", choices=["bundle", "auto", "fp32", "bf16"], default="bundle",
                   help="bundle (default): the precision the bundle's summary was computed in (fp32 where it was "
                        "bf16 and this CPU has none natively, said on stderr); auto, fp32 or bf16 as in train")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")


class _OneFile(argparse.Action):
    """--data takes one file: `--data a b` is said to be that (argparse's own "unrecognized arguments: b" names
    the second file as if it were a typo), exit 2 as for any malformed command line."""

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) > 1:
            parser.error(f"{option_string} takes one FILE, got {len(values)}: {' '.join(values)}; evaluate them "
                         "one at a time (rnnlab evaluate BUNDLE --data FILE)")
        setattr(namespace, self.dest, values[0])


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.errors import UserError
    from rnnlab.training import evaluate

    predictor = load(args.bundle)
    task = predictor.task
    batch_size = args.batch_size if args.batch_size is not None else predictor.config.train.eval_batch_size
    if batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    precision = _precision(args.precision, predictor.config.train.precision)
    split = args.split or task.default_split()
    examples = task.read_file(split, args.data) if args.data else task.read(split)
    features = [task.encode(e) for e in examples]
    if not features:
        raise UserError(f"split {split!r} is empty")
    metrics = evaluate(task, predictor.model, features, batch_size, next(predictor.model.parameters()).device,
                       precision)
    overflowed = [f"{k} {v}" for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    if overflowed:  # never print NaN / inf as if it were a figure (json.dumps would write them, invalid JSON)
        raise UserError(f"{args.data or split}: {', '.join(overflowed)}: the model's outputs overflowed on this "
                        "data, so no figures are printed (are the values in the training data's units?)")
    if args.json:
        print(json.dumps({"split": split, **metrics, "precision": precision}))
    else:
        print(f"{args.bundle} on {args.data or split} ({precision}): " + "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    return 0


def _precision(asked: str, trained: str) -> str:
    """The precision to evaluate in: the bundle's own by default, so that its summary is reproduced; where
    that was bf16 and this CPU has no native bf16, fp32, said on stderr with how far figures may move."""
    import sys

    from rnnlab import precision

    if asked != "bundle":
        return precision.resolve(asked, "cpu", key="--precision")
    trained = trained if trained in ("fp32", "bf16") else precision.resolve(trained, "cpu")  # an old "auto"
    if trained == "bf16" and not precision.native_bf16("cpu"):
        print(f"note: the bundle's figures were computed in bf16; this CPU ({precision.cpu_model()}) has no native "
              f"bf16, so this evaluation runs in fp32 and may differ from them by up to "
              f"{precision.rel_tolerance('bf16'):.1%} relative", file=sys.stderr)
        return "fp32"
    return trained

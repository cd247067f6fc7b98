"""`rnnlab ensemble OUT BUNDLE BUNDLE [...]`: join separately trained models into one bundle (rnnlab.ensemble)."""
from __future__ import annotations

import argparse
import shlex
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="where the ensemble bundle is written (a new directory; see --force)")
    p.add_argument("bundles", nargs="+", help="two or more bundles of the same task, data and model config")
    p.add_argument("--splits", default="valid,test", help="score the ensemble on these splits (default: valid,test)")
    p.add_argument("--force", action="store_true", help="replace the ensemble bundle already at OUT (never an input)")


def run(args: argparse.Namespace) -> int:
    from rnnlab.ensemble import combine

    splits = tuple(s for s in args.splits.split(",") if s)
    path = combine(args.bundles, args.out, splits=splits, force=args.force,
                   command=" ".join(["rnnlab"] + [shlex.quote(a) for a in sys.argv[1:]]))
    print(f"bundle: {path}")
    return 0

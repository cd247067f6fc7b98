"""`rnnlab predict BUNDLE "text" ...`: predictions on your own input (one line each, or --json)."""
from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a bundle directory (e.g. runs/demo/bundle)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="inputs; none = read one per line from stdin")
    p.add_argument("--json", action="store_true", help="one JSON object per input, with per-token outputs")
    _allow_flags_after_texts(p)


def _allow_flags_after_texts(p: argparse.ArgumentParser) -> None:
    """Let `rnnlab predict BUNDLE --json "text"` work: plain argparse stops filling the TEXT list at
    the first flag; intermixed parsing collects positionals from anywhere on the line."""
    plain = p.parse_known_args

    def intermixed(args=None, namespace=None):
        p.parse_known_args = plain  # parse_known_intermixed_args calls parse_known_args itself
        try:
            return p.parse_known_intermixed_args(args, namespace)
        finally:
            p.parse_known_args = intermixed

    p.parse_known_args = intermixed


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.errors import UserError

    predictor = load(args.bundle)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UserError("nothing to predict: give TEXT arguments or lines on stdin")
    inputs = [predictor.task.parse_input(t) for t in texts]
    for text, pred in zip(texts, predictor.predict(inputs)):
        if args.json:
            print(json.dumps(pred, ensure_ascii=False))
        else:
            print(f"{text}\t{predictor.task.format_prediction(pred)}")
    return 0

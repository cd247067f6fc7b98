"""`rnnlab predict BUNDLE "text" ...`: predictions on your own input (one line each, or --json)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a bundle directory (e.g. runs/demo/bundle)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="inputs; none = read one per line from stdin; for a task "
                   "that reads files (api_calls), a FILE gives one input per line")
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


def require_task(predictor, task: str, what: str, verb: str) -> None:
    """One line, not a traceback, when a verb made for one task (`translate`, `detect`, `forecast`) is given
    another task's bundle: `task` is the registered name, `what` the model it needs in words."""
    from rnnlab.errors import UserError

    if predictor.task.name != task:
        raise UserError(f"{predictor.path}: task {predictor.config.task!r} is not a {what} model "
                        f"({verb} needs a {task} bundle; `rnnlab predict` runs any bundle)")


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.errors import UserError

    predictor = load(args.bundle)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UserError("nothing to predict: give TEXT arguments or lines on stdin")
    # a task whose inputs live in files (API-call sequences: one per line) defines inputs_from_file(path)
    # -> [(name, input)]: an argument naming an existing file is then expanded, one prediction per item
    from_file = getattr(predictor.task, "inputs_from_file", None)
    named = []
    for t in texts:
        if from_file is not None and args.texts and Path(t).is_file():
            named += from_file(t)
        else:
            named.append((t, predictor.task.parse_input(t)))
    for (name, _), pred in zip(named, predictor.predict([x for _, x in named])):
        if args.json:
            print(json.dumps(pred, ensure_ascii=False))
        else:
            print(f"{name}\t{predictor.task.format_prediction(pred)}")
    return 0

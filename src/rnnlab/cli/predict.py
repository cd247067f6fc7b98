"""`rnnlab predict BUNDLE INPUT ...`: predictions on your own input (one line each, or --json), for any task.

What an INPUT is comes from the task's declared input kind (Task.input_kind): a text task reads each argument
(or each stdin line) as one input; a task whose inputs are files (recordings, CSV series, files of sessions or
of API-call sequences) reads each argument as a file, with the task's own reader (Task.inputs_from_file), one
prediction per input the file holds. Decode options the task declares (Task.options: a beam width, a threshold,
a horizon) are given as `--option NAME=VALUE`; the task verbs (translate, transcribe, detect, forecast) are
formatters over this same call."""
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
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a decode option of the task (repeatable; the bundle's card lists them), e.g. beam=5")
    add_runtime_argument(p)
    _allow_flags_after_texts(p)


def add_runtime_argument(p: argparse.ArgumentParser) -> None:
    """`--runtime torch|onnx`: what runs the model (rnnlab.runtime.load_predictor): the bundle's PyTorch model,
    or the onnxruntime graphs of an export directory (`rnnlab export BUNDLE OUT`). Default: what BUNDLE is."""
    p.add_argument("--runtime", choices=("torch", "onnx"), default=None,
                   help="torch: a bundle's PyTorch model; onnx: an export directory's graphs in onnxruntime "
                        "(rnnlab export BUNDLE OUT; then give OUT as BUNDLE). Default: what the directory is")


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


def parse_options(pairs: list[str]) -> dict[str, str]:
    """`--option NAME=VALUE` items -> {NAME: VALUE} (the task checks names and values)."""
    from rnnlab.errors import UserError

    options = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip():
            raise UserError(f"--option expects NAME=VALUE, got {pair!r}")
        options[name.strip()] = value
    return options


def input_texts(task, texts: list[str], *, keep_blank: bool = False) -> list[tuple[str, str]]:
    """A verb's text inputs, each checked (rnnlab.readers.lines.check_line) before any model runs, with where it came
    from: ("TEXT 2", text) for command-line arguments (a task reading files takes them as paths, unchecked), or
    ("stdin:3", text) for the lines of stdin, all read first (read_stream, numbered_lines: UTF-8 or one line naming
    the byte). Blank stdin lines are left out unless keep_blank (translate keeps its output aligned with them). A
    text task's inputs are also counted as it counts them (input_length) against limits.max_input_tokens."""
    from rnnlab.readers.lines import check_line, numbered_lines, read_stream
    from rnnlab.tasks.base import FILE_KINDS

    def count(text: str) -> int:
        return task.input_length(task.parse_input(text))

    text_kind = task.input_kind not in FILE_KINDS
    if texts:
        return [(f"TEXT {i}", check_line(t, f"TEXT {i}", count=count) if text_kind else t)
                for i, t in enumerate(texts, 1)]
    lines = numbered_lines(read_stream(sys.stdin), "stdin", count=count if text_kind else None)
    return [(f"stdin:{i}", t) for i, t in lines if keep_blank or t.strip()]


def named_inputs(task, items: list[str], *, from_stdin: bool) -> list[tuple[str, object]]:
    """Command-line items -> [(name, input)] by the task's input kind: text is one input per item; a file kind
    reads each item as a file; kinds whose files hold one input per line (sessions, API-call sequences) also take
    an item typed as text (or piped on stdin) as one input."""
    from rnnlab.errors import UserError
    from rnnlab.tasks.base import FILE_KINDS

    if task.input_kind not in FILE_KINDS:
        return [(t, task.parse_input(t)) for t in items]
    by_line = task.input_kind in ("file", "sessions")
    if from_stdin and not by_line:
        raise UserError(f"task {task.name!r} reads {task.input_kind} files: give FILE arguments")
    named = []
    for t in items:
        if by_line and (from_stdin or not Path(t).exists()):  # a directory is a file argument: said to be one
            named.append((t, _typed_input(task, t, from_stdin)))  # one input typed (or piped) as text
        else:
            named += task.inputs_from_file(t)
    return named


def _typed_input(task, item: str, from_stdin: bool):
    """An item that is no file, read as one input typed as text; when it is not a valid input either and looks like
    a path (one word with a / or an extension: "calls.txt"), the line says the file is missing, not that
    "calls.txt" is a bad API-call id."""
    import re

    from rnnlab.errors import DataError, UserError

    try:
        return task.parse_input(item)
    except UserError:
        if not from_stdin and len(item.split()) == 1 and re.search(r"[/\\]|\.[A-Za-z]\w*$", item):
            raise DataError(item, None, "no such file") from None
        raise


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import UserError
    from rnnlab.runtime import load_predictor

    predictor = load_predictor(args.bundle, args.runtime)
    options = predictor.task.check_options(parse_options(args.option))  # before any input is read
    texts = [t for _, t in input_texts(predictor.task, args.texts)]
    if not texts:
        raise UserError("nothing to predict: stdin has no lines (or only blank ones); give INPUT arguments or "
                        "lines on stdin")
    named = named_inputs(predictor.task, texts, from_stdin=not args.texts)
    for (name, _), pred in zip(named, predictor.predict([x for _, x in named], **options)):
        if args.json:
            print(json.dumps(pred, ensure_ascii=False))
        else:
            print(f"{name}\t{predictor.task.format_prediction(pred)}")
    return 0

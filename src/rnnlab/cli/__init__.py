"""The `rnnlab` command line: one module per verb, each with `add_arguments(parser)` and `run(args)`.

Verbs are listed here explicitly (no plugin discovery): to add one, write `rnnlab/cli/<verb>.py`
and add a line to VERBS.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from rnnlab.errors import UserError

# verb -> (module, one-line help). Modules are imported only when their verb runs (fast --help).
VERBS: dict[str, tuple[str, str]] = {
    "demo": ("rnnlab.cli.demo", "train the demo intent classifier (no download) and replay \"what time is it?\""),
    "train": ("rnnlab.cli.train", "train a model from a TOML config plus key=value overrides"),
    "evaluate": ("rnnlab.cli.evaluate", "score a model bundle on a data split"),
    "predict": ("rnnlab.cli.predict", "run a model bundle on your own input"),
    "generate": ("rnnlab.cli.generate", "sample text from a language-model bundle, streamed as it is sampled"),
    "fill": ("rnnlab.cli.fill", "fill in the blank in a sentence with a word language model (both sides)"),
    "translate": ("rnnlab.cli.translate", "translate sentences with a translation bundle (beam search)"),
    "detect": ("rnnlab.cli.detect", "flag abnormal sessions of log events with a log-anomaly bundle (DeepLog-style)"),
    "forecast": ("rnnlab.cli.forecast", "forecast the steps after the last row of a CSV series with a forecast bundle"),
    "transcribe": ("rnnlab.cli.transcribe", "transcribe recordings (WAV, FLAC, OGG) with a speech bundle"),
    "caption": ("rnnlab.cli.caption", "describe photos (JPEG, PNG) with a caption bundle: words and where they looked"),
    "export": ("rnnlab.cli.export", "export a bundle's network as ONNX, checked in onnxruntime against PyTorch"),
    "ensemble": ("rnnlab.cli.ensemble", "join separately trained bundles (different seeds) into one ensemble bundle"),
    "data": ("rnnlab.cli.data", "list, check and download the datasets the recipes use"),
    "serve": ("rnnlab.cli.serve", "serve a model: web page showing what the network remembers + HTTP API"),
    "memory": ("rnnlab.cli.memory", "the memory lab: adding, recall and sequential digits for RNN/LSTM/GRU"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but bad flags give one clear line and exit code 2 (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rnnlab", description="Recurrent neural networks, from equations to served models.")
    from rnnlab.version import __version__

    parser.add_argument("--version", action="version", version=f"rnnlab {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for verb, (module_name, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(p)
        p.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                       help="raise or lower an input limit (repeatable), e.g. max_line_chars=20000; "
                            "docs/limits.md lists them (also settable in RNNLAB_LIMITS)")
        p.set_defaults(_module=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if not getattr(args, "verb", None):
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parser.print_help()  # plain `rnnlab`: the list of verbs is what was asked for
        return 0
    if extra:
        # `train CONFIG --precision bf16 model.cell=gru`: argparse ends a positional list at the first
        # flag, so the overrides after it come back here; they belong to the verb's items
        if hasattr(args, "items") and isinstance(args.items, list) and not any(e.startswith("-") for e in extra):
            args.items = args.items + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        from rnnlab import limits

        limits.configure(args.limit)  # before anything is read: every reader checks against these
        return importlib.import_module(args._module).run(args) or 0
    except UserError as e:
        sys.stderr.write(f"rnnlab {args.verb}: error: {e}\n")
        return 1
    except BrokenPipeError:
        # the reader went away (`rnnlab predict ... --json | head`): stop quietly, as Unix tools do; point
        # stdout at /dev/null so the interpreter's final flush does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, the shell's code for a process a closed pipe stopped
    except OSError as e:
        # the machine said no (a full disk, a permission): one line; files written before are intact
        # (every write is atomic), so a training run continues with --resume once the cause is fixed
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        hint = ("; what was written before is intact: free some space, then continue (train: --resume RUN_DIR)"
                if e.errno == errno.ENOSPC else "")
        sys.stderr.write(f"rnnlab {args.verb}: error: {e.strerror or e}{where}{hint}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

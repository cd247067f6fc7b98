"""`rnnlab translate BUNDLE "Ein Mann fährt Fahrrad."`: translate with a translation bundle.

Text arguments are translated together and printed one line each; with none, stdin is translated line by line
(a progress bar on stderr; an empty line gives an empty line, so the output stays aligned with the input).
`--beam N` sets the beam (1 = greedy; default the bundle's model.beam); `--json` prints one object per
input: the prediction schema plus the output pieces with </s> ("target_tokens"), the attention matrix
(one row per output piece, one weight per source piece) and, per output piece, the pieces the decoder ranked
highest at that step ("alternatives"). A formatter over the task's predict and its declared options (beam,
attention): `rnnlab predict BUNDLE TEXT --option beam=N` computes the same."""
from __future__ import annotations

import argparse
import json
import sys

from rnnlab.cli.predict import _allow_flags_after_texts, require_task

CHUNK = 32  # stdin lines translated per batch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a translate bundle directory (e.g. runs/multi30k/bundle)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="source sentences; none = read one per line from stdin")
    p.add_argument("--beam", type=int, default=None, metavar="N",
                   help="beam width (1 = greedy; default: the bundle's model.beam)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per input: pieces, scores, attention, alternatives")
    _allow_flags_after_texts(p)


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.errors import UserError

    predictor = load(args.bundle)
    require_task(predictor, "translate", "translation", "translate")
    options = predictor.task.check_options({"beam": args.beam, "attention": args.json}, called={"beam": "--beam"})

    def emit(texts: list[str]) -> None:
        real = [t for t in texts if t.strip()]
        done = iter(predictor.predict(real, **options) if real else [])
        for text in texts:
            if not text.strip():
                print("{}" if args.json else "")
                continue
            pred = next(done)
            print(json.dumps(pred, ensure_ascii=False) if args.json else pred["answer"]["label"])
        sys.stdout.flush()

    if args.texts:
        for text in args.texts:
            if not text.strip():
                raise UserError(f"nothing to translate in {text!r}")
        emit(list(args.texts))
        return 0
    from tqdm import tqdm

    chunk: list[str] = []
    with tqdm(desc="translating", unit=" lines", file=sys.stderr, disable=None) as bar:
        for line in sys.stdin:
            chunk.append(line.rstrip("\n").rstrip("\r"))
            if len(chunk) == CHUNK:
                emit(chunk)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            emit(chunk)
            bar.update(len(chunk))
    return 0

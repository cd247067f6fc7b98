"""`rnnlab translate BUNDLE "Ein Mann fährt Fahrrad."`: translate with a translation bundle.

Text arguments are translated together and printed one line each; with none, stdin is translated line by line
(a progress bar on stderr; an empty line gives an empty line, so the output stays aligned with the input).
Every line is read and checked before the first is translated (rnnlab.readers.lines: UTF-8, no control
characters, max_line_chars and max_input_tokens), so a bad line 900 stops the run with one line naming it and
nothing printed. A translation that comes out empty is printed as an empty line, named on stderr as a warning,
and makes the exit status 1 (the search itself never ends on an immediate </s>: decoding.search's min_len).
`--beam N` sets the beam (1 = greedy; default the bundle's model.beam); `--json` prints one object per
input: the prediction schema plus the output pieces with </s> ("target_tokens"), the attention matrix
(one row per output piece, one weight per source piece) and, per output piece, the pieces the decoder ranked
highest at that step ("alternatives"). A formatter over the task's predict and its declared options (beam,
attention): `rnnlab predict BUNDLE TEXT --option beam=N` computes the same."""
from __future__ import annotations

import argparse
import json
import sys

from rnnlab.cli.predict import _allow_flags_after_texts, add_runtime_argument, input_texts, require_task

CHUNK = 32  # stdin lines translated per batch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a translate bundle directory (e.g. runs/multi30k/bundle)")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="source sentences; none = read one per line from stdin")
    p.add_argument("--beam", type=int, default=None, metavar="N",
                   help="beam width (1 = greedy; default: the bundle's model.beam)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per input: pieces, scores, attention, alternatives")
    _allow_flags_after_texts(p)
    add_runtime_argument(p)


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import UserError
    from rnnlab.runtime import load_predictor

    predictor = load_predictor(args.bundle, args.runtime)
    require_task(predictor, "translate", "translation", "translate")
    options = predictor.task.check_options({"beam": args.beam, "attention": args.json}, called={"beam": "--beam"})
    # every input is read and checked before the first sentence is translated (stdin is read whole)
    lines = input_texts(predictor.task, args.texts, keep_blank=not args.texts)
    if args.texts:
        for where, text in lines:
            if not text.strip():
                raise UserError(f"{where}: nothing to translate in {text!r}")
    elif not any(text.strip() for _, text in lines):
        raise UserError("nothing to translate: stdin has no lines (or only blank ones); give TEXT arguments or "
                        "sentences on stdin, one per line")
    empty = 0
    from tqdm import tqdm

    with tqdm(total=len(lines), desc="translating", unit=" lines", file=sys.stderr,
              disable=None if not args.texts else True) as bar:
        for start in range(0, len(lines), CHUNK):
            empty += _emit(predictor, lines[start: start + CHUNK], options, args.json)
            bar.update(len(lines[start: start + CHUNK]))
    # a translation that came out empty was written (as an empty line, so the output stays aligned with the input),
    # said on stderr by _emit, and makes the exit status 1: a script must not take it for an answer
    return 1 if empty else 0


def _emit(predictor, lines: list[tuple[str, str]], options: dict, as_json: bool) -> int:
    """Translate and print one chunk of (where, text) lines, a blank line giving a blank line (or {}); returns how
    many translations came out empty, each named on stderr."""
    real = [text for _, text in lines if text.strip()]
    done = iter(predictor.predict(real, **options) if real else [])
    empty = 0
    for where, text in lines:
        if not text.strip():
            print("{}" if as_json else "")
            continue
        pred = next(done)
        print(json.dumps(pred, ensure_ascii=False) if as_json else pred["answer"]["label"])
        if not pred["answer"]["label"].strip():
            empty += 1
            said = (f"its output ({' '.join(pred['sequence'])}) reads as nothing" if pred["sequence"]
                    else "the search ended without output")
            sys.stderr.write(f"rnnlab translate: warning: {where}: no translation: {said}\n")
    sys.stdout.flush()
    return empty

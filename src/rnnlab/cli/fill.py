"""`rnnlab fill MODEL "the company said its profits ___ sharply in the third quarter"`: the most likely
words for the blank, with probabilities, using the words on both sides (see rnnlab.fill)."""
from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="BUNDLE",
                   help="a fill directory (forward/ and backward/ word-LM bundles) or one forward wordlm bundle")
    p.add_argument("text", help="a sentence with one blank written as ___")
    p.add_argument("-k", "--top", type=int, default=10, help="how many candidates to show (default 10)")
    p.add_argument("--method", choices=["left", "right", "product", "exact", "exact2"], default=None,
                   help="left: words before the blank only; exact (default): both sides, by the forward "
                        "model's chain rule; see rnnlab.fill for the others")
    p.add_argument("--candidates", type=int, default=50,
                   help="exact methods: how many proposals to rescore (default 50)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from rnnlab.errors import UserError
    from rnnlab.fill import fill, load_fill

    if args.top < 1 or args.candidates < 1:
        raise UserError("--top and --candidates must be >= 1")
    models = load_fill(args.model)
    result = fill(models, args.text, k=args.top, method=args.method, n_candidates=args.candidates)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{args.text}   ({result['method']}: {result['candidates_scored']} candidates scored)")
    if result["unknown"]:
        print(f"  not in the vocabulary (read as <unk>): {' '.join(result['unknown'])}")
    for rank, c in enumerate(result["candidates"], start=1):
        print(f"{rank:3d}. {c['word']:<20s} {c['probability']:7.2%}")
    return 0

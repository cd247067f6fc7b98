"""`rnnlab generate BUNDLE --prompt "ROMEO:" --length 500 --temperature 0.8 --top-k 40 --seed 1`:
sample text from a language-model bundle, printed as it is sampled."""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="a charlm or wordlm bundle directory (e.g. runs/charlm/bundle)")
    p.add_argument("--prompt", default="", help="text to continue (default: start a new line / sentence)")
    p.add_argument("--length", type=int, default=500, help="tokens to sample (characters or words; default 500)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="< 1 safer, > 1 wilder, 0 = always the most likely token (default 0.8)")
    p.add_argument("--top-k", type=int, default=40,
                   help="sample only among the k most likely tokens (0 = all; default 40)")
    p.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same text")


def run(args: argparse.Namespace) -> int:
    from rnnlab.bundle import load
    from rnnlab.generate import check_language_model, generate

    predictor = load(args.bundle)
    check_language_model(predictor)
    pieces = generate(predictor, args.prompt, args.length, args.temperature, args.top_k, args.seed)
    first = next(pieces, "")  # argument errors surface here, before anything is printed
    out = sys.stdout
    out.write(args.prompt + first)
    out.flush()
    for piece in pieces:
        out.write(piece)
        out.flush()  # stream: each token appears as soon as it is sampled
    out.write("\n")
    out.flush()
    return 0

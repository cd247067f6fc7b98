"""Where a SNIPS model goes wrong: the data facts behind singleton dropout, and one bundle's errors.

    RNNLAB_DATA=../shared/data python benchmarks/snips_errors.py [BUNDLE] [--split valid|test]

Prints (figures quoted in the closing notes of issue 4):
  1. per slot type, the share of its training tokens that are words seen once in train, and how many of
     its values in --split were never a slot value in train (countries: closed set; cities: open);
  2. with a BUNDLE: seqeval's per-type report on --split, slot-token errors on seen vs unseen words,
     and every utterance whose intent is wrong, as the model read it.
No training; reads $RNNLAB_DATA/snips/{train,<split>}.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from rnnlab.metrics.tagging import chunks
from rnnlab.readers.utterances import read_utterances

TYPES = ("city", "country", "state", "artist", "album", "playlist", "object_name", "movie_name", "entity_name")


def data_facts(train, other, split: str) -> None:
    counts = Counter(t.lower() for u in train for t in u.tokens)
    values = {c["text"] for u in train for c in chunks(list(u.tokens), list(u.tags))}
    print(f"{'slot type':<12} {'train tokens seen once':>22} {split + ' values unseen in train':>28}")
    for typ in TYPES:
        words = [w for u in train for c in chunks(list(u.tokens), list(u.tags)) if c["type"] == typ
                 for w in c["text"].split()]
        vals = [c["text"] for u in other for c in chunks(list(u.tokens), list(u.tags)) if c["type"] == typ]
        once = sum(counts[w.lower()] == 1 for w in words) / max(len(words), 1)
        print(f"{typ:<12} {once:>21.0%} {sum(v not in values for v in vals):>21} of {len(vals)}")


def bundle_errors(path: str, utts, split: str) -> None:
    from seqeval.metrics import classification_report

    from rnnlab.bundle import load

    p = load(path)
    preds = []
    for i in range(0, len(utts), 256):
        preds += p.predict([" ".join(u.tokens) for u in utts[i:i + 256]])
    tags = [[s["tag"] for s in o["steps"]] for o in preds]
    print(classification_report([list(u.tags) for u in utts], tags, digits=3))
    errors, total = Counter(), Counter()
    for u, o, o_tags in zip(utts, preds, tags):
        for gold, tag, unknown in zip(u.tags, o_tags, o["unknown"]):
            if gold != "O":
                total[unknown] += 1
                errors[unknown] += gold != tag
    print(f"slot-token errors: seen words {errors[False]} of {total[False]}, unseen {errors[True]} of {total[True]}")
    wrong = [(u, o) for u, o in zip(utts, preds) if o["answer"]["label"] != u.intent]
    print(f"\nintent wrong on {split}: {len(wrong)} of {len(utts)}")
    for u, o in wrong:
        print(f"  {u.intent} -> {p.task.format_prediction(o)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bundle", nargs="?", help="a trained intent_slots bundle (e.g. runs/bench-snips-lstm-ensemble)")
    ap.add_argument("--split", default="valid", choices=["valid", "test"])
    args = ap.parse_args()
    if "RNNLAB_DATA" not in os.environ:
        sys.exit("set RNNLAB_DATA to the data directory (it must hold snips/{train,valid,test})")
    root = Path(os.environ["RNNLAB_DATA"]) / "snips"
    train, other = read_utterances(root / "train"), read_utterances(root / args.split)
    data_facts(train, other, args.split)
    if args.bundle:
        bundle_errors(args.bundle, other, args.split)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

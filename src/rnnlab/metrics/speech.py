"""Speech recognition error rates over a corpus, through jiwer: WER, CER and the word error counts.

Corpus rates, not means of per-utterance rates: errors (substitutions + deletions + insertions) summed
over all utterances, divided by the reference words (characters for CER) summed, as jiwer computes them.
Text is compared as given (no case folding or punctuation removal; jiwer's default transforms only
strip and split on whitespace).

Empty strings: jiwer rejects empty hypotheses in some versions and empty references in others, so pairs
with an empty side are counted here: an empty hypothesis deletes every reference word (character), an
empty reference has every hypothesis word inserted. A corpus with no reference words at all has no
rate, and is a ValueError.
"""
from __future__ import annotations

from typing import Sequence

import jiwer

COUNTS = ("substitutions", "deletions", "insertions", "hits")


def _counts(references: Sequence[str], hypotheses: Sequence[str], chars: bool) -> dict:
    """{"substitutions", "deletions", "insertions", "hits", "reference_words"} summed over the corpus;
    chars=True counts characters (spaces included, as jiwer.cer), reference_words then counts them."""
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")

    def units(text: str) -> list[str]:
        text = " ".join(str(text).split())  # jiwer's defaults: strip, collapse whitespace
        return list(text) if chars else text.split()

    totals = dict.fromkeys(COUNTS, 0)
    pairs = []
    for ref, hyp in zip(references, hypotheses):
        r, h = units(ref), units(hyp)
        if r and h:
            pairs.append((" ".join(r) if not chars else "".join(r), " ".join(h) if not chars else "".join(h)))
        else:
            totals["deletions"] += len(r)
            totals["insertions"] += len(h)
    if pairs:
        process = jiwer.process_characters if chars else jiwer.process_words
        out = process([p[0] for p in pairs], [p[1] for p in pairs])
        for key in COUNTS:
            totals[key] += int(getattr(out, key))
    totals["reference_words"] = totals["substitutions"] + totals["deletions"] + totals["hits"]
    return totals


def _rate(counts: dict) -> float:
    if counts["reference_words"] == 0:
        raise ValueError("the references have no words: the error rate is undefined")
    errors = counts["substitutions"] + counts["deletions"] + counts["insertions"]
    return errors / counts["reference_words"]


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate over the corpus: (S + D + I) / reference words, as jiwer.wer."""
    return _rate(_counts(references, hypotheses, chars=False))


def cer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Character error rate over the corpus (spaces are characters), as jiwer.cer."""
    return _rate(_counts(references, hypotheses, chars=True))


def error_counts(references: Sequence[str], hypotheses: Sequence[str]) -> dict:
    """{"substitutions", "deletions", "insertions", "hits", "reference_words"} (ints) from
    jiwer.process_words, summed over the corpus."""
    return _counts(references, hypotheses, chars=False)

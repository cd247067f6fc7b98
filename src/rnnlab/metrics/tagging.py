"""Sequence tagging with IOB2 tags: tags -> chunks, and chunk F1 with seqeval.

seqeval's "default" mode is conlleval-compatible (what the papers report): a stray I-x starts a chunk.
"strict" mode (IOB2) counts a chunk only when its B- and I- tags are exactly right. A decoder that
never emits I-x after anything but B-x / I-x (a CRF under IOB2 constraints) makes the two agree.
"""
from __future__ import annotations

from typing import Any

from seqeval.metrics import f1_score
from seqeval.scheme import IOB2


def chunks(tokens: list[str], tags: list[str]) -> list[dict[str, Any]]:
    """IOB2 tags -> chunks [{type, start, end, text}] (end exclusive). A stray I-x starts a chunk
    (conlleval's reading), so an unconstrained tagger's output is read the same way it is scored."""
    out: list[dict[str, Any]] = []
    for i, tag in enumerate(tags + ["O"]):
        if out and out[-1]["end"] is None and not (tag.startswith("I-") and tag[2:] == out[-1]["type"]):
            out[-1]["end"] = i
        if tag.startswith("B-") or (tag.startswith("I-") and (not out or out[-1]["end"] is not None)):
            out.append({"type": tag[2:], "start": i, "end": None})
    for c in out:
        c["text"] = " ".join(tokens[c["start"]:c["end"]])
    return out


def chunk_f1(gold: list[list[str]], pred: list[list[str]], *, strict: bool = False) -> float:
    """Micro F1 over chunks of tag sequences: seqeval's default mode, or strict IOB2 with strict=True."""
    if strict:
        return float(f1_score(gold, pred, mode="strict", scheme=IOB2))
    return float(f1_score(gold, pred))

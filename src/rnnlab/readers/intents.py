"""Utterances as a classifier reads them: words and punctuation, and the utterance's intent.

Any file `rnnlab.readers.utterances.read_utterances` reads (JSONL or CSV with `text,intent`, or a
seq.in/label directory); slot tags, if present, are ignored. Text is lowercased (optional) and split
into words and punctuation ("what's the time?" -> what's the time ?) by `tokenize`, the same function
that splits user input, so training data and what users type are tokenised the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.readers.utterances import read_utterances

_TOKEN = re.compile(r"[\w']+|[^\w\s]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words (letters, digits, apostrophes) and single punctuation marks: "It's 5?" -> it's 5 ?"""
    return _TOKEN.findall(text.lower() if lowercase else text)


@dataclass
class IntentExample:
    tokens: list[str]
    intent: str
    text: str  # the utterance as the file gives it (tokens joined by spaces)


def read_intents(path: Path, *, lowercase: bool = True, max_tokens: int | None = None) -> list[IntentExample]:
    """Every utterance of `path` as an IntentExample, its tokens cut to the first `max_tokens` (None: all).
    An utterance with no words after tokenisation (only symbols `tokenize` drops) is a DataError."""
    out = []
    for i, u in enumerate(read_utterances(path), start=1):
        text = " ".join(u.tokens)
        tokens = tokenize(text, lowercase)[:max_tokens]
        if not tokens:
            raise DataError(path, None, f"utterance {i} has no words: {text!r}")
        out.append(IntentExample(tokens, u.intent, text))
    return out

"""Plain text for language models: a whole file as one string, or as words with `<eos>` after each line."""
from __future__ import annotations

from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.files import read_text


def read_corpus(path: Path) -> str:
    """A text file's whole text (UTF-8); a file with no text, or only whitespace, is a DataError."""
    text = read_text(path)
    if not text.strip():
        raise DataError(path, None, "the file has no text")
    return text


def word_stream(text: str, eos: str) -> list[str]:
    """One sentence per line, words separated by whitespace (Mikolov's PTB layout) -> one token stream
    with `eos` after every line: "a b\\nc\\n" -> [a, b, eos, c, eos]."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(line.split())
        out.append(eos)
    return out

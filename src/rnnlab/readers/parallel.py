"""Parallel text for translation: sentence pairs (source, target) from the files corpora ship as.

Three layouts hold the same thing, one sentence pair per line:

- two line-aligned plain-text files, the source sentence on line i of one and its translation on
  line i of the other (Multi30k's `train.de` / `train.en`, WMT, OPUS "Moses" downloads);
- one TSV file, `source<TAB>target` per line (OPUS's TSV layout), or with a header line naming the
  columns `source` and `target` among others (then every row has as many fields as the header);
- one JSONL file, an object `{"source": ..., "target": ...}` per line (other keys are ignored).

The text is kept as it is (raw, untokenised, original case): only the line terminator (`\\n`, and a
`\\r` before it) is removed, since tokenisers and sacreBLEU's detokenised scoring both want the raw
sentence. Lines are split on `\\n` alone, not `str.splitlines`, so a stray U+2028 or form feed
inside a sentence neither shifts the line numbers nor splits a pair. TSV fields are split on tabs
with no quoting: quotes are common inside sentences, and OPUS writes TSV that way.

Every problem a user can cause raises `DataError` naming the file and the 1-based line.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.readers.lines import json_objects, text_lines
from rnnlab.readers.paths import resolve_path

TSV_SUFFIXES = (".tsv",)
JSONL_SUFFIXES = (".jsonl", ".json")


@dataclass(frozen=True)
class SentencePair:
    source: str
    target: str
    line: int  # 1-based line in the file(s) it came from (for TSV with a header, the physical line)


def _nonempty(pairs: list[SentencePair], path: Path) -> list[SentencePair]:
    if not pairs:
        raise DataError(path, None, "no sentence pairs: the file is empty")
    return pairs


# ---------------------------------------------------------------- readers


def read_aligned(source: str | os.PathLike, target: str | os.PathLike) -> list[SentencePair]:
    """Two line-aligned files: line i of `source` translates to line i of `target`."""
    source, target = resolve_path(source), resolve_path(target)
    src_lines, tgt_lines = text_lines(source), text_lines(target)
    out = []
    # pair by pair first: an empty line on one side is the usual cause of a count mismatch, and naming
    # it is more use than the counts alone
    for i, (s, t) in enumerate(zip(src_lines, tgt_lines), start=1):
        if not s.strip() and not t.strip():
            raise DataError(source, i, f"empty line in both {source} and {target}; every line needs a sentence")
        if not s.strip():
            raise DataError(source, i, f"empty source line (line {i} of {target} has text); "
                                       "every line needs a sentence")
        if not t.strip():
            raise DataError(target, i, f"empty target line (line {i} of {source} has text); "
                                       "every line needs a sentence")
        out.append(SentencePair(s, t, i))
    if len(src_lines) != len(tgt_lines):
        raise DataError(target, min(len(src_lines), len(tgt_lines)) + 1,
                        f"{target} has {len(tgt_lines)} lines but {source} has {len(src_lines)}; "
                        "the two files must align line by line")
    return _nonempty(out, source)


def _pair(source, target, path: Path, line: int, what: tuple[str, str]) -> SentencePair:
    for name, text in zip(what, (source, target)):
        if not text.strip():
            raise DataError(path, line, f"empty {name}: every pair needs a source and a target sentence")
    return SentencePair(source, target, line)


def read_tsv(path: str | os.PathLike) -> list[SentencePair]:
    """`source<TAB>target` per line, or a header naming `source` and `target` (then any columns)."""
    path = resolve_path(path)
    lines = text_lines(path)
    header = lines[0].split("\t") if lines else []
    if "source" in header and "target" in header:
        if len(set(header)) != len(header):
            raise DataError(path, 1, f"the header repeats a column name: {header}")
        columns, start = header, 2
    else:
        columns, start = ["source", "target"], 1
    s_col, t_col = columns.index("source"), columns.index("target")
    out = []
    for i, raw in enumerate(lines[start - 1:], start=start):
        fields = raw.split("\t")
        if len(fields) != len(columns):
            expected = (f"the header has {len(columns)}" if start == 2 else
                        "expected 2 (source<TAB>target, or a first line naming the columns source and target)")
            raise DataError(path, i, f"{len(fields)} tab-separated fields; {expected}")
        out.append(_pair(fields[s_col], fields[t_col], path, i, ("source field", "target field")))
    return _nonempty(out, path)


def read_jsonl(path: str | os.PathLike) -> list[SentencePair]:
    """One JSON object per line with string values for `source` and `target`."""
    path = resolve_path(path)
    out = []
    for i, obj in json_objects(path, 'a JSON object {"source": ..., "target": ...}', required=("source", "target")):
        for key in ("source", "target"):
            if not isinstance(obj[key], str):
                raise DataError(path, i, f"{key} must be a string, got {type(obj[key]).__name__}")
        out.append(_pair(obj["source"], obj["target"], path, i, ("source", "target")))
    return _nonempty(out, path)


def read_parallel(source: str | os.PathLike, target: str | os.PathLike | None = None) -> list[SentencePair]:
    """Sentence pairs from two aligned files (`source`, `target`), or from one `.tsv` / `.jsonl` file.

    Paths are config paths: `$RNNLAB_DATA`, `~` and `package:NAME` are resolved here.
    """
    if target is not None:
        return read_aligned(source, target)
    path = resolve_path(source)
    suffix = path.suffix.lower()
    if suffix in TSV_SUFFIXES:
        return read_tsv(path)
    if suffix in JSONL_SUFFIXES:
        return read_jsonl(path)
    if not path.exists():
        raise DataError(path, None, "file not found")
    raise DataError(path, None, "unknown format: give a .tsv or .jsonl file, or two line-aligned files "
                                "(a source file and a target file)")


# ---------------------------------------------------------------- writers (conversion, tests)


def _check_writable(pairs: list[SentencePair], forbidden: str) -> None:
    for k, p in enumerate(pairs):
        for text in (p.source, p.target):
            bad = [c for c in forbidden if c in text]
            if bad or text.endswith("\r"):
                raise ValueError(f"pair {k}: {text!r} cannot be written one per line "
                                 f"(contains {bad or ['a final CR']})")


def write_aligned(source: str | Path, target: str | Path, pairs: list[SentencePair]) -> None:
    _check_writable(pairs, "\n")
    for path, texts in ((source, [p.source for p in pairs]), (target, [p.target for p in pairs])):
        Path(path).write_text("".join(t + "\n" for t in texts), encoding="utf-8", newline="")


def write_tsv(path: str | Path, pairs: list[SentencePair], header: bool = False) -> None:
    _check_writable(pairs, "\n\t")
    lines = (["source\ttarget"] if header else []) + [f"{p.source}\t{p.target}" for p in pairs]
    Path(path).write_text("".join(ln + "\n" for ln in lines), encoding="utf-8", newline="")


def write_jsonl(path: str | Path, pairs: list[SentencePair]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        for p in pairs:
            f.write(json.dumps({"source": p.source, "target": p.target}, ensure_ascii=False) + "\n")

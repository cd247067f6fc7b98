"""API-call sequences (malware behaviour from sandbox runs) and the family each belongs to.

Two layouts hold the same thing, one sequence per line:

- a calls file, API-call ids separated by commas (Mal-API-2019's `100_calls.txt`) or spaces, and a
  line-aligned labels file, one family per line (`100_types.txt`); either may be gzipped (`.gz`);
- one JSONL file, an object `{"calls": [3, 5, 5] or "3,5,5", "label": "Trojan"}` per line.

An optional API index (Mal-API-2019's `ApiIndex.txt`, `name=id` per line) names the ids for display.

Sequences are numpy int32 arrays, not lists of Python ints: Mal-API-2019's longest line holds 1.5
million calls, 6 MB as an array and ~50 MB as a list of ints. Every problem a user can cause raises
`DataError` naming the file and the 1-based line.
"""
from __future__ import annotations

import gzip
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from rnnlab.errors import DataError
from rnnlab.files import decode_text
from rnnlab.readers.lines import json_objects, split_lines, text_lines
from rnnlab.readers.paths import resolve_path

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz")
MAX_ID = 2**31 - 1  # ids are stored as int32


@dataclass
class CallSequence:
    calls: np.ndarray  # (T,) int32 API-call ids (non-negative), T >= 1
    label: str  # the family ("" when the file has no labels: prediction input)
    line: int  # 1-based line in the file it came from


def parse_calls(text: str, where: tuple[Path | str, int | None] = ("input", None)) -> np.ndarray:
    """'3,5,5 7' -> array([3, 5, 5, 7]): ids separated by commas and/or whitespace. Not an integer,
    negative, too large or no id at all: a DataError naming `where` (file, line)."""
    # replace + split runs in C: ~0.2 s for the 1.5-million-call line (a regex split is 3x slower)
    parts = text.replace(",", " ").split()
    if not parts:
        raise DataError(where[0], where[1], "empty sequence: every line needs at least one API-call id")
    try:
        ids = np.array(parts, dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next(p for p in parts if not (p.isascii() and p.isdigit() and int(p) <= MAX_ID))
        raise DataError(where[0], where[1],
                        f"API-call id {bad[:40]!r} is not a non-negative integer below 2^31") from None
    if ids.min() < 0 or ids.max() > MAX_ID:
        bad = parts[int(np.flatnonzero((ids < 0) | (ids > MAX_ID))[0])]
        raise DataError(where[0], where[1], f"API-call id {bad[:40]!r} is not a non-negative integer below 2^31")
    return ids.astype(np.int32)  # half the memory of int64: 15.5 M calls in Mal-API-2019's subset


def _open_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line, text without terminator) of a plain or gzipped UTF-8 file, read line by line (a
    60 MB file never sits in memory as one string and its lines as copies at once)."""
    try:
        raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a directory: give a file of API-call sequences, one a line") from None
    except OSError as e:
        raise DataError(path, None, f"cannot read file: {e.strerror}") from None
    i = 0
    try:
        with raw:
            for i, data in enumerate(raw, start=1):
                try:
                    text = data.decode("utf-8-sig" if i == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(path, i, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at column "
                                             f"{e.start + 1}); save the file as UTF-8") from None
                yield i, text.rstrip("\n").rstrip("\r")
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(path, i + 1, f"not a valid gzip file ({e})") from None


def read_call_lines(path: str | os.PathLike) -> list[tuple[int, np.ndarray]]:
    """(line, ids) for every line of a calls file; an empty line or a bad id is a DataError."""
    path = resolve_path(path)
    out = [(i, parse_calls(text, (path, i))) for i, text in _open_lines(path)]
    if not out:
        raise DataError(path, None, "no sequences: the file is empty")
    return out


def read_labels(path: str | os.PathLike) -> list[str]:
    """One family per line; an empty line is a DataError (a label is never guessed)."""
    path = resolve_path(path)
    labels = [text.strip() for _, text in _open_lines(path)]
    for i, label in enumerate(labels, start=1):
        if not label:
            raise DataError(path, i, "empty label: every line needs a family name")
    return labels


def read_calls(calls: str | os.PathLike, labels: str | os.PathLike) -> list[CallSequence]:
    """A calls file and its line-aligned labels file -> one CallSequence per line."""
    calls_path, labels_path = resolve_path(calls), resolve_path(labels)
    # labels first: a count mismatch is then reported before the slow parse of a long calls file
    names = read_labels(labels_path)
    seqs = read_call_lines(calls_path)
    if len(seqs) != len(names):
        raise DataError(labels_path, min(len(seqs), len(names)) + 1,
                        f"{labels_path} has {len(names)} labels but {calls_path} has {len(seqs)} sequences; "
                        "the two files must align line by line")
    return [CallSequence(ids, name, i) for (i, ids), name in zip(seqs, names)]


def read_calls_jsonl(path: str | os.PathLike, *, labelled: bool = True) -> list[CallSequence]:
    """JSONL: {"calls": [ids] or "a,b,c", "label": "family"} per line ("label" optional if not `labelled`)."""
    path = resolve_path(path)
    if path.name.endswith(".gz"):  # json_objects reads plain text: decompress through the line reader
        lines = [text for _, text in _open_lines(path)]
        objects = _objects(path, lines)
    else:
        objects = json_objects(path, 'a JSON object {"calls": [...], "label": "..."}', ("calls",))
    return _sequences(path, objects, labelled)


def calls_from_bytes(data: bytes, name: str) -> list[CallSequence]:
    """The sequences of a calls file's bytes (an upload) called `name`: JSONL by its suffix, else one sequence a
    line; gzipped when the name ends in .gz. Labels are optional (a file to predict on has none)."""
    if name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise DataError(name, None, f"not a valid gzip file ({e})") from None
        name_inside = name[:-3]
    else:
        name_inside = name
    lines = split_lines(decode_text(data, name))
    if is_jsonl(name_inside):
        return _sequences(name, _objects(name, lines), labelled=False)
    out = [CallSequence(parse_calls(text, (name, i)), "", i) for i, text in enumerate(lines, start=1)]
    if not out:
        raise DataError(name, None, "no sequences: the file is empty")
    return out


def _sequences(path: Path | str, objects: Iterator[tuple[int, dict]], labelled: bool) -> list[CallSequence]:
    """CallSequences from (line, JSON object) pairs; errors name `path` and the line."""
    out = []
    for i, obj in objects:
        calls = obj["calls"]
        if isinstance(calls, str):
            ids = parse_calls(calls, (path, i))
        elif isinstance(calls, list):
            if not calls:
                raise DataError(path, i, "empty sequence: \"calls\" needs at least one API-call id")
            bad = [c for c in calls if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= MAX_ID]
            if bad:
                raise DataError(path, i, f"API-call id {json.dumps(bad[0])[:40]} is not a non-negative integer")
            ids = np.array(calls, dtype=np.int32)
        else:
            raise DataError(path, i, f"\"calls\" must be a list of ids or a string \"a,b,c\", "
                                     f"got {type(calls).__name__}")
        label = obj.get("label", "")
        if not isinstance(label, str) or (labelled and not label.strip()):
            raise DataError(path, i, "\"label\" must be a non-empty string (the family)")
        out.append(CallSequence(ids, label.strip(), i))
    if not out:
        raise DataError(path, None, "no sequences: the file is empty")
    return out


def _objects(path: Path, lines: list[str]) -> Iterator[tuple[int, dict]]:
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            raise DataError(path, i, 'empty line: every line must be a JSON object {"calls": [...], "label": "..."}')
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(path, i, f"not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict) or "calls" not in obj:
            raise DataError(path, i, 'expected a JSON object {"calls": [...], "label": "..."}')
        yield i, obj


def is_jsonl(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(JSONL_SUFFIXES)


def read_call_file(calls: str | os.PathLike, labels: str | os.PathLike = "") -> list[CallSequence]:
    """Whichever layout `calls` is: JSONL by its suffix (labels inside), else a calls file + `labels`."""
    if is_jsonl(calls):
        if labels:
            raise DataError(resolve_path(labels), None, f"{calls} is JSONL (labels inside): give no labels file")
        return read_calls_jsonl(calls)
    if not labels:
        raise DataError(resolve_path(calls), None, "a calls file needs its labels file (one family per line)")
    return read_calls(calls, labels)


def read_api_index(path: str | os.PathLike) -> dict[int, str]:
    """`name=id` per line (Mal-API-2019's ApiIndex.txt) -> {id: name}."""
    path = resolve_path(path)
    names: dict[int, str] = {}
    for i, raw in enumerate(text_lines(path) if not path.name.endswith(".gz") else
                            [t for _, t in _open_lines(path)], start=1):
        if not raw.strip():
            continue
        name, eq, number = raw.strip().rpartition("=")
        if not eq or not name or not (number.isascii() and number.isdigit()):
            raise DataError(path, i, f"expected name=id (e.g. ntclose=7), got {raw[:60]!r}")
        if int(number) in names:
            raise DataError(path, i, f"id {number} is named twice ({names[int(number)]!r} and {name!r})")
        names[int(number)] = name
    if not names:
        raise DataError(path, None, "no API names: the file is empty")
    return names


__all__ = ["CallSequence", "calls_from_bytes", "is_jsonl", "parse_calls", "read_api_index", "read_call_file",
           "read_call_lines", "read_calls", "read_calls_jsonl", "read_labels"]

"""What the line-based readers share: a file's lines, one JSON object per line (JSONL), and the one check of a
line of text input (a sentence to translate, an utterance to classify) that every verb reading text applies:
`check_line` (length in characters and in the task's tokens, control characters, bytes that were not UTF-8),
`numbered_lines` (a file's, stdin's or an upload's bytes -> checked lines) and `read_stream` (stdin's bytes)."""
from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, TextIO

from rnnlab import limits
from rnnlab.errors import DataError
from rnnlab.files import read_text


def text_lines(path: Path) -> list[str]:
    """Lines without their terminators; a final newline does not make an extra empty line."""
    return split_lines(read_text(path))


def table_rows(path: Path, columns: tuple[str, ...], noun: str, items: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(1-based line, {column: field}) for each non-blank row of a `.tsv` (tab-separated, quotes taken literally)
    or CSV (any other name; the csv module's quoting, so a field may hold commas) whose header row names `columns`
    (any order and case; other columns ignored). Line numbers are the file's own (a quoted CSV field may span
    lines: its record's first line). DataError naming the file and line for a folder, text that is not UTF-8, a
    header without the columns, a row with the wrong number of fields, malformed CSV, an empty file ("empty
    {noun}") and a header with no rows ("no data rows: the {noun} has a header but no {items}")."""
    if path.is_dir():
        raise DataError(path, None, f"is a directory, not a {noun} (a .tsv or .csv with {' and '.join(columns)})")
    text = read_text(path)  # DataError for a missing file / bad UTF-8, with the line
    tsv = path.suffix.lower() == ".tsv"
    reader = csv.reader(io.StringIO(text, newline=""), **({"delimiter": "\t", "quoting": csv.QUOTE_NONE}
                                                           if tsv else {}))
    header: list[str] | None = None
    start, rows = 1, 0  # start: the line the next record starts on
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if header is None:
                header = [h.strip().lower() for h in row]
                missing = [c for c in columns if c not in header]
                if missing:
                    found = ", ".join(repr(h) for h in header if h) or "none"
                    raise DataError(path, line, f"header row must name columns {' and '.join(columns)}; missing "
                                                f"{' and '.join(missing)} (columns found: {found})")
                where = {c: header.index(c) for c in columns}
                continue
            if all(not f.strip() for f in row):
                continue
            if len(row) != len(header):
                fields = f"{len(row)} field{'s' if len(row) != 1 else ''}"
                raise DataError(path, line, f"{fields} but the header has {len(header)} ({', '.join(header)}); "
                                            f"fields are separated by "
                                            f"{'tabs' if tsv else 'commas (quote a field holding one)'}")
            rows += 1
            yield line, {c: row[i] for c, i in where.items()}
    except csv.Error as e:
        raise DataError(path, reader.line_num, f"malformed {'TSV' if tsv else 'CSV'}: {e}") from None
    if header is None:
        raise DataError(path, 1, f"empty {noun}: expected a header row naming the columns {' and '.join(columns)}")
    if not rows:
        raise DataError(path, None, f"no data rows: the {noun} has a header but no {items}")


def split_lines(text: str) -> list[str]:
    """`text`'s lines without their terminators (\\n or \\r\\n); a final newline makes no extra empty line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def json_objects(path: Path, shape: str, required: tuple[str, ...] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based line, object) for each line of a JSONL file; an empty line, invalid JSON, a value that is
    not an object or an object without the `required` keys is a DataError naming the line. `shape` says
    what an object holds, for the messages (e.g. 'a JSON object {"source": ..., "target": ...}')."""
    for i, raw in enumerate(text_lines(path), start=1):
        if not raw.strip():
            raise DataError(path, i, f"empty line: every line must be {shape}")
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(path, i, f"not valid JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:  # deeply nested brackets
            raise DataError(path, i, "not valid JSON (nested too deeply)") from None
        if not isinstance(obj, dict):
            raise DataError(path, i, f"expected {shape}, got {type(obj).__name__}")
        missing = [k for k in required if k not in obj]
        if missing:
            raise DataError(path, i, f"missing key(s) {', '.join(missing)}")
        yield i, obj


# what a line of text never holds: a C0 or C1 control (but tab, newline and carriage return: whitespace, which every
# tokeniser collapses), DEL, or a lone surrogate (a byte that was not UTF-8, let through by surrogateescape)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _control(text: str) -> tuple[int, str] | None:
    """(1-based column, character) of the first character of `text` that a line of text never holds."""
    found = _CONTROL.search(text)
    return (found.start() + 1, found.group()) if found else None


def check_line(text: str, name: str, line: int | None = None, *, count: Callable[[str], int] | None = None,
               unit: str = "tokens") -> str:
    """One line of text input, returned unchanged, or a DataError naming `name` (a file, "stdin", "TEXT 2") and
    `line`: longer than limits.max_line_chars; holding a control character (a NUL: a binary file?) or a byte that
    was not UTF-8; more than limits.max_input_tokens `unit` as `count` (the task's own tokeniser) counts them.
    The length is checked first, so a huge line is refused before it is tokenised."""
    cap = limits.current()
    if len(text) > cap.max_line_chars:
        raise DataError(name, line, f"line too long: {len(text)} characters {limits.hint('max_line_chars')}")
    bad = _control(text)
    if bad:
        col, ch = bad
        if 0xDC80 <= ord(ch) <= 0xDCFF:  # surrogateescape's stand-in for an undecodable byte
            raise DataError(name, line, f"not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x} at column {col}); "
                                        "save the text as UTF-8")
        what = "a NUL byte (is this a binary file?)" if ch == "\0" else f"control character U+{ord(ch):04X}"
        raise DataError(name, line, f"{what} at column {col}: a line of text holds printable characters and spaces")
    if count is not None and (n := count(text)) > cap.max_input_tokens:
        raise DataError(name, line, f"input too long: {n} {unit} {limits.hint('max_input_tokens')}")
    return text


def numbered_lines(data: bytes, name: str, *, count: Callable[[str], int] | None = None,
                   unit: str = "tokens") -> list[tuple[int, str]]:
    """(1-based number, text) of every line of `data` (a file, stdin, an upload) decoded as UTF-8, blank lines
    included (a caller keeping its output aligned with the input needs them); each non-blank line passes
    `check_line` first. Bytes that are not UTF-8 are a DataError naming the line and the byte."""
    # undecodable bytes kept as surrogateescape's stand-ins, so that check_line reports the first problem in line
    # order: the byte that is not UTF-8, or the NUL that says "binary file", whichever comes first
    lines = list(enumerate(split_lines(data.decode("utf-8-sig", errors="surrogateescape")), start=1))
    for i, text in lines:
        if text.strip():
            check_line(text, name, i, count=count, unit=unit)
    return lines


def read_stream(stream: BinaryIO | TextIO, name: str = "stdin") -> bytes:
    """All of a stream's bytes (stdin: its binary buffer, so undecodable bytes reach numbered_lines' check rather
    than the terminal's decoder), refused past limits.max_file_bytes without reading further."""
    cap = limits.current().max_file_bytes
    data = getattr(stream, "buffer", stream).read(cap + 1)
    if isinstance(data, str):  # a text stream without bytes beneath (io.StringIO): back to the bytes it stands for
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > cap:
        raise DataError(name, None, f"input too large: more than {cap} bytes {limits.hint('max_file_bytes')}")
    return data

"""What the line-based readers share: a file's lines, and one JSON object per line (JSONL)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from rnnlab.errors import DataError
from rnnlab.files import read_text


def text_lines(path: Path) -> list[str]:
    """Lines without their terminators; a final newline does not make an extra empty line."""
    return split_lines(read_text(path))


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

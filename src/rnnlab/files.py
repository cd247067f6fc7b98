"""Reading users' files at the boundary: errors name the file, the line and what is wrong."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rnnlab.errors import DataError, UserError


def read_bytes(path: Path) -> bytes:
    """A file's bytes; a missing or unreadable file is one DataError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except OSError as e:
        raise DataError(path, None, f"cannot read file: {e.strerror}") from None


def read_text(path: Path) -> str:
    """A file's text as UTF-8 (a leading BOM is dropped); a decoding error names the line."""
    return decode_text(read_bytes(path), path)


def decode_text(data: bytes, path: Path | str) -> str:
    """Bytes of the file (or upload) `path` as UTF-8 text (a leading BOM dropped); a decoding error names the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(path, line, f"not valid UTF-8 (byte 0x{data[e.start]:02x} at column {column}); "
                                    "save the file as UTF-8") from None


def read_json(path: Path, missing: str):
    """A JSON file's value; `missing` says what to do when the file is not there."""
    try:
        return json.loads(read_text(path))
    except DataError as e:
        if e.problem == "file not found":
            raise UserError(f"{path}: {missing}") from None
        raise
    except json.JSONDecodeError as e:
        raise DataError(path, e.lineno, f"not valid JSON ({e.msg})") from None


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes as hex, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

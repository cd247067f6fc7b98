"""Sphinx MFCC feature files (`.mfc`, as in CMU's AN4): a 4-byte count, then that many float32, frame by frame.

    int32 count | float32 x count        big-endian (what sphinx_fe writes); count = frames * n_ceps

The file carries no frame width, so `n_ceps` (13 for AN4) is the caller's; the count is the only check
the format has, so every disagreement between it and the file's size is a DataError saying which: a
file cut short, a count that is no whole number of frames, or a file written little-endian (the count
then reads as a huge number big-endian, which is the commonest way these files go wrong, and worth
naming rather than reporting as "truncated").
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rnnlab.errors import DataError, UserError
from rnnlab.files import read_bytes

_ORDERS = {"big": ">", "little": "<"}


def _matches(count: int, size: int) -> bool:
    return count >= 0 and 4 + 4 * count == size


def read_mfc(path: str | Path, n_ceps: int = 13, byte_order: str = "big") -> np.ndarray:
    """(frames, n_ceps) float32 of a Sphinx MFCC file. `byte_order` is "big" (Sphinx's), "little", or
    "auto" (whichever order's count matches the file size, big when both do). DataError (file, no line)
    for a file too short for its header, a size the count does not match, a count that is not a whole
    number of frames, no frames, or NaN / infinite values."""
    if byte_order not in ("big", "little", "auto"):
        raise UserError(f"byte_order must be 'big', 'little' or 'auto', got {byte_order!r}")
    if not isinstance(n_ceps, int) or n_ceps < 1:
        raise UserError(f"n_ceps must be a positive integer, got {n_ceps!r}")
    path = Path(path)
    if path.is_dir():
        raise DataError(path, None, "is a directory, not a Sphinx MFCC (.mfc) file")
    data = read_bytes(path)
    size = len(data)
    if size < 4:
        raise DataError(path, None, f"too short ({size} bytes): a Sphinx MFCC file starts with a 4-byte float count")
    big = int(np.frombuffer(data, ">i4", count=1)[0])
    little = int(np.frombuffer(data, "<i4", count=1)[0])
    if byte_order == "auto":
        order = "little" if _matches(little, size) and not _matches(big, size) else "big"
        if not _matches(big, size) and not _matches(little, size):
            raise DataError(path, None, f"truncated: header says {big} floats ({4 + 4 * big} bytes) big-endian or "
                                        f"{little} ({4 + 4 * little} bytes) little-endian, but the file holds "
                                        f"{size} bytes")
    else:
        order = byte_order
    count, other = (big, little) if order == "big" else (little, big)
    if not _matches(count, size):
        other_order = "little" if order == "big" else "big"
        if _matches(other, size):
            raise DataError(path, None, f"header reads {count} {order}-endian but {other} {other_order}-endian, "
                                        f"which matches the file size: this file was written {other_order}-endian; "
                                        f"Sphinx MFCC files are big-endian (byte_order='{other_order}' reads it)")
        if count < 0:
            raise DataError(path, None, f"header says {count} floats (negative): not a Sphinx MFCC file")
        raise DataError(path, None, f"truncated: header says {count} floats ({4 + 4 * count} bytes) "
                                    f"but the file holds {size} bytes")
    if count == 0:
        raise DataError(path, None, "no frames (the header's count is 0)")
    if count % n_ceps:
        raise DataError(path, None, f"{count} floats is not a whole number of frames of n_ceps={n_ceps} "
                                    f"(wrong n_ceps, or not a Sphinx MFCC file)")
    # (frames, n_ceps); astype copies into native order, so the array is writable and independent of `data`
    feats = np.frombuffer(data, _ORDERS[order] + "f4", count=count, offset=4).astype(np.float32).reshape(-1, n_ceps)
    bad = ~np.isfinite(feats)
    if bad.any():
        frame = int(np.argmax(bad.any(axis=1)))
        raise DataError(path, None, f"{int(bad.sum())} non-finite values (NaN or infinity), the first in frame {frame}")
    return feats

"""Connected digits made from isolated ones: recordings of single spoken digits joined into strings of
2-7 digits with short random silences between them (a phone number read aloud, a PIN).

Which recordings may go into which string is the caller's choice (the task builds training strings from
training recordings only and test strings from test recordings only); the draw is fixed by the seed, so
the same config always gives the same strings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class DigitString:
    parts: tuple[int, ...]  # indices into the recordings list, in spoken order
    gaps: tuple[float, ...]  # seconds of silence before each part and after the last (len(parts) + 1)


def draw_strings(n: int, n_recordings: int, *, min_digits: int = 2, max_digits: int = 7,
                 gap_min: float = 0.05, gap_max: float = 0.3, seed: int = 0) -> list[DigitString]:
    """n strings: length ~ U{min_digits..max_digits}, recordings uniformly at random (with replacement
    across strings, none repeated inside a string), gaps ~ U[gap_min, gap_max] seconds."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    if n_recordings < max_digits:
        raise ValueError(f"{n_recordings} recordings cannot make strings of {max_digits} different ones")
    if not 0 <= gap_min <= gap_max:
        raise ValueError(f"need 0 <= gap_min <= gap_max, got {gap_min}, {gap_max}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(min_digits, max_digits + 1))
        parts = tuple(int(i) for i in rng.choice(n_recordings, size=k, replace=False))
        gaps = tuple(float(g) for g in rng.uniform(gap_min, gap_max, size=k + 1))
        out.append(DigitString(parts, gaps))
    return out


def join(recordings: Sequence[np.ndarray], string: DigitString, sample_rate: int) -> np.ndarray:
    """The string's waveform: silence, recording, silence, ..., recording, silence. (n,) float32."""
    pieces = []
    for gap, i in zip(string.gaps, string.parts):
        pieces.append(np.zeros(round(gap * sample_rate), np.float32))
        pieces.append(np.asarray(recordings[i], np.float32))
    pieces.append(np.zeros(round(string.gaps[-1] * sample_rate), np.float32))
    return np.concatenate(pieces)

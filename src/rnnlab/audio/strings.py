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


EDGE_SECONDS = 0.02  # the stretch at each end of a recording whose level the room tone takes


def _edge_level(wave: np.ndarray, sample_rate: int, end: bool) -> float:
    n = max(1, round(EDGE_SECONDS * sample_rate))
    part = wave[-n:] if end else wave[:n]
    return float(np.sqrt(np.mean(np.square(part, dtype=np.float64)))) if len(part) else 0.0


def join(recordings: Sequence[np.ndarray], string: DigitString, sample_rate: int,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """The string's waveform: gap, recording, gap, ..., recording, gap. (n,) float32.

    rng None: the gaps are digital silence. With an rng, each gap is "room tone": Gaussian noise at the level
    (RMS) of the recordings' edges beside it (their own background), as when recordings are spliced. Digital
    zeros are a sound no microphone makes: their log-mel is the floor, far below any recording's background,
    and a normaliser fitted on such strings spends its range on the gaps."""
    waves = [np.asarray(recordings[i], np.float32) for i in string.parts]
    pieces = []
    for k, gap in enumerate(string.gaps):
        n = round(gap * sample_rate)
        if rng is None:
            pieces.append(np.zeros(n, np.float32))
        else:
            sides = ([_edge_level(waves[k - 1], sample_rate, end=True)] if k > 0 else []) + \
                    ([_edge_level(waves[k], sample_rate, end=False)] if k < len(waves) else [])
            pieces.append((rng.standard_normal(n) * float(np.mean(sides))).astype(np.float32))
        if k < len(waves):
            pieces.append(waves[k])
    return np.concatenate(pieces)

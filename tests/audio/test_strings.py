"""rnnlab.audio.strings: connected-digit strings are fixed by their seed, never repeat a recording inside a
string, and join with silences (or room tone at the recordings' own level) of the drawn lengths."""
import numpy as np
import pytest

from rnnlab.audio.strings import draw_strings, join


def test_digit_strings_are_fixed_by_the_seed_and_join_with_their_gaps():
    a = draw_strings(200, 30, min_digits=2, max_digits=7, gap_min=0.05, gap_max=0.3, seed=1)
    assert a == draw_strings(200, 30, min_digits=2, max_digits=7, gap_min=0.05, gap_max=0.3, seed=1)
    assert {len(s.parts) for s in a} == set(range(2, 8))
    assert all(len(set(s.parts)) == len(s.parts) and len(s.gaps) == len(s.parts) + 1 for s in a)
    assert all(0.05 <= g <= 0.3 for s in a for g in s.gaps)
    recs = [np.ones(100 * (i + 1), np.float32) for i in range(30)]
    wave = join(recs, a[0], 1000)
    assert len(wave) == sum(100 * (i + 1) for i in a[0].parts) + sum(round(g * 1000) for g in a[0].gaps)
    assert wave.sum() == sum(100 * (i + 1) for i in a[0].parts)  # silence between
    quiet = [np.full(400, 0.01, np.float32) if i % 2 else np.full(400, 0.1, np.float32) for i in range(30)]
    toned = join(quiet, a[0], 1000, np.random.default_rng(0))  # room tone: noise at the edges' level
    first_gap = toned[: round(a[0].gaps[0] * 1000)]
    level = 0.01 if a[0].parts[0] % 2 else 0.1
    assert len(toned) == len(wave) - sum(100 * (i + 1) for i in a[0].parts) + 400 * len(a[0].parts)
    assert 0.5 * level < float(np.sqrt(np.mean(first_gap ** 2))) < 1.5 * level
    with pytest.raises(ValueError):
        draw_strings(5, 3, max_digits=7)

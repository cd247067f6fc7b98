"""Sphinx MFCC files: round trips, every way the count and the size can disagree, byte order."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rnnlab.errors import DataError, UserError
from rnnlab.readers.mfc import read_mfc

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def mfc_bytes(feats: np.ndarray, order: str = ">", count: int | None = None) -> bytes:
    flat = np.asarray(feats, dtype=np.float32).reshape(-1)
    n = flat.size if count is None else count
    return np.array([n], dtype=order + "i4").tobytes() + flat.astype(order + "f4").tobytes()


def write(tmp_path, data: bytes, name: str = "x.mfc"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_reads_frames_of_13(tmp_path):
    feats = np.arange(3 * 13, dtype=np.float32).reshape(3, 13) / 7
    out = read_mfc(write(tmp_path, mfc_bytes(feats)))
    assert out.shape == (3, 13) and out.dtype == np.float32
    np.testing.assert_array_equal(out, feats)
    assert out.dtype == np.dtype(np.float32) and out.flags.writeable  # a native-order copy


def test_other_n_ceps(tmp_path):
    feats = np.ones((4, 6), np.float32)
    assert read_mfc(write(tmp_path, mfc_bytes(feats)), n_ceps=6).shape == (4, 6)
    with pytest.raises(DataError, match=r"24 floats is not a whole number of frames of n_ceps=13"):
        read_mfc(write(tmp_path, mfc_bytes(feats)))


def test_short_file(tmp_path):
    with pytest.raises(DataError, match=r"x.mfc: too short \(3 bytes\)"):
        read_mfc(write(tmp_path, b"\x00\x00\x00"))
    with pytest.raises(DataError, match=r"too short \(0 bytes\)"):
        read_mfc(write(tmp_path, b""))


def test_truncated_message(tmp_path):
    data = mfc_bytes(np.zeros((2, 13), np.float32))[:-8]
    with pytest.raises(DataError) as e:
        read_mfc(write(tmp_path, data))
    assert str(e.value).endswith("x.mfc: truncated: header says 26 floats (108 bytes) but the file holds 100 bytes")


def test_no_frames(tmp_path):
    with pytest.raises(DataError, match=r"x.mfc: no frames"):
        read_mfc(write(tmp_path, mfc_bytes(np.zeros((0, 13), np.float32))))


def test_non_finite(tmp_path):
    feats = np.zeros((3, 13), np.float32)
    feats[1, 4], feats[2, 0] = np.nan, np.inf
    with pytest.raises(DataError, match=r"x.mfc: 2 non-finite values \(NaN or infinity\), the first in frame 1"):
        read_mfc(write(tmp_path, mfc_bytes(feats)))


def test_little_endian_named(tmp_path):
    feats = np.linspace(-1, 1, 13, dtype=np.float32).reshape(1, 13)
    p = write(tmp_path, mfc_bytes(feats, "<"))
    with pytest.raises(DataError) as e:
        read_mfc(p)
    assert str(e.value) == (f"{p}: header reads 218103808 big-endian but 13 little-endian, which matches the file "
                            "size: this file was written little-endian; Sphinx MFCC files are big-endian "
                            "(byte_order='little' reads it)")
    np.testing.assert_array_equal(read_mfc(p, byte_order="little"), feats)
    np.testing.assert_array_equal(read_mfc(p, byte_order="auto"), feats)
    big = write(tmp_path, mfc_bytes(feats), "big.mfc")
    np.testing.assert_array_equal(read_mfc(big, byte_order="auto"), feats)
    with pytest.raises(DataError, match=r"written big-endian.*byte_order='big' reads it"):
        read_mfc(big, byte_order="little")


def test_auto_neither_matches(tmp_path):
    data = mfc_bytes(np.zeros((2, 13), np.float32))[:-1]
    with pytest.raises(DataError, match=r"truncated: header says 26 floats .* big-endian or .* little-endian"):
        read_mfc(write(tmp_path, data), byte_order="auto")


def test_missing_directory_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match=r"nope.mfc: file not found"):
        read_mfc(tmp_path / "nope.mfc")
    with pytest.raises(DataError, match=r"is a directory"):
        read_mfc(tmp_path)
    with pytest.raises(UserError, match=r"byte_order must be"):
        read_mfc(tmp_path / "nope.mfc", byte_order="middle")


@PROPS
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 20), st.just(13)),
                  elements=st.floats(width=32, allow_nan=False, allow_infinity=False)))
def test_round_trip_any_array(tmp_path, feats):
    out = read_mfc(write(tmp_path, mfc_bytes(feats)))
    assert out.shape == feats.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, feats)


@PROPS
@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 20), st.just(13)),
                  elements=st.floats(width=32, allow_nan=False, allow_infinity=False)),
       st.one_of(st.integers(1, 3), st.integers(1, 300).map(lambda k: 4 * k)), st.booleans())
def test_any_truncation_is_a_data_error(tmp_path, feats, cut, auto):
    data = mfc_bytes(feats)
    cut = min(cut, len(data) - 4) if cut % 4 == 0 else cut  # whole floats: at most every float
    with pytest.raises(DataError, match=r"x.mfc: "):
        read_mfc(write(tmp_path, data[:-cut]), byte_order="auto" if auto else "big")

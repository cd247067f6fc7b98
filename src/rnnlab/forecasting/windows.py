"""(lookback, horizon) windows over a series, and the splits the benchmarks use.

A window starting at row s reads rows [s, s + L) and forecasts rows [s + L, s + L + H). A split is a
range of rows [begin, end) and holds every window that fits in it: (end - begin) - L - H + 1 windows,
one per start, stride 1 (as the Informer / LTSF-Linear loaders: `len(data_x) - seq_len - pred_len + 1`).

Splits (borders as in the Informer and LTSF-Linear data loaders, `border1s` / `border2s`): the validation
and test ranges begin L rows before their first forecast row, so their first window reads the end of the
previous split and forecasts the first row of its own; no forecast row is ever in two splits.

    rows   ETTh1 (12/4/4 months of 30 days x 24 h):  train [0, 8640)  valid [8640 - L, 11520)  test [11520 - L, 14400)
    fractions (LTSF-Linear's custom data):  n_train = int(0.7 n), n_test = int(0.2 n), n_valid = n - n_train - n_test
"""
from __future__ import annotations

import numpy as np

INFORMER_ETT_HOURLY = (12 * 30 * 24, 4 * 30 * 24, 4 * 30 * 24)  # 8640, 2880, 2880 rows


def borders_by_rows(n_rows: int, lookback: int, train: int, valid: int, test: int) -> dict[str, tuple[int, int]]:
    """{split: (begin, end)} row ranges for fixed row counts (the Informer split of ETT); empty splits left out."""
    if train + valid + test > n_rows:
        raise ValueError(f"the split needs {train + valid + test} rows, the series has {n_rows}")
    out = {"train": (0, train)}
    if valid:
        out["valid"] = (max(0, train - lookback), train + valid)
    if test:
        out["test"] = (max(0, train + valid - lookback), train + valid + test)
    return out


def borders_by_fraction(n_rows: int, lookback: int, train_fraction: float, test_fraction: float
                        ) -> dict[str, tuple[int, int]]:
    """LTSF-Linear's custom-data split: int(0.7 n) train, int(0.2 n) test, the rest valid."""
    n_train, n_test = int(n_rows * train_fraction), int(n_rows * test_fraction)
    return borders_by_rows(n_rows, lookback, n_train, n_rows - n_train - n_test, n_test)


def window_starts(begin: int, end: int, lookback: int, horizon: int, stride: int = 1) -> list[int]:
    """Start rows of every (lookback, horizon) window inside rows [begin, end)."""
    return list(range(begin, end - lookback - horizon + 1, stride))


def gather(values: np.ndarray, starts, lookback: int, horizon: int, targets=None) -> tuple[np.ndarray, np.ndarray]:
    """values (N, C), starts (B,) -> inputs (B, L, C) and the rows to forecast (B, H, C_t) (target columns)."""
    starts = np.asarray(starts, dtype=np.int64)
    x = values[starts[:, None] + np.arange(lookback)[None, :]]  # (B, L, C)
    y = values[starts[:, None] + lookback + np.arange(horizon)[None, :]]  # (B, H, C)
    return x, (y if targets is None else y[:, :, list(targets)])

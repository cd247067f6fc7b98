"""The benchmark splits' window counts and borders, and the windows gathered from a series."""
import numpy as np
import pytest

from rnnlab.forecasting.windows import INFORMER_ETT_HOURLY, borders_by_fraction, borders_by_rows, gather, window_starts


@pytest.mark.parametrize("lookback, horizon, counts", [
    (96, 24, (8521, 2857, 2857)),  # Informer's ETTh1 24-step setting
    (720, 96, (7825, 2785, 2785)),  # the long-horizon protocol at 96 (LTSF-Linear logs "test 2785")
    (336, 720, (7585, 2161, 2161)),
])
def test_ett_window_counts_follow_the_reference_loaders(lookback, horizon, counts):
    borders = borders_by_rows(17420, lookback, *INFORMER_ETT_HOURLY)
    assert borders == {"train": (0, 8640), "valid": (8640 - lookback, 11520), "test": (11520 - lookback, 14400)}
    got = tuple(len(window_starts(b, e, lookback, horizon)) for b, e in borders.values())
    assert got == counts  # (end - begin) - L - H + 1 each


def test_no_forecast_row_is_in_two_splits():
    lookback, horizon = 48, 12
    borders = borders_by_rows(1000, lookback, 600, 200, 200)
    forecast_rows = {s: {r for st in window_starts(b, e, lookback, horizon)
                         for r in range(st + lookback, st + lookback + horizon)} for s, (b, e) in borders.items()}
    assert not forecast_rows["train"] & forecast_rows["valid"] and not forecast_rows["valid"] & forecast_rows["test"]
    assert min(forecast_rows["valid"]) == 600 and min(forecast_rows["test"]) == 800


def test_fraction_split_is_ltsf_linears():
    b = borders_by_fraction(1000, 10, 0.7, 0.2)
    assert b == {"train": (0, 700), "valid": (690, 800), "test": (790, 1000)}
    with pytest.raises(ValueError, match="needs 1200 rows"):
        borders_by_rows(1000, 10, 1000, 100, 100)


def test_gather_slices_inputs_and_targets():
    values = np.arange(40, dtype=np.float64).reshape(20, 2)  # row r = (2r, 2r+1)
    x, y = gather(values, [0, 5], 3, 2, targets=[1])
    assert x.shape == (2, 3, 2) and y.shape == (2, 2, 1)
    assert x[1, :, 0].tolist() == [10, 12, 14] and y[1, :, 0].tolist() == [17, 19]

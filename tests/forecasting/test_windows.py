"""The benchmark splits' window counts, scaling from the training rows alone, and the baselines' values."""
import numpy as np
import pytest
import torch

from rnnlab.forecasting.baselines import ErrorSums, repeat_last, seasonal_naive
from rnnlab.forecasting.scaling import Scaler, log_returns
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


def test_scaler_uses_the_rows_it_is_given_and_round_trips():
    train = np.array([[1.0, 10.0], [3.0, 10.0]])
    s = Scaler.fit(train)
    assert s.mean.tolist() == [2.0, 10.0] and s.scale.tolist() == [1.0, 1.0]  # population std; constant -> 1
    later = np.array([[100.0, 12.0]])  # test rows never change the statistics
    assert s.transform(later).tolist() == [[98.0, 2.0]]
    assert np.allclose(s.inverse(s.transform(later)), later)
    assert s.inverse(np.array([[0.0]]), columns=[1]).tolist() == [[10.0]]
    assert Scaler.from_json(s.to_json()).to_json() == s.to_json()
    with pytest.raises(ValueError):
        Scaler.from_json({"mean": [0.0], "scale": [0.0]})


def test_log_returns():
    assert np.allclose(log_returns(np.array([[1.0], [np.e], [np.e]])), [[1.0], [0.0]])
    with pytest.raises(ValueError):
        log_returns(np.array([[1.0], [0.0]]))


def test_repeat_last_and_seasonal_naive_on_a_hand_made_series():
    x = torch.arange(48, dtype=torch.float32).reshape(1, 48, 1)  # 0 .. 47
    assert repeat_last(x, 3)[0, :, 0].tolist() == [47, 47, 47]
    s = seasonal_naive(x, 30, period=24)[0, :, 0].tolist()
    assert s[:3] == [24, 25, 26] and s[23] == 47 and s[24:27] == [24, 25, 26]  # the last day, repeated
    with pytest.raises(ValueError, match="at least one period"):
        seasonal_naive(x[:, :10], 5)


def test_error_sums_and_the_drop_last_figure():
    e = ErrorSums()
    pred = torch.zeros(40, 2, 1)
    truth = torch.cat([torch.ones(32, 2, 1), 3 * torch.ones(8, 2, 1)])
    e.add(pred[:20], truth[:20])
    e.add(pred[20:], truth[20:])
    assert e.mse() == pytest.approx((32 * 1 + 8 * 9) / 40) and e.mae() == pytest.approx((32 + 24) / 40)
    assert e.drop_last(32) == (1.0, 1.0)  # the last 8 windows (a partial batch) dropped
    assert ErrorSums().drop_last(32) is None

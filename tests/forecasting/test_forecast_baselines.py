"""The baselines' values on a hand-made series, and the error sums with the reference loaders' dropped batch."""
import pytest
import torch

from rnnlab.forecasting.baselines import ErrorSums, repeat_last, seasonal_naive


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

"""RevIN undoes itself, SegRNN / DirectRNN / NLinear / DLinear shapes for every cell, heads and their losses."""
import pytest
import torch

from rnnlab.forecasting.models import (
    QUANTILES,
    Z80,
    DirectRNN,
    Forecaster,
    LinearForecaster,
    RevIN,
    SegRNN,
    forecast_loss,
    point_and_interval,
)


def test_revin_denormalize_inverts_normalize():
    torch.manual_seed(0)
    r = RevIN(3)
    with torch.no_grad():
        r.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
        r.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    x = torch.randn(4, 10, 3) * 5 + 7
    z, stats = r.normalize(x)
    torch.testing.assert_close(r.denormalize(z, stats), x, atol=1e-4, rtol=1e-4)
    plain, _ = RevIN(3, affine=False).normalize(x)
    torch.testing.assert_close(plain.mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("horizon", [24, 30])
def test_segrnn_shapes(cell, horizon):
    m = SegRNN(cell, channels=3, lookback=48, horizon=horizon, segment=12, hidden=8, dropout=0.0, k=2)
    assert m.n_out == -(-horizon // 12)
    assert m(torch.randn(5, 48, 3)).shape == (5, horizon, 3, 2)
    assert m.segments(torch.randn(5, 48, 3)).shape == (15, 4, 8)  # (B*C, L/w, D)


def test_segrnn_channels_are_independent_but_told_apart():
    torch.manual_seed(0)
    m = SegRNN("gru", channels=2, lookback=24, horizon=12, segment=12, hidden=8, dropout=0.0, k=1).eval()
    x = torch.randn(1, 24, 2)
    y = m(x)
    x2 = x.clone()
    x2[:, :, 1] += 1.0  # channel 1 changes: channel 0's forecast does not
    torch.testing.assert_close(m(x2)[:, :, 0], y[:, :, 0])
    with pytest.raises(ValueError, match="multiple of the segment"):
        SegRNN("gru", 2, 25, 12, 12, 8, 0.0, 1)


def test_direct_rnn_and_linear_shapes():
    assert DirectRNN("lstm", 3, 7, 8, 2, 0.1, 3)(torch.randn(2, 20, 3)).shape == (2, 7, 3, 3)
    assert LinearForecaster(20, 7, 1)(torch.randn(2, 20, 3)).shape == (2, 7, 3, 1)
    assert LinearForecaster(30, 5, 2, decompose=True)(torch.randn(2, 30, 4)).shape == (2, 5, 4, 2)


def test_nlinear_with_zero_weights_is_repeat_last():
    core = LinearForecaster(10, 4, 1)
    torch.nn.init.zeros_(core.linear.weight)
    torch.nn.init.zeros_(core.linear.bias)
    m = Forecaster(core, 2, targets=[1], norm="last", head="point")
    x = torch.randn(3, 10, 2)
    torch.testing.assert_close(m(x)[..., 0], x[:, -1:, 1:].expand(-1, 4, -1))


def test_gaussian_scale_is_positive_and_scales_with_revin():
    core = LinearForecaster(10, 4, 2)
    m = Forecaster(core, 1, targets=[0], norm="revin", head="gaussian")
    x = torch.randn(3, 10, 1)
    y = m(x)
    y_big = m(x * 100)
    assert (y[..., 1] > 0).all()
    torch.testing.assert_close(y_big[..., 1], y[..., 1] * 100, rtol=1e-3, atol=1e-3)  # sigma in the input's units


def test_heads_point_interval_and_losses():
    truth = torch.zeros(2, 3, 1)
    y = torch.tensor([-1.0, 0.5, 1.0]).expand(2, 3, 1, 3)  # quantile outputs, in order
    point, lo, hi = point_and_interval(y, "quantile")
    assert point.unique().tolist() == [0.5] and lo.unique().tolist() == [-1.0] and hi.unique().tolist() == [1.0]
    expected = sum(max(q * (0 - v), (q - 1) * (0 - v)) for q, v in zip(QUANTILES, [-1.0, 0.5, 1.0])) / 3 * 2
    assert forecast_loss(y, truth, "quantile").item() == pytest.approx(6 * expected)
    g = torch.stack([torch.zeros(2, 3, 1), torch.ones(2, 3, 1)], dim=-1)
    _, lo, hi = point_and_interval(g, "gaussian")
    assert hi.unique().item() == pytest.approx(Z80)
    p = torch.full((2, 3, 1, 1), 2.0)
    assert forecast_loss(p, truth, "point", "mse").item() == 24.0
    assert forecast_loss(p, truth, "point", "mae").item() == 12.0

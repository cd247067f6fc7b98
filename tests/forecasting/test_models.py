"""RevIN undoes itself, SegRNN / DirectRNN / NLinear / DLinear shapes for every cell, heads and their losses;
the Forecaster reads raw rows through its scaling and answers in their units."""
import numpy as np
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
from rnnlab.forecasting.scaling import Scaler, SeriesScaling


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


def _scaled_model(head: str, norm: str, seed: int = 0, scaling: bool = True) -> tuple[Forecaster, Scaler]:
    """A SegRNN over 3 channels (targets 2 and 0) with statistics far from 0 / 1, seeded."""
    scaler = Scaler(np.array([5.0, -700.0, 2e6]), np.array([0.01, 30.0, 1e4]))
    torch.manual_seed(seed)
    core = SegRNN("gru", channels=3, lookback=24, horizon=6, segment=12, hidden=8, dropout=0.0,
                  k={"point": 1, "quantile": 3, "gaussian": 2}[head])
    return Forecaster(core, 3, [2, 0], norm, head, SeriesScaling.from_scaler(scaler) if scaling else None), scaler


def _raw(scaler: Scaler, b: int = 4) -> torch.Tensor:
    z = torch.randn(b, 24, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return z * torch.from_numpy(scaler.scale) + torch.from_numpy(scaler.mean)  # (B, L, C) the data's units


@pytest.mark.parametrize("head, norm", [("point", "revin"), ("quantile", "last"), ("gaussian", "none"),
                                        ("gaussian", "revin")])
@torch.no_grad()
def test_raw_rows_in_the_datas_units_out(head, norm):
    model, scaler = _scaled_model(head, norm)
    model.eval()
    x = _raw(scaler)
    z = torch.from_numpy(scaler.transform(x.numpy()).astype(np.float32))  # the task's scaling, outside the model
    y_scaled = model(z, scaled=True)  # (B, H, C_t, K) z-scores: what the loss and the figures read
    y = model(x)
    assert y.dtype == torch.float64 and y.shape == y_scaled.shape == (4, 6, 2, y.shape[-1])
    for j in range(y.shape[-1]):
        spread = head == "gaussian" and j == 1  # sigma: scaled, not shifted
        want = y_scaled[..., j].double().numpy() * scaler.scale[[2, 0]]
        assert np.array_equal(y[..., j].numpy(), want if spread else want + scaler.mean[[2, 0]])


@pytest.mark.parametrize("head", ["point", "quantile", "gaussian"])
@torch.no_grad()
def test_forecast_is_the_interval_of_the_scaled_output_mapped_back(head):
    model, scaler = _scaled_model(head, "revin")
    model.eval()
    x = _raw(scaler)
    z = torch.from_numpy(scaler.transform(x.numpy()).astype(np.float32))
    want = point_and_interval(model(z, scaled=True).float(), head)  # the task's arithmetic before the change
    got = model.forecast(x)
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if w is not None:
            assert np.array_equal(g.numpy(), scaler.inverse(w.double().numpy(), [2, 0]))
    assert (got[1] is None) == (head == "point")


def test_the_scaling_draws_nothing_and_adds_two_keys_at_the_end():
    with_scaling, _ = _scaled_model("gaussian", "revin", scaling=True)
    without, _ = _scaled_model("gaussian", "revin", scaling=False)
    a, b = with_scaling.state_dict(), without.state_dict()
    assert list(a) == list(b) + ["scaling.mean", "scaling.scale"]
    assert all(torch.equal(a[k], b[k]) for k in b)  # seeded: the same weights, with or without statistics
    z = torch.randn(2, 24, 3)
    torch.testing.assert_close(with_scaling(z, scaled=True), without(z), rtol=0, atol=0)


@pytest.mark.parametrize("norm", ["revin", "last", "none"])
def test_core_input_is_what_the_core_reads(norm):
    model, scaler = _scaled_model("point", norm)
    x = _raw(scaler, 2)
    z = model.scaling(x)
    want = {"revin": lambda: model.revin.normalize(z)[0], "last": lambda: z - z[:, -1:, :], "none": lambda: z}[norm]()
    torch.testing.assert_close(model.core_input(x), want, rtol=0, atol=0)
    torch.testing.assert_close(model.core_input(z, scaled=True), want, rtol=0, atol=0)

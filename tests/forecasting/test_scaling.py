"""Scaling from the training rows alone; the same statistics inside a model (SeriesScaling) give the numpy
Scaler's numbers bit for bit, travel in the state dict, and weights saved without them still load strictly;
the log-return transform."""
import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.errors import DataError
from rnnlab.forecasting.scaling import Scaler, SeriesScaling, log_returns, transform_series
from rnnlab.readers.series import parse_series


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


def _fitted(seed: int = 0, columns: int = 3) -> tuple[Scaler, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(200, columns)) * [0.01, 30.0, 1e4][:columns] + [5.0, -700.0, 2e6][:columns]
    return Scaler.fit(values[:120]), values


def test_series_scaling_gives_the_scalers_numbers_bit_for_bit():
    scaler, values = _fitted()
    scaling = SeriesScaling.from_scaler(scaler)
    z = scaling(torch.from_numpy(values))
    assert z.dtype == torch.float32
    assert np.array_equal(z.numpy(), scaler.transform(values).astype(np.float32))  # what collate feeds the model
    y = torch.randn(4, 6, 2)  # z-scores of columns 2 and 0
    back = scaling.inverse(y, [2, 0])
    assert back.dtype == torch.float64
    assert np.array_equal(back.numpy(), scaler.inverse(y.double().numpy(), [2, 0]))
    assert np.array_equal(scaling.inverse(y, [2, 0], shift=False).numpy(), y.double().numpy() * scaler.scale[[2, 0]])


def test_the_statistics_are_float64_buffers_of_the_state_dict():
    scaler, _ = _fitted()
    state = SeriesScaling.from_scaler(scaler).state_dict()
    assert list(state) == ["mean", "scale"] and all(t.dtype == torch.float64 for t in state.values())
    assert state["mean"].tolist() == scaler.mean.tolist() and state["scale"].tolist() == scaler.scale.tolist()
    assert not list(SeriesScaling.from_scaler(scaler).parameters())  # nothing to train, nothing drawn


class _Model(nn.Module):
    def __init__(self, scaler: Scaler):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.scaling = SeriesScaling.from_scaler(scaler)


def test_weights_saved_without_the_statistics_keep_the_built_ones_strictly():
    built, _ = _fitted(0)
    saved, _ = _fitted(1)
    before = {k: v for k, v in _Model(saved).state_dict().items() if not k.startswith("scaling.")}  # old-style
    model = _Model(built)
    model.load_state_dict(before, strict=True)
    assert model.scaling.mean.tolist() == built.mean.tolist() and model.scaling.scale.tolist() == built.scale.tolist()
    torch.testing.assert_close(model.linear.weight, before["linear.weight"])
    assert list(before) == ["linear.weight", "linear.bias"]  # the caller's dict is left as it was
    # saved with the statistics: they are the weights' own, not the built ones
    model.load_state_dict(_Model(saved).state_dict(), strict=True)
    assert model.scaling.mean.tolist() == saved.mean.tolist() and model.scaling.scale.tolist() == saved.scale.tolist()
    # one statistic without the other is a damaged file, not an old one
    half = {**before, "scaling.mean": torch.zeros(3, dtype=torch.float64)}
    with pytest.raises(RuntimeError, match="scaling.scale"):
        _Model(built).load_state_dict(half, strict=True)


def test_log_returns():
    assert np.allclose(log_returns(np.array([[1.0], [np.e], [np.e]])), [[1.0], [0.0]])
    with pytest.raises(ValueError):
        log_returns(np.array([[1.0], [0.0]]))


def test_transform_series_and_the_line_of_a_bad_price():
    series = parse_series("date,p\n2020-01-01,1\n2020-01-02,2.718281828459045\n2020-01-03,-1\n", "prices.csv")
    assert transform_series(series, "none") is series.values
    np.testing.assert_allclose(transform_series(parse_series("p\n1\n4\n", "x", time_column=""),
                                                "log_return"), [[np.log(4)]])
    with pytest.raises(DataError, match=r"prices.csv:4: column 'p': log returns need positive values, got -1.0"):
        transform_series(series, "log_return")

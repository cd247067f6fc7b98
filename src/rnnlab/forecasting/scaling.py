"""Z-scoring with statistics of the training rows only (the Informer / LTSF protocol: MSE and MAE are
reported on the scaled data), and the transforms applied before it.

    Scaler          the statistics, fitted on the training rows; numpy, saved as JSON in the task's state; the
                    task scales its training and evaluation windows with it (the figures are on the z-scores)
    SeriesScaling   the same statistics inside the model (buffers, saved with the weights): raw rows in,
                    z-scores to the network, its forecast back in the data's units

sklearn's StandardScaler fits them (population standard deviation, as the reference loaders, which use it too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rnnlab.errors import DataError
from rnnlab.readers.series import Series

TRANSFORMS = ("none", "log_return")


@dataclass
class Scaler:
    mean: np.ndarray  # (C,)
    scale: np.ndarray  # (C,) > 0

    @classmethod
    def fit(cls, train_rows: np.ndarray) -> "Scaler":
        """train_rows (N, C): the rows of the training split alone."""
        from sklearn.preprocessing import StandardScaler

        s = StandardScaler().fit(train_rows)
        # scale_ is 1 where a column is constant (no division by 0)
        return cls(np.asarray(s.mean_, dtype=np.float64), np.asarray(s.scale_, dtype=np.float64))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def inverse(self, values: np.ndarray, columns=None) -> np.ndarray:
        """Scaled values (..., C') back to the data's units; `columns` picks the statistics of C' columns."""
        idx = slice(None) if columns is None else list(columns)
        return values * self.scale[idx] + self.mean[idx]

    def to_json(self) -> dict:
        return {"mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_json(cls, d: dict) -> "Scaler":
        if not isinstance(d, dict) or set(d) != {"mean", "scale"} or len(d["mean"]) != len(d["scale"]):
            raise ValueError("scaler: {mean: [...], scale: [...]} of equal length")
        mean, scale = np.asarray(d["mean"], dtype=np.float64), np.asarray(d["scale"], dtype=np.float64)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale)) and np.all(scale > 0)):
            raise ValueError("scaler: finite means and positive scales")
        return cls(mean, scale)


class SeriesScaling(nn.Module):
    """A Scaler as the model's front end: forward z-scores raw rows, inverse maps outputs back.

    The statistics are float64 buffers (model.safetensors) and the arithmetic is the Scaler's, in float64,
    then cast to float32 for the network: a model scaling its own input gives, bit for bit, the numbers of
    a task scaling with the Scaler outside it."""

    def __init__(self, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.tensor(np.asarray(mean, dtype=np.float64)))  # (C,)
        self.register_buffer("scale", torch.tensor(np.asarray(scale, dtype=np.float64)))  # (C,) > 0
        self.register_load_state_dict_pre_hook(_keep_built_statistics)

    @classmethod
    def from_scaler(cls, scaler: Scaler) -> "SeriesScaling":
        return cls(scaler.mean, scaler.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw rows x (..., C), any float dtype -> z-scores (..., C) float32."""
        return ((x.to(self.mean.dtype) - self.mean) / self.scale).float()

    def inverse(self, y: torch.Tensor, columns=None, shift: bool = True) -> torch.Tensor:
        """Z-scores y (..., C') -> the data's units (float64); `columns` picks the statistics of C' columns;
        shift=False for a spread (a Gaussian's sigma), which is scaled but not moved."""
        idx = slice(None) if columns is None else list(columns)
        y = y.to(self.scale.dtype) * self.scale[idx]
        return y + self.mean[idx] if shift else y


def _keep_built_statistics(module: SeriesScaling, state_dict: dict, prefix: str, *args) -> None:
    """Weights saved before the statistics were buffers (bundles and checkpoints whose scaler is only in the
    task's JSON state) have neither key: keep the statistics the model was built with (from that JSON state),
    so they still load with strict=True. One key without the other stays an error."""
    keys = (prefix + "mean", prefix + "scale")
    if not any(k in state_dict for k in keys):
        state_dict[keys[0]], state_dict[keys[1]] = module.mean.clone(), module.scale.clone()


def log_returns(values: np.ndarray) -> np.ndarray:
    """Prices (N, C) > 0 -> log returns (N - 1, C): log(p_t / p_{t-1})."""
    if not np.all(values > 0) or not math.isfinite(float(values.sum())):
        raise ValueError("log returns need positive prices")
    return np.diff(np.log(values), axis=0)


def transform_series(series: Series, transform: str) -> np.ndarray:
    """A series' values (N, C) as the model reads them: as given ("none"), or log returns ("log_return",
    (N - 1, C)); DataError naming the line of the first price that is not positive."""
    if transform == "log_return":
        bad = np.argwhere(series.values <= 0)
        if len(bad):
            r, c = bad[0]
            raise DataError(series.name, series.lines[r], f"column {series.columns[c]!r}: log returns need "
                                                          f"positive values, got {series.values[r, c]}")
        return log_returns(series.values)
    return series.values

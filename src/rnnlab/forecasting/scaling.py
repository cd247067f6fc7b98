"""Z-scoring with statistics of the training rows only (the Informer / LTSF protocol: MSE and MAE are
reported on the scaled data), kept as JSON in the bundle. sklearn's StandardScaler fits them (population
standard deviation, as the reference loaders, which use it too)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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


def log_returns(values: np.ndarray) -> np.ndarray:
    """Prices (N, C) > 0 -> log returns (N - 1, C): log(p_t / p_{t-1})."""
    if not np.all(values > 0) or not math.isfinite(float(values.sum())):
        raise ValueError("log returns need positive prices")
    return np.diff(np.log(values), axis=0)

"""Baselines every forecast is measured against, on the same windows, and the error sums of a split.

repeat_last       every future step = the last value read (the random walk)
seasonal_naive    every future step = the value one period (24 h) earlier, the last period repeated
The linear baselines (NLinear / DLinear) are models (rnnlab.forecasting.models), trained by the same loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


def repeat_last(x: torch.Tensor, horizon: int) -> torch.Tensor:
    """x (B, L, C) -> (B, H, C): the last row repeated."""
    return x[:, -1:, :].expand(-1, horizon, -1)


def seasonal_naive(x: torch.Tensor, horizon: int, period: int = 24) -> torch.Tensor:
    """x (B, L, C) -> (B, H, C): step h (0-based) = x[L - period + (h mod period)] (needs L >= period)."""
    if x.shape[1] < period:
        raise ValueError(f"seasonal naive needs a lookback of at least one period ({period}), got {x.shape[1]}")
    last = x[:, -period:, :]  # (B, P, C): the last period
    idx = torch.arange(horizon, device=x.device) % period
    return last[:, idx, :]


@dataclass
class ErrorSums:
    """Squared and absolute errors summed over a split's windows (all of them), with per-window MSEs kept
    so the figure with the reference loaders' dropped last partial batch can be given too."""

    se: float = 0.0
    ae: float = 0.0
    n: int = 0  # values summed
    window_se: list[float] = field(default_factory=list)  # per window: mean squared error
    window_ae: list[float] = field(default_factory=list)

    def add(self, pred: torch.Tensor, truth: torch.Tensor) -> None:
        """pred, truth (B, H, C)."""
        d = (pred.double() - truth.double())
        self.se += float((d ** 2).sum())
        self.ae += float(d.abs().sum())
        self.n += d.numel()
        self.window_se += (d ** 2).mean(dim=(1, 2)).tolist()
        self.window_ae += d.abs().mean(dim=(1, 2)).tolist()

    def mse(self) -> float:
        return self.se / max(self.n, 1)

    def mae(self) -> float:
        return self.ae / max(self.n, 1)

    def drop_last(self, batch_size: int = 32) -> tuple[float, float] | None:
        """(MSE, MAE) over the windows the reference loaders score (test batch 32, drop_last=True);
        None when there is not one full batch."""
        keep = len(self.window_se) // batch_size * batch_size
        if keep == 0:
            return None
        return float(np.mean(self.window_se[:keep])), float(np.mean(self.window_ae[:keep]))

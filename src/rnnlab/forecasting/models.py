"""Forecasting models: every one maps a window x (B, L, C) to the next H rows (B, H, C, K) in one pass
(a direct multi-horizon forecast: no forecast is fed back in, so errors do not compound over the horizon).

K is the head's width: 1 (a point), 3 (quantiles 0.1, 0.5, 0.9: the 80 % interval and the median) or
2 (a Gaussian's mean and the raw value of its scale). `Forecaster` wraps a core with the series' scaling
(the training rows' statistics, rnnlab.forecasting.scaling.SeriesScaling) and a normalisation:

    raw rows (B, L, C) -> SeriesScaling -> z-scores -> norm -> core -> (B, H, C, K) -> norm undone
        -> target columns (B, H, C_t, K) z-scores   [scaled=True: what the loss and the benchmark figures use]
        -> SeriesScaling.inverse -> the data's units (float64)   [the default: a saved model needs nothing else]


    norm = "revin"  RevIN (Kim et al. 2022): each window z-scored per channel by its own mean and std,
                    a learnt affine map, undone on the output (distribution shift between train and test)
    norm = "last"   the last value subtracted, added back (NLinear, SegRNN's default)
    norm = "none"

Cores:
    SegRNN (Lin et al. 2023)   channel-independent: each channel's lookback cut into L / w segments of w
                               rows, each embedded (Linear + ReLU), read by one recurrent layer over the
                               segments; parallel decoding: H / w copies of the final state each read one
                               position + channel embedding in ONE step, each gives one output segment.
                               L = 720 rows are 15-30 recurrent steps: fast, and short gradient paths.
    DirectRNN                  a recurrent stack over the rows (B, L, C), its last state -> Linear -> (H, C, K)
    LinearForecaster           one Linear over the lookback, shared by the channels (NLinear with
                               norm="last"; with decompose=True DLinear: moving-average trend + remainder,
                               a Linear each; Zeng et al. 2023)
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.forecasting.scaling import SeriesScaling
from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.state import expand_rows

QUANTILES = (0.1, 0.5, 0.9)  # the 80 % interval and the median
Z80 = 1.2815515655446004  # the standard normal's 0.9 quantile: mean +- Z80 sigma is the central 80 %
HEADS = {"point": 1, "quantile": 3, "gaussian": 2}


class RevIN(nn.Module):
    """Reversible instance normalisation over the time axis, per channel, with a learnt affine map."""

    def __init__(self, channels: int, eps: float = 1e-5, affine: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, L, C) -> normalised x, (mean, std) each (B, 1, C)."""
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        z = (x - mean) / std
        if self.weight is not None:
            z = z * self.weight + self.bias
        return z, (mean, std)

    def denormalize(self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor],
                    shift: bool = True) -> torch.Tensor:
        """y (B, H, C) back to the input's units; shift=False for a scale (a Gaussian's sigma)."""
        mean, std = stats
        if self.weight is not None:
            y = (y - self.bias) / (self.weight + self.eps * self.eps) if shift else y / (self.weight.abs() + self.eps)
        return y * std + mean if shift else y * std


class SegRNN(nn.Module):
    """Segment recurrence with parallel decoding (SegRNN-style), any cell of rnnlab.layers.Recurrent."""

    def __init__(self, cell: str, channels: int, lookback: int, horizon: int, segment: int, hidden: int,
                 dropout: float, k: int, engine: str = "auto"):
        super().__init__()
        if lookback % segment:
            raise ValueError(f"the lookback ({lookback}) must be a multiple of the segment length ({segment})")
        self.channels, self.lookback, self.horizon, self.segment, self.k = channels, lookback, horizon, segment, k
        self.n_out = math.ceil(horizon / segment)
        self.embed = nn.Sequential(nn.Linear(segment, hidden), nn.ReLU())
        self.rnn = build_recurrent(RecurrentConfig(cell, hidden, engine=engine), hidden)
        self.pos = nn.Parameter(torch.randn(self.n_out, hidden // 2))  # which output segment
        self.channel = nn.Parameter(torch.randn(channels, hidden - hidden // 2))  # which channel
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, segment * k)

    def segments(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) -> segment embeddings (B*C, L/w, D), channel-independent rows b*C + c."""
        b = x.shape[0]
        seg = x.permute(0, 2, 1).reshape(b * self.channels, self.lookback // self.segment, self.segment)
        return self.embed(seg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, d = x.shape[0], self.channels, self.pos.shape[1] + self.channel.shape[1]
        _, state = self.rnn(self.segments(x))  # state (1, B*C, D) (an LSTM's (h, c) each so)
        # every (channel, output segment) decoded in parallel from the same final state: one step each
        query = torch.cat([self.pos.unsqueeze(0).expand(c, -1, -1),  # (C, M, D/2)
                           self.channel.unsqueeze(1).expand(-1, self.n_out, -1)], dim=-1)  # (C, M, D)
        query = query.unsqueeze(0).expand(b, -1, -1, -1).reshape(b * c * self.n_out, 1, d)  # (B*C*M, 1, D)
        out, _ = self.rnn(query, expand_rows(state, self.n_out))  # (B*C*M, 1, D)
        y = self.out(self.drop(out))  # (B*C*M, 1, w*K)
        y = y.reshape(b, c, self.n_out * self.segment, self.k)[:, :, : self.horizon]  # (B, C, H, K)
        return y.permute(0, 2, 1, 3)  # (B, H, C, K)


class DirectRNN(nn.Module):
    """A recurrent stack over the rows; its last output -> Linear -> every future step at once."""

    def __init__(self, cell: str, channels: int, horizon: int, hidden: int, num_layers: int, dropout: float, k: int,
                 engine: str = "auto"):
        super().__init__()
        self.channels, self.horizon, self.k = channels, horizon, k
        self.rnn = build_recurrent(RecurrentConfig(cell, hidden, num_layers, dropout=dropout, engine=engine), channels)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, horizon * channels * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, L, Hd)
        y = self.out(self.drop(out[:, -1]))  # (B, H*C*K)
        return y.reshape(x.shape[0], self.horizon, self.channels, self.k)


class LinearForecaster(nn.Module):
    """NLinear / DLinear: a Linear over the lookback, shared by the channels (Zeng et al. 2023)."""

    def __init__(self, lookback: int, horizon: int, k: int, decompose: bool = False, kernel: int = 25):
        super().__init__()
        self.horizon, self.k, self.decompose, self.kernel = horizon, k, decompose, kernel
        self.linear = nn.Linear(lookback, horizon * k)
        self.trend = nn.Linear(lookback, horizon * k) if decompose else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        s = x.permute(0, 2, 1)  # (B, C, L)
        if self.decompose:
            # moving average with the ends repeated (DLinear's series_decomp)
            front = s[:, :, :1].expand(-1, -1, (self.kernel - 1) // 2)
            back = s[:, :, -1:].expand(-1, -1, self.kernel // 2)
            trend = F.avg_pool1d(torch.cat([front, s, back], dim=-1).reshape(b * c, 1, -1), self.kernel, stride=1)
            trend = trend.reshape(b, c, -1)  # (B, C, L)
            y = self.linear(s - trend) + self.trend(trend)
        else:
            y = self.linear(s)  # (B, C, H*K)
        return y.reshape(b, c, self.horizon, self.k).permute(0, 2, 1, 3)  # (B, H, C, K)


class Forecaster(nn.Module):
    """A core (B, L, C) -> (B, H, C, K) inside the series' scaling and a normalisation, the target columns
    picked out.

    forward(x) -> (B, H, C_t, K): x raw rows (the data's units, after the task's transform), the forecast
    in the same units (float64; a Gaussian's sigma scaled, not shifted). forward(x, scaled=True): x already
    z-scored with the training statistics, the forecast in z-scores as the core gives it (the loss, the
    benchmark figures). Without a scaling (scaling=None) both read and answer in the units of x."""

    def __init__(self, core: nn.Module, channels: int, targets: list[int], norm: str, head: str,
                 scaling: SeriesScaling | None = None):
        super().__init__()
        self.core, self.norm, self.head, self.targets = core, norm, head, list(targets)
        self.revin = RevIN(channels) if norm == "revin" else None
        # after the core's and RevIN's parameters: buffers only, so seeded builds draw the same weights
        self.scaling = scaling

    def _is_scale(self, j: int) -> bool:
        """Is output column j a spread (a Gaussian's sigma: scaled, never shifted)?"""
        return self.head == "gaussian" and j == 1

    def _normalize(self, z: torch.Tensor) -> tuple[torch.Tensor, object]:
        """z (B, L, C) z-scores -> what the core reads (B, L, C), and what undoing the norm needs."""
        if self.norm == "revin":
            return self.revin.normalize(z)  # RevIN's (mean, std) each (B, 1, C)
        if self.norm == "last":
            last = z[:, -1:, :].detach()  # (B, 1, C)
            return z - last, last
        return z, None

    def core_input(self, x: torch.Tensor, scaled: bool = False) -> torch.Tensor:
        """x (B, L, C) -> the rows the core reads (B, L, C): z-scored (unless scaled), then normalised."""
        z = x if scaled or self.scaling is None else self.scaling(x)
        return self._normalize(z)[0]

    def forward(self, x: torch.Tensor, scaled: bool = False) -> torch.Tensor:
        if scaled or self.scaling is None:
            return self._scaled(x)
        y = self._scaled(self.scaling(x))  # (B, H, C_t, K) z-scores
        return torch.stack([self.scaling.inverse(y[..., j], self.targets, shift=not self._is_scale(j))
                            for j in range(y.shape[-1])], dim=-1)  # (B, H, C_t, K) the data's units

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        """z-scores x (B, L, C) -> the forecast in z-scores (B, H, C_t, K)."""
        z, undo = self._normalize(x)
        y = self.core(z)  # (B, H, C, K)
        parts = []
        for j in range(y.shape[-1]):
            is_scale = self._is_scale(j)
            v = F.softplus(y[..., j]) + 1e-3 if is_scale else y[..., j]  # (B, H, C); a sigma > 0
            if self.norm == "revin":
                v = self.revin.denormalize(v, undo, shift=not is_scale)
            elif self.norm == "last" and not is_scale:
                v = v + undo
            parts.append(v)
        return torch.stack(parts, dim=-1)[:, :, self.targets]  # (B, H, C_t, K)

    def forecast(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Raw rows x (B, L, C) -> the point forecast and the 80 % interval (lower, upper; None for a point
        head), each (B, H, C_t) in the data's units. The interval is taken on the float32 z-scores, as
        evaluate scores it, then mapped back."""
        z = x if self.scaling is None else self.scaling(x)
        out = point_and_interval(self._scaled(z).float(), self.head)
        if self.scaling is None:
            return out
        point, lower, upper = (None if t is None else self.scaling.inverse(t, self.targets) for t in out)
        return point, lower, upper


def point_and_interval(y: torch.Tensor, head: str) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Model output (B, H, C, K) -> point forecast (B, H, C) and the 80 % interval (lower, upper) or None."""
    if head == "point":
        return y[..., 0], None, None
    if head == "quantile":
        q = torch.sort(y, dim=-1).values  # quantiles may cross: sorted, they cannot
        return q[..., 1], q[..., 0], q[..., 2]
    mean, sigma = y[..., 0], y[..., 1]
    return mean, mean - Z80 * sigma, mean + Z80 * sigma


def forecast_loss(y: torch.Tensor, truth: torch.Tensor, head: str, point_loss: str = "mse") -> torch.Tensor:
    """The SUM over (B, H, C) of the head's loss: squared or absolute error, pinball, Gaussian NLL."""
    if head == "point":
        d = y[..., 0] - truth
        return (d * d).sum() if point_loss == "mse" else d.abs().sum()
    if head == "quantile":
        q = torch.tensor(QUANTILES, dtype=y.dtype, device=y.device)
        d = truth.unsqueeze(-1) - y  # (B, H, C, 3)
        return torch.maximum(q * d, (q - 1) * d).sum() / len(QUANTILES) * 2  # pinball; x2: the median's is MAE / 2
    mean, sigma = y[..., 0], y[..., 1]
    return F.gaussian_nll_loss(mean, truth, sigma * sigma, reduction="sum", full=False)

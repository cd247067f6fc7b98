"""The Elman RNN cell: one hidden state, one matmul per step, one nonlinearity.

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)        (or relu instead of tanh)

The equation lives in `rnn_step`, which both `RNNCell` and the glass engine of
`rnnlab.Recurrent` call, so the cell you read is the cell the layer runs.
Parameter names, shapes and init are torch.nn.RNNCell's, so weights move without conversion.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


def rnn_input(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    """The input's share of the pre-activation, W_ih x + b_ih + b_hh, for any leading shape.

    Both biases fold in here: they are added once per step no matter where, and x does not
    depend on the recurrence, so a layer computes this for all T steps in one matmul (as cuDNN does).
    x: (..., I) -> (..., H)
    """
    bias = _fold(bias_ih, bias_hh)
    return F.linear(x, weight_ih, bias)


def rnn_step(xw: Tensor, h: Tensor, weight_hh_t: Tensor, nonlinearity=torch.tanh) -> tuple[Tensor, dict]:
    """One step from the projected input `xw` (B, H) = W_ih x_t + b_ih + b_hh and h_{t-1} (B, H).

    weight_hh_t is W_hh transposed, (H, H), so the recurrent matmul is one addmm.
    Returns (h_t, {"h": h_t}).
    """
    next_h = nonlinearity(torch.addmm(xw, h, weight_hh_t))  # h_t = tanh(W_ih x_t + b + W_hh h_{t-1})
    return next_h, {"h": next_h}


class RNNCell(nn.Module):
    """Elman cell h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu), as torch.nn.RNNCell.

    forward(x, h=None) -> h_t  with x (B, I) or (I,), h (B, H) or (H,); zeros when h is None.
    step(x, h) -> (h_t, gates) where gates = {"h": h_t} (the RNN has no gates; kept for symmetry).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        super().__init__()
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        input_size, hidden_size = check_size("input_size", input_size), check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias, self.nonlinearity = input_size, hidden_size, bias, nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))   # (H, I)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # (H, H)
        self.bias_ih = nn.Parameter(torch.empty(hidden_size)) if bias else None  # (H,)
        self.bias_hh = nn.Parameter(torch.empty(hidden_size)) if bias else None  # (H,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def step(self, x: Tensor, h: Tensor) -> tuple[Tensor, dict]:
        xw = rnn_input(x, self.weight_ih, self.bias_ih, self.bias_hh)  # (B, H)
        return rnn_step(xw, h, self.weight_hh.t(), NONLINEARITIES[self.nonlinearity])

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        x, h, unbatched = batch_state(x, h, self.input_size, self.hidden_size)
        next_h, _ = self.step(x, h)
        return next_h.squeeze(0) if unbatched else next_h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, nonlinearity={self.nonlinearity!r}"


# helpers shared by the three cell families ---------------------------------------------------


def _fold(bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor | None:
    """b_ih + b_hh (a (G*H,) vector), or None for a layer without biases."""
    if bias_ih is None:
        return None
    return bias_ih + bias_hh


def reset_uniform(module: nn.Module, hidden_size: int) -> None:
    """torch.nn's init for every recurrent weight and bias: U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters(recurse=False):
        nn.init.uniform_(p, -bound, bound)


def check_size(name: str, value) -> int:
    """A layer size (input_size, hidden_size, num_layers): an int >= 1. A bool is an int to Python but
    never a size (`Recurrent("lstm", 4, True)` is a slip, not a one-unit layer), so it is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def batch_state(x: Tensor, h: Tensor | None, input_size: int, hidden_size: int) -> tuple[Tensor, Tensor, bool]:
    """Accept torch.nn's unbatched form (x (I,), h (H,)) and a missing state (zeros).

    Shapes are checked here, as torch.nn's cells check them, so a mistake names the argument
    instead of surfacing as a matmul's size error inside the step."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a tensor, got {type(x).__name__}")
    if x.dim() not in (1, 2) or x.shape[-1] != input_size:
        raise ValueError(f"expected x of shape (batch, {input_size}) or ({input_size},), got {tuple(x.shape)}")
    unbatched = x.dim() == 1
    batch = 1 if unbatched else x.shape[0]
    if h is not None:
        if not isinstance(h, Tensor):
            raise ValueError(f"expected a state tensor, got {type(h).__name__}")
        expected = (hidden_size,) if unbatched else (batch, hidden_size)
        if tuple(h.shape) != expected:
            raise ValueError(f"expected a state of shape {expected}, got {tuple(h.shape)}")
    if unbatched:
        x = x.unsqueeze(0)
        h = None if h is None else h.unsqueeze(0)
    if h is None:
        h = x.new_zeros(x.shape[0], hidden_size)
    return x, h, unbatched

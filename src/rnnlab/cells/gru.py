"""The GRU cell (Cho et al. 2014): a reset gate r, an update gate z and a candidate n.

Two forms differ in where the reset gate acts on the previous state:

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)                    reset gate
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)                    update gate
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))         reset_after=True  (torch.nn, cuDNN)
    n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)         reset_after=False (Cho et al. 2014)
    h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

torch.nn.GRU and cuDNN use reset_after=True: all of W_hh h_{t-1} is one matmul per step, done
before r_t is known. The original form needs r_t first, hence a second, dependent matmul.
Weights are stacked r, z, n as in torch.nn: weight_ih (3H, I), weight_hh (3H, H), biases (3H,).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rnn import batch_state, check_size, reset_uniform


def gru_input(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None) -> Tensor:
    """The input's share W_ih x + b_ih of the three pre-activations (r, z, n), for any leading shape.

    Unlike the LSTM, b_hh cannot fold in here: b_hn sits inside the reset gate's product.
    x: (..., I) -> (..., 3H)
    """
    return F.linear(x, weight_ih, bias_ih)


def gru_step(xw: Tensor, h: Tensor, weight_hh_t: Tensor, bias_hh: Tensor | None,
             reset_after: bool = True) -> tuple[Tensor, dict]:
    """One GRU step.

    xw: (B, 3H) = W_ih x_t + b_ih stacked r, z, n; h: h_{t-1} (B, H);
    weight_hh_t: W_hh transposed, (H, 3H); bias_hh: (3H,) or None.
    Returns (h_t, gates) with gates = {reset_gate, update_gate, candidate, h}, each (B, H).
    """
    H = h.shape[1]
    x_r, x_z, x_n = xw.chunk(3, dim=1)  # 3 x (B, H): W_ir x_t + b_ir, W_iz x_t + b_iz, W_in x_t + b_in
    if reset_after:
        # (B, 3H) = W_hh h_{t-1} + b_hh, stacked r, z, n: one matmul for all three
        hw = torch.addmm(bias_hh, h, weight_hh_t) if bias_hh is not None else h @ weight_hh_t
        h_r, h_z, h_n = hw.chunk(3, dim=1)
        reset_gate = torch.sigmoid(x_r + h_r)             # r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        update_gate = torch.sigmoid(x_z + h_z)            # z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        candidate = torch.tanh(x_n + reset_gate * h_n)    # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    else:
        b_rz, b_n = (None, None) if bias_hh is None else (bias_hh[: 2 * H], bias_hh[2 * H:])
        w_rz, w_n = weight_hh_t[:, : 2 * H], weight_hh_t[:, 2 * H:]  # (H, 2H), (H, H)
        hw = torch.addmm(b_rz, h, w_rz) if b_rz is not None else h @ w_rz  # (B, 2H) = W_h{r,z} h_{t-1} + b_h{r,z}
        h_r, h_z = hw.chunk(2, dim=1)
        reset_gate = torch.sigmoid(x_r + h_r)             # r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        update_gate = torch.sigmoid(x_z + h_z)            # z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        reset_h = reset_gate * h                          # r_t ⊙ h_{t-1}: the reset acts before the matmul
        h_n = torch.addmm(b_n, reset_h, w_n) if b_n is not None else reset_h @ w_n
        candidate = torch.tanh(x_n + h_n)                 # n_t = tanh(W_in x_t + b_in + W_hn (r_t ⊙ h_{t-1}) + b_hn)
    next_h = candidate + update_gate * (h - candidate)    # h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}
    gates = {"reset_gate": reset_gate, "update_gate": update_gate, "candidate": candidate, "h": next_h}
    return next_h, gates


class GRUCell(nn.Module):
    """GRU cell with torch.nn.GRUCell's parameters, init and call convention.

    reset_after=True (default) is torch.nn's / cuDNN's form, n_t = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),
    and matches torch.nn.GRUCell exactly; reset_after=False is the original form of Cho et al. (2014),
    n_t = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn), over the same parameters (see the module docstring).

    forward(x, h=None) -> h_t  with x (B, I) or (I,), h (B, H) or (H,).
    step(x, h) -> (h_t, gates) where gates names reset_gate, update_gate, candidate and h, each (B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True):
        super().__init__()
        input_size, hidden_size = check_size("input_size", input_size), check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias, self.reset_after = input_size, hidden_size, bias, reset_after
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))   # (3H, I): r, z, n
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))  # (3H, H)
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def step(self, x: Tensor, h: Tensor) -> tuple[Tensor, dict]:
        xw = gru_input(x, self.weight_ih, self.bias_ih)  # (B, 3H)
        return gru_step(xw, h, self.weight_hh.t(), self.bias_hh, self.reset_after)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:
        x, h, unbatched = batch_state(x, h, self.input_size, self.hidden_size)
        next_h, _ = self.step(x, h)
        return next_h.squeeze(0) if unbatched else next_h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}, reset_after={self.reset_after}"

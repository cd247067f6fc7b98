"""The LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

The cell state c is the conveyor belt: each step the forget gate decides what of it to keep,
the input gate how much of the new candidate to write, and the output gate what of it to show.

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      input gate
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)      forget gate
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   cell candidate
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)      output gate
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

The four gates' weights are stacked in the order i, f, g, o, as torch.nn and cuDNN store them:
weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H,), bias_hh (4H,).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .rnn import batch_state, check_size, reset_uniform, rnn_input

# W_ih x + b_ih + b_hh for all gates at once is the same affine map as the RNN's (just 4H wide).
lstm_input = rnn_input


def lstm_step(xw: Tensor, state: tuple[Tensor, Tensor], weight_hh_t: Tensor) -> tuple[tuple[Tensor, Tensor], dict]:
    """One LSTM step.

    xw: (B, 4H) = W_ih x_t + b_ih + b_hh, the input's share of the four pre-activations (i, f, g, o);
    state: (h_{t-1}, c_{t-1}), each (B, H); weight_hh_t: W_hh transposed, (H, 4H).
    Returns ((h_t, c_t), gates) with gates the named values of this step (each (B, H)).
    """
    h, c = state
    pre = torch.addmm(xw, h, weight_hh_t)  # (B, 4H) = W_ih x_t + W_hh h_{t-1} + b, stacked i, f, g, o
    i, f, g, o = pre.chunk(4, dim=1)       # 4 x (B, H)
    in_gate = torch.sigmoid(i)             # i_t = σ(W_ii x_t + W_hi h_{t-1} + b_i)
    forget_gate = torch.sigmoid(f)         # f_t = σ(W_if x_t + W_hf h_{t-1} + b_f)
    cell_candidate = torch.tanh(g)         # g_t = tanh(W_ig x_t + W_hg h_{t-1} + b_g)
    out_gate = torch.sigmoid(o)            # o_t = σ(W_io x_t + W_ho h_{t-1} + b_o)
    next_c = forget_gate * c + in_gate * cell_candidate  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    next_h = out_gate * torch.tanh(next_c)               # h_t = o_t ⊙ tanh(c_t)
    gates = {"in_gate": in_gate, "forget_gate": forget_gate, "cell_candidate": cell_candidate,
             "out_gate": out_gate, "c": next_c, "h": next_h}
    return (next_h, next_c), gates


class LSTMCell(nn.Module):
    """LSTM cell with torch.nn.LSTMCell's parameters, init and call convention.

    forward(x, state=None) -> (h_t, c_t)  with x (B, I) or (I,), state (h, c) each (B, H) or (H,).
    step(x, (h, c)) -> ((h_t, c_t), gates) where gates names in_gate, forget_gate, cell_candidate,
    out_gate, c and h, each (B, H): what `Recurrent.trace` records for every step.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        input_size, hidden_size = check_size("input_size", input_size), check_size("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))   # (4H, I): i, f, g, o
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # (4H, H)
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_uniform(self, self.hidden_size)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[tuple[Tensor, Tensor], dict]:
        xw = lstm_input(x, self.weight_ih, self.bias_ih, self.bias_hh)  # (B, 4H)
        return lstm_step(xw, state, self.weight_hh.t())

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if state is not None and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise ValueError(f"an LSTM cell's state is a pair (h, c), got {type(state).__name__}")
        h, c = (None, None) if state is None else state
        x, h, unbatched = batch_state(x, h, self.input_size, self.hidden_size)
        h_shape = tuple(h.shape[1:]) if unbatched else tuple(h.shape)  # as the caller gave h
        if c is not None and (not isinstance(c, Tensor) or tuple(c.shape) != h_shape):
            raise ValueError(f"expected c of h's shape {h_shape}, got {tuple(getattr(c, 'shape', ()))}")
        c = torch.zeros_like(h) if c is None else (c.unsqueeze(0) if unbatched else c)
        (next_h, next_c), _ = self.step(x, (h, c))
        if unbatched:
            return next_h.squeeze(0), next_c.squeeze(0)
        return next_h, next_c

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

"""The table of cell families: what `rnnlab.Recurrent` needs to know of each cell, in one place.

A layer runs any cell the same way; what differs between cells is data, and lives here:

    name       state    torch.nn   kernel         gates: weight blocks, in row order
    rnn_tanh   h        nn.RNN     _VF.rnn_tanh   h (no gates: its one block is h_t's pre-activation)
    rnn_relu   h        nn.RNN     _VF.rnn_relu   h
    lstm       (h, c)   nn.LSTM    _VF.lstm       in_gate, forget_gate, cell_candidate, out_gate (i f g o)
    gru        h        nn.GRU     _VF.gru        reset_gate, update_gate, candidate (r z n)

Each gate owns a block of H rows of weight_ih (G*H, I), weight_hh (G*H, H) and the biases (G*H,),
stacked in the order above, as torch.nn and cuDNN store them. The equations stay in their own files
(rnn.py, lstm.py, gru.py); this table only points at them.

The names users type (a config's `model.cell`) go through `resolve_cell`, which also takes the
alias "rnn" for "rnn_tanh".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import _VF, Tensor, nn

from .gru import gru_input, gru_step
from .lstm import lstm_input, lstm_step
from .rnn import rnn_input, rnn_step


@dataclass(frozen=True, eq=False)
class CellFamily:
    """One cell family: what a layer (rnnlab.Recurrent) needs to run it without asking which it is.

    The glass engine calls, per layer and direction:

        xw = input(x, weight_ih, bias_ih, bias_hh)           # (T, B, G*H): the input's share, all T steps
        state_t, values = step(xw[t], state, weight_hh_t, bias_hh)   # one step; weight_hh_t (H, G*H)

    `values` names every tensor of the step, each (B, H): `trace_names`, what `Recurrent.trace` records.
    The fused engine calls `kernel` (the torch._VF op torch.nn's forward calls) and interop builds
    `torch_class(**torch_kwargs)`.
    """

    name: str
    gates: tuple[str, ...]  # the G blocks of H rows in weight_ih/weight_hh/biases, in stored order
    state_names: tuple[str, ...]  # ("h",) or ("h", "c"): the parts of the state, h first
    trace_names: tuple[str, ...]  # the keys of the dict `step` returns
    input: Callable[..., Tensor]  # (x, weight_ih, bias_ih, bias_hh) -> xw
    step: Callable[..., tuple]  # (xw_t, state, weight_hh_t, bias_hh) -> (state_t, values)
    kernel: Callable  # torch._VF.rnn_tanh / rnn_relu / lstm / gru
    torch_class: type[nn.RNNBase]  # nn.RNN / nn.LSTM / nn.GRU
    torch_kwargs: dict = field(default_factory=dict)  # what else torch_class needs: {"nonlinearity": "tanh"}

    @property
    def gate_count(self) -> int:
        """G: weight_ih is (G*H, I)."""
        return len(self.gates)

    @property
    def state_arity(self) -> int:
        """1 for a state h, 2 for a pair (h, c)."""
        return len(self.state_names)

    @property
    def state_form(self) -> str:
        """The initial state as torch.nn's docs name it: "one tensor h_0", "a pair (h_0, c_0)"."""
        names = [n + "_0" for n in self.state_names]
        return f"one tensor {names[0]}" if len(names) == 1 else f"a pair ({', '.join(names)})"

    def state_parts(self, state) -> tuple[Tensor, ...]:
        """The state's tensors as a tuple: h -> (h,), (h, c) -> (h, c)."""
        return (state,) if self.state_arity == 1 else tuple(state)

    def state_from_parts(self, parts) -> Tensor | tuple[Tensor, ...]:
        """The state torch.nn takes and returns: (h,) -> h, (h, c) -> (h, c)."""
        return parts[0] if self.state_arity == 1 else tuple(parts)

    def matches(self, module: nn.Module) -> bool:
        """Whether `module` (an nn.RNN / nn.LSTM / nn.GRU) is of this family."""
        return isinstance(module, self.torch_class) and all(
            getattr(module, k, None) == v for k, v in self.torch_kwargs.items())


# The cells' own functions, put in the one call convention above. Each takes the biases it does not
# use, so the layer never asks which cell it runs.

def _gru_input(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    return gru_input(x, weight_ih, bias_ih)  # b_hh waits for the step: b_hn sits inside r_t ⊙ (W_hn h + b_hn)


def _lstm_step(xw: Tensor, state, weight_hh_t: Tensor, bias_hh: Tensor | None):
    return lstm_step(xw, state, weight_hh_t)  # b_hh already folded into xw by lstm_input


def _rnn_tanh_step(xw: Tensor, h: Tensor, weight_hh_t: Tensor, bias_hh: Tensor | None):
    return rnn_step(xw, h, weight_hh_t, torch.tanh)  # b_hh already folded into xw by rnn_input


def _rnn_relu_step(xw: Tensor, h: Tensor, weight_hh_t: Tensor, bias_hh: Tensor | None):
    return rnn_step(xw, h, weight_hh_t, torch.relu)


FAMILIES: dict[str, CellFamily] = {
    "rnn_tanh": CellFamily(
        "rnn_tanh", gates=("h",),  # no gates: its one block is h_t's pre-activation
        state_names=("h",), trace_names=("h",),
        input=rnn_input, step=_rnn_tanh_step,
        kernel=_VF.rnn_tanh, torch_class=nn.RNN, torch_kwargs={"nonlinearity": "tanh"}),
    "rnn_relu": CellFamily(
        "rnn_relu", gates=("h",),
        state_names=("h",), trace_names=("h",),
        input=rnn_input, step=_rnn_relu_step,
        kernel=_VF.rnn_relu, torch_class=nn.RNN, torch_kwargs={"nonlinearity": "relu"}),
    "lstm": CellFamily(
        "lstm", gates=("in_gate", "forget_gate", "cell_candidate", "out_gate"),  # i, f, g, o
        state_names=("h", "c"),
        trace_names=("in_gate", "forget_gate", "cell_candidate", "out_gate", "c", "h"),
        input=lstm_input, step=_lstm_step,
        kernel=_VF.lstm, torch_class=nn.LSTM),
    "gru": CellFamily(
        "gru", gates=("reset_gate", "update_gate", "candidate"),  # r, z, n
        state_names=("h",), trace_names=("reset_gate", "update_gate", "candidate", "h"),
        input=_gru_input, step=gru_step,  # gru_step(xw, h, weight_hh_t, bias_hh): torch.nn's form
        kernel=_VF.gru, torch_class=nn.GRU),
}
CELL_NAMES: tuple[str, ...] = tuple(FAMILIES)  # ("rnn_tanh", "rnn_relu", "lstm", "gru")
CELL_ALIASES: dict[str, str] = {"rnn": "rnn_tanh"}  # names users may also type, and what they mean


def resolve_cell(name, key: str = "cell") -> str:
    """The family name a user's cell name means ("rnn" -> "rnn_tanh", "lstm" -> "lstm").

    Raises ValueError naming `key` (e.g. "model.cell") and listing the choices; a task turns it into
    its UserError at the config boundary."""
    if isinstance(name, str) and CELL_ALIASES.get(name, name) in FAMILIES:
        return CELL_ALIASES.get(name, name)
    aliases = ", ".join(f"{alias} = {target}" for alias, target in CELL_ALIASES.items())
    raise ValueError(f"{key} must be one of {', '.join(CELL_NAMES)} (or {aliases}), got {name!r}")

"""A recurrent layer with a linear read-out, sized so that every cell gets the same parameter budget.

Comparing cells fairly means comparing them at (nearly) the same number of weights, not the same
hidden size: at hidden size H an LSTM has four weight blocks, a GRU three, a plain RNN one. We fix
a budget and give each cell the hidden size whose total count (recurrent layer + read-out) comes
closest to it.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab.cells import FAMILIES
from rnnlab.layers import Recurrent, RecurrentConfig, build_recurrent

CELLS = ("rnn_tanh", "lstm", "gru")


def parameter_count(mode: str, input_size: int, hidden_size: int, output_size: int) -> int:
    """Weights of a one-layer `Recurrent(mode, input_size, hidden_size)` plus a Linear(H, output) head."""
    G = FAMILIES[mode].gate_count
    recurrent = G * hidden_size * (input_size + hidden_size + 2)  # W_ih (GH, I), W_hh (GH, H), b_ih, b_hh
    return recurrent + output_size * (hidden_size + 1)


def hidden_size_for(mode: str, input_size: int, output_size: int, budget: int) -> int:
    """The hidden size whose parameter count is closest to `budget` (ties: the smaller size)."""
    best, best_gap = 1, None
    for H in range(1, 4096):
        gap = abs(parameter_count(mode, input_size, H, output_size) - budget)
        if best_gap is None or gap < best_gap:
            best, best_gap = H, gap
        elif parameter_count(mode, input_size, H, output_size) > budget:
            break  # counts only grow with H: past the budget and getting worse
    return best


class MemoryModel(nn.Module):
    """Recurrent (one layer) -> Linear on the last `readout` steps.

    x (T, B, I) -> logits or values (readout, B, output_size): the adding problem and the digits read
    the last step only (readout=1), the recall task its last L steps.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, output_size: int,
                 engine: str = "auto"):
        super().__init__()
        self.rnn = build_recurrent(RecurrentConfig(mode, hidden_size, engine=engine), input_size, batch_first=False)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x: Tensor, readout: int = 1) -> Tensor:
        output, _ = self.rnn(x)  # (T, B, H): h_t for every step
        return self.head(output[-readout:]).float()  # (readout, B, O); float even under bf16 autocast


def set_forget_bias(rnn: Recurrent, value: float) -> None:
    """Start an LSTM's forget gates at bias `value` (Jozefowicz et al. 2015: 1.0).

    torch.nn's layout stacks the gates as (input, forget, cell, output) in blocks of H rows, and adds
    bias_ih and bias_hh, so the forget block of bias_ih is set to `value` and that of bias_hh to 0."""
    gates = rnn.family.gates  # the blocks of H rows, in stored order
    if "forget_gate" not in gates or not rnn.bias:
        return
    H, k = rnn.hidden_size, gates.index("forget_gate")
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.startswith("bias_ih"):
                p[k * H:(k + 1) * H] = value
            elif name.startswith("bias_hh"):
                p[k * H:(k + 1) * H] = 0.0


def build_model(mode: str, input_size: int, output_size: int, budget: int, seed: int,
                forget_bias: float | None = None) -> MemoryModel:
    """A freshly initialised model (torch.nn's init) with the budget-matched hidden size; an LSTM's
    forget-gate bias set to `forget_bias` when given (None: torch.nn's init, a bias near 0)."""
    torch.manual_seed(seed)
    model = MemoryModel(mode, input_size, hidden_size_for(mode, input_size, output_size, budget), output_size)
    if forget_bias is not None:
        set_forget_bias(model.rnn, forget_bias)
    return model

"""The three recurrent cell families, each written as its equations (one file per family).

Each file has the step as a plain function (`rnn_step`, `lstm_step`, `gru_step`) over the input's
precomputed share `xw` and the recurrent weights, and a torch.nn-compatible cell module that calls it.
`rnnlab.Recurrent`'s glass engine calls the same step functions, so there is one copy of each equation.

`families.py` is the table a layer reads instead of branching on the cell: per family its gates,
state, step, torch kernel and torch.nn class (`FAMILIES`, `CELL_NAMES`), and `resolve_cell` for
the names users type ("rnn" = "rnn_tanh").
"""
from .families import CELL_ALIASES, CELL_NAMES, FAMILIES, CellFamily, resolve_cell
from .gru import GRUCell, gru_input, gru_step
from .lstm import LSTMCell, lstm_input, lstm_step
from .rnn import RNNCell, rnn_input, rnn_step

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "rnn_input", "rnn_step", "lstm_input", "lstm_step",
           "gru_input", "gru_step", "CellFamily", "FAMILIES", "CELL_NAMES", "CELL_ALIASES", "resolve_cell"]

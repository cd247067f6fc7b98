"""A recurrent state: one tensor h (RNN, GRU) or a pair (h, c) (LSTM), each (L*D, B, H).

Code that carries, detaches, stores or reorders states (a language model's carried state, beam search,
checkpoints) goes through these functions, so it never asks which cell made the state.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

State = Any  # Tensor | tuple[Tensor, ...] | None


def map_state(state: State, fn: Callable[[Tensor], Tensor]) -> State:
    """`fn` applied to every tensor of a state (None stays None; a list becomes a tuple)."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return tuple(map_state(s, fn) for s in state)
    if isinstance(state, Tensor):
        return fn(state)
    raise TypeError(f"a recurrent state is a tensor or a tuple of tensors, got {type(state).__name__}")


def detach(state: State) -> State:
    """The state cut from the graph that made it (truncated BPTT: gradients stop at the window's edge)."""
    return map_state(state, Tensor.detach)


def select_rows(state: State, rows: Tensor | list[int]) -> State:
    """Batch rows `rows` of every part (dim 1): reorder, keep or repeat sequences (beam search)."""
    index = torch.as_tensor(rows, dtype=torch.long)
    return map_state(state, lambda t: t.index_select(1, index.to(t.device)))


def expand_rows(state: State, times: int) -> State:
    """Every batch row repeated `times` times in place (row b becomes rows b*times .. b*times+times-1)."""
    return map_state(state, lambda t: t.repeat_interleave(times, dim=1))


def hidden(state: State) -> Tensor:
    """The h part of a state (an LSTM's (h, c) -> h)."""
    return state[0] if isinstance(state, (tuple, list)) else state

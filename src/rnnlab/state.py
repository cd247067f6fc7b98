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


def first_tensor(state: State) -> Tensor:
    """The first tensor of a state, depth first (h of an LSTM's (h, c)): where code that never looks
    inside a state reads its batch size (dim 1), device and dtype."""
    while isinstance(state, (tuple, list)) and state:
        state = state[0]
    if not isinstance(state, Tensor):
        raise TypeError(f"a recurrent state is a tensor or a tuple of tensors, got {type(state).__name__}")
    return state


def take_rows(carry: Any, rows: Tensor | list[int]) -> Any:
    """Batch rows `rows` of anything a decoder carries per sequence (search reorders through this).

    An object that knows its own layout reorders itself (a `select_rows(rows)` method: a decoder's memory,
    batch on dim 0); anything else is a recurrent state in this module's sense (tensors with the batch on
    dim 1, None), reordered by `select_rows`."""
    own = getattr(carry, "select_rows", None)
    return own(rows) if own is not None else select_rows(carry, rows)

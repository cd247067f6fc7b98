"""The glass engine: the cells of `rnnlab.cells` run step by step in Python.

Slower than the fused kernels, but every gate of every step is an ordinary tensor you can print, plot or hook
(`trace`). Like cuDNN, it computes the input's share W_ih x + b for all T steps in one matmul and leaves only
W_hh h_{t-1} to the loop. Under torch.autocast it does its matmuls in the autocast dtype and keeps the whole
recurrence in that dtype (the initial state is cast once), so every step is one dtype and no step pays for casts.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def run(layer, x: Tensor, state, lengths: Tensor | None):
    """x (T, B, I) or (B, T, I), state or None, lengths (B,) or None -> (output, final state), as torch.nn."""
    output, final, _ = _glass(layer, x, state, lengths, record=False)
    return output, final


def trace(layer, x: Tensor, state, lengths: Tensor | None):
    """As `run`, plus every named value of every step: {"l{layer}[_reverse].{name}": (T, B, H) or (B, T, H)}."""
    return _glass(layer, x, state, lengths, record=True)


def _glass(layer, x: Tensor, state, lengths: Tensor | None, record: bool):
    """Run the cells step by step. Returns (output, state, trace or None)."""
    if layer.batch_first:
        x = x.transpose(0, 1)  # (T, B, I): the loop walks the time axis
    T, B = x.shape[0], x.shape[1]
    family = layer.family
    state = layer.initial_state(x, state, B)
    masks = None
    if lengths is not None:
        lengths = lengths.to(x.device)
        # (T, B, 1) bool: step t is inside sequence b. unbind now: one view per step, not per use.
        masks = (torch.arange(T, device=x.device)[:, None] < lengths[None, :]).unsqueeze(-1).unbind(0)
    trace = {} if record else None
    finals = []  # per layer and direction: its final state
    layer_input = x  # (T, B, I) for layer 0, (T, B, D*H) after
    for index in range(layer.num_layers):
        outputs = []
        for direction in range(layer.num_directions):
            row = index * layer.num_directions + direction
            initial = _map(state, lambda s, row=row: s[row])  # this row of h (and c)
            trace_steps = [None] * T if record else None
            out, final = _run_direction(layer, layer_input, index, direction, initial, masks, trace_steps)
            outputs.append(out)
            finals.append(final)
            if record:
                prefix = f"l{index}{'_reverse' if direction else ''}."
                for name in trace_steps[0]:
                    steps = torch.stack([g[name] for g in trace_steps])  # (T, B, H)
                    trace[prefix + name] = steps.transpose(0, 1) if layer.batch_first else steps
        layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)  # (T, B, D*H)
        if layer.dropout and layer.training and index < layer.num_layers - 1:
            layer_input = F.dropout(layer_input, layer.dropout, training=True)
    output = layer_input.transpose(0, 1) if layer.batch_first else layer_input
    # (L*D, B, H) per part of the state, rows layer-major then direction
    parts = zip(*(family.state_parts(f) for f in finals))
    final_state = family.state_from_parts(tuple(torch.stack(p) for p in parts))
    return output, final_state, trace


def _run_direction(layer, x: Tensor, index: int, direction: int, state, masks, trace_steps):
    """One layer, one direction over x (T, B, I_l): returns (h_t for all t (T, B, H), final state).

    With masks, a step outside its sequence keeps the state it was given and outputs zeros: the
    forward direction thus holds each sequence's last real state to the end, and the backward
    direction stays at h_0 until it reaches the sequence's last real step:

        lengths = [4, 2]       t:  0  1  2  3
        forward   sequence 0   ->  s  s  s  s    final state: step 3's
                  sequence 1   ->  s  s  .  .    step 1's state held through t = 2, 3 (outputs 0)
        backward  sequence 1   <-  s  s  .  .    h_0 held through t = 3, 2; starts at t = 1
    """
    w_ih, w_hh, b_ih, b_hh = layer.direction_weights(index, direction)
    step = layer.family.step
    # The input's share of the pre-activations for all T steps at once: one (T*B, I) x (I, G*H) matmul.
    xw = layer.family.input(x, w_ih, b_ih, b_hh)  # (T, B, G*H)
    dtype = xw.dtype  # the autocast dtype under autocast: run the recurrence in it throughout
    w_hh_t = w_hh.t().to(dtype)  # (H, G*H), transposed and cast once, not once per step
    # b_hh for a step that adds it itself (b_hn sits inside the GRU's reset product); the others
    # folded it into xw and ignore it
    b_hh = None if b_hh is None else b_hh.to(dtype)
    state = _map(state, lambda s: s.to(dtype))
    xws = xw.unbind(0)  # T views (B, G*H): unbind, not xw[t], whose backward costs O(T) per step
    T = len(xws)
    outputs = [None] * T
    for t in (range(T - 1, -1, -1) if direction else range(T)):
        new_state, values = step(xws[t], state, w_hh_t, b_hh)  # values: family.trace_names
        h = values["h"]
        if masks is not None:
            inside = masks[t]  # (B, 1)
            new_state = _map2(new_state, state, lambda new, old, inside=inside: torch.where(inside, new, old))
            h = torch.where(inside, h, 0.0)
            if trace_steps is not None:
                values = {k: torch.where(inside, v, 0.0) for k, v in values.items()}
        outputs[t] = h
        if trace_steps is not None:
            trace_steps[t] = values
        state = new_state
    return torch.stack(outputs), state


# Per-step state plumbing kept local and flat (no recursion): it runs once per step of every sequence.
def _map(state, fn):
    """fn applied to h (and c): states are a tensor, or a (h, c) tuple for the LSTM."""
    return (fn(state[0]), fn(state[1])) if isinstance(state, tuple) else fn(state)


def _map2(a, b, fn):
    return (fn(a[0], b[0]), fn(a[1], b[1])) if isinstance(a, tuple) else fn(a, b)

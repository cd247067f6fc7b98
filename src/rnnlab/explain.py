"""What a trained network did with an input: evaluation mode, traces of its recurrent layers, and how
much each input step pushed its decision (gradient x input). Used by the tasks' predict/trace and the
studio; knows nothing of any one task."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor

Out = TypeVar("Out")


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """`model` in eval mode for the block (no dropout), then back in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def gradient_x_input(embedded: Tensor, run: Callable[[Tensor], Out],
                     objective: Callable[[Out], Tensor]) -> tuple[Out, Tensor]:
    """Gradient x input (Shrikumar et al. 2016) of a score with respect to each step's input vector.

    embedded (B, T, E): the inputs (e.g. word embeddings); `run(x)` runs the network on them and
    `objective(outputs)` gives a scalar: the SUM over the batch of each example's score, so each
    example's gradient is that of its own score (examples do not interact in a forward pass).
    Returns (outputs, influence (B, T)), influence[b, t] = sum_e dS_b/dx_{b,t,e} * x_{b,t,e}: positive
    where the step pushed the score up. A first-order estimate from one backward pass, not an exact
    attribution. Gradients are on inside, whatever the caller's mode; parameters' .grad accumulate
    as after any backward."""
    x = embedded.detach().requires_grad_(True)
    with torch.enable_grad():
        outputs = run(x)
        objective(outputs).backward()
    return outputs, (x.grad * x).sum(-1)


def predicted_log_odds(logits: Tensor) -> Tensor:
    """logits (B, C) -> (B,) the predicted class's log-odds against all the others,
    s = z_y - logsumexp_{c != y} z_c (y = argmax). Rather than log p_y, whose gradient vanishes once
    p_y is near 1, exactly when the model is sure."""
    pred = logits.argmax(-1)  # (B,)
    others = logits.masked_fill(F.one_hot(pred, logits.shape[-1]).bool(), float("-inf"))
    return logits.gather(1, pred[:, None])[:, 0] - others.logsumexp(-1)


def trace_layers(traced: dict[str, Tensor]) -> list[dict[str, Any]]:
    """Recurrent.trace's flat dict for one sequence (batch 1, batch_first) -> JSON-able lists per layer
    and direction: [{"layer": 0, "direction": "forward", "h": T x H, "c": T x H (LSTM),
    "gates": {"in_gate": T x H, ...}}]. Gate names are Recurrent.trace's (in_gate, forget_gate,
    cell_candidate, out_gate for LSTM; reset_gate, update_gate, candidate for GRU)."""
    groups: dict[tuple[int, str], dict[str, Tensor]] = {}
    for key, value in traced.items():
        prefix, dot, name = key.partition(".")
        if not dot or not prefix.startswith("l"):
            continue  # "output", "h_n", "c_n": not per layer
        layer_text, _, reverse = prefix[1:].partition("_")
        groups.setdefault((int(layer_text), "backward" if reverse else "forward"), {})[name] = value
    layers = []
    for (layer, direction), values in sorted(groups.items()):
        item: dict[str, Any] = {"layer": layer, "direction": direction}
        for key in ("h", "c"):
            if key in values:
                item[key] = _steps_list(values.pop(key))
        item["gates"] = {name: _steps_list(v) for name, v in values.items()}
        layers.append(item)
    return layers


def _steps_list(t: Tensor) -> list[list[float]]:
    """(1, T, H) tensor (batch_first, batch of one) -> T lists of H floats."""
    t = t.detach().float().cpu()[0]
    return [[round(v, 6) if math.isfinite(v) else 0.0 for v in row] for row in t.tolist()]

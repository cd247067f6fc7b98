"""Gradient flow: how strongly does the loss depend on the input d steps back?

For a batch x (T, B, I) and the task's loss L (summed over the batch, so each sequence's gradient is
its own), autograd gives ∂L/∂x_t for every step at once: one backward pass with x.requires_grad.
We report, for each distance d = T-1-t from the last step,

    g(d) = mean over the batch of ‖∂L_b/∂x_{T-1-d, b}‖₂

Through a plain RNN, ∂h_T/∂h_t is a product of T-t Jacobians diag(tanh')·W_hh, so g(d) tends to
shrink geometrically with d (Bengio et al. 1994; Pascanu et al. 2013): the tutorial's "fading
colours". The LSTM's cell state (c_t = f ⊙ c_{t-1} + i ⊙ g) and the GRU's interpolation
(h_t = (1-z) ⊙ n + z ⊙ h_{t-1}) add a path whose Jacobian is a gate, not a squashed matrix
product, so g(d) can stay flat where the gates stay open.

Measured in float32 without autocast (the precision the weights are kept in), on the model as it is
(at init or after training). Far enough back the float32 gradient underflows to zero; `measurable`
and `decay_summary` treat such values as "below ~1e-38", never as data.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor


def input_gradient_norms(forward: Callable[[Tensor], Tensor], loss: Callable[[Tensor], Tensor],
                         x: Tensor) -> Tensor:
    """g(d) for d = 0 .. T-1 (index = distance from the last step), as a float64 tensor (T,).

    forward: x (T, B, I) -> predictions; loss: predictions -> per-sequence losses (B,) or their sum.
    """
    x = x.detach().clone().requires_grad_(True)  # (T, B, I)
    with torch.autocast("cpu", enabled=False):
        total = loss(forward(x)).sum()  # summed over the batch: ∂total/∂x_b = ∂L_b/∂x_b
    (grad,) = torch.autograd.grad(total, x)  # (T, B, I)
    per_step = grad.double().norm(dim=2).mean(dim=1)  # (T,) mean over the batch of ‖∂L_b/∂x_t‖
    return per_step.flip(0)  # index d = T-1-t


# Float32 gradients below its smallest normal number (~1.2e-38) have underflowed: they say "smaller
# than this", not how small. Curves are measured in float32, the precision the models train in.
FLOAT32_TINY = torch.finfo(torch.float32).tiny


def measurable(g: list[float] | Tensor) -> int:
    """How many leading distances of a curve are above float32 underflow (the curve's usable part)."""
    values = [float(v) for v in g]
    for d, v in enumerate(values):
        if not v > FLOAT32_TINY:  # also catches NaN
            return d
    return len(values)


def decay_summary(g: list[float] | Tensor) -> dict[str, float | int | None]:
    """A few numbers that describe a curve g(d), from its measurable part (before any underflow):
    its value at the last step, at the farthest measurable distance, their ratio, and the decay rate
    per step fitted on log g by least squares (a plain RNN's curve is close to a straight line).
    `first_over_last` is None when the gradient at the first step underflowed."""
    values = [float(v) for v in g]
    n = measurable(values)
    if n == 0:
        return {"at_last_step": None, "at_first_step": None, "first_over_last": None,
                "factor_per_step": None, "measurable_steps": 0}
    logs = [math.log(v) for v in values[:n]]
    mean_d, mean_l = (n - 1) / 2, sum(logs) / n
    var = sum((d - mean_d) ** 2 for d in range(n))
    slope = sum((d - mean_d) * (lv - mean_l) for d, lv in enumerate(logs)) / var if n > 1 else 0.0
    complete = n == len(values)
    return {
        "at_last_step": values[0],
        "at_first_step": values[-1] if complete else None,
        "first_over_last": values[-1] / values[0] if complete else None,
        "factor_per_step": math.exp(slope),
        "measurable_steps": n,
    }

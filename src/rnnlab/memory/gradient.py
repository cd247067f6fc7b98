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

Measured in float32 without autocast, on the model as it is (at init or after training).
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


def decay_summary(g: Tensor) -> dict[str, float]:
    """A few numbers that describe a curve g(d): its value at both ends, their ratio, and the decay
    rate per step fitted on log g (least squares; a plain RNN's curve is close to a straight line)."""
    g = g.double().clamp_min(1e-300)
    d = torch.arange(len(g), dtype=torch.float64)
    logg = g.log()
    slope = float(((d - d.mean()) * (logg - logg.mean())).sum() / ((d - d.mean()) ** 2).sum()) if len(g) > 1 else 0.0
    return {
        "at_last_step": float(g[0]),
        "at_first_step": float(g[-1]),
        "first_over_last": float(g[-1] / g[0]),
        "factor_per_step": math.exp(slope),
    }

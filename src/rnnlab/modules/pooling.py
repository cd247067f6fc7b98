"""A sequence (B, T, H) -> one vector per sequence (B, H), reading only each sequence's true steps.

Padded positions (t >= lengths[b]) never contribute: max pooling gives them -inf, attention gives
them weight 0, mean pooling leaves them out of the sum and the count, `last_step` reads lengths - 1.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) bool, True at the real positions t < lengths[b] (on lengths' device)."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def last_step(x: Tensor, lengths: Tensor) -> Tensor:
    """x (B, T, H) -> (B, H): each sequence at its true last step (many-to-one: the state at the end)."""
    last = (lengths - 1).to(x.device)
    return x[torch.arange(x.shape[0], device=x.device), last]


def max_pool(x: Tensor, lengths: Tensor) -> Tensor:
    """x (B, T, H) -> (B, H): the largest value of each feature over the real steps."""
    valid = length_mask(lengths.to(x.device), x.shape[1])[..., None]  # (B, T, 1)
    return x.masked_fill(~valid, float("-inf")).amax(dim=1)


def mean_pool(x: Tensor, lengths: Tensor) -> Tensor:
    """x (B, T, H) -> (B, H): the mean over the real steps."""
    valid = length_mask(lengths.to(x.device), x.shape[1])[..., None]  # (B, T, 1)
    return (x * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1)


class AttentionPool(nn.Sequential):
    """A one-head self-attentive pool (Lin et al. 2017): a score per step from a small MLP,
    softmax over the real steps, the weighted mean of x.

        x (B, T, H) -> score = w2 tanh(W1 x) (B, T, 1) -> softmax over real t -> sum_t a_t x_t (B, H)

    A Sequential of the MLP's layers (Linear H -> A, Tanh, Linear A -> 1), so its parameters are named
    0.weight, 0.bias, 2.weight, 2.bias under whatever attribute holds it."""

    def __init__(self, size: int, attention_size: int):
        super().__init__(nn.Linear(size, attention_size), nn.Tanh(), nn.Linear(attention_size, 1))

    def weights(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The attention weights (B, T, 1): softmax over each sequence's real steps, 0 on padding."""
        valid = length_mask(lengths.to(x.device), x.shape[1])[..., None]  # (B, T, 1)
        return super().forward(x).masked_fill(~valid, float("-inf")).softmax(dim=1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        return (self.weights(x, lengths) * x).sum(dim=1)  # (B, H)

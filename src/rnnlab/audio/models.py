"""The speech models: a recurrent encoder over the front end's steps, and the two heads on it.

    frames (B, T, F) -> FrontEnd (B, T', kF) -> Recurrent (bi, L layers) (B, T', D)      AudioEncoder
        WordClassifier   pooled over time (B, D) -> linear (B, C)                     isolated words
        CTCModel         linear per step (B, T', V) log-probabilities over blank + symbols (Graves et al. 2006)

Every model reads raw frames (rnnlab.audio.frontend: normalisation and stacking are its first layer) and
their lengths. The parameters are created in the order encoder, (attention), head, so a seeded build gives
the same weights as it always has; the front end has buffers only.
"""
from __future__ import annotations

import torch
from torch import nn

from rnnlab.audio.frontend import FrontEnd
from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.modules.pooling import AttentionPool, max_pool, mean_pool

POOLS = ("mean", "max", "attention")


class AudioEncoder(nn.Module):
    """Raw frames -> the front end's steps -> a (bidirectional) Recurrent: (B, T, F) -> (B, T', D), lengths (B,)."""

    def __init__(self, front_end: FrontEnd, recurrent: RecurrentConfig):
        super().__init__()
        self.front_end = front_end
        self.rnn = build_recurrent(recurrent, front_end.step_size)  # batch-first, over kF features per step
        self.size = recurrent.output_size  # D: hidden_size per direction

    @property
    def k(self) -> int:
        """Frames per recurrent step."""
        return self.front_end.k

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = self.front_end(x, lengths)  # (B, T', kF)
        out, _ = self.rnn(x, lengths=lengths)  # (B, T', D); zeros past each length
        return out, lengths

    def trace(self, x: torch.Tensor, lengths: torch.Tensor) -> list:
        """Recurrent.trace of the layers over the front end's steps (states and gates per step)."""
        steps, lengths = self.front_end(x, lengths)
        return self.rnn.trace(steps, lengths=lengths)


class WordClassifier(nn.Module):
    """Isolated word: encoder over the frames, pooled over time (mean | max | attention), linear head: logits (B, C)."""

    def __init__(self, encoder: AudioEncoder, n_classes: int, *, pool: str = "mean", dropout: float = 0.0):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {', '.join(POOLS)}; got {pool!r}")
        self.encoder = encoder
        self.pool_kind = pool
        if pool == "attention":
            self.attention = AttentionPool(encoder.size, encoder.size)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.size, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        out, lengths = self.encoder(x, lengths)  # (B, T', D)
        if self.pool_kind == "attention":
            pooled = self.attention(out, lengths)
        else:
            pooled = (max_pool if self.pool_kind == "max" else mean_pool)(out, lengths)  # (B, D)
        return self.head(self.drop(pooled))  # (B, C)


class CTCModel(nn.Module):
    """Continuous speech: encoder, linear head per step: log-probabilities (B, T', V) over blank + symbols."""

    def __init__(self, encoder: AudioEncoder, n_symbols: int, *, dropout: float = 0.0):
        super().__init__()
        self.encoder = encoder
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.size, n_symbols)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, lengths = self.encoder(x, lengths)  # (B, T', D)
        return self.head(self.drop(out)).float().log_softmax(-1), lengths  # (B, T', V), (B,)

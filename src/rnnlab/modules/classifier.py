"""A many-to-one sequence classifier: embedding, a LEFT-TO-RIGHT Recurrent, a linear head on every step.

    tokens (B, T) -> word dropout -> embed (B, T, E) -> Recurrent (B, T, H) -> head (B, T, C) per step
                                                                         `-> step lengths-1 -> (B, C)

Because the encoder runs left to right only, its state after token t has seen tokens 1..t and nothing
after: the head on every step is "the best guess after reading token t", and the step at each true end
is the decision. The intent task classifies utterances with it; the API-call task reuses its embedding,
encoder and head (as `core`) over chunks of a long sequence.

Its parameters are created in this order (embedding, Recurrent, head), and a state dict names them
`embed.*`, `encoder.*`, `head.*`: seeded weights and saved bundles depend on both.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnlab.layers import RecurrentConfig, build_recurrent
from rnnlab.modules.embedding import WordDropout
from rnnlab.modules.pooling import last_step


@dataclass
class IntentModelConfig:
    cell: str = "lstm"  # rnn_tanh | rnn_relu | lstm | gru ("rnn" = rnn_tanh)
    embed_size: int = 64
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.2  # on embeddings, between layers, and before the head
    word_dropout: float = 0.1  # in training, replace words by <unk> with this probability: teaches the
    #                            model what to do with unseen words, which are common in small data
    engine: str = "auto"  # "auto" (native where faster, else fused) | "fused" | "glass" | "native"; same weights


class IntentModel(nn.Module):
    """Embedding -> unidirectional Recurrent -> linear head on every step."""

    def __init__(self, vocab_size: int, n_intents: int, cfg: IntentModelConfig, pad_id: int, unk_id: int):
        super().__init__()
        self.word_dropout = WordDropout(cfg.word_dropout, unk_id, pad_id)  # ids -> ids; training only
        self.embed = nn.Embedding(vocab_size, cfg.embed_size, padding_idx=pad_id)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = build_recurrent(RecurrentConfig.of(cfg), cfg.embed_size)  # left to right only
        self.head = nn.Linear(cfg.hidden_size, n_intents)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor,
                embedded: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, T), lengths (B,) -> (final logits (B, C), per-step logits (B, T, C)).

        `embedded` (B, T, E) replaces the embedding lookup (used for gradient x input)."""
        x = self.embed(self.word_dropout(tokens)) if embedded is None else embedded  # (B, T, E)
        out, _ = self.encoder(self.drop(x), lengths=lengths.cpu())  # (B, T, H), zero past each end
        steps = self.head(self.drop(out))  # (B, T, C): the guess after each word
        return last_step(steps, lengths), steps  # (B, C) at the true end, (B, T, C)

"""What goes into a recurrent encoder at each word: word dropout on the ids, a character CNN per word.

Word dropout (training only): each word id is replaced by <unk> with probability `p`, so the <unk>
embedding is trained and the model learns to read around words it does not know, which are common in
small data. Singleton dropout (Lample et al. 2016) also replaces the words seen exactly once in training
with probability `singleton_p`: <unk> is then learned from the rare words it will stand for at test time.
Padding is never replaced. Both act on ids, before the embedding, in the model's forward.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class WordDropout(nn.Module):
    """tokens (B, T) long -> tokens with some ids replaced by `unk_id` (training only; identity in eval).

    `singletons` (V,) bool marks the words seen once in training (a non-persistent buffer: it follows the
    model's device and never enters its state_dict, so bundles hold the same weights with or without it).
    """

    def __init__(self, p: float, unk_id: int, pad_id: int | None = None, singleton_p: float = 0.0,
                 singletons: Tensor | None = None):
        super().__init__()
        self.p, self.unk_id, self.pad_id, self.singleton_p = p, unk_id, pad_id, singleton_p
        self.register_buffer("singletons", singletons, persistent=False)

    def forward(self, tokens: Tensor) -> Tensor:
        if not self.training or (self.p <= 0 and self.singleton_p <= 0):
            return tokens
        # the uniform draw comes first even when p = 0 (and singleton_p > 0): one draw order for every
        # setting, so a given seed gives the same masks whichever rates are on
        drop = torch.rand(tokens.shape, device=tokens.device) < self.p  # (B, T)
        if self.singleton_p > 0 and self.singletons is not None:
            drop |= self.singletons[tokens] & (torch.rand(tokens.shape, device=tokens.device) < self.singleton_p)
        if self.pad_id is not None:
            drop &= tokens != self.pad_id
        return tokens.masked_fill(drop, self.unk_id)

    def extra_repr(self) -> str:
        return f"p={self.p}, singleton_p={self.singleton_p}, unk_id={self.unk_id}, pad_id={self.pad_id}"


class CharCNN(nn.Module):
    """Each word's characters -> one vector: embed, convolve, max-pool over the word (Ma & Hovy 2016).

    chars (B, T, L) long, 0 = padding -> (B, T, F). It reads inside one word only, so a left-to-right
    encoder over its output still sees nothing of the words to the right."""

    def __init__(self, num_chars: int, dim: int, filters: int, width: int):
        super().__init__()
        self.embed = nn.Embedding(num_chars, dim, padding_idx=0)
        self.conv = nn.Conv1d(dim, filters, width, padding=width // 2)

    def forward(self, chars: Tensor) -> Tensor:
        b, t, length = chars.shape
        x = self.embed(chars.view(b * t, length)).transpose(1, 2)  # (B*T, C, L)
        y = torch.relu(self.conv(x))[..., :length]  # (B*T, F, L)
        y = y.masked_fill((chars.view(b * t, 1, length) == 0), 0.0)  # relu >= 0, so 0 never wins over a char
        return y.amax(dim=2).view(b, t, -1)  # (B, T, F)

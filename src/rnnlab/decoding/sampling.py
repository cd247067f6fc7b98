"""Sampling a sequence from a recurrent language model, one token at a time.

    state <- run the model over the prompt
    repeat: p = softmax(logits / temperature), keeping only the top_k most likely tokens
            token ~ p   (torch.multinomial with a seeded generator: the same seed, the same tokens)
            yield it; feed it back in with the carried state

Works with any model whose forward is `model(ids (1, T), state) -> (logits (1, T, V), state)` (state None
at the start); it never looks inside the state. Tokens the model should never write are masked out by
`allowed` (e.g. <unk> and padding: `sampling_mask`). Temperature 0 means greedy.
"""
from __future__ import annotations

from typing import Iterator

import torch


def sampling_mask(vocab) -> torch.Tensor:
    """(V,) bool: True for the tokens of a `rnnlab.vocab.Vocab` that may be sampled (not unk, not pad)."""
    allowed = torch.ones(len(vocab), dtype=torch.bool)
    for special in (vocab.unk_id, vocab.pad_id):
        if special is not None:
            allowed[special] = False
    return allowed


def next_token(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, top_k: int,
               generator: torch.Generator) -> int:
    """Sample one id from logits (V,) under temperature and top-k (0 = no top-k)."""
    logits = logits.float().masked_fill(~allowed, float("-inf"))
    if temperature < torch.finfo(logits.dtype).tiny:
        # 0, or so close to it that it rounds to 0 in float32 (and 0/0 is NaN): greedy, which is also
        # what sampling at such a temperature is
        return int(logits.argmax())
    # shifted so the best is 0 first: a tiny temperature then sends the others to -inf, not the best to
    # +inf (whose softmax is NaN)
    logits = (logits - logits.max()) / temperature
    if 0 < top_k < logits.shape[0]:
        kth = logits.topk(top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return int(torch.multinomial(logits.softmax(-1), 1, generator=generator))


@torch.no_grad()
def sample(model: torch.nn.Module, prompt: list[int], length: int, *, allowed: torch.Tensor,
           temperature: float = 1.0, top_k: int = 0, generator: torch.Generator) -> Iterator[int]:
    """Yield `length` sampled token ids continuing `prompt` (ids, at least one), each as soon as it is
    drawn (a Python generator: the caller can stream). The model should be in eval mode."""
    device = next(model.parameters()).device
    logits, state = model(torch.tensor([prompt], dtype=torch.long, device=device))  # (1, T, V)
    for _ in range(length):
        token_id = next_token(logits[0, -1].cpu(), allowed, temperature, top_k, generator)
        yield token_id
        logits, state = model(torch.tensor([[token_id]], dtype=torch.long, device=device), state)  # (1, 1, V)

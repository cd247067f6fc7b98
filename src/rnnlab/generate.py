"""Text generation from a language-model bundle: read a prompt, then sample one token at a time.

    state <- run the model over the prompt
    repeat: p = softmax(logits / temperature), keeping only the top_k most likely tokens
            token ~ p   (torch.multinomial with a seeded generator: the same seed, the same text)
            yield it; feed it back in with the carried state

`generate` is a Python generator: each token is yielded as soon as it is sampled, so the CLI can
print it at once (streaming). Tokens the model should never write are masked: `<unk>` (characters or
words it never saw) and padding. temperature 0 means greedy (always the most likely token).
"""
from __future__ import annotations

import math
from typing import Iterator

import torch

from rnnlab.errors import UserError


def check_language_model(predictor) -> None:
    from rnnlab.tasks.lm import LanguageModelTask

    if not isinstance(predictor.task, LanguageModelTask):
        raise UserError(f"{predictor.path}: task {predictor.config.task!r} is not a language model "
                        f"(generate needs a charlm or wordlm bundle)")


def sampling_mask(task) -> torch.Tensor:
    """(V,) bool: True for tokens that may be sampled."""
    allowed = torch.ones(len(task.vocab), dtype=torch.bool)
    for special in (task.vocab.unk_id, task.vocab.pad_id):
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
def generate(predictor, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0,
             seed: int | None = None) -> Iterator[str]:
    """Yield `length` sampled tokens as text pieces (characters; or words with their leading space,
    and a newline for <eos>), continuing `prompt`. Same seed and bundle -> same pieces."""
    check_language_model(predictor)
    task, model = predictor.task, predictor.model
    if task.data.reverse:
        raise UserError(f"{predictor.path}: this is a right-to-left model (data.reverse = true); "
                        f"generate needs a left-to-right one")
    if length < 0:
        raise UserError(f"length must be >= 0, got {length}")
    if not (math.isfinite(temperature) and temperature >= 0):  # NaN and inf would reach the sampler as NaN
        raise UserError(f"temperature must be >= 0 (0 = always the most likely token) and a finite number, "
                        f"got {temperature}")
    if top_k < 0:
        raise UserError(f"top-k must be >= 0 (0 = off), got {top_k}")
    if prompt.strip() or task.level == "char" and prompt:
        ids = task.encode_text(prompt)
    elif task.start_tokens:  # words: an empty prompt starts a sentence
        ids = task.vocab.encode(task.start_tokens)
    elif "\n" in task.vocab:  # characters: an empty prompt starts a line
        ids = [task.vocab.index("\n")]
    else:
        raise UserError("give a prompt: this model has no start token")
    generator = torch.Generator().manual_seed(seed if seed is not None else torch.seed())
    allowed = sampling_mask(task)
    model.eval()
    x = torch.tensor([ids], dtype=torch.long)  # (1, T)
    logits, state = model(x)  # (1, T, V)
    at_line_start = task.level == "word" and not prompt.strip()
    for _ in range(length):
        token_id = next_token(logits[0, -1], allowed, temperature, top_k, generator)
        token = task.vocab.itos[token_id]
        if task.level == "char":
            yield token
        elif token == "<eos>":
            at_line_start = True
            yield "\n"
        else:
            yield token if at_line_start else " " + token
            at_line_start = False
        logits, state = model(torch.tensor([[token_id]], dtype=torch.long), state)  # (1, 1, V)


def sample_text(predictor, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0,
                seed: int | None = None) -> str:
    """The prompt followed by `length` sampled tokens, as one string."""
    return prompt + "".join(generate(predictor, prompt, length, temperature, top_k, seed))

"""`rnnlab generate`: text from a language-model bundle (charlm, wordlm), streamed as it is sampled.

The sampling itself (temperature, top-k, the loop that feeds each token back with the carried state) is
rnnlab.decoding.sampling, which knows no task. This is the language model's side, over a loaded bundle:
the prompt in the model's tokens (an empty prompt starts a sentence or a line), and each sampled token
out as a piece of text (a character; a word with its leading space; a newline for <eos>).
`generate` is a Python generator: each piece is yielded as soon as it is sampled, so the CLI can print
it at once (streaming). `<unk>` and padding are never sampled; temperature 0 is greedy. Same seed and
bundle, same text.
"""
from __future__ import annotations

import math
from typing import Iterator

import torch

from rnnlab.decoding.sampling import sample, sampling_mask
from rnnlab.errors import UserError
from rnnlab.explain import eval_mode


def check_language_model(predictor) -> None:
    from rnnlab.tasks.lm import LanguageModelTask

    if not isinstance(predictor.task, LanguageModelTask):
        raise UserError(f"{predictor.path}: task {predictor.config.task!r} is not a language model "
                        f"(generate needs a charlm or wordlm bundle)")


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
    at_line_start = task.level == "word" and not prompt.strip()
    with eval_mode(model):
        for token_id in sample(model, ids, length, allowed=sampling_mask(task.vocab), temperature=temperature,
                               top_k=top_k, generator=generator):
            token = task.vocab.itos[token_id]
            if task.level == "char":
                yield token
            elif token == "<eos>":
                at_line_start = True
                yield "\n"
            else:
                yield token if at_line_start else " " + token
                at_line_start = False


def sample_text(predictor, prompt: str, length: int, temperature: float = 1.0, top_k: int = 0,
                seed: int | None = None) -> str:
    """The prompt followed by `length` sampled tokens, as one string."""
    return prompt + "".join(generate(predictor, prompt, length, temperature, top_k, seed))

"""Generation glue for an encoder-decoder (rnnlab.modules.encoder_decoder): from inputs to output sequences,
and each output's fields in the prediction schema. No parameters and no text: ids in, ids out; where text is
wanted the caller passes `pieces` (ids -> the vocabulary's pieces) and `detokenize` (pieces -> a string).

    length_limits(sizes, a, b)          output length limits a * size + b (eos included), size = source pieces,
                                        image regions: whatever the encoder's memory holds per input
    search(step_fn, state, memory, sizes, ...)
                                        greedy (beam_size 1) or beam search (rnnlab.decoding.search) over any step
                                        function from a start -> one Hypothesis per input: the seam where the
                                        step is plugged (a PyTorch decoder's, or an exported decoder-step graph's)
    generate(model, inputs, ...)        search over model.decoder.step from model.start(inputs)
    teacher_forced(step_fn, state, memory, targets_in)
                                        log-probs (N, T, V) of a teacher-forced pass run step by step: the
                                        `forward` of `alternatives` for a model that is only a step function
    strip_eos(tokens, eos)              the output without its closing eos
    output_fields(hyp, ...)             answer (text, probability), sequence, scores, and on request the output
                                        pieces and attention rows: the part of a prediction every generator shares
    alternatives(forward, outputs, ...) per output token the k tokens ranked highest at its step: one
                                        teacher-forced pass over the chosen outputs

A model is anything with `start(inputs) -> (state, memory, sizes)` whose `decoder.step` search can drive
(modules.encoder_decoder.EncoderDecoder); `forward` for `alternatives` is its teacher-forced pass.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import Tensor

from ..state import take_rows
from .search import Hypothesis, Select, StepFn, beam_search, greedy

Pieces = Callable[[list[int]], list[str]]  # ids -> the vocabulary's pieces
Detokenize = Callable[[list[str]], str]  # pieces -> text


def length_limits(sizes: Tensor, a: float, b: int) -> Tensor:
    """sizes (B,) -> output length limits (B,) long on the CPU: floor(a * size) + b, at least 1 (eos included)."""
    return (torch.floor(sizes.cpu().double() * a).long() + b).clamp(min=1)


@torch.no_grad()
def search(step_fn: StepFn, state: Any, memory: Any, sizes: Tensor, *, bos: int, eos: int, beam_size: int = 1,
           max_len_a: float, max_len_b: int, length_penalty: float = 0.0,
           select: Select = take_rows) -> list[Hypothesis]:
    """One Hypothesis per input: greedy for beam_size 1, else beam search with the GNMT length penalty alpha, over
    `step_fn` from (state, memory) as a start gives them (rnnlab.decoding.search's contract: the batch on dim 1 of
    the state's tensors, `select` reordering state and memory). Outputs stop at eos or at
    length_limits(sizes, max_len_a, max_len_b), and hold one token at least before eos (min_len 1, as fairseq: an
    input is never answered by nothing, which a wide beam would otherwise find, see rnnlab.decoding.search)."""
    limits = length_limits(sizes, max_len_a, max_len_b)
    if beam_size == 1:
        return greedy(step_fn, state, memory, bos, eos, limits, min_len=1, select=select)
    return beam_search(step_fn, state, memory, bos, eos, beam_size, limits, length_penalty, min_len=1, select=select)


@torch.no_grad()
def generate(model, inputs: dict[str, Tensor], *, bos: int, eos: int, beam_size: int = 1, max_len_a: float,
             max_len_b: int, length_penalty: float = 0.0) -> list[Hypothesis]:
    """`search` over model.decoder.step from model.start(inputs). The model should be in eval mode."""
    state, memory, sizes = model.start(inputs)
    return search(model.decoder.step, state, memory, sizes, bos=bos, eos=eos, beam_size=beam_size,
                  max_len_a=max_len_a, max_len_b=max_len_b, length_penalty=length_penalty)


@torch.no_grad()
def teacher_forced(step_fn: StepFn, state: Any, memory: Any, targets_in: Tensor) -> Tensor:
    """targets_in (N, T) long (bos, y_1 .. y_{T-1}, padded) -> log-probs (N, T, V), row t scoring y_t: `step_fn`
    fed the given previous token at every step, from a start's (state, memory) of N rows. The search's own calls,
    so a token's log-prob here is the one the search scored; `alternatives`' forward for a model that has only a
    step (an exported decoder-step graph). Steps past an output's end read padding, and their rows mean nothing."""
    steps = []
    for y_prev in targets_in.unbind(1):  # T tensors (N,)
        log_probs, state, _ = step_fn(y_prev, state, memory)
        steps.append(log_probs.float())
    return torch.stack(steps, dim=1)


def strip_eos(tokens: list[int], eos: int) -> list[int]:
    """The output's tokens without the eos that closed it (an output cut by its length limit has none)."""
    return tokens[:-1] if tokens and tokens[-1] == eos else tokens


def _unit(p: float) -> float:
    """A probability for display: clamped to [0, 1] (float error) and rounded to 6 places."""
    return round(min(1.0, max(0.0, p)), 6)


def output_fields(hyp: Hypothesis, *, eos: int, pieces: Pieces, detokenize: Detokenize, answer_kind: str,
                  source_size: int, attention: bool = False) -> dict[str, Any]:
    """One output's share of a prediction (rnnlab.tasks.base's schema), in this key order:

    answer       {label: the detokenised output without eos, probability: exp(mean log-prob per output token,
                 eos included)}
    answer_kind  as given ("translation", "caption", ...)
    sequence     the output's pieces, without eos
    scores       {log_prob: the sum over the output's tokens}
    with attention=True also
    target_tokens  every output piece, eos included when it was chosen
    attention      (len(target_tokens), source_size) rows: where each output piece looked (memory positions
                   past source_size, padding of a batch, cut off)"""
    ids = strip_eos(hyp.tokens, eos)
    n = max(len(hyp.tokens), 1)
    out = {"answer": {"label": detokenize(pieces(ids)), "probability": _unit(math.exp(hyp.score / n))},
           "answer_kind": answer_kind, "sequence": pieces(ids), "scores": {"log_prob": round(float(hyp.score), 6)}}
    if attention:
        out["target_tokens"] = pieces(hyp.tokens)
        out["attention"] = [[round(float(v), 6) for v in row[:source_size]] for row in hyp.attention.tolist()]
    return out


def teacher_forced_inputs(outputs: list[list[int]], *, bos: int, pad: int) -> Tensor:
    """Chosen outputs -> (N, T) long, T the longest: bos, y_1 .. y_{n-1} per row, pad after (what the decoder
    read at each step that chose y_1 .. y_n)."""
    targets_in = torch.full((len(outputs), max((len(o) for o in outputs), default=0)), pad, dtype=torch.long)
    for b, o in enumerate(outputs):
        if o:
            targets_in[b, : len(o)] = torch.tensor([bos] + o[:-1], dtype=torch.long)
    return targets_in


@torch.no_grad()
def alternatives(forward: Callable[[Tensor], Tensor], outputs: list[list[int]], *, bos: int, pad: int,
                 pieces: Pieces, k: int) -> list[list[list[dict[str, Any]]]]:
    """For each output token, the k tokens the decoder ranked highest at that step given the input and the chosen
    tokens before it, best first, as {label: piece, probability}. One teacher-forced pass over the chosen outputs
    (the search's own computation, so a chosen token's probability there is the one the search scored):
    forward(targets_in (N, T) long, on the CPU) -> logits (N, T, V). N outputs -> N lists of len(output) lists."""
    if max((len(o) for o in outputs), default=0) == 0:
        return [[] for _ in outputs]
    logits = forward(teacher_forced_inputs(outputs, bos=bos, pad=pad))  # (N, T, V)
    probs, ids = logits.float().softmax(-1).topk(min(k, logits.shape[-1]), dim=-1)  # (N, T, k)
    probs, ids = probs.cpu().tolist(), ids.cpu().tolist()
    return [[[{"label": piece, "probability": _unit(pr)} for piece, pr in zip(pieces(ids[b][t]), probs[b][t])]
             for t in range(len(o))] for b, o in enumerate(outputs)]

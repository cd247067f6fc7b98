"""Greedy and beam search over any step function, batched over sentences.

Search drives a model it never looks inside, through one call and one reordering:

    step_fn(y_prev (N,) long, state, memory) -> (log_probs (N, V), state, attention (N, S))
    select(carry, rows) -> carry with batch rows `rows` (reorder, repeat or drop sequences)

where N is however many rows are live. `state` is what the model carries from step to step and `memory`
what it reads at every step (an encoder's outputs); `select` defaults to rnnlab.state.take_rows (an
object's own `select_rows`, else a recurrent state's rows on dim 1). The batch size and device are read
off `init_state` (rnnlab.state.first_tensor: its first tensor, batch on dim 1).
rnnlab.modules.decoder.AttentionDecoder.step is such a step function.

Each sentence gets one `Hypothesis`: tokens (after bos; ending with eos unless max_len cut it), score
(the sum of their log-probabilities) and attention (len(tokens), S), row i what the step that chose
tokens[i] attended to. `max_len` counts output tokens, eos included: an int, or a (B,) tensor for a
limit per sentence (relative to the source length, say; that is the caller's business). Sentences that
are done leave the batch, so the rows still running are the only ones computed.

Beam search keeps, per sentence, K live hypotheses in a block of K rows:

    row       0  1  2 | 3  4  5        B = 2 sentences, K = 3 beams, N = B*K rows
    sentence  0  0  0 | 1  1  1

Each step extends every live hypothesis by every token, keeps the 2K best per sentence, finishes those
among the best K that end in eos (or reach max_len), and carries the K best that did not end. A step
only moves hypotheses within their sentence's block, so the memory, the same for all K rows, is
expanded once and reordered only when a finished sentence leaves. The answer is the finished hypothesis
with the best score / lp(length), lp the GNMT length penalty ((5 + |Y|) / 6) ** alpha (Wu et al. 2016),
alpha = 0 for none. A sentence is done at its max_len, or once no live hypothesis can beat its best
finished one (with alpha > 0, once it also has K finished): see `beam_search`. fairseq stops at K
finished alone; a few unlikely eos endings, finished from the top K of a flat step, can then end the
search while a far likelier hypothesis is still live, and the answer is one of them.

`min_len` (fairseq's, default 0 here) rules eos out while fewer tokens than that precede it. A sequence model
gives the empty output (eos at once) some probability, and its score is one log-prob against the sum of many
for a real output: without a length penalty a wide enough beam keeps it among the K best of the first step and
then returns it, the "empty translation" of exact and wide-beam search (Stahlberg & Byrne 2019). A generator
whose inputs never mean an empty output (seq2seq.generate) asks for min_len = 1, as fairseq does by default.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor

from ..state import first_tensor, take_rows

StepFn = Callable[[Tensor, Any, Any], tuple[Tensor, Any, Tensor]]
Select = Callable[[Any, Tensor], Any]


class Hypothesis(NamedTuple):
    """One output sequence: tokens (eos last if it was chosen), the sum of their log-probs, attention
    (len(tokens), S) on the CPU."""

    tokens: list[int]
    score: float
    attention: Tensor


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """lp(Y) = ((5 + |Y|) / 6) ** alpha (Wu et al. 2016): a finished hypothesis ranks by score / lp, so
    alpha > 0 offsets the bias of summed log-probs (all negative) towards short outputs; 0 = none."""
    return ((5.0 + length) / 6.0) ** alpha


def _limits(max_len, batch: int) -> Tensor:
    """max_len (an int, or one per sentence) -> (B,) int64 on the CPU, each >= 1."""
    if isinstance(max_len, Tensor):
        assert max_len.shape == (batch,) and not max_len.is_floating_point(), \
            f"max_len {tuple(max_len.shape)} {max_len.dtype}, want ({batch},) integers"
        limits = max_len.to("cpu", torch.long)
    else:
        assert isinstance(max_len, numbers.Integral), f"max_len must be an int or a tensor, got {max_len!r}"
        limits = torch.full((batch,), int(max_len), dtype=torch.long)
    if batch and int(limits.min()) < 1:
        raise ValueError(f"max_len must be >= 1 (it counts output tokens, eos included); got {limits.tolist()}")
    return limits


def _no_early_eos(log_probs: Tensor, eos: int, t: int, min_len: int) -> Tensor:
    """log_probs (N, V) as float, eos ruled out while fewer than min_len tokens precede it (step t < min_len):
    fairseq's min_len. The other tokens keep their log-probs, so a score stays what the model gave its tokens."""
    log_probs = log_probs.float()
    if t < min_len:
        log_probs = log_probs.clone()
        log_probs[:, eos] = float("-inf")
    return log_probs


@torch.no_grad()
def greedy(step_fn: StepFn, init_state, memory, bos: int, eos: int, max_len,
           *, min_len: int = 0, select: Select = take_rows) -> list[Hypothesis]:
    """Each sentence's most likely next token, step by step, until eos or max_len. One Hypothesis per
    sentence, in order; `min_len` tokens at least before eos (see the module docstring). The model should be
    in eval mode."""
    first = first_tensor(init_state)
    batch, device = first.shape[1], first.device
    limits = _limits(max_len, batch)
    results: list[Hypothesis | None] = [None] * batch
    sentence = torch.arange(batch)  # (N,) the sentence each live row decodes
    y = torch.full((batch,), bos, dtype=torch.long, device=device)  # (N,)
    state, scores = init_state, torch.zeros(batch, device=device)  # scores (N,): sums of log-probs
    tokens, attention = torch.zeros(batch, 0, dtype=torch.long, device=device), None  # (N, t), (N, t, S)
    for t in range(int(limits.max()) if batch else 0):
        log_probs, state, weights = step_fn(y, state, memory)  # (N, V), (N, S)
        best, y = _no_early_eos(log_probs, eos, t, min_len).max(dim=-1)  # (N,), (N,)
        scores = scores + best
        tokens = torch.cat([tokens, y.unsqueeze(1)], dim=1)  # (N, t+1)
        step_attention = weights.float().unsqueeze(1)  # (N, 1, S)
        attention = step_attention if attention is None else torch.cat([attention, step_attention], dim=1)
        done = (y == eos).cpu() | (limits[sentence] <= t + 1)  # (N,)
        for row in done.nonzero().flatten().tolist():
            results[sentence[row]] = Hypothesis(tokens[row].tolist(), float(scores[row]), attention[row].cpu())
        if done.all():
            break
        if done.any():  # the finished sentences leave the batch
            keep = (~done).nonzero().flatten()
            sentence, rows = sentence[keep], keep.to(device)
            y, scores, tokens, attention = y[rows], scores[rows], tokens[rows], attention[rows]
            state, memory = select(state, rows), select(memory, rows)
    return results


@torch.no_grad()
def beam_search(step_fn: StepFn, init_state, memory, bos: int, eos: int, beam_size: int, max_len,
                length_penalty: float = 0.0, *, min_len: int = 0, select: Select = take_rows) -> list[Hypothesis]:
    """The best of K-beam search per sentence (see the module docstring), batched: B sentences x K beams
    run as B*K rows. One Hypothesis per sentence, in order; beam_size 1 is greedy; `min_len` tokens at least
    before eos. The model should be in eval mode."""
    assert isinstance(beam_size, numbers.Integral) and beam_size >= 1, f"beam_size must be >= 1, got {beam_size!r}"
    K = int(beam_size)
    first = first_tensor(init_state)
    batch, device = first.shape[1], first.device
    limits = _limits(max_len, batch)
    finished: list[list[tuple[float, Hypothesis]]] = [[] for _ in range(batch)]  # (score / lp, hypothesis)
    needed = 1 if length_penalty == 0 else K  # finished hypotheses a sentence needs before it may stop
    # every sentence's state and memory repeated K times: rows b*K .. b*K+K-1 are sentence b's beams
    rows = torch.arange(batch, device=device).repeat_interleave(K)
    state, memory = select(init_state, rows), select(memory, rows)
    sentence = torch.arange(batch)  # (n,) the sentence of each live block of K rows
    # (n, K) log-prob sums of the live hypotheses. Only beam 0 starts live (the others at -inf), so the
    # first step's K best are K different tokens, not K copies of the best one.
    alive = torch.full((batch, K), float("-inf"), device=device)
    alive[:, 0] = 0.0
    y = torch.full((batch * K,), bos, dtype=torch.long, device=device)  # (n*K,)
    tokens, attention = torch.zeros(batch * K, 0, dtype=torch.long, device=device), None  # (n*K, t), (n*K, t, S)
    for t in range(int(limits.max()) if batch else 0):
        log_probs, state, weights = step_fn(y, state, memory)  # (n*K, V), (n*K, S)
        n, V = alive.shape[0], log_probs.shape[-1]
        if attention is None:
            attention = weights.new_zeros(n * K, 0, weights.shape[-1], dtype=torch.float32)
        # every live hypothesis extended by every token, ranked within its sentence: (n, K*V) -> the best C.
        # C = 2K: each beam has one eos, so at most K of them end and K that go on always remain.
        candidates = (alive.unsqueeze(2) + _no_early_eos(log_probs, eos, t, min_len).view(n, K, V)).view(n, K * V)
        C = min(2 * K, K * V)
        scores, index = candidates.topk(C, dim=1)  # (n, C), best first
        token = index % V  # (n, C): the token each candidate appends
        origin = index // V + torch.arange(n, device=device).unsqueeze(1) * K  # (n, C): the row it extends
        cand_tokens = torch.cat([tokens[origin], token.unsqueeze(2)], dim=2)  # (n, C, t+1)
        cand_attention = torch.cat([attention[origin], weights.float()[origin].unsqueeze(2)], dim=2)  # (n, C, t+1, S)
        last = (limits[sentence] <= t + 1).to(device)  # (n,): this step is the sentence's last
        ends = (token == eos) | last.unsqueeze(1)  # (n, C)
        # As in fairseq, only the K best may finish: an eos ranked below K live hypotheses is not in the
        # beam (and with K = 1 this is exactly greedy). -inf scores are beams that were never live.
        finishing = ends & scores.isfinite()
        finishing[:, K:] = False
        for i, c in finishing.nonzero().tolist():
            hyp = Hypothesis(cand_tokens[i, c].tolist(), float(scores[i, c]), cand_attention[i, c].cpu())
            finished[sentence[i]].append((hyp.score / gnmt_length_penalty(len(hyp.tokens), length_penalty), hyp))
        # the K best candidates that did not end carry on (ended ones ranked after all others, then -inf)
        rank = torch.arange(C, device=device) + ends * C  # (n, C)
        pick = rank.topk(K, dim=1, largest=False).indices  # (n, K), in score order
        alive = scores.gather(1, pick).masked_fill(ends.gather(1, pick), float("-inf"))  # (n, K)
        # Done when the answer can no longer change: at max_len, with nothing live, or when the best live
        # hypothesis cannot beat the best finished one. With alpha = 0 that is exact (scores only fall as
        # hypotheses grow). With alpha > 0 a longer one may still gain from lp, so judging it at its present
        # length is a guess, and it waits for K finished hypotheses too (as Hugging Face's search does).
        best_live = (alive.max(dim=1).values / gnmt_length_penalty(t + 1, length_penalty)).tolist()  # (n,)
        done = last.cpu() | ~alive.isfinite().any(dim=1).cpu()  # (n,)
        for i, s in enumerate(sentence.tolist()):
            if len(finished[s]) >= needed:
                done[i] |= best_live[i] <= max(f[0] for f in finished[s])
        if done.all():
            break
        keep = (~done).nonzero().flatten()  # the live blocks
        keep_d = keep.to(device)
        rows = origin.gather(1, pick)[keep_d].flatten()  # (n'*K,): each new row's parent row
        state = select(state, rows)
        if len(keep) < n:
            # finished sentences leave; any row of a block holds that sentence's memory, so its parents do
            memory, sentence = select(memory, rows), sentence[keep]
        alive, y = alive[keep_d], token.gather(1, pick)[keep_d].flatten()
        picked = pick[keep_d]  # (n', K)
        live = torch.arange(len(keep), device=device).unsqueeze(1)  # (n', 1)
        tokens = cand_tokens[keep_d][live, picked].flatten(0, 1)  # (n'*K, t+1)
        attention = cand_attention[keep_d][live, picked].flatten(0, 1)  # (n'*K, t+1, S)
    return [max(f, key=lambda sh: sh[0])[1] for f in finished]

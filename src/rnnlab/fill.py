"""Fill in the blank: "the company said its profits ___ sharply in the third quarter" -> rose, fell, ...

The tutorial's point: the words AFTER the blank matter as much as the words before it. A left-to-right
language model alone sees only the left side. With a sentence  L w R  (left words, blank, right
words, then the end of the sentence), the methods, from cheapest to exact:

    left     p(w | L)                       one forward-LM step: ignores R
    right    p(w | R)                       one backward-LM step (a model trained on reversed text)
    product  p(w | L) * p(w | R), renormalised over the vocabulary
             (a heuristic: it is not p(w | L, R), which would also divide by p(w))
    exact    p(w | L, R) = p(L, w, R) / sum_v p(L, v, R)   with the chain rule of the forward LM:
             log p(L, w, R) = log p(L) + log p(w | L) + sum_j log p(r_j | L, w, r_<j) + log p(<eos> | ...)
             p(L) is the same for every w, so the score is log p(w | L) + log p(R, <eos> | L, w).
             Scoring all V words costs V forward passes over R, so it rescores the N most likely
             candidates of a cheap method (product, or left without a backward model) and
             normalises over those N: the probabilities shown sum to 1 over the candidates, <= 1
             over the vocabulary.
    exact2   the exact joint score under BOTH models (forward chain rule + backward chain rule),
             averaged in log space: an ensemble of two estimates of the same log p(L, w, R).

A fill model is a directory holding a forward word-LM bundle in `forward/` and optionally a
backward one (data.reverse = true, same vocabulary) in `backward/`; a single forward bundle works too
(left and exact only). `<unk>` and `<eos>` are never proposed: the blank is one real word.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab.errors import BundleError, UserError
from rnnlab.state import expand_rows

BLANK = re.compile(r"^_{2,}$")  # "___" (two or more underscores) marks the blank
METHODS = ("left", "right", "product", "exact", "exact2")


@dataclass
class FillModels:
    forward: Any  # rnnlab.bundle.Predictor of a left-to-right word LM
    backward: Any | None  # right-to-left word LM with the same vocabulary, or None
    path: Path

    @property
    def task(self):
        return self.forward.task

    @property
    def default_method(self) -> str:
        # exact: the only method that is p(w | left, right) itself, and the one that beat left-only in
        # benchmarks/results/cloze.json (product/exact2 were not measured there: no backward PTB model
        # fitted in that run's budget)
        return "exact"

    def methods(self) -> list[str]:
        return [m for m in METHODS if self.backward is not None or m in ("left", "exact")]


def load_fill(path: str | Path) -> FillModels:
    """A fill directory (forward/ [+ backward/]) or a single forward word-LM bundle."""
    from rnnlab.bundle import load

    path = Path(path)
    if (path / "forward").is_dir():
        forward = load(path / "forward")
        backward = load(path / "backward") if (path / "backward").is_dir() else None
    else:
        forward, backward = load(path), None
    for name, pred, reverse in (("forward", forward, False), ("backward", backward, True)):
        if pred is None:
            continue
        if pred.config.task != "wordlm":
            raise BundleError(pred.path, f"the {name} model is a {pred.config.task!r} bundle; fill needs word "
                                         f"language models (task wordlm)")
        if pred.task.data.reverse != reverse:
            raise BundleError(pred.path, f"expected a {'right-to-left' if reverse else 'left-to-right'} model "
                                         f"here (data.reverse = {str(reverse).lower()})")
    if backward is not None and backward.task.vocab.itos != forward.task.vocab.itos:
        raise BundleError(backward.path, "the backward model's vocabulary differs from the forward model's")
    return FillModels(forward, backward, path)


def split_blank(text: str) -> tuple[list[str], list[str]]:
    """"a b ___ c" -> (["a", "b"], ["c"]); exactly one blank, marked by two or more underscores."""
    if not isinstance(text, str) or not text.strip():
        raise UserError("give a sentence with one blank, e.g. \"the stock ___ sharply\"")
    words = text.split()
    blanks = [i for i, w in enumerate(words) if BLANK.match(w)]
    if len(blanks) != 1:
        raise UserError(f"the sentence needs exactly one blank written as ___ (found {len(blanks)}): {text!r}")
    return words[: blanks[0]], words[blanks[0] + 1:]


def _log_probs_after(pred, ids: list[int]) -> tuple[torch.Tensor, Any]:
    """log p(next | ids) (V,) and the state after reading ids."""
    logits, state = pred.model(torch.tensor([ids], dtype=torch.long))  # (1, T, V)
    return logits[0, -1].float().log_softmax(-1), state


def _continuation_log_prob(pred, state, candidates: torch.Tensor, rest: list[int]) -> torch.Tensor:
    """log p(rest | context, c) for each candidate c (N,), starting from the context's state.

    The N candidates run as one batch: inputs (N, 1 + len(rest) - 1) = [c, rest[:-1]], targets rest."""
    n = candidates.shape[0]
    inputs = torch.cat([candidates[:, None], torch.tensor([rest[:-1]] * n, dtype=torch.long).view(n, -1)], 1)
    state = expand_rows(state, n)  # the context's state (batch 1) once per candidate
    logits, _ = pred.model(inputs, state)  # (N, len(rest), V)
    targets = torch.tensor(rest, dtype=torch.long).expand(n, -1)  # (N, len(rest))
    return logits.float().log_softmax(-1).gather(2, targets[..., None])[..., 0].sum(1)  # (N,)


def score_blank(models: FillModels, left: list[str], right: list[str], method: str = "exact",
                n_candidates: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """Candidate ids (K,) and their probabilities (K,), best first, for the blank between left and right
    (token lists already in the vocabulary's form). K = the vocabulary (left/right/product) or the
    n_candidates rescored (exact, exact2)."""
    return score_blank_methods(models, left, right, [method], n_candidates)[method]


@torch.no_grad()
def score_blank_methods(models: FillModels, left: list[str], right: list[str], methods: list[str],
                        n_candidates: int = 50) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """`score_blank` for several methods at once, sharing the model runs they have in common."""
    for method in methods:
        if method not in models.methods():
            raise UserError(f"method {method!r} is not available here; choose from {', '.join(models.methods())}")
    vocab = models.task.vocab
    eos = vocab.index("<eos>")
    allowed = torch.ones(len(vocab), dtype=torch.bool)
    allowed[[vocab.unk_id, eos]] = False
    fwd_logp, fwd_state = _log_probs_after(models.forward, [eos] + vocab.encode(left))  # after <eos>, as in training
    bwd_logp = bwd_state = None
    if models.backward is not None and set(methods) - {"left"}:  # exact: product proposals find more candidates
        bwd_logp, bwd_state = _log_probs_after(models.backward, [eos] + vocab.encode(right[::-1]))
    out = {}

    def ranked(scores: torch.Tensor, ids: torch.Tensor | None = None):
        probs = scores.softmax(-1)
        order = probs.argsort(descending=True)
        return (order if ids is None else ids[order]), probs[order]

    proposals = {"left": fwd_logp}
    if bwd_logp is not None:
        proposals.update(right=bwd_logp, product=fwd_logp + bwd_logp)
    proposals = {m: p.masked_fill(~allowed, float("-inf")) for m, p in proposals.items()}
    n_words = int(allowed.sum())
    for method in set(methods) & {"left", "right", "product"}:
        order, probs = ranked(proposals[method])
        out[method] = order[:n_words], probs[:n_words]
    if set(methods) & {"exact", "exact2"}:
        proposal = proposals["product" if bwd_logp is not None else "left"]
        candidates = proposal.topk(min(n_candidates, n_words)).indices  # (N,)
        rest = vocab.encode(right) + [eos]  # the sentence ends after its last word
        score = fwd_logp[candidates] + _continuation_log_prob(models.forward, fwd_state, candidates, rest)
        if "exact" in methods:
            out["exact"] = ranked(score, candidates)  # normalised over the N candidates
        if "exact2" in methods:
            rest_b = vocab.encode(left[::-1]) + [eos]
            score_b = bwd_logp[candidates] + _continuation_log_prob(models.backward, bwd_state, candidates, rest_b)
            out["exact2"] = ranked((score + score_b) / 2, candidates)
    return out


def fill(models: FillModels, text: str, k: int = 10, method: str | None = None,
         n_candidates: int = 50) -> dict[str, Any]:
    """The k best words for the blank in `text`, with probabilities, as a JSON-able dict."""
    method = method or models.default_method
    left, right = split_blank(text)
    task = models.task
    left, right = [task.normalize(w) for w in left], [task.normalize(w) for w in right]
    ids, probs = score_blank(models, left, right, method, n_candidates)
    words = task.vocab.decode(ids[:k].tolist())
    unknown = [w for w in left + right if w not in task.vocab]
    return {"text": text, "method": method, "left": left, "right": right, "unknown": unknown,
            "candidates_scored": int(ids.shape[0]),
            "candidates": [{"word": w, "probability": float(p)} for w, p in zip(words, probs[:k].tolist())]}

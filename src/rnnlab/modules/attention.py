"""Attention over a memory of vectors (encoder outputs, image regions): one query -> weights -> a context.

    query q (B, Hq), keys k_1..k_S (B, S, Hk), mask (B, S) bool (True at the real positions)
    scores  e_s = score(q, k_s)                          (B, S)
    weights a = softmax over the real s of e             (B, S), exactly 0 at masked positions
    context c = sum_s a_s k_s                            (B, Hk)

Two families of score, one interface (`forward(query, keys, mask) -> (context, weights)`):

    additive        v^T tanh(W_q q + W_k k_s)      Bahdanau et al. 2015 (Luong et al. 2015 call it "concat")
    general         q^T W_a k_s                    Luong et al. 2015, multiplicative
    dot             q^T k_s                        Luong et al. 2015, no parameters (needs Hq = Hk)

The keys are the values too: the context is a mix of the vectors scored, as in both papers.

A decoder attends over the same keys at every step, so the part of a score that depends on the keys
alone is computed once per source by `project_keys` and passed back as `projected_keys`: for additive
attention that is W_k k_s (B, S, A), an (S, Hk) x (Hk, A) product per sentence that would otherwise be
repeated every step. Multiplicative attention needs nothing precomputed (it projects the query instead,
one (Hq, Hk) product per step), so its `project_keys` returns None.

Padded keys must be finite (an encoder's outputs past each end are zeros): a masked key gets weight
exactly 0, and 0 * x is 0 for finite x only. Every row needs at least one real position (a softmax over
nothing has no value).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

ATTENTION_KINDS = ("additive", "general", "dot")


def attend(scores: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """scores (B, S), keys (B, S, Hk), mask (B, S) bool -> (context (B, Hk), weights (B, S)).

    Masked scores become -inf before the softmax, so exp gives their weights as exactly 0 (not merely
    small): what sits in the padding cannot reach the context, whatever its value."""
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, S), a_s = softmax(e)_s
    context = torch.bmm(weights.unsqueeze(1).to(keys.dtype), keys).squeeze(1)  # (B, Hk) = sum_s a_s k_s
    return context, weights


def _check(query: Tensor, keys: Tensor, mask: Tensor, query_size: int, key_size: int) -> None:
    """The shapes every attention assumes (internals assert; users never call these directly)."""
    assert query.dim() == 2 and query.shape[1] == query_size, f"query {tuple(query.shape)}, want (B, {query_size})"
    assert keys.dim() == 3 and keys.shape[0] == query.shape[0] and keys.shape[2] == key_size, \
        f"keys {tuple(keys.shape)}, want ({query.shape[0]}, S, {key_size})"
    assert mask.shape == keys.shape[:2] and mask.dtype == torch.bool, \
        f"mask {tuple(mask.shape)} {mask.dtype}, want {tuple(keys.shape[:2])} bool"


class AdditiveAttention(nn.Module):
    """Bahdanau et al. 2015: e_s = v^T tanh(W_q q + W_k k_s), a one-hidden-layer MLP over (q, k_s).

    W_q (A, Hq) and W_k (A, Hk) map query and key into one space of `attention_size` A (default Hq),
    v (A,) reads a score off it. Bahdanau's query is the decoder's previous state s_{i-1}; a Luong-style
    decoder passes its current h_t, which makes this Luong's "concat" score v^T tanh(W_a [h_t; h̄_s])
    (W_a = [W_q W_k]). No biases, as in both papers."""

    def __init__(self, query_size: int, key_size: int, attention_size: int | None = None):
        super().__init__()
        self.query_size, self.key_size = query_size, key_size
        self.attention_size = attention_size or query_size
        self.query_proj = nn.Linear(query_size, self.attention_size, bias=False)  # W_q
        self.key_proj = nn.Linear(key_size, self.attention_size, bias=False)  # W_k
        self.v = nn.Linear(self.attention_size, 1, bias=False)  # v^T

    def project_keys(self, keys: Tensor) -> Tensor:
        """keys (B, S, Hk) -> W_k k_s (B, S, A): the keys' share of the scores, the same at every step."""
        return self.key_proj(keys)

    def scores(self, query: Tensor, keys: Tensor, projected_keys: Tensor | None = None) -> Tensor:
        """e_s = v^T tanh(W_q q + W_k k_s): (B, S), before masking."""
        if projected_keys is None:
            projected_keys = self.project_keys(keys)  # (B, S, A)
        hidden = torch.tanh(self.query_proj(query).unsqueeze(1) + projected_keys)  # (B, S, A), q broadcast over s
        return self.v(hidden).squeeze(2)  # (B, S)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, Hq), keys (B, S, Hk), mask (B, S) bool -> (context (B, Hk), weights (B, S))."""
        _check(query, keys, mask, self.query_size, self.key_size)
        return attend(self.scores(query, keys, projected_keys), keys, mask)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, attention_size={self.attention_size}"


class MultiplicativeAttention(nn.Module):
    """Luong et al. 2015 (section 3.1): e_s = h_t^T W_a h̄_s ("general") or h_t^T h̄_s ("dot").

    "general" computes h_t^T W_a h̄_s as (W_a^T h_t) . h̄_s: the query is projected once per step,
    (B, Hq) x (Hq, Hk), rather than all S keys. W_a^T is `proj.weight` (Hk, Hq)."""

    def __init__(self, query_size: int, key_size: int, kind: str = "general"):
        super().__init__()
        if kind not in ("general", "dot"):
            raise ValueError(f"multiplicative attention is 'general' or 'dot', got {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(f"dot attention scores q . k, so it needs query_size == key_size; got {query_size} "
                             f"and {key_size} (use 'general', which learns the map between them)")
        self.query_size, self.key_size, self.kind = query_size, key_size, kind
        self.proj = nn.Linear(query_size, key_size, bias=False) if kind == "general" else None  # W_a^T

    def project_keys(self, keys: Tensor) -> None:
        """Nothing to precompute: the query carries the projection (see the class docstring)."""
        return None

    def scores(self, query: Tensor, keys: Tensor, projected_keys: Tensor | None = None) -> Tensor:
        """e_s = h_t^T W_a h̄_s (or h_t^T h̄_s): (B, S), before masking."""
        q = query if self.proj is None else self.proj(query)  # (B, Hk) = W_a^T h_t
        return torch.bmm(keys, q.unsqueeze(2)).squeeze(2)  # (B, S, Hk) x (B, Hk, 1) -> (B, S)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor,
                projected_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, Hq), keys (B, S, Hk), mask (B, S) bool -> (context (B, Hk), weights (B, S))."""
        _check(query, keys, mask, self.query_size, self.key_size)
        return attend(self.scores(query, keys), keys, mask)

    def extra_repr(self) -> str:
        return f"query_size={self.query_size}, key_size={self.key_size}, kind={self.kind!r}"


def make_attention(kind: str, query_size: int, key_size: int,
                   attention_size: int | None = None) -> AdditiveAttention | MultiplicativeAttention:
    """The attention a config names: "additive" (Bahdanau), "general" or "dot" (Luong).

    `attention_size` is the additive score's hidden size (default query_size); the others have none."""
    if kind == "additive":
        return AdditiveAttention(query_size, key_size, attention_size)
    if kind in ("general", "dot"):
        if attention_size is not None:
            raise ValueError(f"attention_size is the additive score's hidden size; {kind!r} attention has none")
        return MultiplicativeAttention(query_size, key_size, kind)
    raise ValueError(f"attention must be one of {', '.join(ATTENTION_KINDS)}, got {kind!r}")

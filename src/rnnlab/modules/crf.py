"""A linear-chain conditional random field over per-token scores, with BIO transition constraints.

A tagger scores each token on its own (emissions); a CRF (Lafferty et al. 2001; with a BiLSTM under
it: Lample et al. 2016) also scores each pair of neighbouring tags, so the best *sequence* is chosen
rather than the best tag at each position. For a tag path y over T tokens:

    score(y) = start[y_1] + sum_t emissions[t, y_t] + sum_{t>1} transitions[y_{t-1}, y_t] + end[y_T]
    p(y | x) = exp(score(y)) / Z,   log Z = logsumexp over all K^T paths  (forward algorithm, O(T K^2))

Training minimises -log p(gold path); decoding takes the argmax path (Viterbi, O(T K^2)).

BIO constraints: in IOB2 an `I-x` tag may only follow `B-x` or `I-x`, and a sentence cannot start with
`I-x`. Those transitions get a fixed score of -10000 (not learned), so the model never spends capacity
learning they are impossible and Viterbi never outputs them.

Shapes: B batch, T time (padded), K tags. Padded positions (t >= length) are ignored: the forward and
Viterbi recursions simply carry the state through them unchanged. Computation runs in float32 even
under bf16 autocast (log-sum-exp over long sums is where low precision hurts).
"""
from __future__ import annotations

import torch
from torch import nn

from rnnlab.modules.pooling import length_mask

IMPOSSIBLE = -10000.0


def bio_constraints(tags: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Allowed transitions (K, K) [from, to] and allowed starts (K,) for IOB2 tag names."""
    k = len(tags)
    allowed = torch.ones(k, k, dtype=torch.bool)
    start = torch.ones(k, dtype=torch.bool)
    for j, to in enumerate(tags):
        if to.startswith("I-"):
            start[j] = False
            for i, frm in enumerate(tags):
                allowed[i, j] = frm in (f"B-{to[2:]}", f"I-{to[2:]}")
    return allowed, start


class CRF(nn.Module):
    def __init__(self, num_tags: int, allowed: torch.Tensor | None = None, allowed_start: torch.Tensor | None = None):
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        allowed = torch.ones(num_tags, num_tags, dtype=torch.bool) if allowed is None else allowed
        allowed_start = torch.ones(num_tags, dtype=torch.bool) if allowed_start is None else allowed_start
        # fixed penalties (buffers, not parameters): 0 where allowed, IMPOSSIBLE where not
        self.register_buffer("transition_mask", torch.where(allowed, 0.0, IMPOSSIBLE), persistent=False)
        self.register_buffer("start_mask", torch.where(allowed_start, 0.0, IMPOSSIBLE), persistent=False)

    def _params(self):
        return self.transitions + self.transition_mask, self.start + self.start_mask, self.end

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """log Z for each sequence: (B, T, K), (B,) -> (B,)."""
        emissions = emissions.float()
        trans, start, end = self._params()
        mask = length_mask(lengths, emissions.shape[1])  # (B, T)
        # logsumexp_i(alpha_i + trans_ij) as a matmul in exp space, shifted by maxima for stability:
        # log(exp(alpha - a) @ exp(trans - m)) + a + m. A (B, K) @ (K, K) product is several times
        # faster than a logsumexp over a (B, K, K) tensor, and this loop is the CRF's whole cost.
        m = trans.max()
        exp_trans = torch.exp(trans - m)  # (K, K); forbidden transitions become exactly 0
        alpha = start + emissions[:, 0]  # (B, K): log-sum of all paths ending in each tag at t=0
        for t in range(1, emissions.shape[1]):
            a = alpha.max(dim=1, keepdim=True).values  # (B, 1)
            # clamp: a tag unreachable to float32 precision (e^-69 below the best) stays finite
            nxt = torch.log((torch.exp(alpha - a) @ exp_trans).clamp_min(1e-30)) + a + m + emissions[:, t]
            alpha = torch.where(mask[:, t:t + 1], nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """score(y) of the given paths: (B, T, K), (B, T) long, (B,) -> (B,)."""
        emissions = emissions.float()
        trans, start, end = self._params()
        mask = length_mask(lengths, emissions.shape[1]).float()  # (B, T)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T)
        pair = trans[tags[:, :-1], tags[:, 1:]]  # (B, T-1): transition into step t from t-1
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (B,)
        return start[tags[:, 0]] + (emit * mask).sum(1) + (pair * mask[:, 1:]).sum(1) + end[last]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """-log p(tags | x) per sequence, (B,)."""
        with torch.autocast(emissions.device.type, enabled=False):
            return self.log_partition(emissions, lengths) - self.path_score(emissions, tags, lengths)

    def scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The scores a path is decoded under: transitions (K, K) [from, to], start (K,), end (K,), the BIO
        constraints' penalties added (what an export's graph gives for `viterbi` outside it)."""
        return self._params()

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """Viterbi: the highest-scoring path of each sequence, as lists of tag ids (length = lengths[b])."""
        return viterbi(emissions, lengths, *self._params())


@torch.no_grad()
def viterbi(emissions: torch.Tensor, lengths: torch.Tensor, transitions: torch.Tensor, start: torch.Tensor,
            end: torch.Tensor) -> list[list[int]]:
    """The highest-scoring path of each sequence under these scores (CRF.scores: constraints included), as lists
    of tag ids (length = lengths[b]): emissions (B, T, K), lengths (B,), transitions (K, K), start, end (K,)."""
    emissions = emissions.float()
    trans, start, end = transitions.float(), start.float(), end.float()
    b, t_max, k = emissions.shape
    mask = length_mask(lengths, t_max)
    score = start + emissions[:, 0]  # (B, K): best path score ending in each tag
    keep = torch.arange(k, device=emissions.device).expand(b, k)  # padded steps point to themselves
    backpointers = []
    for t in range(1, t_max):
        best, arg = (score.unsqueeze(2) + trans).max(dim=1)  # (B, K_to): best previous tag for each
        score = torch.where(mask[:, t:t + 1], best + emissions[:, t], score)
        backpointers.append(torch.where(mask[:, t:t + 1], arg, keep))
    tag = (score + end).argmax(dim=1)  # (B,) best last tag (carried unchanged through padding)
    path = [tag]
    for bp in reversed(backpointers):
        tag = bp.gather(1, tag.unsqueeze(1)).squeeze(1)
        path.append(tag)
    path = torch.stack(path[::-1], dim=1).tolist()  # (B, T)
    return [p[:n] for p, n in zip(path, lengths.tolist())]

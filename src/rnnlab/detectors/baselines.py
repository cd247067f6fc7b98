"""Detectors of abnormal sessions that need no network: fit on normal sessions, score any session.

Every detector has `fit(sessions) -> self` (normal training sessions, each a sequence of int event ids)
and `score(sessions) -> (N,) float array`, higher = more abnormal, 0 = nothing unseen. The scores are
continuous (counts, distances) so thresholds can be swept; "score > 0" is each detector's own rule
("anything not seen in training is abnormal"). After Landauer et al. 2024 ("Deep learning for anomaly
detection in log data: a survey", and their HDFS re-evaluation), who show that detectors this simple
reach F1 0.95-0.99 on HDFS.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

Sessions = Iterable[Sequence[int]]


class NewEventDetector:
    """Score: how many events of the session (occurrences) never occur in any training session."""

    name = "new_event"

    def fit(self, sessions: Sessions) -> "NewEventDetector":
        self.known = {e for s in sessions for e in s}
        return self

    def score(self, sessions: Sessions) -> np.ndarray:
        return np.array([sum(e not in self.known for e in s) for s in sessions], dtype=np.float64)


class LengthDetector:
    """Score: the distance from the session's length to the nearest length seen in training (0 if seen)."""

    name = "length"

    def fit(self, sessions: Sessions) -> "LengthDetector":
        self.lengths = np.unique([len(s) for s in sessions])  # sorted, (L,)
        if not len(self.lengths):
            raise ValueError("no training sessions")
        return self

    def score(self, sessions: Sessions) -> np.ndarray:
        n = np.array([len(s) for s in sessions], dtype=np.int64)  # (N,)
        at = np.clip(np.searchsorted(self.lengths, n), 1, max(len(self.lengths) - 1, 1))
        below, above = self.lengths[at - 1], self.lengths[np.minimum(at, len(self.lengths) - 1)]
        return np.minimum(np.abs(n - below), np.abs(n - above)).astype(np.float64)


class NGramDetector:
    """Score: how many n-grams of the session (with start and end markers, so a session that starts or
    ends with an unusual event counts too) never occur in training."""

    START, END = -1, -2  # markers no event id can be (ids are >= 0)

    def __init__(self, n: int = 2):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n
        self.name = f"{n}gram"

    def _grams(self, s: Sequence[int]) -> list[tuple[int, ...]]:
        padded = [self.START] * (self.n - 1) + list(s) + [self.END]
        return [tuple(padded[i:i + self.n]) for i in range(len(padded) - self.n + 1)]

    def fit(self, sessions: Sessions) -> "NGramDetector":
        self.known = {g for s in sessions for g in self._grams(s)}
        return self

    def score(self, sessions: Sessions) -> np.ndarray:
        return np.array([sum(g not in self.known for g in self._grams(s)) for s in sessions], dtype=np.float64)


class CountVectorNN:
    """Score: the Euclidean distance from the session's event-count vector to the nearest training
    session's (scikit-learn NearestNeighbors). Events unseen in training share one extra column, so they
    add distance rather than vanish. Training vectors are deduplicated first (HDFS repeats many)."""

    name = "count_nn"

    def fit(self, sessions: Sessions) -> "CountVectorNN":
        from sklearn.neighbors import NearestNeighbors

        sessions = [list(s) for s in sessions]
        self.columns = {e: j for j, e in enumerate(sorted({e for s in sessions for e in s}))}
        train = np.unique(self._vectors(sessions), axis=0)  # (M, E + 1) distinct count vectors
        self.nn = NearestNeighbors(n_neighbors=1).fit(train)
        return self

    def _vectors(self, sessions: list[Sequence[int]]) -> np.ndarray:
        out = np.zeros((len(sessions), len(self.columns) + 1), dtype=np.float64)  # last column: unseen events
        unseen = len(self.columns)
        for i, s in enumerate(sessions):
            for e, c in Counter(s).items():
                out[i, self.columns.get(e, unseen)] += c
        return out

    def score(self, sessions: Sessions) -> np.ndarray:
        sessions = [list(s) for s in sessions]
        if not sessions:
            return np.zeros(0)
        dist, _ = self.nn.kneighbors(self._vectors(sessions))  # (N, 1)
        return dist[:, 0]


def all_baselines() -> list:
    """One fresh detector of each kind, in the order the benchmark reports them."""
    return [NewEventDetector(), LengthDetector(), NGramDetector(2), CountVectorNN()]

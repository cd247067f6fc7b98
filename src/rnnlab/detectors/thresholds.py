"""Thresholds on anomaly scores and what they give: a session is flagged abnormal when score > threshold.

threshold_at_fpr  the lowest threshold that keeps the false-positive rate on normal scores <= a rate
split_halves      two disjoint halves of the normal sessions, fixed by a seed (whole groups, e.g. copies, kept together)
cross_fit_at_fpr  threshold_at_fpr set on one half, false-positive rate and recall measured on the other, both ways
rates_at          false-positive rate, recall, and (where normal sessions are given) precision and F1
precision_at_mix  the precision a false-positive rate and recall give on a test set of another normal/abnormal mix
fpr_upper_bound   a one-sided Clopper-Pearson bound on a false-positive rate measured as fp of n
curves            ROC AUC and PR AUC (average precision), scikit-learn
best_f1           the threshold with the best F1 over all thresholds: an oracle (chosen on the test labels)
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def threshold_at_fpr(normal_scores: Sequence[float], fpr: float = 0.01) -> float:
    """A threshold t with #(normal > t) <= floor(fpr * N): the (k+1)-th highest normal score, k = floor(fpr * N).
    Flagging `score > t` then keeps the false-positive rate on these normal sessions <= fpr, and no lower
    threshold of the same form does (ties at t stay unflagged)."""
    scores = np.sort(np.asarray(normal_scores, dtype=np.float64))[::-1]  # descending
    if not len(scores):
        raise ValueError("no normal scores to set a threshold on")
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must be in [0, 1), got {fpr}")
    return float(scores[min(int(math.floor(fpr * len(scores) + 1e-9)), len(scores) - 1)])


def split_halves(n: int, seed: int = 0, groups: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint, sorted index arrays covering range(n), fixed by `seed`. With `groups` (a key per item), every
    item of a group lands in the same half, so no item has a twin in the other half. Groups are dealt in a seeded
    order to whichever half holds fewer items: without groups the halves are n // 2 and n - n // 2 items."""
    keys = list(range(n)) if groups is None else list(groups)
    if len(keys) != n:
        raise ValueError(f"{len(keys)} group keys for {n} items")
    members: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    if len(members) < 2:
        raise ValueError(f"two halves need at least two groups, got {len(members)}")
    blocks = list(members.values())
    first: list[int] = []
    second: list[int] = []
    for j in np.random.default_rng(seed).permutation(len(blocks)):
        (first if len(first) <= len(second) else second).extend(blocks[j])
    return np.array(sorted(first), dtype=np.int64), np.array(sorted(second), dtype=np.int64)


def cross_fit_at_fpr(normal_scores: Sequence[float], abnormal_scores: Sequence[float],
                     halves: tuple[Sequence[int], Sequence[int]], fpr: float = 0.01) -> dict[str, Any]:
    """Two-fold cross-fitting of `threshold_at_fpr`: the threshold is set on the normal scores of one half and
    `rates_at` it is measured on the normal scores of the other half and on every abnormal score; then the halves
    swap. On the scores it was set on a threshold keeps the false-positive rate <= fpr by construction; only on
    scores it never saw is that rate a measurement.

    Returns "folds" (per fold: rates_at on the measured half, "fit_on" / "measured_on" sizes), "fpr" and "recall"
    (the mean over the two folds), "fp" and "normal" (pooled: each normal score is measured once, by a threshold
    set without it)."""
    normal = np.asarray(normal_scores, dtype=np.float64)
    first, second = (np.asarray(h, dtype=np.int64) for h in halves)
    if np.intersect1d(first, second).size:
        raise ValueError("the two halves share normal scores: a threshold would be measured on what set it")
    folds = []
    for fit, measure in ((first, second), (second, first)):
        if not len(measure):
            raise ValueError("an empty half: nothing to set a threshold on or to measure on")
        t = threshold_at_fpr(normal[fit], fpr)
        folds.append({**rates_at(t, normal[measure], abnormal_scores), "fit_on": len(fit), "measured_on": len(measure)})
    return {"fpr": float(np.mean([f["fpr"] for f in folds])), "recall": float(np.mean([f["recall"] for f in folds])),
            "fp": sum(f["fp"] for f in folds), "normal": sum(f["measured_on"] for f in folds), "folds": folds}


def precision_at_mix(recall: float, fpr: float, n_normal: int, n_abnormal: int) -> float:
    """Precision on a test set of n_normal normal and n_abnormal abnormal sessions, from a recall and a false-positive
    rate measured elsewhere: TP / (TP + FP) with TP = recall * n_abnormal and FP = fpr * n_normal. Where normal
    sessions are scarcer in the measurement than in the real mix (HDFS: ~1k against 553k), precision counted on the
    measurement's own sessions would say little about the real mix."""
    tp, fp = recall * n_abnormal, fpr * n_normal
    return float(tp / (tp + fp)) if tp + fp > 0 else 0.0


def fpr_upper_bound(fp: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a false-positive rate measured as fp of n normal sessions (fp = 0
    gives 1 - (1 - confidence) ** (1 / n), about 3 / n at 95 %)."""
    from scipy.stats import beta  # a dependency of scikit-learn

    if not 0 <= fp <= n or n < 1:
        raise ValueError(f"need 0 <= fp <= n and n >= 1, got fp={fp}, n={n}")
    return 1.0 if fp == n else float(beta.ppf(confidence, fp + 1, n - fp))


def rates_at(threshold: float, normal_scores: Sequence[float], abnormal_scores: Sequence[float]) -> dict[str, Any]:
    """Counts and rates of `score > threshold`. Precision and F1 only when there are normal scores (without
    normal sessions every flag is a true positive and precision says nothing)."""
    normal = np.asarray(normal_scores, dtype=np.float64) > threshold
    abnormal = np.asarray(abnormal_scores, dtype=np.float64) > threshold
    fp, tn, tp, fn = int(normal.sum()), int((~normal).sum()), int(abnormal.sum()), int((~abnormal).sum())
    out: dict[str, Any] = {"threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                           "fpr": fp / max(fp + tn, 1), "recall": tp / max(tp + fn, 1)}
    if fp + tn and tp + fn:
        from sklearn.metrics import precision_recall_fscore_support

        y_true = np.r_[np.zeros(len(normal)), np.ones(len(abnormal))]
        y_pred = np.r_[normal, abnormal].astype(np.float64)
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary", zero_division=0)
        out.update(precision=float(p), f1=float(f))
    return out


def curves(normal_scores: Sequence[float], abnormal_scores: Sequence[float]) -> dict[str, float]:
    """ROC AUC and PR AUC (average precision, abnormal = positive); {} unless both kinds are present."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    if not len(normal_scores) or not len(abnormal_scores):
        return {}
    y_true = np.r_[np.zeros(len(normal_scores)), np.ones(len(abnormal_scores))]
    y = np.r_[np.asarray(normal_scores, dtype=np.float64), np.asarray(abnormal_scores, dtype=np.float64)]
    return {"roc_auc": float(roc_auc_score(y_true, y)), "pr_auc": float(average_precision_score(y_true, y))}


def best_f1(normal_scores: Sequence[float], abnormal_scores: Sequence[float]) -> dict[str, Any]:
    """`rates_at` the threshold with the highest F1 on these very labels: an upper bound (an oracle), not a
    figure a deployed detector could reach without labelled test data."""
    candidates = np.unique(np.r_[np.asarray(normal_scores, dtype=np.float64),
                                 np.asarray(abnormal_scores, dtype=np.float64)])
    # flagging `score > t`: every distinct score, and one below the lowest (flag everything)
    candidates = np.r_[candidates[0] - 1.0, candidates] if len(candidates) else np.zeros(1)
    best = max((rates_at(t, normal_scores, abnormal_scores) for t in candidates), key=lambda r: r.get("f1", 0.0))
    return {**best, "oracle": True}

"""Thresholds on anomaly scores and what they give: a session is flagged abnormal when score > threshold.

threshold_at_fpr  the lowest threshold that keeps the false-positive rate on normal scores <= a rate
rates_at          false-positive rate, recall, and (where normal sessions are given) precision and F1
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

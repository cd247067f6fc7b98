"""Detection metrics over labelled sessions: what a detector's verdicts and scores give on a test split.

session_metrics  the verdict rule's false-positive rate / recall (precision, F1), ROC / PR AUC of the scores,
                 and recall at a false-positive rate cross-fitted on halves of the normal sessions

Sessions are labelled NORMAL, ABNORMAL or UNLABELLED (a file given to `rnnlab evaluate --data`); each metric
is reported only where the labels allow it. The threshold arithmetic is rnnlab.detectors.thresholds.
"""
from __future__ import annotations

import numpy as np

from rnnlab.detectors.thresholds import cross_fit_at_fpr, curves, rates_at, split_halves

NORMAL, ABNORMAL, UNLABELLED = 0, 1, -1


def session_metrics(flagged: np.ndarray | None, scores: np.ndarray, session_labels: np.ndarray,
                    fpr: float = 0.01) -> dict[str, float]:
    """flagged (S,) bool, scores (S,), session_labels (S,) -> the rule's false-positive rate / recall (precision, F1
    where both kinds are present), ROC / PR AUC of the scores, and recall at a false-positive rate of `fpr`,
    cross-fitted: the threshold is set on one half of these normal sessions and the rate measured on the other,
    then the halves swap (a threshold set and measured on the same sessions would meet `fpr` by construction);
    both are the mean of the two folds. Only what the labels allow: nothing of recall without abnormal sessions.
    flagged None (a detector without verdicts yet, e.g. before its threshold is set): the scores' figures only."""
    normal, abnormal = session_labels == NORMAL, session_labels == ABNORMAL
    out: dict[str, float] = {}
    if flagged is not None and normal.any():
        out["fpr"] = float(flagged[normal].mean())
    if flagged is not None and abnormal.any():
        out["recall"] = float(flagged[abnormal].mean())
    if normal.any() and abnormal.any():
        if flagged is not None:
            # the rule as a threshold: flagged is 0/1, "> 0.5" flags exactly the flagged sessions
            rule = rates_at(0.5, flagged[normal].astype(float), flagged[abnormal].astype(float))
            out.update(precision=rule["precision"], f1=rule["f1"])
        out.update(curves(scores[normal], scores[abnormal]))
        if normal.sum() >= 2:
            at = cross_fit_at_fpr(scores[normal], scores[abnormal], split_halves(int(normal.sum()), seed=0), fpr)
            out.update({f"recall_at_fpr_{fpr:g}": at["recall"], f"fpr_at_fpr_{fpr:g}": at["fpr"]})
    return out

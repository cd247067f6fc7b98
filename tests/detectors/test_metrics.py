"""Detection metrics over labelled sessions: the rule's rates, the scores' curves, recall at a cross-fitted FPR."""
import numpy as np
import pytest

from rnnlab.detectors import ABNORMAL, NORMAL, UNLABELLED, split_halves, threshold_at_fpr
from rnnlab.detectors.metrics import session_metrics


def test_session_metrics_from_flags_and_scores():
    flagged = np.array([False, True, False, True, True, False])
    scores = np.array([0.1, 3.0, 0.2, 5.0, 4.0, 0.3])
    labels = np.array([0, 0, 0, 1, 1, 1])
    m = session_metrics(flagged, scores, labels, fpr=0.34)
    assert m["fpr"] == pytest.approx(1 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx(2 / 3) and m["roc_auc"] == pytest.approx(8 / 9)
    assert "threshold_at_fpr_0.34" not in m  # no threshold set on the sessions that measure it is reported
    # cross-fitted: each half's threshold measured on the other half's normal sessions and on every abnormal one
    normal, abnormal = scores[labels == 0], scores[labels == 1]
    a, b = split_halves(3, seed=0)
    folds = [(threshold_at_fpr(normal[fit], 0.34), normal[measure]) for fit, measure in ((a, b), (b, a))]
    assert m["fpr_at_fpr_0.34"] == pytest.approx(np.mean([(held > t).mean() for t, held in folds]))
    assert m["recall_at_fpr_0.34"] == pytest.approx(np.mean([(abnormal > t).mean() for t, _ in folds]))
    assert session_metrics(flagged[:3], scores[:3], labels[:3]) == {"fpr": pytest.approx(1 / 3)}


def test_session_metrics_measure_the_false_positive_rate_on_sessions_the_threshold_never_saw():
    # one normal session far above the others: set on all four, the threshold sits at it and the rate is 0 by
    # construction; cross-fitted, the half that lacks it sets a low threshold and it is a false positive there
    scores = np.array([0.1, 0.2, 0.3, 9.0, 9.5, 10.0])
    labels = np.array([0, 0, 0, 0, 1, 1])
    m = session_metrics(scores > 5, scores, labels, fpr=0.2)
    assert m["fpr_at_fpr_0.2"] > 0.2


def test_session_metrics_report_only_what_the_labels_allow():
    flagged = np.array([True, False, True, True])
    scores = np.array([4.0, 1.0, 3.0, 2.0])
    # unlabelled sessions (`evaluate --data FILE`) count in nothing
    assert session_metrics(flagged, scores, np.full(4, UNLABELLED)) == {}
    # abnormal sessions alone: recall, but no false-positive rate, precision or curves
    assert session_metrics(flagged, scores, np.full(4, ABNORMAL)) == {"recall": pytest.approx(3 / 4)}
    # one normal session: the rule's rates and the curves, but no halves to cross-fit a threshold on
    labels = np.array([NORMAL, ABNORMAL, ABNORMAL, UNLABELLED])
    m = session_metrics(flagged, scores, labels)
    assert m == {"fpr": 1.0, "recall": 0.5, "precision": pytest.approx(0.5), "f1": pytest.approx(0.5),
                 "roc_auc": 0.0, "pr_auc": pytest.approx(7 / 12)}

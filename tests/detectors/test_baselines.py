"""The baselines on tiny hand-made sessions (exact scores), and the threshold helpers."""
import numpy as np
import pytest

from rnnlab.detectors import (
    CountVectorNN,
    LengthDetector,
    NewEventDetector,
    NGramDetector,
    all_baselines,
    best_f1,
    curves,
    rates_at,
    threshold_at_fpr,
)

TRAIN = [[1, 2, 3], [1, 2, 2, 3], [1, 3]]


def test_new_event_counts_unseen_occurrences():
    d = NewEventDetector().fit(TRAIN)
    assert d.score([[1, 2, 3], [1, 9, 9, 3], [7]]).tolist() == [0, 2, 1]


def test_length_is_the_distance_to_the_nearest_seen_length():
    d = LengthDetector().fit(TRAIN)  # lengths 2, 3, 4
    assert d.score([[1, 2], [1] * 4, [1], [1] * 7, []]).tolist() == [0, 0, 1, 3, 2]
    one = LengthDetector().fit([[1, 2]])  # a single training length
    assert one.score([[1, 2], [1], [1, 2, 3, 4]]).tolist() == [0, 1, 2]


def test_bigrams_with_start_and_end_markers():
    d = NGramDetector(2).fit(TRAIN)
    assert d.score([[1, 2, 3]]).tolist() == [0]
    assert d.score([[2, 3]]).tolist() == [1]  # starts with 2: (start, 2) unseen
    assert d.score([[1, 2]]).tolist() == [1]  # ends with 2: (2, end) unseen
    assert d.score([[1, 3, 2, 3]]).tolist() == [1]  # (3, 2) unseen
    assert d.score([[3, 1]]).tolist() == [3]  # (start, 3), (3, 1), (1, end)
    assert NGramDetector(3).fit(TRAIN).score([[1, 2, 3]]).tolist() == [0]
    with pytest.raises(ValueError):
        NGramDetector(0)


def test_count_vector_nearest_neighbour_distance():
    d = CountVectorNN().fit(TRAIN)
    assert d.score([[3, 2, 1], [1, 2, 2, 2, 3]]).tolist() == pytest.approx([0.0, 1.0])  # order-blind
    assert d.score([[1, 3, 9, 9]]).tolist() == pytest.approx([2.0])  # unseen events share one column
    assert d.score([]).shape == (0,)


def test_every_baseline_scores_training_sessions_zero_and_a_foreign_one_higher():
    for d in all_baselines():
        d.fit(TRAIN)
        normal, foreign = d.score(TRAIN), d.score([[1, 9, 9, 9, 9, 9, 9, 9, 9]])
        assert normal.tolist() == [0, 0, 0] and foreign[0] > 0, d.name


def test_threshold_at_fpr_keeps_the_rate():
    normal = np.arange(100, dtype=float)  # 0 .. 99
    t = threshold_at_fpr(normal, 0.01)
    assert t == 98.0 and (normal > t).mean() == 0.01
    assert threshold_at_fpr(normal, 0.0) == 99.0  # nothing normal flagged
    ties = np.array([0.0] * 99 + [5.0])
    assert threshold_at_fpr(ties, 0.05) == 0.0  # flag > 0: 1 % of normal, within 5 %
    with pytest.raises(ValueError):
        threshold_at_fpr([], 0.01)


def test_rates_at_a_threshold():
    r = rates_at(0.5, [0, 0, 1, 0], [1, 1, 0])
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 1, 3)
    assert r["fpr"] == 0.25 and r["recall"] == pytest.approx(2 / 3)
    assert r["precision"] == pytest.approx(2 / 3) and r["f1"] == pytest.approx(2 / 3)
    assert "precision" not in rates_at(0.5, [], [1, 0])  # no normal sessions: no precision


def test_curves_and_the_best_f1_oracle():
    assert curves([0, 1, 2], [3, 4]) == {"roc_auc": 1.0, "pr_auc": 1.0}
    assert curves([0, 1], []) == {}
    best = best_f1([0, 1, 2, 5], [3, 4, 6])
    assert best["oracle"] and best["f1"] == pytest.approx(6 / 7) and best["threshold"] == 2.0

"""Cross-fitted thresholds: set on one half of the normal scores, measured on the other; precision at a test mix."""
import numpy as np
import pytest

from rnnlab.detectors import cross_fit_at_fpr, fpr_upper_bound, precision_at_mix, split_halves, threshold_at_fpr


def test_split_halves_is_a_fixed_disjoint_cover():
    first, second = split_halves(971, seed=0)
    assert (len(first), len(second)) == (486, 485)
    assert np.intersect1d(first, second).size == 0 and sorted(np.r_[first, second].tolist()) == list(range(971))
    again = split_halves(971, seed=0)
    assert np.array_equal(again[0], first) and np.array_equal(again[1], second)
    assert not np.array_equal(split_halves(971, seed=1)[0], first)
    # shuffled, not the first and the second half of the file (which could differ in time)
    for half in (first, second):
        assert (half < 485).any() and (half >= 486).any()


def test_split_halves_keeps_a_group_in_one_half():
    groups = ["a"] * 5 + ["b"] * 3 + list("cdefghij")
    first, second = split_halves(len(groups), seed=0, groups=groups)
    for half in (first, second):
        keys = {groups[i] for i in half}
        assert not keys & {groups[i] for i in (second if half is first else first)}
    assert {0, 1, 2, 3, 4} <= set(first.tolist()) or {0, 1, 2, 3, 4} <= set(second.tolist())
    with pytest.raises(ValueError):
        split_halves(4, groups=["x"] * 4)  # one group cannot make two halves
    with pytest.raises(ValueError):
        split_halves(4, groups=["x", "y"])


def test_cross_fit_measures_each_threshold_on_scores_it_never_saw():
    # half A: 0 .. 99 (1 % threshold 98); half B: every score 1000, far above anything A saw
    normal = np.r_[np.arange(100.0), np.full(100, 1000.0)]
    halves = (np.arange(100), np.arange(100, 200))
    abnormal = [99.5, 500.0, 2000.0]
    out = cross_fit_at_fpr(normal, abnormal, halves, fpr=0.01)
    fit_a, fit_b = out["folds"]
    assert fit_a["threshold"] == 98.0 and fit_a["fpr"] == 1.0  # in-sample it would have been 0.01
    assert fit_b["threshold"] == 1000.0 and fit_b["fpr"] == 0.0
    assert fit_a["recall"] == 1.0 and fit_b["recall"] == pytest.approx(1 / 3)
    assert out["fpr"] == 0.5 and out["recall"] == pytest.approx(2 / 3)
    assert (out["fp"], out["normal"]) == (100, 200) and fit_a["fit_on"] == fit_a["measured_on"] == 100


def test_a_threshold_set_on_one_half_ignores_the_other_half():
    rng = np.random.default_rng(0)
    normal = rng.normal(size=400)
    halves = split_halves(400, seed=0)
    before = cross_fit_at_fpr(normal, [5.0], halves)
    moved = normal.copy()
    moved[halves[1]] += 10.0  # only half B changes
    after = cross_fit_at_fpr(moved, [5.0], halves)
    assert after["folds"][0]["threshold"] == before["folds"][0]["threshold"]  # set on A alone
    assert after["folds"][0]["threshold"] == threshold_at_fpr(normal[halves[0]], 0.01)
    assert after["folds"][0]["fpr"] == 1.0 and after["folds"][1]["threshold"] > 9.0
    with pytest.raises(ValueError):
        cross_fit_at_fpr(normal, [5.0], (np.arange(10), np.arange(5, 20)))  # overlapping halves


def test_precision_at_the_real_mix():
    # DeepLog's HDFS test mix: 553,366 normal and 16,838 abnormal sessions
    tp, fp = 0.9 * 16_838, 0.01 * 553_366  # 15,154.2 and 5,533.66
    assert precision_at_mix(0.9, 0.01, 553_366, 16_838) == pytest.approx(tp / (tp + fp))
    assert precision_at_mix(0.9, 0.01, 553_366, 16_838) == pytest.approx(0.73251, abs=1e-5)
    assert precision_at_mix(1.0, 0.001, 1000, 1) == pytest.approx(0.5)
    assert precision_at_mix(0.5, 0.0, 553_366, 16_838) == 1.0 and precision_at_mix(0.0, 0.0, 10, 10) == 0.0


def test_fpr_upper_bound():
    assert fpr_upper_bound(0, 100) == pytest.approx(1 - 0.05 ** (1 / 100))  # about 3 / n
    assert fpr_upper_bound(5, 500) > 5 / 500 and fpr_upper_bound(5, 500) < fpr_upper_bound(6, 500)
    assert fpr_upper_bound(3, 3) == 1.0
    with pytest.raises(ValueError):
        fpr_upper_bound(4, 3)

"""The Diebold-Mariano test (HLN-corrected, Newey-West variance) on series whose answer is known."""
import math

import numpy as np
import pytest
from scipy import stats

from rnnlab.forecasting.comparison import diebold_mariano


def test_identical_forecasts_are_no_evidence():
    e = np.random.default_rng(0).normal(size=500)
    dm = diebold_mariano(e, e.copy())
    assert dm.statistic == 0.0 and dm.pvalue == 0.5 and dm.mean_loss_differential == 0.0


def test_a_clearly_better_forecast_is_significant_and_the_reverse_is_not():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=300)
    good, bad = truth + 0.3 * rng.normal(size=300), np.zeros(300)  # bad: the random walk of a return series
    dm = diebold_mariano(good - truth, bad - truth)
    assert dm.statistic < -5 and dm.pvalue < 1e-6
    assert diebold_mariano(bad - truth, good - truth).pvalue > 1 - 1e-6


def test_equally_good_forecasts_are_not_significant():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=2000)
    a, b = truth + rng.normal(size=2000), truth + rng.normal(size=2000)  # the same skill, independent errors
    assert 0.05 < diebold_mariano(a - truth, b - truth).pvalue < 0.95


def test_one_step_is_a_one_sample_t_test_of_the_loss_differential():
    # h = 1: no autocovariance kept and sqrt((n-1)/n) turns the 1/n variance into the unbiased one
    rng = np.random.default_rng(3)
    e_a, e_b = rng.normal(size=250), 1.05 * rng.normal(size=250)
    dm = diebold_mariano(e_a, e_b)
    ref = stats.ttest_1samp(e_a ** 2 - e_b ** 2, 0.0, alternative="less")
    assert dm.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert dm.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


def test_h_step_variance_keeps_h_minus_1_bartlett_weighted_lags():
    d = np.array([1.0, -2.0, 3.0, 0.5, -1.0, 2.0, 0.0, 1.5])  # the loss differential wanted: e_a^2 - e_b^2
    e_a, e_b = np.sqrt(np.clip(d, 0, None)), np.sqrt(np.clip(-d, 0, None))  # its positive part, its negative part
    n, h = d.size, 3
    c = d - d.mean()
    g = [c[k:] @ c[:n - k] / n for k in range(3)]
    v = g[0] + 2 * (2 / 3 * g[1] + 1 / 3 * g[2])  # Newey-West at lag h-1 = 2: weights 1 - k/h
    want = d.mean() / math.sqrt(v / n) * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    dm = diebold_mariano(e_a, e_b, h=h)
    assert dm.statistic == pytest.approx(want, rel=1e-12)
    assert dm.pvalue == pytest.approx(stats.t.cdf(want, df=n - 1), rel=1e-12)


def test_mismatched_or_too_short_series_are_refused():
    with pytest.raises(ValueError, match="same days"):
        diebold_mariano(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="more than h days"):
        diebold_mariano(np.zeros(3), np.zeros(3), h=3)

"""Is one forecast more accurate than another on the same days? The Diebold-Mariano test.

    errors_a, errors_b (n,)  -> d_t = e_a,t^2 - e_b,t^2  (squared-error loss differential)
    DM  = mean(d) / sqrt(V / n),  V = gamma_0 + 2 sum_{k=1}^{h-1} (1 - k/h) gamma_k   (Newey-West, lag h-1)
    DM* = DM * sqrt((n + 1 - 2h + h(h-1)/n) / n)                   (Harvey, Leybourne & Newbold 1997)
    p   = P(t_{n-1} <= DM*)                                        (one-sided: forecast a is more accurate)

Diebold & Mariano (1995); the small-sample correction and the Student t reference are Harvey, Leybourne &
Newbold's (1997). An h-step forecast's errors are autocorrelated up to lag h-1, hence the lags kept; the
Bartlett weights (R's forecast::dm.test, varestimator = "bartlett") keep V from going negative, which the
original truncated sum can. At h = 1 the test is exactly a one-sample t-test of d against 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DieboldMariano:
    statistic: float  # DM*, the corrected statistic (negative: forecast a has the smaller squared errors)
    pvalue: float  # one-sided, H1: forecast a is more accurate than forecast b
    mean_loss_differential: float  # mean(e_a^2 - e_b^2)
    n: int
    h: int


def diebold_mariano(errors_a: np.ndarray, errors_b: np.ndarray, h: int = 1) -> DieboldMariano:
    """Diebold-Mariano test with the HLN correction of forecast a against forecast b (errors on the same n
    days, in time order) under squared-error loss; h is the forecast horizon (1: next day)."""
    from scipy.stats import t as student_t  # a dependency of scikit-learn

    e_a, e_b = np.asarray(errors_a, dtype=np.float64).ravel(), np.asarray(errors_b, dtype=np.float64).ravel()
    if e_a.shape != e_b.shape:
        raise ValueError(f"the two forecasts' errors must cover the same days: {e_a.shape} vs {e_b.shape}")
    n = e_a.size
    if h < 1 or n < h + 1:
        raise ValueError(f"the test needs h >= 1 and more than h days, got h={h}, n={n}")
    d = e_a ** 2 - e_b ** 2
    mean = float(d.mean())
    c = d - mean
    # gamma_k with the 1/n denominator (the biased autocovariance, as DM and HLN use)
    gamma = [float(c[k:] @ c[:n - k]) / n for k in range(h)]
    v = gamma[0] + 2 * sum((1 - k / h) * gamma[k] for k in range(1, h))
    correction = math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    if v <= 0:
        # a constant differential: identical forecasts (0: no evidence either way) or one always better
        stat = 0.0 if mean == 0 else math.copysign(math.inf, mean)
    else:
        stat = mean / math.sqrt(v / n) * correction
    return DieboldMariano(statistic=stat, pvalue=float(student_t.cdf(stat, df=n - 1)),
                          mean_loss_differential=mean, n=n, h=h)

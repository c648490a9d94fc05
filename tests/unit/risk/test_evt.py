"""The GPD lower tail of standardised residuals: fit, quantiles, and how it moves scenarios."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from redfire.risk.evt import GpdTail, fit_lower_tail, smooth_lower_tail


def test_quantile_formula_by_hand() -> None:
    tail = GpdTail(threshold=2.0, shape=0.25, scale=0.5, tail_probability=0.1)
    # y_p = u + β/ξ·((p/q)^(−ξ) − 1): at p = q/16, (1/16)^(−1/4) = 2, so y = 2 + 2·1 = 4.
    assert tail.loss_quantile(np.array([0.1 / 16]))[0] == pytest.approx(4.0)
    assert tail.loss_quantile(np.array([0.1]))[0] == pytest.approx(2.0)
    exponential = GpdTail(2.0, 0.0, 0.5, 0.1)
    assert exponential.loss_quantile(np.array([0.1 / math.e]))[0] == pytest.approx(2.5)


def test_fit_recovers_a_student_t_tail_index() -> None:
    # A t(4) has tail index 1/4: its excesses over a high threshold are GPD with ξ ≈ 0.25.
    residuals = stats.t.rvs(4, size=200_000, random_state=np.random.default_rng(0))
    tail = fit_lower_tail(residuals, 0.02)
    assert tail is not None
    assert tail.shape == pytest.approx(0.25, abs=0.06)
    assert tail.tail_probability == pytest.approx(0.02)
    # Its 0.1% quantile is the t's own.
    assert tail.loss_quantile(np.array([0.001]))[0] == pytest.approx(
        -stats.t.ppf(0.001, 4), rel=0.05
    )


def test_too_few_exceedances_or_an_infinite_mean_give_no_tail() -> None:
    assert fit_lower_tail(np.random.default_rng(1).normal(size=100), 0.1) is None
    cauchy_like = -stats.genpareto.rvs(1.5, size=5000, random_state=np.random.default_rng(2))
    assert fit_lower_tail(cauchy_like, 0.1) is None
    with pytest.raises(ValueError, match="tail_fraction"):
        fit_lower_tail(np.zeros(100), 0.6)


def test_smoothing_moves_only_the_tail_and_keeps_the_order() -> None:
    residuals = np.random.default_rng(3).standard_t(4, 1000)
    tail = fit_lower_tail(residuals, 0.1)
    assert tail is not None
    smoothed = smooth_lower_tail(residuals, tail)
    beyond = -residuals > tail.threshold
    assert np.array_equal(smoothed[~beyond], residuals[~beyond])
    # The worst bar stays the worst, and the ranks within the tail do not change.
    assert np.argmin(smoothed) == np.argmin(residuals)
    order = np.argsort(residuals[beyond])
    assert np.all(np.diff(smoothed[beyond][order]) >= 0.0)
    # The j-th worst sits on the GPD at p = (j − ½)/n.
    worst = np.sort(smoothed)[:3]
    expected = -tail.loss_quantile((np.arange(1, 4) - 0.5) / 1000)
    assert worst == pytest.approx(expected)

"""Parametric VaR/ES against scipy's normal and Student-t, and the covariance estimators."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from redfire.risk.covariance import (
    equal_weight_covariance,
    ewma_covariance,
    ewma_weights,
)
from redfire.risk.measures import Distribution, VaRMethod
from redfire.risk.parametric import parametric_var, student_t_multipliers

CONFIDENCES = (0.95, 0.975, 0.99)


def _tail_mean(standard: stats.rv_continuous, confidence: float) -> float:
    """Return E[X | X > q_c] of a standard distribution by numerical integration."""
    tail, _ = integrate.quad(lambda x: x * standard.pdf(x), standard.ppf(confidence), np.inf)
    return float(tail) / (1 - confidence)


def _book() -> tuple[np.ndarray, np.ndarray, float]:
    """Return (Σ, v, σ) of a small correlated book."""
    cov = np.array([[4e-4, 1e-4, -5e-5], [1e-4, 2.25e-4, 3e-5], [-5e-5, 3e-5, 1e-4]])
    exposures = np.array([1e6, -4e5, 2.5e6])
    return cov, exposures, math.sqrt(exposures @ cov @ exposures)


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("horizon", [1, 10])
def test_normal_var_and_es_match_scipy(confidence: float, horizon: int) -> None:
    cov, exposures, sigma = _book()
    result = parametric_var(cov, exposures, confidence, horizon)
    loss = stats.norm(scale=sigma * math.sqrt(horizon))
    assert result.var == pytest.approx(loss.ppf(confidence), rel=1e-12)
    # ES as the conditional mean of the loss beyond VaR, integrated by scipy.
    assert result.es == pytest.approx(_tail_mean(stats.norm(), confidence) * loss.std(), rel=1e-8)
    assert result.distribution is Distribution.NORMAL
    assert result.method is VaRMethod.PARAMETRIC


@pytest.mark.parametrize("confidence", CONFIDENCES)
@pytest.mark.parametrize("dof", [3.0, 5.0, 30.0])
def test_student_t_var_and_es_match_scipy_with_portfolio_sigma(
    confidence: float, dof: float
) -> None:
    cov, exposures, sigma = _book()
    result = parametric_var(cov, exposures, confidence, 1, Distribution.STUDENT_T, dof)
    # The loss is a t_ν scaled to standard deviation σ.
    loss = stats.t(dof, scale=sigma * math.sqrt((dof - 2) / dof))
    assert loss.std() == pytest.approx(sigma, rel=1e-12)
    assert result.var == pytest.approx(loss.ppf(confidence), rel=1e-10)
    scale = sigma * math.sqrt((dof - 2) / dof)
    assert result.es == pytest.approx(_tail_mean(stats.t(dof), confidence) * scale, rel=1e-7)


def test_student_t_has_fatter_tail_than_normal_at_99() -> None:
    var_t, es_t = student_t_multipliers(0.99, 4.0)
    assert var_t > stats.norm.ppf(0.99)
    assert es_t > var_t


def test_student_t_needs_more_than_two_degrees_of_freedom() -> None:
    with pytest.raises(ValueError, match="dof"):
        student_t_multipliers(0.99, 2.0)


def test_equal_weight_covariance_is_numpy_sample_covariance() -> None:
    returns = np.random.default_rng(2).normal(size=(120, 5))
    assert np.allclose(equal_weight_covariance(returns), np.cov(returns, rowvar=False))


def test_ewma_covariance_matches_riskmetrics_recursion_normalised() -> None:
    lam = 0.94
    returns = np.random.default_rng(4).normal(size=(80, 3)) * 0.01
    recursion = np.zeros((3, 3))
    for row in returns:
        recursion = lam * recursion + (1 - lam) * np.outer(row, row)
    expected = recursion / (1 - lam ** len(returns))
    assert np.allclose(ewma_covariance(returns, lam), expected, rtol=1e-12)


def test_ewma_weights_favour_the_latest_bar_and_sum_to_one() -> None:
    weights = ewma_weights(250, 0.94).weights
    assert weights.sum() == pytest.approx(1.0)
    assert weights[-1] == weights.max()
    assert weights[-2] / weights[-1] == pytest.approx(0.94)


def test_hedged_book_has_zero_var_not_nan() -> None:
    cov = np.array([[1e-4, 1e-4], [1e-4, 1e-4]])
    result = parametric_var(cov, np.array([1e6, -1e6]), 0.99)
    assert result.var == 0.0
    assert result.es == 0.0

"""Monte Carlo: seeded torch scenarios, within sampling error of the parametric answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from redfire.risk.covariance import equal_weights
from redfire.risk.measures import Distribution, VaRMethod
from redfire.risk.montecarlo import (
    cholesky_with_jitter,
    default_dtype,
    extend_factor,
    montecarlo_scenarios,
    montecarlo_var,
    new_symbol_scenarios,
    select_device,
)
from redfire.risk.parametric import parametric_var

SCENARIOS = 40_000


def _book(n: int = 6, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Return (Σ, v) of a random correlated book."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(n, n)) * 0.01
    cov = loadings @ loadings.T + np.diag(rng.uniform(1e-5, 4e-5, n))
    return cov, rng.uniform(-1e6, 2e6, n)


def _quantile_standard_error(density: float, confidence: float, scenarios: int) -> float:
    """Return the asymptotic standard error of an empirical quantile, per unit σ."""
    return math.sqrt(confidence * (1 - confidence) / scenarios) / density


@pytest.mark.parametrize("confidence", [0.95, 0.975, 0.99])
def test_normal_montecarlo_var_is_within_sampling_error_of_parametric(confidence: float) -> None:
    cov, exposures = _book()
    mc = montecarlo_var(cov, exposures, confidence, scenarios=SCENARIOS, seed=11)
    exact = parametric_var(cov, exposures, confidence)
    sigma = math.sqrt(exposures @ cov @ exposures)
    z = stats.norm.ppf(confidence)
    error = _quantile_standard_error(stats.norm.pdf(z), confidence, SCENARIOS) * sigma
    assert abs(mc.var - exact.var) < 4 * error
    # ES averages the tail, so its error is of the same order; allow the same band.
    assert abs(mc.es - exact.es) < 4 * error * 1.5
    assert mc.method is VaRMethod.MONTECARLO
    assert mc.scenarios == SCENARIOS


def test_student_t_montecarlo_is_within_sampling_error_of_parametric_t() -> None:
    cov, exposures = _book()
    dof = 5.0
    mc = montecarlo_var(
        cov,
        exposures,
        0.99,
        scenarios=SCENARIOS,
        seed=3,
        distribution=Distribution.STUDENT_T,
        dof=dof,
    )
    exact = parametric_var(cov, exposures, 0.99, 1, Distribution.STUDENT_T, dof)
    scale = math.sqrt(exposures @ cov @ exposures) * math.sqrt((dof - 2) / dof)
    density = stats.t.pdf(stats.t.ppf(0.99, dof), dof)
    error = _quantile_standard_error(density, 0.99, SCENARIOS) * scale
    assert abs(mc.var - exact.var) < 4 * error


def test_same_seed_same_scenarios_and_different_seed_different() -> None:
    cov, exposures = _book()
    first = montecarlo_var(cov, exposures, 0.99, scenarios=5_000, seed=1, chunk=2_000)
    again = montecarlo_var(cov, exposures, 0.99, scenarios=5_000, seed=1, chunk=2_000)
    other = montecarlo_var(cov, exposures, 0.99, scenarios=5_000, seed=2, chunk=2_000)
    assert first == again
    assert first.var != other.var


def test_scenario_matrix_and_chunked_pnl_see_the_same_draws() -> None:
    cov, exposures = _book()
    matrix = montecarlo_scenarios(cov, 5_000, seed=9, chunk=1_500)
    direct = montecarlo_var(cov, exposures, 0.975, scenarios=5_000, seed=9, chunk=1_500)
    pnl = np.sort(matrix.returns @ exposures)
    k = math.ceil(5_000 * 0.025)
    assert direct.var == pytest.approx(-pnl[k - 1], rel=1e-12)


def test_simulated_covariance_reproduces_sigma() -> None:
    cov, _ = _book(n=4)
    matrix = montecarlo_scenarios(cov, SCENARIOS, seed=4).returns
    assert np.allclose(np.cov(matrix, rowvar=False), cov, atol=4 * cov.max() / math.sqrt(SCENARIOS))


def test_singular_covariance_is_factored_with_jitter() -> None:
    # 5 observations of 20 symbols: the sample covariance has rank 4.
    returns = np.random.default_rng(0).normal(size=(5, 20)) * 0.01
    cov = np.cov(returns, rowvar=False)
    factor = cholesky_with_jitter(cov)
    assert factor.jitter > 0
    assert factor.jitter < 1e-3 * np.diag(cov).mean()
    assert np.allclose(factor.lower @ factor.lower.T, cov + factor.jitter * np.eye(20))


def test_positive_definite_covariance_needs_no_jitter() -> None:
    cov, _ = _book()
    assert cholesky_with_jitter(cov).jitter == 0.0


def test_a_singular_covariance_too_small_to_jitter_relatively_still_factors() -> None:
    # Variances near the smallest floats: a relative jitter underflows to 0 (it once looped).
    cov = np.full((2, 2), 1e-320)
    factor = cholesky_with_jitter(cov)
    assert 0.0 < factor.jitter < 1e-290
    assert np.all(np.isfinite(factor.lower))


def test_zero_covariance_gives_zero_scenarios() -> None:
    result = montecarlo_var(np.zeros((3, 3)), np.ones(3), 0.99, scenarios=1_000)
    assert result.var == 0.0


def test_device_defaults_to_cuda_when_present_else_cpu_with_float64() -> None:
    device = select_device()
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert default_dtype(torch.device("cpu")) is torch.float64


def test_new_symbol_column_has_the_right_covariance_with_the_book() -> None:
    rng = np.random.default_rng(8)
    history = rng.normal(size=(400, 4)) @ rng.normal(size=(4, 4)) * 0.01
    cov_all = np.cov(history, rowvar=False)
    weights = equal_weights(400)
    held = montecarlo_scenarios(cov_all[:3, :3], SCENARIOS, seed=2)
    prepared = weights.prepare(history)
    cross = (prepared[:, :3] * weights.weights[:, None]).T @ prepared[:, 3]
    row = extend_factor(held.factor, cross, float(cov_all[3, 3]))
    column = new_symbol_scenarios(
        held.returns.T.copy(), held.mixing, held.factor, row, rng.standard_normal(SCENARIOS)
    )
    extended = np.column_stack([held.returns, column])
    tolerance = 4 * cov_all.max() / math.sqrt(SCENARIOS)
    assert np.allclose(np.cov(extended, rowvar=False), cov_all, atol=tolerance)

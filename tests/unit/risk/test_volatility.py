"""Fitted volatility filters: the recursion, the GJR-GARCH-t and EWMA fits, the fallbacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch import arch_model

from redfire.risk.measures import MIN_FIT_BARS, Volatility
from redfire.risk.volatility import (
    RISKMETRICS,
    VolatilityParams,
    ewma_params,
    fit_ewma_decay,
    fit_gjr_t,
    fit_volatility,
    seed_variance,
    variance_path,
)


def gjr_path(bars: int, seed: int = 0, dof: float = 6.0) -> np.ndarray:
    """Return returns from a GJR-GARCH(1,1) with Student-t shocks and daily-like parameters."""
    rng = np.random.default_rng(seed)
    omega, alpha, gamma, beta = 2e-6, 0.03, 0.1, 0.9
    variance = omega / (1 - alpha - gamma / 2 - beta)
    shocks = rng.standard_t(dof, bars) * math.sqrt((dof - 2) / dof)
    out = np.empty(bars)
    for t in range(bars):
        out[t] = math.sqrt(variance) * shocks[t]
        variance = omega + (alpha + gamma * (out[t] < 0)) * out[t] ** 2 + beta * variance
    return out


def test_variance_path_matches_the_recursion_written_out() -> None:
    returns = gjr_path(400, seed=1)
    params = VolatilityParams(omega=1e-6, alpha=0.04, gamma=0.08, beta=0.9)
    conditional, forecast = variance_path(returns, params)
    expected = np.empty(401)
    expected[0] = np.mean(returns[:50] ** 2)
    for t in range(400):
        leverage = params.gamma if returns[t] < 0 else 0.0
        expected[t + 1] = params.omega + (params.alpha + leverage) * returns[t] ** 2
        expected[t + 1] += params.beta * expected[t]
    assert conditional == pytest.approx(expected[:-1], rel=1e-12)
    assert forecast == pytest.approx(expected[-1], rel=1e-12)
    assert params.next_variance(conditional[-1], returns[-1]) == pytest.approx(forecast)


def test_ewma_is_the_recursion_without_constant_or_leverage() -> None:
    params = ewma_params(0.97)
    assert (params.omega, params.alpha, params.gamma, params.beta) == (
        0.0,
        pytest.approx(0.03),
        0.0,
        0.97,
    )
    assert RISKMETRICS.beta == 0.94
    with pytest.raises(ValueError, match="decay"):
        ewma_params(1.0)


def test_gjr_t_fit_matches_a_direct_arch_fit() -> None:
    returns = gjr_path(1500, seed=2)
    params = fit_gjr_t(returns)
    assert params is not None
    direct = arch_model(
        returns * 100, mean="Zero", vol="GARCH", p=1, o=1, q=1, dist="t", rescale=False
    ).fit(disp="off")
    assert params.omega == pytest.approx(direct.params["omega"] / 1e4, rel=1e-6)
    assert params.gamma == pytest.approx(direct.params["gamma[1]"], rel=1e-6)
    assert params.beta == pytest.approx(direct.params["beta[1]"], rel=1e-6)
    assert params.dof == pytest.approx(direct.params["nu"], rel=1e-6)
    # The data have leverage; the fit finds it and a stationary process.
    assert params.gamma > params.alpha
    assert 0.9 < params.persistence < 1.0


def test_ewma_decay_by_likelihood_follows_the_data() -> None:
    slow = gjr_path(2000, seed=3)
    fitted = fit_ewma_decay(slow)
    assert fitted is not None
    assert 0.85 < fitted.beta < 0.999

    # The fitted λ beats RiskMetrics' 0.94 on its own likelihood.
    def nll(params: VolatilityParams) -> float:
        variance, _ = variance_path(slow, params)
        return float(np.sum(np.log(variance) + slow**2 / variance))

    assert nll(fitted) <= nll(RISKMETRICS)


def test_short_or_flat_history_falls_back() -> None:
    short = gjr_path(MIN_FIT_BARS - 1, seed=4)
    assert fit_gjr_t(short) is None
    assert fit_ewma_decay(short) is None
    assert fit_volatility(short, Volatility.GJR_T) == RISKMETRICS
    previous = VolatilityParams(1e-6, 0.05, 0.05, 0.9, 7.0)
    assert fit_volatility(np.zeros(500), Volatility.GJR_T, previous) == previous
    with pytest.raises(ValueError, match="not a fitted volatility model"):
        fit_volatility(short, Volatility.EWMA)


def test_unusable_parameters_are_recognised() -> None:
    assert VolatilityParams(1e-6, 0.05, 0.08, 0.9).is_usable()  # persistence 0.99
    assert not VolatilityParams(1e-6, 0.1, 0.1, 0.9).is_usable()  # persistence 1.05
    assert not VolatilityParams(-1e-6, 0.05, 0.0, 0.9).is_usable()
    assert not VolatilityParams(math.nan, 0.05, 0.0, 0.9).is_usable()


def test_seed_is_the_mean_square_of_the_first_bars() -> None:
    returns = np.arange(1.0, 101.0) / 100
    assert seed_variance(returns) == pytest.approx(np.mean(returns[:50] ** 2))
    assert seed_variance(np.zeros(0)) == 0.0

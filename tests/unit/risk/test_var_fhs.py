"""Filtered historical simulation: EWMA, GARCH(1,1) and the shipped GJR-t rescaling."""

from __future__ import annotations

import numpy as np
import pytest
from arch import arch_model

from redfire.risk.fhs import (
    FilterSpec,
    SymbolFilter,
    ewma_variance,
    fhs_var,
    filter_column,
    filtered_scenarios,
    garch_variance,
)
from redfire.risk.historical import historical_var
from redfire.risk.measures import VaRConfig, VaRMethod, Volatility
from redfire.risk.var import compute_var


def _garch_path(bars: int, seed: int = 0) -> np.ndarray:
    """Return returns simulated from a GARCH(1,1) with realistic daily parameters."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 2e-6, 0.08, 0.9
    variance = omega / (1 - alpha - beta)
    out = np.empty(bars)
    for t in range(bars):
        out[t] = np.sqrt(variance) * rng.standard_normal()
        variance = omega + alpha * out[t] ** 2 + beta * variance
    return out


def test_ewma_variance_matches_the_recursion_written_out() -> None:
    returns = _garch_path(300)
    lam = 0.94
    conditional, forecast = ewma_variance(returns, lam)
    expected = np.empty(300)
    expected[0] = np.mean(returns**2)
    for t in range(1, 300):
        expected[t] = lam * expected[t - 1] + (1 - lam) * returns[t - 1] ** 2
    assert np.allclose(conditional, expected, rtol=1e-12)
    assert forecast == pytest.approx(lam * expected[-1] + (1 - lam) * returns[-1] ** 2)


def test_filtered_returns_carry_the_next_bar_volatility() -> None:
    returns = _garch_path(500, seed=2)
    conditional, forecast = ewma_variance(returns)
    filtered = filter_column(returns, Volatility.EWMA)
    assert np.allclose(filtered, returns / np.sqrt(conditional) * np.sqrt(forecast))


def test_matrix_filter_equals_column_by_column_filter() -> None:
    returns = np.column_stack([_garch_path(250, seed=s) for s in range(4)])
    matrix = filtered_scenarios(returns, Volatility.EWMA)
    for i in range(4):
        assert np.allclose(matrix[:, i], filter_column(returns[:, i], Volatility.EWMA))


def test_garch_variance_matches_a_direct_arch_fit() -> None:
    returns = _garch_path(600, seed=3)
    conditional, forecast = garch_variance(returns)
    fit = arch_model(returns * 100, mean="Zero", vol="GARCH", rescale=False).fit(disp="off")
    assert np.allclose(conditional, np.asarray(fit.conditional_volatility) ** 2 / 1e4, rtol=1e-6)
    expected = fit.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0] / 1e4
    assert forecast == pytest.approx(expected, rel=1e-6)


def test_calm_today_after_a_storm_lowers_fhs_var_below_historical() -> None:
    rng = np.random.default_rng(4)
    storm_then_calm = np.concatenate([rng.normal(0, 0.04, 150), rng.normal(0, 0.005, 100)])
    returns = storm_then_calm[:, None]
    exposures = np.array([1e6])
    fhs = fhs_var(returns, exposures, 0.99)
    assert fhs.var < 0.5 * historical_var(returns, exposures, 0.99).var
    assert fhs.method is VaRMethod.FHS


def test_constant_symbol_has_zero_filtered_scenarios() -> None:
    flat = np.zeros(100)
    assert not np.any(filter_column(flat, Volatility.EWMA))
    assert not np.any(filter_column(flat, Volatility.GARCH))


def test_shipped_filter_is_the_fitted_gjr_t_and_the_old_one_keeps_its_name() -> None:
    assert VaRConfig(VaRMethod.FHS).fhs_volatility is Volatility.GJR_T
    returns = _garch_path(300, seed=5)[:, None]
    exposures = np.array([1e6])
    old = compute_var(returns, exposures, VaRConfig(VaRMethod.FHS, fhs_volatility=Volatility.EWMA))
    assert old.var == fhs_var(returns, exposures, 0.99, volatility=Volatility.EWMA).var
    shipped = compute_var(returns, exposures, VaRConfig(VaRMethod.FHS))
    spec = FilterSpec()
    column = SymbolFilter.from_history(spec, returns[:, 0]).scenario_column()
    assert shipped.var == historical_var(column[:, None], exposures, 0.99).var
    assert shipped.var != old.var


def test_fitted_filter_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="fhs_evt_tail"):
        VaRConfig(VaRMethod.FHS, fhs_evt_tail=0.5)
    with pytest.raises(ValueError, match="fhs_refit_every"):
        VaRConfig(VaRMethod.FHS, fhs_refit_every=0)

"""The worker's fhs filters: one per symbol, following its window, refitted off the batch."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from redfire.risk.bars import ReturnWindow
from redfire.risk.fhs import FilterSpec, SymbolFilter
from redfire.risk.measures import MIN_FIT_BARS, VaRConfig, VaRMethod, Volatility
from redfire.state.filters import FilterBank, fitted_spec, window_capacity
from redfire.state.market import MarketState

SPEC = FilterSpec(Volatility.GJR_T, fit_window=300, scenarios=250, refit_every=20)


def clustered(bars: int, seed: int = 3) -> np.ndarray:
    """Return a simulated GJR-GARCH-t path (the model the filter fits, so the fit converges)."""
    rng = np.random.default_rng(seed)
    omega, alpha, gamma, beta = 2e-6, 0.05, 0.10, 0.88
    variance = omega / (1 - alpha - gamma / 2 - beta)
    shocks = rng.standard_t(6, bars) / np.sqrt(6 / 4)
    returns = np.empty(bars)
    for t in range(bars):
        returns[t] = math.sqrt(variance) * shocks[t]
        variance = omega + (alpha + gamma * (returns[t] < 0)) * returns[t] ** 2 + beta * variance
    return returns


def market_with(returns: np.ndarray, symbol: str = "AAPL") -> MarketState:
    market = MarketState(window_capacity(250, SPEC), 86_400_000)
    store(market, symbol, returns)
    return market


def store(market: MarketState, symbol: str, returns: np.ndarray) -> None:
    """Put a window as the ``returns`` changelog would (a new bar: a newer bar start)."""
    current = market.windows.get(symbol)
    start = 0 if current is None else (current.window.last_bar_start or 0) + 86_400_000
    window = ReturnWindow(market.window_capacity, tuple(float(r) for r in returns), 100.0, start)
    market.mirror_window(symbol, window.to_dict())


def test_only_fhs_with_a_fitted_model_keeps_filters() -> None:
    assert fitted_spec(VaRConfig(method=VaRMethod.HISTORICAL)) is None
    assert fitted_spec(VaRConfig(method=VaRMethod.FHS, fhs_volatility=Volatility.EWMA)) is None
    spec = fitted_spec(VaRConfig(method=VaRMethod.FHS, fhs_fit_window=600, fhs_scenarios=400))
    assert spec is not None and (spec.fit_window, spec.scenarios) == (600, 400)


def test_windows_keep_enough_returns_for_a_fit_under_fhs() -> None:
    assert window_capacity(250, None) == 250
    assert window_capacity(250, SPEC) == 300
    assert window_capacity(500, SPEC) == 500


def test_column_is_the_symbol_filter_of_the_window_once_fitted() -> None:
    returns = clustered(300)
    bank = FilterBank(market_with(returns), SPEC, inline_refits=True)

    column = bank.column("AAPL")

    expected = SymbolFilter.from_history(SPEC, returns)
    assert expected.params is not None and expected.params.gamma > 0  # a real GJR fit
    assert bank.params("AAPL") == expected.params
    assert column == pytest.approx(expected.scenario_column(), rel=1e-12)
    assert column.size == SPEC.scenarios
    assert not np.allclose(column, returns[-SPEC.scenarios :])  # filtered, not historical


def test_before_its_first_fit_a_filter_is_due_and_runs_riskmetrics() -> None:
    returns = clustered(300)
    bank = FilterBank(market_with(returns), SPEC)

    column = bank.column("AAPL")

    assert bank.params("AAPL") is None and list(bank.due) == ["AAPL"]
    unfitted = SymbolFilter.from_record(SPEC, {"returns": returns, "params": None})
    assert column == pytest.approx(unfitted.scenario_column(), rel=1e-12)


def test_too_short_a_history_is_not_fitted() -> None:
    bank = FilterBank(market_with(clustered(MIN_FIT_BARS - 1)), SPEC)

    assert bank.column("AAPL") is not None
    assert not bank.due and bank.params("AAPL") is None


def test_refit_runs_on_the_thread_and_moves_the_generation() -> None:
    returns = clustered(300)
    bank = FilterBank(market_with(returns), SPEC)
    before = bank.column("AAPL").copy()

    installed = asyncio.run(bank.refit_due())

    assert installed == 1 and bank.generation == 1 and not bank.due
    expected = SymbolFilter.from_history(SPEC, returns)
    assert bank.params("AAPL") == expected.params
    after = bank.column("AAPL")
    assert after == pytest.approx(expected.scenario_column(), rel=1e-12)
    assert not np.allclose(before, after)


def test_a_new_bar_reruns_the_filter_with_its_fit_and_no_refit() -> None:
    returns = clustered(320)
    market = market_with(returns[:300])
    bank = FilterBank(market, SPEC, inline_refits=True)
    bank.column("AAPL")
    fitted = bank.params("AAPL")

    store(market, "AAPL", returns[1:301])
    column = bank.column("AAPL")

    assert bank.params("AAPL") == fitted and bank.refits == 1
    rerun = SymbolFilter.from_record(
        SPEC, {"returns": returns[1:301], "params": fitted.as_dict() if fitted else None}
    )
    assert column == pytest.approx(rerun.scenario_column(), rel=1e-12)


def test_refits_come_every_refit_bars_bars() -> None:
    returns = clustered(400)
    market = market_with(returns[:300])
    bank = FilterBank(market, SPEC, inline_refits=True)
    bank.column("AAPL")
    phase = bank.followed["AAPL"].filter.bars_since_fit

    for bar in range(1, 2 * SPEC.refit_every + 1):
        store(market, "AAPL", returns[bar : 300 + bar])
        bank.column("AAPL")

    assert phase == 0  # the first fit restarts the count
    assert bank.refits == 3  # the first fit, then one every refit_every bars


def test_the_same_window_reads_the_cached_column() -> None:
    bank = FilterBank(market_with(clustered(300)), SPEC, inline_refits=True)

    first = bank.column("AAPL")

    assert bank.column("AAPL") is first
    assert bank.column("MSFT") is None

"""The per-symbol FHS filter: bar updates, the refit schedule, and the book it feeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from redfire.risk.fhs import FilterSpec, SymbolFilter, filtered_scenarios
from redfire.risk.incremental import ScenarioBook
from redfire.risk.measures import MIN_FIT_BARS, IncrementalVaR, VaRConfig, VaRMethod, Volatility
from redfire.risk.portfolio import HistoryPolicy, Portfolio, assemble_portfolio
from redfire.risk.var import compute_var, scenario_book, scenario_result
from redfire.risk.volatility import RISKMETRICS, variance_path

SPEC = FilterSpec(Volatility.GJR_T, fit_window=300, scenarios=300, refit_every=20)


def market(bars: int, symbols: int, seed: int = 0) -> np.ndarray:
    """Return bars × symbols returns with a common factor and volatility clusters."""
    rng = np.random.default_rng(seed)
    regime = np.repeat(rng.uniform(0.5, 2.5, bars // 50 + 1), 50)[:bars]
    factor = rng.standard_t(5, bars) * 0.008 * regime
    loadings = rng.uniform(0.5, 1.5, symbols)
    noise = rng.standard_t(5, (bars, symbols)) * 0.006 * regime[:, None]
    returns: np.ndarray = factor[:, None] * loadings + noise
    return returns


def test_bar_updates_follow_the_fitted_recursion() -> None:
    returns = market(260, 1)[:, 0]
    symbol_filter = SymbolFilter.from_history(SPEC, returns[:250])
    params = symbol_filter.params
    assert params is not None and params is not RISKMETRICS
    for ret in returns[250:]:
        symbol_filter.on_bar(float(ret))
    assert symbol_filter.params is params  # ten bars: no refit yet
    conditional, forecast = variance_path(returns, params)
    assert symbol_filter.residuals() == pytest.approx(returns / np.sqrt(conditional), rel=1e-10)
    assert symbol_filter.volatility == pytest.approx(math.sqrt(forecast), rel=1e-10)
    expected = (returns / np.sqrt(conditional))[-300:] * math.sqrt(forecast)
    assert symbol_filter.scenario_column() == pytest.approx(expected, rel=1e-10)


def test_refit_is_due_every_n_bars_after_the_phase() -> None:
    returns = market(400, 1, seed=1)[:, 0]
    spec = FilterSpec(Volatility.GJR_T, fit_window=300, scenarios=300, refit_every=5)
    symbol_filter = SymbolFilter.from_history(spec, returns[:300], phase=2)
    assert symbol_filter.bars_since_fit == 2
    dues = []
    for ret in returns[300:312]:
        symbol_filter.on_bar(float(ret))
        dues.append(symbol_filter.needs_refit)
        if symbol_filter.needs_refit:
            symbol_filter.refit()
    assert dues == [False, False, True, False, False, False, False, True] + [False] * 3 + [False]


def test_no_fit_before_enough_history() -> None:
    returns = market(MIN_FIT_BARS + 5, 1, seed=2)[:, 0]
    symbol_filter = SymbolFilter.from_history(SPEC, returns[: MIN_FIT_BARS - 1])
    assert symbol_filter.params is None and not symbol_filter.needs_refit
    assert symbol_filter.scenario_column().size == MIN_FIT_BARS - 1
    symbol_filter.on_bar(float(returns[MIN_FIT_BARS - 1]))
    assert symbol_filter.needs_refit
    symbol_filter.refit()
    assert symbol_filter.params is not None and not symbol_filter.needs_refit


def test_column_is_cached_read_only_and_renewed_by_a_bar() -> None:
    returns = market(300, 1, seed=3)[:, 0]
    symbol_filter = SymbolFilter.from_history(SPEC, returns[:299])
    column = symbol_filter.scenario_column()
    assert symbol_filter.scenario_column() is column
    assert symbol_filter.scenario_column(50).size == 50
    with pytest.raises(ValueError, match="read-only"):
        column[0] = 1.0
    symbol_filter.on_bar(float(returns[299]))
    assert symbol_filter.scenario_column() is not column


def test_history_is_capped_and_the_oldest_bars_leave() -> None:
    returns = market(1000, 1, seed=4)[:, 0]
    symbol_filter = SymbolFilter.from_history(SPEC, returns[:200])
    for ret in returns[200:]:
        symbol_filter.on_bar(float(ret))
        if symbol_filter.needs_refit:
            symbol_filter.refit()
    assert symbol_filter.bars == SPEC.history
    assert np.array_equal(symbol_filter.returns(), returns[-SPEC.history :])
    assert symbol_filter.scenario_column().size == SPEC.scenarios


def test_record_round_trip_restores_the_column() -> None:
    returns = market(290, 1, seed=5)[:, 0]
    symbol_filter = SymbolFilter.from_history(SPEC, returns[:280])
    for ret in returns[280:]:
        symbol_filter.on_bar(float(ret))
    restored = SymbolFilter.from_record(SPEC, symbol_filter.to_record())
    assert restored.params == symbol_filter.params
    assert restored.bars_since_fit == symbol_filter.bars_since_fit
    assert restored.scenario_column() == pytest.approx(symbol_filter.scenario_column(), rel=1e-12)


def test_bad_input_is_refused() -> None:
    symbol_filter = SymbolFilter(SPEC)
    with pytest.raises(ValueError, match="finite"):
        symbol_filter.on_bar(math.nan)
    with pytest.raises(ValueError, match="finite"):
        SymbolFilter.from_history(SPEC, np.array([0.01, math.inf]))
    with pytest.raises(ValueError, match="gjr_t or ewma_mle"):
        FilterSpec(Volatility.EWMA)
    with pytest.raises(ValueError, match="fit_window"):
        FilterSpec(fit_window=50)


def _filters(returns: np.ndarray) -> dict[str, SymbolFilter]:
    """Return one filter per column, built from its whole history."""
    return {
        f"S{i}": SymbolFilter.from_history(SPEC, returns[:, i]) for i in range(returns.shape[1])
    }


def test_book_on_filter_columns_prices_orders_like_a_full_recompute() -> None:
    returns = market(400, 6, seed=6)
    filters = _filters(returns[:, :5])
    config = VaRConfig(VaRMethod.FHS, confidence=0.99, fhs_fit_window=300, fhs_scenarios=300)
    exposures = {"S0": 2e6, "S1": -1e6, "S2": 5e5, "S3": 1.5e6, "S4": -3e5}
    columns = {s: f.scenario_column() for s, f in filters.items()}
    portfolio = assemble_portfolio(exposures, columns, HistoryPolicy(window=300))
    assert isinstance(portfolio, Portfolio)
    book = scenario_book(portfolio.symbols, portfolio.exposures, portfolio.returns, config)
    assert isinstance(book, ScenarioBook)
    # The worker's book equals the stateless full recompute over the raw windows.
    full = compute_var(returns[-300:, :5], portfolio.exposures, config)
    assert book.var() == pytest.approx(full.var, rel=1e-9)
    assert book.es() == pytest.approx(full.es, rel=1e-9)
    rng = np.random.default_rng(7)
    for _ in range(20):
        i = int(rng.integers(0, 5))
        delta = float(rng.uniform(-3e6, 3e6))
        answer = book.incremental(f"S{i}", delta)
        assert isinstance(answer, IncrementalVaR)
        after = portfolio.exposures.copy()
        after[i] += delta
        recomputed = scenario_result(portfolio.returns, after, config)
        assert answer.var_after == pytest.approx(recomputed.var, rel=1e-9, abs=1e-6)
        assert answer.es_after == pytest.approx(recomputed.es, rel=1e-9, abs=1e-6)
    # A new symbol brings its own filter's column as its window.
    new_filter = SymbolFilter.from_history(SPEC, returns[:, 5])
    answer = book.incremental("S5", 1e6, new_filter.scenario_column())
    assert isinstance(answer, IncrementalVaR)
    widened = np.column_stack([portfolio.returns, new_filter.scenario_column()])
    recomputed = scenario_result(widened, np.append(portfolio.exposures, 1e6), config)
    assert answer.var_after == pytest.approx(recomputed.var, rel=1e-9)
    assert book.apply("S5", 1e6, new_filter.scenario_column()) is None
    assert book.var() == pytest.approx(recomputed.var, rel=1e-9)


def test_an_empty_book_takes_the_first_symbols_filter_column() -> None:
    returns = market(300, 1, seed=8)[:, 0]
    symbol_filter = SymbolFilter.from_history(SPEC, returns)
    config = VaRConfig(VaRMethod.FHS, confidence=0.975)
    book = scenario_book([], np.zeros(0), np.zeros((300, 0)), config)
    answer = book.incremental("S0", 1e6, symbol_filter.scenario_column())
    assert isinstance(answer, IncrementalVaR)
    expected = scenario_result(symbol_filter.scenario_column()[:, None], np.array([1e6]), config)
    assert answer.var_after == pytest.approx(expected.var)
    assert answer.method is VaRMethod.FHS


def test_stateless_filtering_is_one_filter_per_column() -> None:
    returns = market(350, 3, seed=9)
    matrix = filtered_scenarios(returns, Volatility.GJR_T, spec=SPEC)
    assert matrix.shape == (300, 3)
    for i in range(3):
        column = SymbolFilter.from_history(SPEC, returns[:, i]).scenario_column()
        assert np.array_equal(matrix[:, i], column)

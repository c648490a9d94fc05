"""Incremental VaR equals a full recompute for every method; Euler components add up."""

from __future__ import annotations

import numpy as np
import pytest

from redfire.risk.incremental import ParametricBook, ScenarioBook
from redfire.risk.measures import (
    Distribution,
    IncrementalVaR,
    InsufficientHistory,
    VaRConfig,
    VaRMethod,
    Volatility,
)
from redfire.risk.var import build_book, compute_var

TOLERANCE = 1e-9
T, N = 300, 8
SYMBOLS = [f"S{i}" for i in range(N)]

CONFIGS = {
    "historical": VaRConfig(VaRMethod.HISTORICAL, confidence=0.99),
    "parametric": VaRConfig(VaRMethod.PARAMETRIC, confidence=0.99),
    "parametric_t": VaRConfig(
        VaRMethod.PARAMETRIC, confidence=0.975, distribution=Distribution.STUDENT_T, dof=4.0
    ),
    "ewma": VaRConfig(VaRMethod.EWMA, confidence=0.95, ewma_lambda=0.97),
    "fhs_ewma": VaRConfig(VaRMethod.FHS, confidence=0.99, fhs_volatility=Volatility.EWMA),
    "fhs_garch": VaRConfig(VaRMethod.FHS, confidence=0.99, fhs_volatility=Volatility.GARCH),
    "fhs_gjr_t": VaRConfig(VaRMethod.FHS, confidence=0.99),
    "montecarlo": VaRConfig(VaRMethod.MONTECARLO, confidence=0.99, scenarios=4_000, seed=3),
    "montecarlo_t": VaRConfig(
        VaRMethod.MONTECARLO,
        confidence=0.975,
        scenarios=4_000,
        seed=5,
        distribution=Distribution.STUDENT_T,
        dof=5.0,
        horizon=10,
    ),
}


def _market(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (held returns T × N, exposures, a new symbol's window of T + 20 bars)."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_t(5, size=(T + 20, 3)) * 0.01
    loadings = rng.normal(size=(3, N + 1))
    returns = factors @ loadings + rng.normal(size=(T + 20, N + 1)) * 0.004
    exposures = rng.uniform(-1e6, 3e6, N)
    return returns[-T:, :N], exposures, returns[:, N]


def _assert_close(actual: float, expected: float) -> None:
    assert actual == pytest.approx(expected, rel=TOLERANCE, abs=TOLERANCE)


def _check(answer: IncrementalVaR | InsufficientHistory) -> IncrementalVaR:
    assert isinstance(answer, IncrementalVaR), answer
    return answer


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("delta", [7.5e5, -2.4e6])
def test_incremental_on_a_held_symbol_equals_full_recompute(name: str, delta: float) -> None:
    config = CONFIGS[name]
    returns, exposures, _ = _market()
    book = build_book(SYMBOLS, exposures, returns, config)
    answer = _check(book.incremental("S2", delta))
    after = exposures.copy()
    after[2] += delta
    before_full = compute_var(returns, exposures, config)
    after_full = compute_var(returns, after, config)
    _assert_close(answer.var_before, before_full.var)
    _assert_close(answer.es_before, before_full.es)
    _assert_close(answer.var_after, after_full.var)
    _assert_close(answer.es_after, after_full.es)
    assert answer.var_change == pytest.approx(after_full.var - before_full.var, abs=1e-6)


@pytest.mark.parametrize(
    "name", ["historical", "parametric", "parametric_t", "ewma", "fhs_ewma", "fhs_gjr_t"]
)
def test_incremental_on_a_new_symbol_equals_full_recompute_with_its_window(name: str) -> None:
    config = CONFIGS[name]
    returns, exposures, window = _market(seed=1)
    book = build_book(SYMBOLS, exposures, returns, config)
    answer = _check(book.incremental("NEW", 1.2e6, window))
    extended = np.column_stack([returns, window[-T:]])
    full = compute_var(extended, np.append(exposures, 1.2e6), config)
    _assert_close(answer.var_after, full.var)
    _assert_close(answer.es_after, full.es)


@pytest.mark.parametrize("name", ["montecarlo", "montecarlo_t"])
def test_montecarlo_new_symbol_prices_on_the_extended_scenarios(name: str) -> None:
    returns, exposures, window = _market(seed=2)
    book = build_book(SYMBOLS, exposures, returns, CONFIGS[name])
    answer = _check(book.incremental("NEW", 9e5, window))
    assert book.apply("NEW", 9e5, window) is None
    assert isinstance(book, ScenarioBook)
    _assert_close(answer.var_after, book.var())
    _assert_close(answer.es_after, book.es())
    assert book.symbols[-1] == "NEW"


def test_montecarlo_new_symbol_risk_agrees_with_parametric_within_sampling_error() -> None:
    returns, exposures, window = _market(seed=3)
    config = VaRConfig(VaRMethod.MONTECARLO, confidence=0.99, scenarios=40_000, seed=1)
    book = build_book(SYMBOLS, exposures, returns, config)
    answer = _check(book.incremental("NEW", 4e6, window))
    extended = np.column_stack([returns, window[-T:]])
    parametric = compute_var(extended, np.append(exposures, 4e6), VaRConfig(VaRMethod.PARAMETRIC))
    # About 3% is four standard errors of a 99% quantile from 40k normal draws.
    assert answer.var_after == pytest.approx(parametric.var, rel=0.03)


@pytest.mark.parametrize("name", ["historical", "parametric", "ewma", "fhs_ewma", "fhs_gjr_t"])
def test_apply_then_var_equals_a_book_rebuilt_from_scratch(name: str) -> None:
    config = CONFIGS[name]
    returns, exposures, window = _market(seed=4)
    book = build_book(SYMBOLS, exposures, returns, config)
    assert book.apply("S5", -8e5) is None
    assert book.apply("NEW", 2e6, window) is None
    assert book.apply("S0", 3e5) is None
    after = exposures.copy()
    after[5] -= 8e5
    after[0] += 3e5
    extended = np.column_stack([returns, window[-T:]])
    full = compute_var(extended, np.append(after, 2e6), config)
    _assert_close(book.var(), full.var)
    _assert_close(book.es(), full.es)
    assert book.exposure("NEW") == 2e6


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_incremental_leaves_the_book_unchanged(name: str) -> None:
    returns, exposures, window = _market()
    book = build_book(SYMBOLS, exposures, returns, CONFIGS[name])
    before = book.result()
    book.incremental("S1", 5e6)
    book.incremental("NEW", 5e6, window)
    assert book.result() == before
    assert "NEW" not in book.symbols


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_euler_components_sum_to_total_var_and_es(name: str) -> None:
    returns, exposures, _ = _market(seed=6)
    book = build_book(SYMBOLS, exposures, returns, CONFIGS[name])
    components = book.components()
    assert components.component.sum() == pytest.approx(book.var(), rel=1e-12)
    assert components.component_es.sum() == pytest.approx(book.es(), rel=1e-12)
    assert np.allclose(components.component, components.exposures * components.marginal)


def test_historical_components_are_position_losses_in_the_var_scenario() -> None:
    returns, exposures, _ = _market(seed=7)
    book = build_book(SYMBOLS, exposures, returns, CONFIGS["historical"])
    components = book.components()
    pnl = returns @ exposures
    scenario = int(np.flatnonzero(np.isclose(-pnl, book.var(), rtol=1e-12, atol=0))[0])
    assert np.allclose(components.component, -exposures * returns[scenario])


@pytest.mark.parametrize("name", ["parametric", "parametric_t", "ewma"])
def test_parametric_marginal_var_is_the_derivative(name: str) -> None:
    returns, exposures, _ = _market(seed=8)
    config = CONFIGS[name]
    marginal = build_book(SYMBOLS, exposures, returns, config).components().marginal
    bump = 1.0
    for i in range(N):
        up, down = exposures.copy(), exposures.copy()
        up[i] += bump
        down[i] -= bump
        slope = (compute_var(returns, up, config).var - compute_var(returns, down, config).var) / (
            2 * bump
        )
        assert marginal[i] == pytest.approx(slope, rel=1e-6, abs=1e-9)


def test_book_answers_other_confidence_levels_from_the_same_pnl() -> None:
    returns, exposures, _ = _market()
    book = build_book(SYMBOLS, exposures, returns, CONFIGS["historical"])
    for confidence in (0.95, 0.975, 0.99):
        full = compute_var(returns, exposures, VaRConfig(confidence=confidence))
        _assert_close(book.var(confidence), full.var)
        _assert_close(book.es(confidence), full.es)


@pytest.mark.parametrize("name", ["historical", "parametric", "montecarlo"])
def test_new_symbol_without_enough_history_is_a_value_not_a_zero(name: str) -> None:
    returns, exposures, window = _market()
    book = build_book(SYMBOLS, exposures, returns, CONFIGS[name])
    missing = book.incremental("NEW", 1e6)
    short = book.incremental("NEW", 1e6, window[:50])
    gap = window.copy()
    gap[-3] = np.nan
    broken = book.incremental("NEW", 1e6, gap)
    for answer in (missing, short, broken):
        assert isinstance(answer, InsufficientHistory)
        assert answer.symbols == ("NEW",)
        assert answer.required == T
    assert isinstance(short, InsufficientHistory) and short.available == {"NEW": 50}
    assert isinstance(book.apply("NEW", 1e6), InsufficientHistory)
    assert "NEW" not in book.symbols


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_empty_book_prices_a_first_order_on_the_symbols_own_window(name: str) -> None:
    config = CONFIGS[name]
    _, _, window = _market()
    short = window[-120:]  # shorter than the configured window: it sets the length
    book = build_book([], np.empty(0), np.empty((T, 0)), config)
    assert (book.var(), book.es(), book.symbols) == (0.0, 0.0, ())
    answer = _check(book.incremental("NEW", 1e6, short))
    full = compute_var(short[:, None], np.array([1e6]), config)
    assert (answer.var_before, answer.es_before) == (0.0, 0.0)
    _assert_close(answer.var_after, full.var)
    _assert_close(answer.es_after, full.es)
    assert book.apply("NEW", 1e6, short) is None
    assert book.symbols == ("NEW",)
    _assert_close(book.var(), full.var)
    assert book.components().component.sum() == pytest.approx(book.var(), rel=1e-12)


def test_empty_book_refuses_a_first_symbol_without_a_window() -> None:
    book = build_book([], np.empty(0), np.empty((T, 0)), CONFIGS["historical"])
    assert isinstance(book.incremental("NEW", 1e6), InsufficientHistory)
    assert isinstance(book.apply("NEW", 1e6, np.array([0.01, np.nan])), InsufficientHistory)
    assert book.symbols == ()


def test_scenario_book_grows_past_its_initial_capacity() -> None:
    rng = np.random.default_rng(9)
    columns = rng.normal(size=(T, 12)) * 0.01
    book = ScenarioBook([], np.empty(0), np.empty((T, 0)))
    for i in range(12):
        assert book.apply(f"X{i}", 1e5 * (i + 1), columns[:, i]) is None
    full = compute_var(columns, 1e5 * np.arange(1, 13), VaRConfig())
    _assert_close(book.var(), full.var)


def test_parametric_book_reports_the_sigma_it_prices_with() -> None:
    returns, exposures, _ = _market()
    book = build_book(SYMBOLS, exposures, returns, CONFIGS["parametric"])
    assert isinstance(book, ParametricBook)
    assert book.sigma == pytest.approx(np.sqrt(exposures @ np.cov(returns.T) @ exposures))

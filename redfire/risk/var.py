"""Compute VaR/ES by any method, and build the cached book the order agent prices trades on.

`compute_var` is the full recompute (used by snapshots, backtests and as the
reference for the incremental books); `build_book` returns a `RiskBook` whose
`incremental` answers a pre-trade question in O(T) and whose `apply` commits a
fill without a recompute. Both read a `VaRConfig` (method, confidence, horizon
and the engine parameters).

For filtered historical simulation with per-symbol `SymbolFilter`s (the
worker's path), the scenario columns are made when a bar closes or a filter is
refitted; `scenario_book` and `scenario_result` take those ready columns and
treat them exactly like historical returns — no filtering per order or per book.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from redfire.risk.covariance import covariance_weights, weighted_covariance
from redfire.risk.fhs import fhs_var, filter_spec, filtered_scenarios
from redfire.risk.historical import historical_var, scenario_var
from redfire.risk.incremental import (
    FilteredColumns,
    HistoricalColumns,
    ParametricBook,
    RiskBook,
    ScenarioBook,
)
from redfire.risk.measures import (
    ComponentVaR,
    FloatArray,
    IncrementalVaR,
    InsufficientHistory,
    VaRConfig,
    VaRMethod,
    VaRResult,
)
from redfire.risk.parametric import parametric_var
from redfire.risk.portfolio import Portfolio


def compute_var(returns: FloatArray, exposures: FloatArray, config: VaRConfig) -> VaRResult:
    """Return VaR/ES of market values over a T × n return window by the configured method."""
    history = np.asarray(returns, dtype=np.float64)
    values = np.asarray(exposures, dtype=np.float64)
    window = int(history.shape[0])
    c, h = config.confidence, config.horizon
    if config.method is VaRMethod.HISTORICAL:
        return historical_var(history, values, c, h)
    if config.method is VaRMethod.FHS:
        spec = filter_spec(config)
        return fhs_var(history, values, c, h, config.fhs_volatility, config.ewma_lambda, spec)
    weights = covariance_weights(config.covariance_kind(), window, config.ewma_lambda)
    cov = weighted_covariance(history, weights)
    if config.method is VaRMethod.MONTECARLO:
        # torch costs about a second to import; only the Monte Carlo path pays it.
        from redfire.risk.montecarlo import montecarlo_var

        return montecarlo_var(
            cov,
            values,
            c,
            h,
            config.scenarios,
            seed=config.seed,
            distribution=config.distribution,
            dof=config.dof,
            device=config.device,
            chunk=config.chunk,
            window=window,
        )
    return parametric_var(
        cov, values, c, h, config.distribution, config.dof, method=config.method, window=window
    )


def build_book(
    symbols: Sequence[str], exposures: FloatArray, returns: FloatArray, config: VaRConfig
) -> RiskBook:
    """Return the incremental book of the configured method over a T × n return window.

    With no symbols the book is an `EmptyBook`, whose first symbol's own window
    sets the scenario length.
    """
    if len(symbols) == 0:
        return EmptyBook(config, int(np.shape(returns)[0]))
    history = np.asarray(returns, dtype=np.float64)
    values = np.asarray(exposures, dtype=np.float64)
    window = int(history.shape[0])
    c, h = config.confidence, config.horizon
    if config.method is VaRMethod.HISTORICAL:
        return ScenarioBook(
            symbols,
            values,
            history,
            method=config.method,
            confidence=c,
            horizon=h,
            columns=HistoricalColumns(window),
        )
    if config.method is VaRMethod.FHS:
        spec = filter_spec(config)
        scenarios = filtered_scenarios(history, config.fhs_volatility, config.ewma_lambda, spec)
        columns = FilteredColumns(window, config.fhs_volatility, config.ewma_lambda, spec)
        return ScenarioBook(
            symbols,
            values,
            scenarios,
            method=config.method,
            confidence=c,
            horizon=h,
            columns=columns,
        )
    weights = covariance_weights(config.covariance_kind(), window, config.ewma_lambda)
    if config.method is VaRMethod.MONTECARLO:
        return _montecarlo_book(symbols, values, history, config)
    return ParametricBook(
        symbols,
        values,
        history,
        weights,
        method=config.method,
        distribution=config.distribution,
        dof=config.dof,
        confidence=c,
        horizon=h,
    )


def scenario_book(
    symbols: Sequence[str], exposures: FloatArray, scenarios: FloatArray, config: VaRConfig
) -> RiskBook:
    """Return a scenario book over ready scenario columns (S × n), labelled `config.method`.

    The FHS path of a worker: the columns are its `SymbolFilter.scenario_column()`s
    aligned on their common tail (e.g. by `assemble_portfolio`), and a new
    symbol's `returns_window` in `incremental`/`apply` is its filter's column too.
    Each order then costs one O(S) update, as under historical simulation.
    """
    if len(symbols) == 0:
        return EmptyBook(config, int(np.shape(scenarios)[0]), builder=scenario_book)
    matrix = np.asarray(scenarios, dtype=np.float64)
    return ScenarioBook(
        symbols,
        np.asarray(exposures, dtype=np.float64),
        matrix,
        method=config.method,
        confidence=config.confidence,
        horizon=config.horizon,
        columns=HistoricalColumns(int(matrix.shape[0])),
    )


def scenario_result(scenarios: FloatArray, exposures: FloatArray, config: VaRConfig) -> VaRResult:
    """Return VaR/ES of exposures over ready scenario columns (the full recompute of FHS)."""
    matrix = np.asarray(scenarios, dtype=np.float64)
    values = np.asarray(exposures, dtype=np.float64)
    window = int(matrix.shape[0])
    return scenario_var(matrix, values, config.confidence, config.horizon, config.method, window)


def _montecarlo_book(
    symbols: Sequence[str], exposures: FloatArray, history: FloatArray, config: VaRConfig
) -> ScenarioBook:
    """Return a scenario book over simulated scenarios, extensible to new symbols."""
    from redfire.risk.montecarlo import MonteCarloColumns, montecarlo_scenarios

    window = int(history.shape[0])
    weights = covariance_weights(config.covariance_kind(), window, config.ewma_lambda)
    simulated = montecarlo_scenarios(
        weighted_covariance(history, weights),
        config.scenarios,
        seed=config.seed,
        distribution=config.distribution,
        dof=config.dof,
        device=config.device,
        chunk=config.chunk,
    )
    columns = MonteCarloColumns(history, weights, simulated.factor, simulated.mixing, config.seed)
    return ScenarioBook(
        symbols,
        exposures,
        simulated.returns,
        method=VaRMethod.MONTECARLO,
        confidence=config.confidence,
        horizon=config.horizon,
        window=window,
        columns=columns,
        distribution=config.distribution,
    )


def portfolio_var(
    portfolio: Portfolio | InsufficientHistory, config: VaRConfig
) -> VaRResult | InsufficientHistory:
    """Return VaR/ES of an assembled portfolio, passing an insufficient-history value through."""
    if isinstance(portfolio, InsufficientHistory):
        return portfolio
    return compute_var(portfolio.returns, portfolio.exposures, config)


def portfolio_book(
    portfolio: Portfolio | InsufficientHistory, config: VaRConfig
) -> RiskBook | InsufficientHistory:
    """Return the incremental book of an assembled portfolio, or its shortfall."""
    if isinstance(portfolio, InsufficientHistory):
        return portfolio
    return build_book(portfolio.symbols, portfolio.exposures, portfolio.returns, config)


# Builds a book from (symbols, exposures, T × n matrix, config): build_book or scenario_book.
BookBuilder = Callable[[Sequence[str], FloatArray, FloatArray, VaRConfig], RiskBook]


class EmptyBook:
    """Stand for an account with no positions until its first symbol arrives.

    Scenario books need one window length for every symbol, and an empty book has
    none yet: rather than insist on the configured maximum, the first symbol's own
    window (at most `window` bars) sets it. The single-symbol book built for a
    candidate is kept for the next question about the same symbol and window, and
    `apply` turns it into the real book.
    """

    def __init__(self, config: VaRConfig, window: int, builder: BookBuilder | None = None) -> None:
        self._config = config
        self._window = window
        self._builder: BookBuilder = builder or build_book
        self._delegate: RiskBook | None = None
        self._candidate: tuple[str, FloatArray, RiskBook] | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the symbols held (none until the first `apply`)."""
        return self._delegate.symbols if self._delegate is not None else ()

    def exposure(self, symbol: str) -> float:
        """Return the market value held in a symbol."""
        return self._delegate.exposure(symbol) if self._delegate is not None else 0.0

    def result(self, confidence: float | None = None) -> VaRResult:
        """Return VaR/ES: zero while nothing is held."""
        if self._delegate is not None:
            return self._delegate.result(confidence)
        return VaRResult(
            var=0.0,
            es=0.0,
            method=self._config.method,
            confidence=self._config.confidence if confidence is None else confidence,
            horizon=self._config.horizon,
            window=0,
        )

    def var(self, confidence: float | None = None) -> float:
        """Return VaR at the book's or the given confidence."""
        return self.result(confidence).var

    def es(self, confidence: float | None = None) -> float:
        """Return ES at the book's or the given confidence."""
        return self.result(confidence).es

    def incremental(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> IncrementalVaR | InsufficientHistory:
        """Return VaR/ES before (zero) and after a first trade, priced on its own window."""
        if self._delegate is not None:
            return self._delegate.incremental(symbol, delta_value, returns_window)
        book = self._book_for(symbol, returns_window)
        if isinstance(book, InsufficientHistory):
            return book
        return book.incremental(symbol, delta_value)

    def apply(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> InsufficientHistory | None:
        """Commit a trade; the first one makes the single-symbol book the real one."""
        if self._delegate is not None:
            return self._delegate.apply(symbol, delta_value, returns_window)
        book = self._book_for(symbol, returns_window)
        if isinstance(book, InsufficientHistory):
            return book
        self._delegate, self._candidate = book, None
        return book.apply(symbol, delta_value)

    def components(self, confidence: float | None = None) -> ComponentVaR:
        """Return the Euler allocation: empty while nothing is held."""
        if self._delegate is not None:
            return self._delegate.components(confidence)
        nothing = np.zeros(0)
        return ComponentVaR(
            symbols=(),
            exposures=nothing,
            marginal=nothing,
            component=nothing,
            component_es=nothing,
            var=0.0,
            es=0.0,
            method=self._config.method,
            confidence=self._config.confidence if confidence is None else confidence,
            horizon=self._config.horizon,
        )

    def _book_for(self, symbol: str, window: FloatArray | None) -> RiskBook | InsufficientHistory:
        """Return a flat single-symbol book on the symbol's window (cached per window)."""
        values = None if window is None else np.asarray(window, dtype=np.float64)
        if values is None or values.size < 2 or not np.all(np.isfinite(values)):
            have = 0 if values is None else int(values.size)
            return InsufficientHistory((symbol,), 2, {symbol: have})
        tail = values[-self._window :] if self._window else values
        cached = self._candidate
        if cached and cached[0] == symbol and np.array_equal(cached[1], tail):
            return cached[2]
        book = self._builder([symbol], np.zeros(1), tail[:, np.newaxis], self._config)
        self._candidate = (symbol, tail.copy(), book)
        return book

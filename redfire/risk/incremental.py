"""Books that price a candidate trade's VaR in O(T) and commit it without a recompute.

The order agent caches one book per account and asks it two questions:

* `incremental(symbol, delta_value)` — VaR and ES before and after adding
  `delta_value` of market value in `symbol`; the book is left unchanged.
* `apply(symbol, delta_value)` — commit a fill.

`ScenarioBook` serves historical simulation, FHS and Monte Carlo: it keeps the
scenario P&L vector s = R·v, so a trade of δv in symbol i gives exactly
s' = s + δv·R[:, i] — one O(T) pass plus one O(T) partition, never a sort and
never a full R·v. `ParametricBook` keeps Σv, so σ'² = σ² + 2δv(Σv)_i + δv²Σ_ii
is O(1) for a held symbol and O(T) for a new one.

A symbol not yet held needs its return window (most recent last, at least the
book's window long); without one the answer is an `InsufficientHistory` value.

Books are deterministic and do no I/O, but they are mutable (`apply`) and reuse
one scratch buffer, so share one between coroutines of a single thread only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np

from redfire.risk.covariance import CovarianceWeights
from redfire.risk.fhs import FilterSpec, filter_column
from redfire.risk.measures import (
    ComponentVaR,
    Distribution,
    FloatArray,
    IncrementalVaR,
    InsufficientHistory,
    VaRMethod,
    VaRResult,
    Volatility,
    check_confidence,
)
from redfire.risk.parametric import tail_multipliers
from redfire.risk.quantile import horizon_scale, partition_tail, tail_count, tail_scenarios


class RiskBook(Protocol):
    """What the order agent and the snapshot code may ask of any cached book."""

    @property
    def symbols(self) -> tuple[str, ...]: ...

    def exposure(self, symbol: str) -> float: ...

    def result(self, confidence: float | None = None) -> VaRResult: ...

    def var(self, confidence: float | None = None) -> float: ...

    def es(self, confidence: float | None = None) -> float: ...

    def incremental(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> IncrementalVaR | InsufficientHistory: ...

    def apply(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> InsufficientHistory | None: ...

    def components(self, confidence: float | None = None) -> ComponentVaR: ...


class ScenarioColumnSource(Protocol):
    """Turn a new symbol's return window into its column of the book's scenarios."""

    @property
    def required(self) -> int:
        """Return the window length a new symbol must supply."""
        ...

    def scenario_column(self, symbol: str, window: FloatArray, rows: FloatArray) -> FloatArray:
        """Return the new symbol's scenario returns; `rows` is the symbols × scenarios matrix."""
        ...

    def commit(self, symbol: str, window: FloatArray) -> None:
        """Record that the symbol joined the book."""
        ...


class HistoricalColumns:
    """Use the last T returns of the window as they are (historical simulation)."""

    def __init__(self, window: int) -> None:
        self._window = window

    @property
    def required(self) -> int:
        """Return T."""
        return self._window

    def scenario_column(self, symbol: str, window: FloatArray, rows: FloatArray) -> FloatArray:
        """Return the last T returns."""
        return np.asarray(window[-self._window :], dtype=np.float64)

    def commit(self, symbol: str, window: FloatArray) -> None:
        """Keep nothing: a historical column depends on its own window only."""


class FilteredColumns:
    """Rescale the last T returns to the next bar's volatility (filtered historical).

    The stateless path: a new symbol's column is filtered from its window alone.
    A worker that keeps a `SymbolFilter` per symbol passes the filter's ready
    column as the window of a `HistoricalColumns` book instead (`var.scenario_book`).
    """

    def __init__(
        self, window: int, volatility: Volatility, lam: float, spec: FilterSpec | None = None
    ) -> None:
        self._window = window
        self._volatility = volatility
        self._lam = lam
        self._spec = spec

    @property
    def required(self) -> int:
        """Return T."""
        return self._window

    def scenario_column(self, symbol: str, window: FloatArray, rows: FloatArray) -> FloatArray:
        """Return the filtered last T returns, as the full FHS build would make them."""
        tail = np.asarray(window[-self._window :], dtype=np.float64)
        return filter_column(tail, self._volatility, self._lam, self._spec)

    def commit(self, symbol: str, window: FloatArray) -> None:
        """Keep nothing: a filtered column depends on its own window only."""


def _missing_window(symbol: str, window: FloatArray | None, required: int) -> InsufficientHistory:
    """Return the shortfall of a new symbol's window."""
    have = 0 if window is None else int(np.asarray(window).size)
    return InsufficientHistory(symbols=(symbol,), required=required, available={symbol: have})


def _usable_window(window: FloatArray | None, required: int) -> FloatArray | None:
    """Return the window if it has `required` finite trailing bars, else None."""
    if window is None or np.asarray(window).size < required:
        return None
    if not np.all(np.isfinite(np.asarray(window)[-required:])):
        return None
    return window


class ScenarioBook:
    """Hold exposures and a scenario return matrix; answer VaR, ES and trade questions.

    `scenarios` is S × n (scenario returns per symbol, in `symbols` order);
    `exposures` the n market values. `window` records the return history length
    behind the scenarios (S itself for historical simulation and FHS).
    """

    def __init__(
        self,
        symbols: Sequence[str],
        exposures: FloatArray,
        scenarios: FloatArray,
        *,
        method: VaRMethod = VaRMethod.HISTORICAL,
        confidence: float = 0.99,
        horizon: int = 1,
        window: int | None = None,
        columns: ScenarioColumnSource | None = None,
        distribution: Distribution = Distribution.EMPIRICAL,
    ) -> None:
        check_confidence(confidence)
        matrix = np.asarray(scenarios, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != len(symbols) or len(exposures) != len(symbols):
            raise ValueError("scenarios must be S × n with one exposure per symbol")
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols must be unique")
        self._method = method
        self._confidence = confidence
        self._horizon = horizon
        self._scale = horizon_scale(horizon)
        self._distribution = distribution
        self._observations = int(matrix.shape[0])
        self._window = self._observations if window is None else window
        self._columns: ScenarioColumnSource = columns or HistoricalColumns(self._window)
        self._k = tail_count(self._observations, confidence)
        self._index = {symbol: i for i, symbol in enumerate(symbols)}
        self._symbols: tuple[str, ...] = tuple(symbols)
        # Symbols are rows so that R[:, i] is one contiguous read on the hot path.
        self._rows = np.ascontiguousarray(matrix.T)
        self._exposures = np.array(exposures, dtype=np.float64)
        self._pnl = self._exposures @ self._rows if self._symbols else np.zeros(matrix.shape[0])
        self._work = np.empty(self._observations)
        self._refresh()

    # -- reading ---------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the symbols held, in column order."""
        return self._symbols

    @property
    def observations(self) -> int:
        """Return the number of scenarios S."""
        return self._observations

    @property
    def pnl(self) -> FloatArray:
        """Return a copy of the scenario P&L vector s = R·v."""
        return self._pnl.copy()

    def exposure(self, symbol: str) -> float:
        """Return the market value held in a symbol (0 when not held)."""
        i = self._index.get(symbol)
        return 0.0 if i is None else float(self._exposures[i])

    def exposures(self) -> dict[str, float]:
        """Return the market value held per symbol."""
        return {s: float(self._exposures[i]) for s, i in self._index.items()}

    def result(self, confidence: float | None = None) -> VaRResult:
        """Return VaR/ES at the book's confidence, or at another one (O(S))."""
        if confidence is None or confidence == self._confidence:
            var, es = self._var, self._es
            confidence = self._confidence
        else:
            np.copyto(self._work, self._pnl)
            var, es = partition_tail(
                self._work, tail_count(self._observations, confidence), self._scale
            )
        return VaRResult(
            var=var,
            es=es,
            method=self._method,
            confidence=confidence,
            horizon=self._horizon,
            window=self._window,
            distribution=self._distribution,
            scenarios=self._observations,
        )

    def var(self, confidence: float | None = None) -> float:
        """Return VaR (a positive loss) at the book's or the given confidence."""
        if confidence is None:
            return self._var
        return self.result(confidence).var

    def es(self, confidence: float | None = None) -> float:
        """Return ES at the book's or the given confidence."""
        if confidence is None:
            return self._es
        return self.result(confidence).es

    # -- trades ----------------------------------------------------------------

    def incremental(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> IncrementalVaR | InsufficientHistory:
        """Return VaR/ES before and after adding `delta_value` in `symbol`, in O(S).

        A held symbol needs nothing more; a new one needs its return window.
        """
        i = self._index.get(symbol)
        if i is not None:
            column = self._rows[i]
        else:
            window = _usable_window(returns_window, self._columns.required)
            if window is None:
                return _missing_window(symbol, returns_window, self._columns.required)
            column = self._new_column(symbol, window)
        work = self._work
        np.multiply(column, delta_value, out=work)
        np.add(work, self._pnl, out=work)
        var_after, es_after = partition_tail(work, self._k, self._scale)
        return IncrementalVaR(
            symbol,
            delta_value,
            self._var,
            var_after,
            self._es,
            es_after,
            self._method,
            self._confidence,
            self._horizon,
        )

    def apply(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> InsufficientHistory | None:
        """Commit `delta_value` of market value in `symbol`: s += δv·R[:, i], O(S).

        A new symbol adds a column (amortised O(S)); without a usable window the
        book is unchanged and the shortfall is returned.
        """
        i = self._index.get(symbol)
        if i is None:
            window = _usable_window(returns_window, self._columns.required)
            if window is None:
                return _missing_window(symbol, returns_window, self._columns.required)
            i = self._append(symbol, self._new_column(symbol, window))
            self._columns.commit(symbol, window)
        self._exposures[i] += delta_value
        self._pnl += delta_value * self._rows[i]
        self._refresh()
        return None

    def set_exposure(
        self, symbol: str, value: float, returns_window: FloatArray | None = None
    ) -> InsufficientHistory | None:
        """Set a symbol's market value (after a price move), as an `apply` of the difference."""
        return self.apply(symbol, value - self.exposure(symbol), returns_window)

    # -- allocation ------------------------------------------------------------

    def components(self, confidence: float | None = None) -> ComponentVaR:
        """Return the scenario Euler allocation of VaR and ES.

        For VaR the marginal of position i is −R[j*, i]·√h, j* the VaR scenario (the
        k-th worst), so the components are minus each position's P&L in that
        scenario and sum to −s[j*]·√h, the VaR itself. ES uses the mean over the k
        tail scenarios the same way.
        """
        level = self._confidence if confidence is None else confidence
        n = len(self._symbols)
        rows = self._rows[:n]
        exposures = self._exposures[:n].copy()
        var_scenario, tail = tail_scenarios(self._pnl, level)
        marginal = -rows[:, var_scenario] * self._scale
        component = exposures * marginal
        component_es = -exposures * rows[:, tail].mean(axis=1) * self._scale
        return ComponentVaR(
            symbols=self.symbols,
            exposures=exposures,
            marginal=marginal,
            component=component,
            component_es=component_es,
            var=float(component.sum()),
            es=float(component_es.sum()),
            method=self._method,
            confidence=level,
            horizon=self._horizon,
        )

    # -- internals -------------------------------------------------------------

    def _new_column(self, symbol: str, window: FloatArray) -> FloatArray:
        """Return the scenario column a new symbol would bring."""
        rows = self._rows[: len(self._symbols)]
        return self._columns.scenario_column(symbol, window, rows)

    def _append(self, symbol: str, column: FloatArray) -> int:
        """Add a symbol's scenario column, doubling capacity when full."""
        n = len(self._symbols)
        if n == self._rows.shape[0]:
            capacity = max(2 * n, 4)
            rows = np.zeros((capacity, self._observations))
            rows[:n] = self._rows[:n]
            exposures = np.zeros(capacity)
            exposures[:n] = self._exposures[:n]
            self._rows, self._exposures = rows, exposures
        self._rows[n] = column
        self._exposures[n] = 0.0
        self._index[symbol] = n
        self._symbols = (*self._symbols, symbol)
        return n

    def _refresh(self) -> None:
        """Recompute the cached VaR/ES at the book's confidence, O(S)."""
        np.copyto(self._work, self._pnl)
        self._var, self._es = partition_tail(self._work, self._k, self._scale)


class ParametricBook:
    """Hold exposures, Σ and Σv; answer parametric VaR, ES and trade questions.

    `returns` is the T × n history behind Σ (kept so a new symbol's covariances
    with the book are one O(T) product against the book's P&L series).
    """

    def __init__(
        self,
        symbols: Sequence[str],
        exposures: FloatArray,
        returns: FloatArray,
        weights: CovarianceWeights,
        *,
        method: VaRMethod = VaRMethod.PARAMETRIC,
        distribution: Distribution = Distribution.NORMAL,
        dof: float = 5.0,
        confidence: float = 0.99,
        horizon: int = 1,
    ) -> None:
        check_confidence(confidence)
        history = np.asarray(returns, dtype=np.float64)
        if history.ndim != 2 or history.shape[1] != len(symbols) or len(exposures) != len(symbols):
            raise ValueError("returns must be T × n with one exposure per symbol")
        if weights.weights.size != history.shape[0]:
            raise ValueError("covariance weights must have one weight per return row")
        self._method = method
        self._distribution = distribution
        self._dof = dof
        self._confidence = confidence
        self._horizon = horizon
        self._scale = horizon_scale(horizon)
        self._weights = weights
        self._index = {symbol: i for i, symbol in enumerate(symbols)}
        self._symbols: tuple[str, ...] = tuple(symbols)
        self._prepared = np.ascontiguousarray(weights.prepare(history).T)
        weighted = self._prepared * weights.weights
        cov = weighted @ self._prepared.T
        self._cov = 0.5 * (cov + cov.T)
        self._exposures = np.array(exposures, dtype=np.float64)
        self._multipliers: dict[float, tuple[float, float]] = {}
        self._cov_v: FloatArray = self._cov @ self._exposures
        self._variance = max(float(self._exposures @ self._cov_v), 0.0)
        # The book's P&L series over the prepared history: a new symbol's
        # covariance with the whole book is its weighted product with this.
        self._book_pnl: FloatArray = self._exposures @ self._prepared

    # -- reading ---------------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """Return the symbols held, in column order."""
        return self._symbols

    @property
    def covariance(self) -> FloatArray:
        """Return a copy of Σ."""
        return self._cov.copy()

    @property
    def sigma(self) -> float:
        """Return σ, the standard deviation of the one-bar portfolio P&L."""
        return math.sqrt(self._variance)

    def exposure(self, symbol: str) -> float:
        """Return the market value held in a symbol (0 when not held)."""
        i = self._index.get(symbol)
        return 0.0 if i is None else float(self._exposures[i])

    def exposures(self) -> dict[str, float]:
        """Return the market value held per symbol."""
        return {s: float(self._exposures[i]) for s, i in self._index.items()}

    def result(self, confidence: float | None = None) -> VaRResult:
        """Return VaR/ES at the book's confidence or another one (O(1))."""
        level = self._confidence if confidence is None else confidence
        var, es = self._from_variance(self._variance, level)
        return VaRResult(
            var=var,
            es=es,
            method=self._method,
            confidence=level,
            horizon=self._horizon,
            window=int(self._weights.weights.size),
            distribution=self._distribution,
            scenarios=0,
        )

    def var(self, confidence: float | None = None) -> float:
        """Return VaR at the book's or the given confidence."""
        return self.result(confidence).var

    def es(self, confidence: float | None = None) -> float:
        """Return ES at the book's or the given confidence."""
        return self.result(confidence).es

    # -- trades ----------------------------------------------------------------

    def incremental(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> IncrementalVaR | InsufficientHistory:
        """Return VaR/ES before and after a trade: σ'² = σ² + 2δv·(Σv)_i + δv²·Σ_ii.

        O(1) for a held symbol (Σv is cached); O(T) for a new one, whose
        covariance with the book is its weighted product with the book's P&L.
        """
        i = self._index.get(symbol)
        if i is not None:
            cross, own = float(self._cov_v[i]), float(self._cov[i, i])
        else:
            required = int(self._weights.weights.size)
            window = _usable_window(returns_window, required)
            if window is None:
                return _missing_window(symbol, returns_window, required)
            weighted, prepared = self._weighted_window(window)
            cross, own = float(weighted @ self._book_pnl), float(weighted @ prepared)
        after = self._variance + 2.0 * delta_value * cross + delta_value * delta_value * own
        var_before, es_before = self._from_variance(self._variance, self._confidence)
        var_after, es_after = self._from_variance(after, self._confidence)
        return IncrementalVaR(
            symbol,
            delta_value,
            var_before,
            var_after,
            es_before,
            es_after,
            self._method,
            self._confidence,
            self._horizon,
        )

    def apply(
        self, symbol: str, delta_value: float, returns_window: FloatArray | None = None
    ) -> InsufficientHistory | None:
        """Commit a trade: Σv += δv·Σ[:, i], O(n) for a held symbol, O(T·n) for a new one."""
        i = self._index.get(symbol)
        if i is None:
            required = int(self._weights.weights.size)
            window = _usable_window(returns_window, required)
            if window is None:
                return _missing_window(symbol, returns_window, required)
            i = self._append(symbol, window)
        self._exposures[i] += delta_value
        self._cov_v += delta_value * self._cov[:, i]
        self._book_pnl += delta_value * self._prepared[i]
        self._variance = max(float(self._exposures @ self._cov_v), 0.0)
        return None

    def set_exposure(
        self, symbol: str, value: float, returns_window: FloatArray | None = None
    ) -> InsufficientHistory | None:
        """Set a symbol's market value, as an `apply` of the difference."""
        return self.apply(symbol, value - self.exposure(symbol), returns_window)

    # -- allocation ------------------------------------------------------------

    def components(self, confidence: float | None = None) -> ComponentVaR:
        """Return the analytic Euler allocation: marginal_i = m·√h·(Σv)_i/σ.

        Components v_i·marginal_i sum to m·√h·vᵀΣv/σ = m·σ·√h, the VaR (m the
        VaR or ES multiplier of the distribution).
        """
        level = self._confidence if confidence is None else confidence
        var_mult, es_mult = self._tail_multipliers(level)
        sigma = math.sqrt(self._variance)
        direction = self._cov_v / sigma if sigma > 0.0 else np.zeros_like(self._cov_v)
        marginal = var_mult * self._scale * direction
        component = self._exposures * marginal
        component_es = self._exposures * es_mult * self._scale * direction
        return ComponentVaR(
            symbols=self.symbols,
            exposures=self._exposures.copy(),
            marginal=marginal,
            component=component,
            component_es=component_es,
            var=float(component.sum()),
            es=float(component_es.sum()),
            method=self._method,
            confidence=level,
            horizon=self._horizon,
        )

    # -- internals -------------------------------------------------------------

    def _tail_multipliers(self, confidence: float) -> tuple[float, float]:
        """Return the cached (VaR, ES) multipliers per unit σ."""
        cached = self._multipliers.get(confidence)
        if cached is None:
            cached = tail_multipliers(confidence, self._distribution, self._dof)
            self._multipliers[confidence] = cached
        return cached

    def _from_variance(self, variance: float, confidence: float) -> tuple[float, float]:
        """Return (VaR, ES) of a zero-mean P&L with the given one-bar variance."""
        var_mult, es_mult = self._tail_multipliers(confidence)
        sigma = math.sqrt(max(variance, 0.0)) * self._scale
        return var_mult * sigma, es_mult * sigma

    def _weighted_window(self, window: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return (w ⊙ x, x) for a new symbol's window x prepared like the book's."""
        required = int(self._weights.weights.size)
        tail = np.asarray(window[-required:], dtype=np.float64)
        prepared = self._weights.prepare(tail[:, np.newaxis])[:, 0]
        return self._weights.weights * prepared, prepared

    def _append(self, symbol: str, window: FloatArray) -> int:
        """Add a symbol: one new row and column of Σ, O(T·n)."""
        weighted, prepared = self._weighted_window(window)
        cross = self._prepared @ weighted
        n = len(self._symbols)
        cov = np.empty((n + 1, n + 1))
        cov[:n, :n] = self._cov
        cov[n, :n] = cross
        cov[:n, n] = cross
        cov[n, n] = float(weighted @ prepared)
        self._cov = cov
        self._prepared = np.vstack([self._prepared, prepared[np.newaxis, :]])
        self._exposures = np.append(self._exposures, 0.0)
        self._cov_v = np.append(self._cov_v, float(cross @ self._exposures[:n]))
        self._index[symbol] = n
        self._symbols = (*self._symbols, symbol)
        return n


def exposure_vector(symbols: Sequence[str], exposures: Mapping[str, float]) -> FloatArray:
    """Return the market values of `symbols` in order (0 for a symbol not in the map)."""
    return np.array([float(exposures.get(s, 0.0)) for s in symbols], dtype=np.float64)

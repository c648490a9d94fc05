"""Backtest VaR forecasts: exceptions, Kupiec, Christoffersen and the Basel traffic light.

An exception is a bar whose realised P&L lost more than the VaR forecast for it:
pnl < −VaR. With p = 1 − c the expected exception rate:

* Kupiec POF (proportion of failures), x exceptions in T:
  LR = −2·ln[(1−p)^(T−x)·p^x] + 2·ln[(1−x/T)^(T−x)·(x/T)^x] ~ χ²(1).
* Christoffersen independence, with n_ij the count of bars in state j after a
  bar in state i (1 = exception), π01 = n01/(n00+n01), π11 = n11/(n10+n11),
  π = (n01+n11)/(n00+n01+n10+n11):
  LR = −2·ln[(1−π)^(n00+n10)·π^(n01+n11)]
       + 2·ln[(1−π01)^n00·π01^n01·(1−π11)^n10·π11^n11] ~ χ²(1).
* Conditional coverage: LR_cc = LR_pof + LR_ind ~ χ²(2).

Limits: every term is count·ln(probability) with 0·ln 0 = 0, so zero exceptions,
all exceptions, or no transitions out of a state give finite statistics (an
unobserved state contributes nothing). Fewer than two bars: no transitions,
LR_ind = 0, p-value 1.

Basel traffic light (BCBS, "Supervisory framework for the use of backtesting in
conjunction with the internal models approach to market risk capital
requirements", January 1996, Table 2): with x exceptions in T bars at coverage p,
the zone is green while the binomial probability P(X ≤ x) < 95%, yellow while
< 99.99%, red from there on. At T=250, c=99% this reproduces the published table:
green 0–4 (P(X≤4) = 89.22%), yellow 5–9 (P(X≤5) = 95.88%, P(X≤9) = 99.97%), red 10+
(P(X≤10) = 99.99%). The same thresholds generalise the zones to any T and c.

Expected Shortfall is backtested by `redfire.risk.es_backtest` (Acerbi–Szekely
Z1/Z2 with p-values simulated from each bar's predictive distribution, and
McNeil–Frey's exceedance residuals); `rolling_forecasts` records that
distribution next to the VaR and ES forecasts, at several confidences at once.
ES has its own traffic light at T = 250 and 97.5% (`es_traffic_light`): Z2 above
−0.70 green, down to −1.8 yellow, below red (Acerbi & Szekely 2014's 5% and
0.01% critical values, nearly the same for every tail).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import stats

from redfire.risk.covariance import covariance_weights, weighted_covariance
from redfire.risk.es_backtest import (
    DEFAULT_DRAWS,
    Z2_RED,
    Z2_YELLOW,
    EmpiricalPredictive,
    EsBacktestReport,
    PredictiveDistribution,
    ScaledPredictive,
    evaluate_es_backtest,
)
from redfire.risk.fhs import SymbolFilter, filter_spec, filtered_scenarios
from redfire.risk.measures import FloatArray, VaRConfig, VaRMethod, check_confidence
from redfire.risk.quantile import tail_var_es
from redfire.risk.var import compute_var

BoolArray = npt.NDArray[np.bool_]

YELLOW_THRESHOLD = 0.95
RED_THRESHOLD = 0.9999


class TrafficLight(StrEnum):
    """Name a Basel backtesting zone."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


@dataclass(frozen=True, slots=True)
class LikelihoodRatioTest:
    """Hold a likelihood-ratio statistic, its χ² degrees of freedom and p-value."""

    lr: float
    dof: int
    p_value: float


@dataclass(frozen=True, slots=True)
class Transitions:
    """Hold the counts n_ij of bars in state j following a bar in state i."""

    n00: int
    n01: int
    n10: int
    n11: int


def exceptions(pnl: FloatArray, var: FloatArray) -> BoolArray:
    """Return where the realised P&L lost more than the VaR forecast: pnl < −VaR."""
    flags: BoolArray = np.asarray(pnl, dtype=np.float64) < -np.asarray(var, dtype=np.float64)
    return flags


def _log_likelihood(count: float, probability: float) -> float:
    """Return count·ln(probability), with 0·ln(anything) = 0."""
    if count == 0:
        return 0.0
    if probability <= 0.0:
        return -math.inf
    return count * math.log(probability)


def _bernoulli_log_likelihood(misses: float, hits: float, probability: float) -> float:
    """Return the log likelihood of `hits` successes and `misses` failures at `probability`."""
    return _log_likelihood(misses, 1.0 - probability) + _log_likelihood(hits, probability)


def _chi2_test(lr: float, dof: int) -> LikelihoodRatioTest:
    """Return the test with its χ² p-value; round-off may make a zero LR slightly negative."""
    statistic = max(lr, 0.0)
    return LikelihoodRatioTest(statistic, dof, float(stats.chi2.sf(statistic, dof)))


def kupiec_pof(exception_count: int, observations: int, confidence: float) -> LikelihoodRatioTest:
    """Return Kupiec's proportion-of-failures test of x exceptions in T bars."""
    check_confidence(confidence)
    if observations < 1 or not 0 <= exception_count <= observations:
        raise ValueError("need 0 <= exceptions <= observations and observations >= 1")
    p = 1.0 - confidence
    misses, hits = observations - exception_count, exception_count
    expected = _bernoulli_log_likelihood(misses, hits, p)
    observed = _bernoulli_log_likelihood(misses, hits, hits / observations)
    return _chi2_test(-2.0 * expected + 2.0 * observed, 1)


def transitions(flags: BoolArray) -> Transitions:
    """Return the transition counts of an exception sequence."""
    states = np.asarray(flags, dtype=bool)
    previous, current = states[:-1], states[1:]
    return Transitions(
        n00=int(np.count_nonzero(~previous & ~current)),
        n01=int(np.count_nonzero(~previous & current)),
        n10=int(np.count_nonzero(previous & ~current)),
        n11=int(np.count_nonzero(previous & current)),
    )


def christoffersen_independence(flags: BoolArray) -> LikelihoodRatioTest:
    """Return Christoffersen's test that exceptions do not cluster (first-order Markov)."""
    counts = transitions(flags)
    total = counts.n00 + counts.n01 + counts.n10 + counts.n11
    if total == 0:
        return LikelihoodRatioTest(0.0, 1, 1.0)
    from_calm = counts.n00 + counts.n01
    from_exception = counts.n10 + counts.n11
    pi = (counts.n01 + counts.n11) / total
    pi01 = counts.n01 / from_calm if from_calm else 0.0
    pi11 = counts.n11 / from_exception if from_exception else 0.0
    restricted = _bernoulli_log_likelihood(counts.n00 + counts.n10, counts.n01 + counts.n11, pi)
    unrestricted = _bernoulli_log_likelihood(
        counts.n00, counts.n01, pi01
    ) + _bernoulli_log_likelihood(counts.n10, counts.n11, pi11)
    return _chi2_test(-2.0 * restricted + 2.0 * unrestricted, 1)


def conditional_coverage(
    pof: LikelihoodRatioTest, independence: LikelihoodRatioTest
) -> LikelihoodRatioTest:
    """Return Christoffersen's conditional coverage test, LR_pof + LR_ind ~ χ²(2)."""
    return _chi2_test(pof.lr + independence.lr, 2)


def traffic_light_probability(exception_count: int, observations: int, confidence: float) -> float:
    """Return P(X ≤ x) for X ~ Binomial(T, 1 − c): the Basel cumulative probability."""
    check_confidence(confidence)
    return float(stats.binom.cdf(exception_count, observations, 1.0 - confidence))


def traffic_light(
    exception_count: int, observations: int, confidence: float = 0.99
) -> TrafficLight:
    """Return the Basel zone of x exceptions in T bars at confidence c (see module notes)."""
    probability = traffic_light_probability(exception_count, observations, confidence)
    if probability < YELLOW_THRESHOLD:
        return TrafficLight.GREEN
    if probability < RED_THRESHOLD:
        return TrafficLight.YELLOW
    return TrafficLight.RED


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """Summarise a VaR backtest: counts, coverage and independence tests, zone."""

    observations: int
    exceptions: int
    expected_exceptions: float
    confidence: float
    kupiec: LikelihoodRatioTest
    christoffersen: LikelihoodRatioTest
    conditional_coverage: LikelihoodRatioTest
    traffic_light: TrafficLight

    @property
    def exception_rate(self) -> float:
        """Return the observed share of exceptions."""
        return self.exceptions / self.observations if self.observations else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        """Return the flat record the CLI prints as JSON."""
        return {
            "observations": self.observations,
            "exceptions": self.exceptions,
            "expected_exceptions": self.expected_exceptions,
            "exception_rate": self.exception_rate,
            "confidence": self.confidence,
            "kupiec_lr": self.kupiec.lr,
            "kupiec_p": self.kupiec.p_value,
            "christoffersen_lr": self.christoffersen.lr,
            "christoffersen_p": self.christoffersen.p_value,
            "cc_lr": self.conditional_coverage.lr,
            "cc_p": self.conditional_coverage.p_value,
            "traffic_light": self.traffic_light.value,
        }


def evaluate_backtest(pnl: FloatArray, var: FloatArray, confidence: float) -> BacktestReport:
    """Return the backtest report of VaR forecasts against the realised P&L they cover."""
    flags = exceptions(pnl, var)
    observations, count = int(flags.size), int(np.count_nonzero(flags))
    pof = kupiec_pof(count, observations, confidence)
    independence = christoffersen_independence(flags)
    return BacktestReport(
        observations=observations,
        exceptions=count,
        expected_exceptions=observations * (1.0 - confidence),
        confidence=confidence,
        kupiec=pof,
        christoffersen=independence,
        conditional_coverage=conditional_coverage(pof, independence),
        traffic_light=traffic_light(count, observations, confidence),
    )


@dataclass(frozen=True, slots=True, eq=False)
class BacktestSeries:
    """Hold a rolling backtest's aligned series: rows are the forecast bars.

    `positions` are row indices into the price matrix: forecast i covers the
    move from price row positions[i] − 1 to positions[i].
    """

    positions: npt.NDArray[np.intp]
    pnl: FloatArray
    var: FloatArray
    es: FloatArray
    predictive: PredictiveDistribution | None = None

    @property
    def exceptions(self) -> BoolArray:
        """Return where the P&L lost more than the VaR."""
        return exceptions(self.pnl, self.var)


@dataclass(frozen=True, slots=True, eq=False)
class ForecastSeries:
    """Hold a rolling backtest's forecasts at several confidences, and the model's view.

    `var[i]` and `es[i]` are the forecasts at `confidences[i]`; `predictive` is
    each bar's forecast P&L distribution (for the ES tests).
    """

    positions: npt.NDArray[np.intp]
    pnl: FloatArray
    confidences: tuple[float, ...]
    var: FloatArray
    es: FloatArray
    predictive: PredictiveDistribution

    def at(self, confidence: float) -> BacktestSeries:
        """Return the single-confidence series."""
        if confidence not in self.confidences:
            raise ValueError(f"no forecasts at {confidence!r}; have {self.confidences!r}")
        row = self.confidences.index(confidence)
        return BacktestSeries(
            self.positions, self.pnl, self.var[row], self.es[row], self.predictive
        )


def simple_returns(prices: FloatArray) -> FloatArray:
    """Return bar-on-bar simple returns P_t/P_{t−1} − 1 of a T × n price matrix."""
    levels = np.asarray(prices, dtype=np.float64)
    if np.any(levels <= 0.0) or not np.all(np.isfinite(levels)):
        raise ValueError("prices must be finite and positive; drop or fill gaps first")
    changes: FloatArray = levels[1:] / levels[:-1] - 1.0
    return changes


def rolling_backtest(
    prices: FloatArray, values: FloatArray, window: int, config: VaRConfig
) -> BacktestSeries:
    """Return out-of-sample VaR forecasts and realised P&L over a price history.

    The portfolio holds constant market values `values` (rebalanced each bar).
    The P&L of bar t is Σ value_i × r_{t,i}, r the simple return; the VaR for bar
    t uses only the returns before t, and the first forecast is for the return at
    row `window`. See `rolling_forecasts`.
    """
    forecasts = rolling_forecasts(prices, values, window, config, (config.confidence,))
    return forecasts.at(config.confidence)


def rolling_forecasts(
    prices: FloatArray,
    values: FloatArray,
    window: int,
    config: VaRConfig,
    confidences: tuple[float, ...] | None = None,
) -> ForecastSeries:
    """Return out-of-sample VaR/ES forecasts at several confidences, and the P&L.

    Historical simulation and the stateless FHS filters (`ewma`, `garch`) use the
    `window` returns before each bar. The fitted FHS filters (`gjr_t`,
    `ewma_mle`) run as a worker runs them: one `SymbolFilter` per symbol, fed
    each bar's return after its forecast, refitted every `fhs_refit_every` bars
    on the last `fhs_fit_window` returns, with up to `fhs_scenarios` scenarios
    (fewer while the history is shorter). Parametric engines and Monte Carlo
    (seed + bar index, so each forecast has its own draws) call `compute_var`
    per confidence and report their normal or Student-t P&L distribution.
    """
    levels = confidences or (config.confidence,)
    for level in levels:
        check_confidence(level)
    returns = simple_returns(prices)
    exposures = np.asarray(values, dtype=np.float64)
    if returns.shape[0] <= window:
        raise ValueError(f"need more than {window} returns for a {window}-bar window")
    rows = np.arange(window, returns.shape[0])
    pnl: FloatArray = returns[rows] @ exposures
    if config.method in (VaRMethod.HISTORICAL, VaRMethod.FHS):
        var, es, predictive = _scenario_forecasts(returns, exposures, window, config, levels)
    else:
        var, es, predictive = _parametric_forecasts(returns, exposures, window, config, levels)
    return ForecastSeries(rows + 1, pnl, levels, var, es, predictive)


def _scenario_pnls(
    returns: FloatArray, exposures: FloatArray, window: int, config: VaRConfig
) -> list[FloatArray]:
    """Return each forecast bar's scenario P&Ls (historical or filtered historical)."""
    rows = range(window, returns.shape[0])
    spec = filter_spec(config) if config.method is VaRMethod.FHS else None
    if spec is None:
        if config.method is VaRMethod.HISTORICAL:
            return [returns[t - window : t] @ exposures for t in rows]
        volatility, lam = config.fhs_volatility, config.ewma_lambda
        return [
            filtered_scenarios(returns[t - window : t], volatility, lam) @ exposures for t in rows
        ]
    filters = [SymbolFilter.from_history(spec, returns[:window, i]) for i in range(exposures.size)]
    scenarios: list[FloatArray] = []
    for t in rows:
        if t > window:
            for i, symbol_filter in enumerate(filters):
                symbol_filter.on_bar(float(returns[t - 1, i]))
                if symbol_filter.needs_refit:
                    symbol_filter.refit()
        columns = [f.scenario_column() for f in filters]
        scenarios.append(np.column_stack(columns) @ exposures)
    return scenarios


def _scenario_forecasts(
    returns: FloatArray,
    exposures: FloatArray,
    window: int,
    config: VaRConfig,
    levels: tuple[float, ...],
) -> tuple[FloatArray, FloatArray, PredictiveDistribution]:
    """Return (VaR, ES) per level × bar and the empirical predictive distribution."""
    scenarios = _scenario_pnls(returns, exposures, window, config)
    var = np.empty((len(levels), len(scenarios)))
    es = np.empty_like(var)
    for j, pnl in enumerate(scenarios):
        for i, level in enumerate(levels):
            var[i, j], es[i, j] = tail_var_es(pnl, level, config.horizon)
    return var, es, EmpiricalPredictive(scenarios)


def _parametric_forecasts(
    returns: FloatArray,
    exposures: FloatArray,
    window: int,
    config: VaRConfig,
    levels: tuple[float, ...],
) -> tuple[FloatArray, FloatArray, PredictiveDistribution]:
    """Return (VaR, ES) per level × bar of a parametric or Monte Carlo engine, and σ_t."""
    rows = np.arange(window, returns.shape[0])
    var = np.empty((len(levels), rows.size))
    es = np.empty_like(var)
    sigma = np.empty(rows.size)
    weights = covariance_weights(config.covariance_kind(), window, config.ewma_lambda)
    for j, t in enumerate(rows):
        history = returns[t - window : t]
        cov = weighted_covariance(history, weights)
        sigma[j] = math.sqrt(max(float(exposures @ cov @ exposures), 0.0))
        for i, level in enumerate(levels):
            day_config = replace(config, confidence=level, seed=config.seed + int(t))
            result = compute_var(history, exposures, day_config)
            var[i, j], es[i, j] = result.var, result.es
    return var, es, ScaledPredictive(sigma, config.distribution, config.dof)


def evaluate_es(
    series: BacktestSeries, confidence: float, draws: int = DEFAULT_DRAWS, seed: int = 0
) -> EsBacktestReport:
    """Return the ES backtest of a series that carries its predictive distribution."""
    if series.predictive is None:
        raise ValueError("this series has no predictive distribution to simulate the ES tests")
    return evaluate_es_backtest(
        series.pnl, series.var, series.es, confidence, series.predictive, draws, seed
    )


def es_traffic_light(z2: float) -> TrafficLight:
    """Return the ES zone of a Z2 value at T = 250, 97.5% (see module notes)."""
    if z2 <= Z2_RED:
        return TrafficLight.RED
    if z2 <= Z2_YELLOW:
        return TrafficLight.YELLOW
    return TrafficLight.GREEN


@dataclass(frozen=True, slots=True, eq=False)
class MethodComparison:
    """Hold one method's rolling forecasts and its VaR and ES backtests at each confidence."""

    name: str
    config: VaRConfig
    positions: npt.NDArray[np.intp]
    pnl: FloatArray
    confidences: tuple[float, ...]
    var: FloatArray
    var_reports: tuple[BacktestReport, ...]
    es_reports: tuple[EsBacktestReport, ...]

    def records(self) -> list[dict[str, float | int | str | bool | None]]:
        """Return one flat record per confidence: the method, the VaR and the ES fields."""
        return [
            {"method": self.name, **var_report.as_dict(), **es_report.as_dict()}
            for var_report, es_report in zip(self.var_reports, self.es_reports, strict=True)
        ]


def compare_method(
    name: str,
    prices: FloatArray,
    values: FloatArray,
    window: int,
    config: VaRConfig,
    confidences: tuple[float, ...],
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> MethodComparison:
    """Return a method's rolling forecasts backtested at every confidence (VaR and ES)."""
    forecasts = rolling_forecasts(prices, values, window, config, confidences)
    var_reports, es_reports = [], []
    for level in confidences:
        series = forecasts.at(level)
        var_reports.append(evaluate_backtest(series.pnl, series.var, level))
        es_reports.append(evaluate_es(series, level, draws, seed))
    return MethodComparison(
        name,
        config,
        forecasts.positions,
        forecasts.pnl,
        confidences,
        forecasts.var,
        tuple(var_reports),
        tuple(es_reports),
    )

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import stats

from redfire.risk.measures import FloatArray, VaRConfig, check_confidence
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

    @property
    def exceptions(self) -> BoolArray:
        """Return where the P&L lost more than the VaR."""
        return exceptions(self.pnl, self.var)


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
    t uses only the `window` returns before t, so the first forecast is for the
    return at row `window`. Monte Carlo draws with seed + bar index, so each
    forecast has its own scenarios and the run is still reproducible.
    """
    returns = simple_returns(prices)
    exposures = np.asarray(values, dtype=np.float64)
    if returns.shape[0] <= window:
        raise ValueError(f"need more than {window} returns for a {window}-bar window")
    rows = np.arange(window, returns.shape[0])
    var = np.empty(rows.size)
    es = np.empty(rows.size)
    for i, t in enumerate(rows):
        day_config = replace(config, seed=config.seed + int(t))
        result = compute_var(returns[t - window : t], exposures, day_config)
        var[i], es[i] = result.var, result.es
    pnl: FloatArray = returns[rows] @ exposures
    return BacktestSeries(rows + 1, pnl, var, es)

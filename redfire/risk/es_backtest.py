"""Backtest Expected Shortfall: Acerbi–Szekely Z1 and Z2, McNeil–Frey exceedance residuals.

Conventions as in `redfire.risk.backtest`: X_t is the realised P&L of bar t (a
loss is negative), VaR_t and ES_t are the forecasts for it at confidence c as
positive losses, α = 1 − c, and bar t is an exception when X_t + VaR_t < 0,
I_t = 1[X_t < −VaR_t], N = Σ I_t.

Acerbi, C. and Szekely, B. (2014), "Backtesting Expected Shortfall", Risk,
December 2014 (MSCI working paper of October 2014):

* Z1 (the test of ES given VaR): Z1 = Σ_t X_t·I_t/ES_t / N + 1 when N > 0.
  Under H0 (the model's tail beyond VaR is right) E[Z1 | N > 0] = 0; ES too low
  makes it negative. Z1 says nothing without exceptions: here Z1 = 0 when
  N = 0 (the statistic at its null value, p-value 1).
* Z2 (the unconditional test): Z2 = Σ_t X_t·I_t/(T·α·ES_t) + 1. E_H0[Z2] = 0;
  too many or too large exceptions make it negative. With no exceptions Z2 = 1.
* Significance, as in the paper: simulate M paths X^i_t ~ P_t from the model's
  own predictive distribution of each bar, holding VaR_t and ES_t fixed,
  compute Z^i, and p = (1/M)·Σ_i 1[Z^i < Z]. One-sided: only a model that
  understates risk is rejected. Seeded, so a backtest is reproducible.
  The paper also reports that Z2's 5% and 0.01% critical values hardly move
  with the distribution's tail at T = 250, α = 2.5%: about −0.70 and −1.8
  (`Z2_YELLOW`, `Z2_RED`), which gives a traffic light without simulation.

McNeil, A. J. and Frey, R. (2000), "Estimation of tail-related risk measures for
heteroscedastic financial time series: an extreme value approach", Journal of
Empirical Finance 7, 271–300, §5 (backtesting ES): on exception bars the
exceedance residuals r_t = (L_t − ES_t)/σ_t, L_t = −X_t the loss and σ_t the
forecast volatility, are i.i.d. with mean zero under a correct model; H1: mean
> 0 (ES underestimated). The paper tests this "with a bootstrap test that makes
no assumption about the underlying distribution of the residuals" (Efron &
Tibshirani 1993, An Introduction to the Bootstrap, Algorithm 16.2, p. 224):
t = r̄/(s/√n); resample the centred residuals r − r̄, recompute t*, and
p = #{t* ≥ t}/B. The plain one-sided Student-t p-value of the same t is given
beside it. σ_t here is the standard deviation of the model's predictive P&L
distribution for bar t; without one the residuals are not standardised.
Limits: fewer than two exceedances give t = 0 and p = 1 (no evidence); equal
residuals give t = ±∞ (p = 0 for a positive mean, 1 otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import stats

from redfire.risk.measures import Distribution, FloatArray, check_confidence

# Acerbi & Szekely (2014): Z2's 5% and 0.01% critical values at T = 250, α = 2.5%.
Z2_YELLOW = -0.70
Z2_RED = -1.8
DEFAULT_DRAWS = 1000
# Simulated paths per chunk: bounds the draws × bars matrix held at once.
_CHUNK_CELLS = 2_000_000


class PredictiveDistribution(Protocol):
    """A model's forecast distribution of the P&L of each backtested bar."""

    @property
    def days(self) -> int:
        """Return the number of bars T."""
        ...

    def sample(self, rng: np.random.Generator, draws: int) -> FloatArray:
        """Return `draws` × T P&Ls, column t drawn from bar t's distribution."""
        ...

    def scale(self) -> FloatArray:
        """Return each bar's predictive standard deviation (T values)."""
        ...


class EmpiricalPredictive:
    """Each bar's P&L distribution is its scenario P&Ls, equally likely (HS, FHS).

    Bars may have different scenario counts (an expanding window); the
    scenarios are stored padded in one days × S matrix.
    """

    def __init__(self, scenarios: Sequence[FloatArray]) -> None:
        lengths = np.array([np.size(s) for s in scenarios], dtype=np.intp)
        if lengths.size and lengths.min() < 1:
            raise ValueError("every bar needs at least one scenario P&L")
        width = int(lengths.max()) if lengths.size else 0
        matrix = np.zeros((lengths.size, width))
        for row, values in enumerate(scenarios):
            matrix[row, : lengths[row]] = values
        self._matrix = matrix
        self._lengths = lengths

    @property
    def days(self) -> int:
        """Return the number of bars."""
        return int(self._lengths.size)

    def sample(self, rng: np.random.Generator, draws: int) -> FloatArray:
        """Return draws × T P&Ls, each picked uniformly from its bar's scenarios."""
        picks = (rng.random((draws, self.days)) * self._lengths).astype(np.intp)
        rows = np.arange(self.days)
        drawn: FloatArray = self._matrix[rows, picks]
        return drawn

    def scale(self) -> FloatArray:
        """Return the standard deviation of each bar's scenario P&Ls."""
        out = np.empty(self.days)
        for row, length in enumerate(self._lengths):
            out[row] = float(np.std(self._matrix[row, :length]))
        return out


class ScaledPredictive:
    """Each bar's P&L is σ_t times a zero-mean unit-variance normal or Student-t.

    The model of the parametric engines, and of Monte Carlo, whose simulated
    P&L is exactly this distribution (t scaled by √((ν−2)/ν), as in
    `redfire.risk.parametric`).
    """

    def __init__(
        self, sigma: FloatArray, distribution: Distribution = Distribution.NORMAL, dof: float = 5.0
    ) -> None:
        if distribution is Distribution.EMPIRICAL:
            raise ValueError("a scaled predictive distribution is normal or student_t")
        if distribution is Distribution.STUDENT_T and dof <= 2.0:
            raise ValueError(f"Student-t dof must be > 2 to have a variance, got {dof!r}")
        self._sigma = np.asarray(sigma, dtype=np.float64)
        self._distribution = distribution
        self._dof = dof

    @property
    def days(self) -> int:
        """Return the number of bars."""
        return int(self._sigma.size)

    def sample(self, rng: np.random.Generator, draws: int) -> FloatArray:
        """Return draws × T P&Ls σ_t·ε with ε standard normal or unit-variance t."""
        if self._distribution is Distribution.STUDENT_T:
            unit = rng.standard_t(self._dof, (draws, self.days)) * math.sqrt(
                (self._dof - 2.0) / self._dof
            )
        else:
            unit = rng.standard_normal((draws, self.days))
        drawn: FloatArray = unit * self._sigma
        return drawn

    def scale(self) -> FloatArray:
        """Return σ_t."""
        return self._sigma.copy()


@dataclass(frozen=True, slots=True)
class SimulatedTest:
    """Hold a statistic, its simulated one-sided p-value P(Z_sim < Z) and the draws."""

    statistic: float
    p_value: float
    draws: int


@dataclass(frozen=True, slots=True)
class ExceedanceResidualTest:
    """Hold McNeil and Frey's test: residual count and mean, t, bootstrap and t-test p."""

    exceedances: int
    mean_residual: float
    t_statistic: float
    p_value: float
    p_value_t: float
    standardised: bool


def _arrays(
    pnl: FloatArray, var: FloatArray, es: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return the three series as float arrays of one length."""
    x = np.asarray(pnl, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    if not x.shape == v.shape == e.shape or x.ndim != 1:
        raise ValueError("pnl, var and es must be 1-D series of one length")
    if np.any(e <= 0.0):
        raise ValueError("ES forecasts must be positive losses to backtest them")
    return x, v, e


def _z_rows(
    paths: FloatArray, var: FloatArray, es: FloatArray, alpha: float
) -> tuple[FloatArray, FloatArray]:
    """Return (Z1, Z2) of each row of a draws × T matrix of P&L paths."""
    exceeded = paths < -var
    weighted = np.where(exceeded, paths / es, 0.0).sum(axis=1)
    count = exceeded.sum(axis=1)
    z1 = np.divide(weighted, count, out=np.full(weighted.shape, -1.0), where=count > 0) + 1.0
    z2 = weighted / (paths.shape[1] * alpha) + 1.0
    return z1, z2


def z1_statistic(pnl: FloatArray, var: FloatArray, es: FloatArray) -> float:
    """Return Acerbi–Szekely Z1 = Σ X_t·I_t/ES_t / N + 1 (0 without exceptions)."""
    x, v, e = _arrays(pnl, var, es)
    z1, _ = _z_rows(x[np.newaxis, :], v, e, 1.0)
    return float(z1[0])


def z2_statistic(pnl: FloatArray, var: FloatArray, es: FloatArray, confidence: float) -> float:
    """Return Acerbi–Szekely Z2 = Σ X_t·I_t/(T·α·ES_t) + 1."""
    check_confidence(confidence)
    x, v, e = _arrays(pnl, var, es)
    if x.size == 0:
        raise ValueError("Z2 needs at least one bar")
    _, z2 = _z_rows(x[np.newaxis, :], v, e, 1.0 - confidence)
    return float(z2[0])


def simulate_statistics(
    var: FloatArray,
    es: FloatArray,
    confidence: float,
    predictive: PredictiveDistribution,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray]:
    """Return (Z1, Z2) of `draws` P&L paths simulated from the model, forecasts held fixed."""
    check_confidence(confidence)
    v = np.asarray(var, dtype=np.float64)
    e = np.asarray(es, dtype=np.float64)
    if predictive.days != v.size or v.size == 0:
        raise ValueError("the predictive distribution must cover every backtested bar")
    if draws < 1:
        raise ValueError("need at least one simulated path")
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // v.size)
    z1_parts, z2_parts = [], []
    for start in range(0, draws, chunk):
        paths = predictive.sample(rng, min(chunk, draws - start))
        z1, z2 = _z_rows(paths, v, e, 1.0 - confidence)
        z1_parts.append(z1)
        z2_parts.append(z2)
    return np.concatenate(z1_parts), np.concatenate(z2_parts)


def _simulated_p_value(observed: float, simulated: FloatArray) -> float:
    """Return (1/M)·Σ 1[Z^i < Z], Acerbi and Szekely's p-value."""
    return float(np.mean(simulated < observed))


def acerbi_szekely(
    pnl: FloatArray,
    var: FloatArray,
    es: FloatArray,
    confidence: float,
    predictive: PredictiveDistribution,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> tuple[SimulatedTest, SimulatedTest]:
    """Return the Z1 and Z2 tests with p-values simulated under the model (module notes)."""
    z1 = z1_statistic(pnl, var, es)
    z2 = z2_statistic(pnl, var, es, confidence)
    z1_sim, z2_sim = simulate_statistics(var, es, confidence, predictive, draws, seed)
    return (
        SimulatedTest(z1, _simulated_p_value(z1, z1_sim), draws),
        SimulatedTest(z2, _simulated_p_value(z2, z2_sim), draws),
    )


def exceedance_residuals(
    pnl: FloatArray, var: FloatArray, es: FloatArray, scale: FloatArray | None = None
) -> FloatArray:
    """Return McNeil and Frey's residuals (L_t − ES_t)/σ_t on the exception bars."""
    x, v, e = _arrays(pnl, var, es)
    exceeded = x < -v
    residuals: FloatArray = -x[exceeded] - e[exceeded]
    if scale is None:
        return residuals
    sigma = np.asarray(scale, dtype=np.float64)
    if sigma.shape != x.shape:
        raise ValueError("scale must give one volatility per bar")
    chosen = sigma[exceeded]
    if np.any(chosen <= 0.0):
        raise ValueError("the volatility of an exception bar must be positive")
    standardised: FloatArray = residuals / chosen
    return standardised


def _t_statistic(values: FloatArray) -> float:
    """Return mean/(sd/√n) with the sample sd; ±inf for equal values, 0 for a zero mean."""
    mean = float(values.mean())
    sd = float(values.std(ddof=1))
    if sd > 0.0:
        return mean / (sd / math.sqrt(values.size))
    if mean == 0.0:
        return 0.0
    return math.copysign(math.inf, mean)


def mcneil_frey(
    pnl: FloatArray,
    var: FloatArray,
    es: FloatArray,
    scale: FloatArray | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> ExceedanceResidualTest:
    """Return the one-sided test that exceedance residuals have mean zero (module notes)."""
    residuals = exceedance_residuals(pnl, var, es, scale)
    n = int(residuals.size)
    standardised = scale is not None
    if n < 2:
        mean = float(residuals.mean()) if n else 0.0
        return ExceedanceResidualTest(n, mean, 0.0, 1.0, 1.0, standardised)
    mean = float(residuals.mean())
    t = _t_statistic(residuals)
    if math.isinf(t):
        p = 0.0 if t > 0 else 1.0
        return ExceedanceResidualTest(n, mean, t, p, p, standardised)
    rng = np.random.default_rng(seed)
    centred = residuals - mean
    resampled = centred[rng.integers(0, n, size=(draws, n))]
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = resampled.mean(axis=1) / (resampled.std(axis=1, ddof=1) / math.sqrt(n))
    boot = boot[np.isfinite(boot)]
    p_boot = float(np.mean(boot >= t)) if boot.size else 1.0
    p_t = float(stats.t.sf(t, n - 1))
    return ExceedanceResidualTest(n, mean, t, p_boot, p_t, standardised)


@dataclass(frozen=True, slots=True)
class EsBacktestReport:
    """Summarise an ES backtest at one confidence: Z1, Z2 and McNeil–Frey."""

    confidence: float
    observations: int
    exceptions: int
    z1: SimulatedTest
    z2: SimulatedTest
    mcneil_frey: ExceedanceResidualTest
    seed: int

    def as_dict(self) -> dict[str, float | int | bool | None]:
        """Return the flat `es_*` record the CLI prints (non-finite numbers as null)."""
        record: dict[str, float | int | bool | None] = {
            "es_confidence": self.confidence,
            "es_z1": self.z1.statistic,
            "es_z1_p": self.z1.p_value,
            "es_z2": self.z2.statistic,
            "es_p": self.z2.p_value,
            "es_draws": self.z2.draws,
            "es_seed": self.seed,
            "es_mcneil_frey_exceedances": self.mcneil_frey.exceedances,
            "es_mcneil_frey_mean": self.mcneil_frey.mean_residual,
            "es_mcneil_frey_t": self.mcneil_frey.t_statistic,
            "es_mcneil_frey_p": self.mcneil_frey.p_value,
            "es_mcneil_frey_t_p": self.mcneil_frey.p_value_t,
            "es_mcneil_frey_standardised": self.mcneil_frey.standardised,
        }
        return {
            key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in record.items()
        }


def evaluate_es_backtest(
    pnl: FloatArray,
    var: FloatArray,
    es: FloatArray,
    confidence: float,
    predictive: PredictiveDistribution,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> EsBacktestReport:
    """Return every ES test of VaR/ES forecasts against the P&L they cover."""
    z1, z2 = acerbi_szekely(pnl, var, es, confidence, predictive, draws, seed)
    residual_test = mcneil_frey(pnl, var, es, predictive.scale(), draws, seed)
    x = np.asarray(pnl, dtype=np.float64)
    count = int(np.count_nonzero(x < -np.asarray(var, dtype=np.float64)))
    return EsBacktestReport(confidence, int(x.size), count, z1, z2, residual_test, seed)

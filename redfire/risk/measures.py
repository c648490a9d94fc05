"""Name the risk measures: methods, configuration and the result values every engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# The confidence levels the snapshot publishes (var_95, var_99, es_975).
STANDARD_CONFIDENCES: tuple[float, ...] = (0.95, 0.975, 0.99)
# A fitted volatility filter needs at least this many returns to fit.
MIN_FIT_BARS = 100


class VaRMethod(StrEnum):
    """Name a VaR engine; the values are those of REDFIRE_VAR_METHOD."""

    HISTORICAL = "historical"
    PARAMETRIC = "parametric"
    EWMA = "ewma"
    FHS = "fhs"
    MONTECARLO = "montecarlo"


class Distribution(StrEnum):
    """Name the distribution behind a parametric or Monte Carlo figure."""

    EMPIRICAL = "empirical"
    NORMAL = "normal"
    STUDENT_T = "student_t"


class CovarianceKind(StrEnum):
    """Name a covariance estimator."""

    EQUAL = "equal"
    EWMA = "ewma"


class Volatility(StrEnum):
    """Name the volatility model that filtered historical simulation rescales by.

    `gjr_t` (the shipped default) and `ewma_mle` are fitted by maximum likelihood
    on a long history and refitted on a schedule (`redfire.risk.fhs.SymbolFilter`);
    `ewma` (λ fixed, the filter run over the scenario window alone — the shipped
    default before issue 14) and `garch` (GARCH(1,1)-normal refitted on every
    window) are kept by name for comparison.
    """

    EWMA = "ewma"
    GARCH = "garch"
    GJR_T = "gjr_t"
    EWMA_MLE = "ewma_mle"


def check_confidence(confidence: float) -> None:
    """Raise ValueError unless the confidence lies strictly between 0 and 1."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


def check_horizon(horizon: int) -> None:
    """Raise ValueError unless the horizon is a whole number of bars >= 1."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon!r}")


@dataclass(frozen=True, slots=True)
class VaRConfig:
    """Choose a VaR engine and its parameters.

    `method=EWMA` is the parametric engine with the EWMA covariance; `covariance`
    picks the estimator for `PARAMETRIC` and `MONTECARLO`. `distribution` and `dof`
    apply to the parametric and Monte Carlo engines (Student-t needs dof > 2 so that
    it has a variance). `device` is None for automatic (CUDA when present, else CPU).
    The `fhs_*` fields configure the fitted FHS filters (`gjr_t`, `ewma_mle`): the
    returns a fit sees, the filtered scenarios kept per symbol, the bars between
    refits, and the share of the worst residuals given a GPD tail (0: none).
    """

    method: VaRMethod = VaRMethod.HISTORICAL
    confidence: float = 0.99
    horizon: int = 1
    distribution: Distribution = Distribution.NORMAL
    dof: float = 5.0
    covariance: CovarianceKind = CovarianceKind.EQUAL
    ewma_lambda: float = 0.94
    fhs_volatility: Volatility = Volatility.GJR_T
    fhs_fit_window: int = 1000
    fhs_scenarios: int = 1000
    fhs_refit_every: int = 20
    fhs_evt_tail: float = 0.0
    scenarios: int = 10_000
    seed: int = 0
    device: str | None = None
    chunk: int = 10_000

    def __post_init__(self) -> None:
        check_confidence(self.confidence)
        check_horizon(self.horizon)
        if self.dof <= 2.0:
            raise ValueError(f"Student-t dof must be > 2 to have a variance, got {self.dof!r}")
        if not 0.0 < self.ewma_lambda < 1.0:
            raise ValueError(f"ewma_lambda must lie in (0, 1), got {self.ewma_lambda!r}")
        if self.scenarios < 1 or self.chunk < 1:
            raise ValueError("scenarios and chunk must be >= 1")
        if self.fhs_fit_window < MIN_FIT_BARS:
            raise ValueError(
                f"fhs_fit_window must be >= {MIN_FIT_BARS}, got {self.fhs_fit_window!r}"
            )
        if self.fhs_scenarios < 2 or self.fhs_refit_every < 1:
            raise ValueError("need fhs_scenarios >= 2 and fhs_refit_every >= 1")
        if not 0.0 <= self.fhs_evt_tail < 0.5:
            raise ValueError(f"fhs_evt_tail must lie in [0, 0.5), got {self.fhs_evt_tail!r}")
        if self.distribution is Distribution.EMPIRICAL and self.method in (
            VaRMethod.PARAMETRIC,
            VaRMethod.EWMA,
            VaRMethod.MONTECARLO,
        ):
            raise ValueError("parametric and Monte Carlo engines need normal or student_t")

    def covariance_kind(self) -> CovarianceKind:
        """Return the covariance estimator this configuration implies."""
        if self.method is VaRMethod.EWMA:
            return CovarianceKind.EWMA
        return self.covariance


@dataclass(frozen=True, slots=True)
class VaRResult:
    """Hold one VaR/ES figure and how it was made.

    `var` and `es` are losses in currency, positive for a loss; a book whose worst
    tail is still a gain has a negative VaR. `window` is the number of return
    observations behind the figure, `scenarios` the number of P&L scenarios (equal
    to `window` except for Monte Carlo).
    """

    var: float
    es: float
    method: VaRMethod
    confidence: float
    horizon: int
    window: int
    distribution: Distribution = Distribution.EMPIRICAL
    scenarios: int = 0


class IncrementalVaR(NamedTuple):
    """Hold the VaR and ES of a book before and after a candidate trade.

    A NamedTuple rather than a frozen dataclass: it is built once per order on
    the pre-trade hot path, where a frozen dataclass's __init__ costs about a
    microsecond of the few the whole check takes. It is just as immutable.
    """

    symbol: str
    delta_value: float
    var_before: float
    var_after: float
    es_before: float
    es_after: float
    method: VaRMethod
    confidence: float
    horizon: int

    @property
    def var_change(self) -> float:
        """Return the VaR the trade adds (negative when it hedges)."""
        return self.var_after - self.var_before

    @property
    def es_change(self) -> float:
        """Return the ES the trade adds (negative when it hedges)."""
        return self.es_after - self.es_before


@dataclass(frozen=True, slots=True, eq=False)
class ComponentVaR:
    """Hold the Euler allocation of VaR and ES to positions.

    `marginal[i]` is dVaR/dv_i, `component[i] = v_i * marginal[i]`; the components
    sum to `var` and `component_es` sums to `es`.
    """

    symbols: tuple[str, ...]
    exposures: FloatArray
    marginal: FloatArray
    component: FloatArray
    component_es: FloatArray
    var: float
    es: float
    method: VaRMethod
    confidence: float
    horizon: int


@dataclass(frozen=True, slots=True)
class InsufficientHistory:
    """Say that VaR cannot be computed because some symbols lack return history.

    `symbols` lack a long enough window (and have no usable proxy), `unpriced`
    have no price to value the position. `available` gives each short symbol's
    window length; `required` is the length needed.
    """

    symbols: tuple[str, ...]
    required: int
    available: dict[str, int] = field(default_factory=dict)
    unpriced: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        """Describe the shortfall for a rejection reason or a log line."""
        parts = []
        if self.symbols:
            have = ", ".join(f"{s}={self.available.get(s, 0)}" for s in self.symbols)
            parts.append(f"insufficient return history (need {self.required} bars): {have}")
        if self.unpriced:
            parts.append(f"no price for: {', '.join(self.unpriced)}")
        return "; ".join(parts)

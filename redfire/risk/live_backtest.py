"""The live backtest of one account: each closed bar scores the forecast made before it.

When a bar closes the worker hands the account's `LiveBacktest` the bar's
returns and the forecast it makes now for the next bar (`BarForecast`: VaR 99%,
VaR 97.5%, ES 97.5% and the exposures they were computed on). The forecast
held from the previous close is scored against the P&L those exposures made
over the bar just closed — Σ value × return, a symbol without a return for the
bar counting as unchanged — and the new one is held until the next close.
A bar is scored once, however often `on_bar` is called for it.

Over the last `bars` scored bars (250, Basel's year) the summary gives:

* the VaR 99% exceptions (P&L < −VaR) and their Basel traffic light;
* Acerbi–Szekely Z2 at 97.5% (`redfire.risk.es_backtest`): Z2 =
  Σ X_t·1[X_t < −VaR_t]/(T·α·ES_t) + 1 over the bars that had a risk forecast
  (ES > 0; a flat book has no tail to test), and its zone by Acerbi and
  Szekely's fixed thresholds (green above −0.70, red at −1.8 and below), which
  hold for T = 250 and α = 2.5% — so the zone is given only once 250 bars are in.
  Live there is no predictive distribution to simulate from; the thresholds
  stand in for the simulated p-value, as the paper proposes.

Pure and small: the state is a few floats per bar, `to_record`/`from_record`
give it as plain JSON for a table.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from redfire.risk.backtest import TrafficLight, es_traffic_light, traffic_light
from redfire.risk.es_backtest import z2_statistic

BACKTEST_BARS = 250
VAR_CONFIDENCE = 0.99
ES_CONFIDENCE = 0.975


@dataclass(frozen=True, slots=True)
class BarForecast:
    """Hold the risk forecast made at a bar close for the next bar, and its exposures."""

    var_99: float
    var_975: float
    es_975: float
    exposures: Mapping[str, float] = field(default_factory=dict)

    def pnl(self, returns: Mapping[str, float]) -> float:
        """Return the P&L of the exposures over a bar (a missing return counts as 0)."""
        return sum(value * float(returns.get(s, 0.0)) for s, value in self.exposures.items())


@dataclass(frozen=True, slots=True)
class ScoredBar:
    """Hold one closed bar: the forecasts made before it and the P&L it made."""

    var_99: float
    var_975: float
    es_975: float
    pnl: float


@dataclass(frozen=True, slots=True)
class LiveBacktestSummary:
    """Summarise the live backtest: VaR 99% exceptions and zone, ES 97.5% Z2 and zone.

    `es_backtest_z2` is None until a bar with a risk forecast has been scored,
    `es_traffic_light` until `BACKTEST_BARS` such bars have.
    """

    bars: int
    var_exceptions: int
    traffic_light: TrafficLight | None
    es_bars: int
    es_exceptions: int
    es_backtest_z2: float | None
    es_traffic_light: TrafficLight | None


class LiveBacktest:
    """Score each closed bar's held forecast; keep the last `bars` bars (module notes)."""

    def __init__(self, bars: int = BACKTEST_BARS) -> None:
        if bars < 1:
            raise ValueError(f"a live backtest needs at least one bar, got {bars!r}")
        self._scored: deque[ScoredBar] = deque(maxlen=bars)
        self._held: BarForecast | None = None
        self._last_bar: int | None = None

    @property
    def held(self) -> BarForecast | None:
        """Return the forecast waiting for the next bar to close."""
        return self._held

    @property
    def last_bar(self) -> int | None:
        """Return the last bar closed (its start, or any increasing bar number)."""
        return self._last_bar

    def scored(self) -> tuple[ScoredBar, ...]:
        """Return the scored bars, oldest first."""
        return tuple(self._scored)

    def on_bar(self, bar: int, returns: Mapping[str, float], forecast: BarForecast | None) -> bool:
        """Score the held forecast against bar `bar`'s returns, then hold `forecast`.

        Return False (and change nothing) for a bar already closed or older.
        `forecast` is None when the account has no risk figure now (e.g. no
        history yet): the next bar is then not scored.
        """
        if self._last_bar is not None and bar <= self._last_bar:
            return False
        held = self._held
        if held is not None and held.exposures:
            self._scored.append(
                ScoredBar(held.var_99, held.var_975, held.es_975, held.pnl(returns))
            )
        self._held = forecast
        self._last_bar = bar
        return True

    def summary(self) -> LiveBacktestSummary:
        """Return the exceptions, zones and Z2 over the kept bars."""
        bars = len(self._scored)
        pnl = np.array([b.pnl for b in self._scored])
        var_99 = np.array([b.var_99 for b in self._scored])
        var_exceptions = int(np.count_nonzero(pnl < -var_99))
        zone = traffic_light(var_exceptions, bars, VAR_CONFIDENCE) if bars else None
        with_tail = [b for b in self._scored if b.es_975 > 0.0]
        es_pnl = np.array([b.pnl for b in with_tail])
        es_var = np.array([b.var_975 for b in with_tail])
        es = np.array([b.es_975 for b in with_tail])
        es_exceptions = int(np.count_nonzero(es_pnl < -es_var))
        z2 = z2_statistic(es_pnl, es_var, es, ES_CONFIDENCE) if with_tail else None
        es_zone = None
        if z2 is not None and len(with_tail) >= BACKTEST_BARS:
            es_zone = es_traffic_light(z2)
        return LiveBacktestSummary(
            bars, var_exceptions, zone, len(with_tail), es_exceptions, z2, es_zone
        )

    def to_record(self) -> dict[str, Any]:
        """Return the state as plain JSON-able values."""
        held = self._held
        return {
            "bars": self._scored.maxlen,
            "last_bar": self._last_bar,
            "held": None
            if held is None
            else {
                "var_99": held.var_99,
                "var_975": held.var_975,
                "es_975": held.es_975,
                "exposures": dict(held.exposures),
            },
            "scored": [[b.var_99, b.var_975, b.es_975, b.pnl] for b in self._scored],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveBacktest:
        """Return the live backtest `to_record` described."""
        live = cls(int(record.get("bars", BACKTEST_BARS)))
        for var_99, var_975, es_975, pnl in record.get("scored", []):
            live._scored.append(ScoredBar(var_99, var_975, es_975, pnl))
        held = record.get("held")
        if held is not None:
            live._held = BarForecast(
                held["var_99"], held["var_975"], held["es_975"], dict(held["exposures"])
            )
        last = record.get("last_bar")
        live._last_bar = None if last is None else int(last)
        return live

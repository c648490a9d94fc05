"""The live per-account backtest: scoring held forecasts bar by bar, exceptions, Z2, zones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from redfire.risk.backtest import TrafficLight, es_traffic_light, traffic_light
from redfire.risk.es_backtest import z2_statistic
from redfire.risk.live_backtest import BACKTEST_BARS, BarForecast, LiveBacktest
from redfire.risk.parametric import normal_multipliers


def forecast(scale: float, exposures: dict[str, float]) -> BarForecast:
    """Return a normal forecast for a book whose P&L has standard deviation `scale`."""
    var_99 = normal_multipliers(0.99)[0] * scale
    var_975, es_975 = (m * scale for m in normal_multipliers(0.975))
    return BarForecast(var_99, var_975, es_975, exposures)


def test_each_bar_scores_the_forecast_made_before_it() -> None:
    live = LiveBacktest()
    assert live.on_bar(1, {}, forecast(10.0, {"A": 1000.0, "B": -500.0}))
    assert live.scored() == ()  # nothing was held before the first close
    assert live.on_bar(2, {"A": -0.02, "B": 0.01}, forecast(20.0, {"A": 2000.0}))
    (bar,) = live.scored()
    # P&L of the exposures held: 1000·(−0.02) − 500·0.01 = −25, against the VaR of 10.
    assert bar.pnl == pytest.approx(-25.0)
    assert bar.var_99 == pytest.approx(normal_multipliers(0.99)[0] * 10.0)
    assert live.held is not None and live.held.exposures == {"A": 2000.0}


def test_a_bar_is_scored_once() -> None:
    live = LiveBacktest()
    live.on_bar(5, {}, forecast(10.0, {"A": 1000.0}))
    assert live.on_bar(6, {"A": -0.05}, forecast(10.0, {"A": 1000.0}))
    assert not live.on_bar(6, {"A": -0.05}, forecast(10.0, {"A": 1000.0}))
    assert not live.on_bar(4, {"A": -0.05}, None)
    assert len(live.scored()) == 1


def test_a_symbol_without_a_return_counts_as_unchanged_and_flat_books_are_skipped() -> None:
    live = LiveBacktest()
    live.on_bar(1, {}, forecast(10.0, {"A": 1000.0, "B": 1000.0}))
    live.on_bar(2, {"A": 0.01}, BarForecast(0.0, 0.0, 0.0, {}))
    live.on_bar(3, {"A": -0.5}, None)
    (bar,) = live.scored()
    assert bar.pnl == pytest.approx(10.0)


def test_summary_counts_exceptions_and_computes_z2_over_the_window() -> None:
    rng = np.random.default_rng(0)
    live = LiveBacktest()
    scales = rng.uniform(5.0, 15.0, 301)
    moves = rng.normal(0.0, 1.0, 301) * scales * 1.3  # a model that understates risk
    for bar in range(301):
        live.on_bar(bar, {"A": moves[bar - 1] / 1000.0}, forecast(scales[bar], {"A": 1000.0}))
    scored = live.scored()
    assert len(scored) == BACKTEST_BARS  # the window keeps the last 250
    pnl = np.array([b.pnl for b in scored])
    var_99 = np.array([b.var_99 for b in scored])
    summary = live.summary()
    exceptions = int(np.sum(pnl < -var_99))
    assert (summary.bars, summary.var_exceptions) == (250, exceptions)
    assert summary.traffic_light is traffic_light(exceptions, 250, 0.99)
    var_975 = np.array([b.var_975 for b in scored])
    es_975 = np.array([b.es_975 for b in scored])
    expected = z2_statistic(pnl, var_975, es_975, 0.975)
    assert summary.es_backtest_z2 == pytest.approx(expected)
    assert summary.es_exceptions == int(np.sum(pnl < -var_975))
    assert summary.es_traffic_light is es_traffic_light(expected)
    assert summary.es_backtest_z2 is not None and summary.es_backtest_z2 < 0.0


def test_es_zone_waits_for_a_full_window() -> None:
    live = LiveBacktest()
    for bar in range(20):
        live.on_bar(bar, {"A": -0.1}, forecast(10.0, {"A": 1000.0}))
    summary = live.summary()
    assert summary.es_bars == 19 and summary.es_backtest_z2 is not None
    assert summary.es_traffic_light is None
    assert summary.traffic_light is TrafficLight.RED  # 19 exceptions of 19


def test_es_zone_thresholds_are_acerbi_szekelys() -> None:
    assert es_traffic_light(-0.69) is TrafficLight.GREEN
    assert es_traffic_light(-0.70) is TrafficLight.YELLOW
    assert es_traffic_light(-1.79) is TrafficLight.YELLOW
    assert es_traffic_light(-1.8) is TrafficLight.RED


def test_empty_summary_and_record_round_trip() -> None:
    live = LiveBacktest()
    empty = live.summary()
    assert (empty.bars, empty.traffic_light, empty.es_backtest_z2) == (0, None, None)
    for bar in range(10):
        live.on_bar(bar, {"A": 0.01 * (-1) ** bar}, forecast(10.0, {"A": 1000.0}))
    record = json.loads(json.dumps(live.to_record()))
    restored = LiveBacktest.from_record(record)
    assert restored.scored() == live.scored()
    assert restored.held == live.held
    assert restored.last_bar == 9
    assert restored.summary() == live.summary()

"""REDFIRE_VAR_METHOD=fhs in the engine: books, snapshots and orders on the fitted filters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from redfire.risk.fhs import SymbolFilter
from redfire.risk.measures import VaRConfig, VaRMethod
from redfire.risk.var import scenario_result
from redfire.state.filters import fitted_spec
from tests.support.engine import Engine, build_engine

T0 = 1_700_000_000_000
DAY = 86_400_000
DAYS = 302
HOLDINGS = {"AAPL": 400.0, "MSFT": -150.0}
FHS = {
    "var_method": "fhs",
    "var_window": 250,
    "var_fhs_fit_window": 300,
    "var_fhs_scenarios": 250,
    "var_fhs_refit_bars": 20,
}


def gjr_closes(start: float, seed: int) -> list[float]:
    """Return daily closes whose returns follow a GJR-GARCH-t path (so the fit converges)."""
    rng = np.random.default_rng(seed)
    omega, alpha, gamma, beta = 2e-6, 0.05, 0.10, 0.88
    variance = omega / (1 - alpha - gamma / 2 - beta)
    closes = [start]
    for shock in rng.standard_t(6, DAYS - 1) / math.sqrt(6 / 4):
        ret = math.sqrt(variance) * shock
        variance = omega + (alpha + gamma * (ret < 0)) * ret**2 + beta * variance
        closes.append(round(closes[-1] * (1 + ret), 2))
    return closes


@pytest.fixture
def engine() -> Engine:
    engine = build_engine(**FHS)
    history = {"AAPL": gjr_closes(190.0, 1), "MSFT": gjr_closes(410.0, 2)}
    for day in range(DAYS):
        ts = T0 + day * DAY
        engine.ticks(*({"symbol": s, "price": history[s][day], "ts": ts} for s in history))
    engine.now_ms = T0 + (DAYS - 1) * DAY + 60_000
    off = {"price_collar_pct": None, "max_var_pct": None, "max_concentration": None}
    engine.commands(
        {"command_id": "c0", "command": "SET_LIMITS", "account": "*", "payload": off, "ts": 1},
        {
            "command_id": "c1",
            "command": "SET_CASH",
            "account": "A1",
            "payload": {"cash": 1e6},
            "ts": 1,
        },
    )
    engine.fills(
        *(
            {
                "fill_id": f"f-{symbol}",
                "order_id": f"o-{symbol}",
                "account": "A1",
                "symbol": symbol,
                "side": "BUY" if qty > 0 else "SELL",
                "qty": abs(qty),
                "price": history[symbol][-1],
                "ts": engine.now_ms,
            }
            for symbol, qty in HOLDINGS.items()
        )
    )
    return engine


def independent_var(engine: Engine, holdings: dict[str, float], confidence: float) -> float:
    """Return VaR over each symbol's filter fitted here, from its stored return window."""
    config = VaRConfig(method=VaRMethod.FHS, confidence=confidence)
    spec = fitted_spec(
        VaRConfig(method=VaRMethod.FHS, fhs_fit_window=300, fhs_scenarios=250, fhs_refit_every=20)
    )
    assert spec is not None
    market = engine.state.market
    columns, exposures = [], []
    for symbol, qty in holdings.items():
        returns = market.returns(symbol)
        assert returns is not None and returns.size == 300  # the window keeps a fit's worth
        symbol_filter = SymbolFilter.from_history(spec, returns)
        assert symbol_filter.params is not None and symbol_filter.params.gamma > 0
        columns.append(symbol_filter.scenario_column())
        price = market.last_price(symbol)
        assert price is not None
        exposures.append(qty * price)
    matrix = np.column_stack(columns)
    return scenario_result(matrix, np.asarray(exposures), config).var


def test_snapshot_var_is_the_fitted_filtered_simulation(engine: Engine) -> None:
    engine.monitor()

    (snapshot,) = engine.producer.on(engine.names.risk_metrics)
    assert snapshot["var_method"] == "fhs"
    assert snapshot["var_99"] == pytest.approx(independent_var(engine, HOLDINGS, 0.99), rel=1e-9)
    assert snapshot["var_95"] == pytest.approx(independent_var(engine, HOLDINGS, 0.95), rel=1e-9)


def test_orders_are_priced_on_the_filters_without_refitting(engine: Engine) -> None:
    filters = engine.state.books.filters
    assert filters is not None
    engine.monitor()
    refits = filters.refits

    engine.orders(
        *(
            {
                "order_id": f"o{i}",
                "account": "A1",
                "symbol": "AAPL",
                "side": "BUY",
                "qty": 10,
                "price": engine.state.market.last_price("AAPL"),
                "ts": engine.now_ms,
            }
            for i in range(20)
        )
    )

    decisions = engine.decisions()
    assert len(decisions) == 20 and all(d["decision"] == "APPROVED" for d in decisions)
    assert decisions[0]["var_before"] == pytest.approx(
        independent_var(engine, HOLDINGS, 0.99), rel=1e-9
    )
    after = {**HOLDINGS, "AAPL": HOLDINGS["AAPL"] + 10}
    assert decisions[0]["var_after"] == pytest.approx(
        independent_var(engine, after, 0.99), rel=1e-9
    )
    assert filters.refits == refits == 2  # one fit per symbol, none per order


def test_the_worker_config_carries_every_fhs_setting(engine: Engine) -> None:
    config = engine.state.books.config
    assert (config.method, config.fhs_fit_window, config.fhs_scenarios) == (
        VaRMethod.FHS,
        300,
        250,
    )
    assert engine.state.books.policy.window == 250
    assert engine.state.market.window_capacity == 300

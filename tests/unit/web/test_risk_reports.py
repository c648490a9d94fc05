"""GET /accounts/{a}/risk, the snapshot's component VaR and the real-time reports, in-process.

Every expected figure is computed here from what the test sent (fills, orders, prices),
or by the full VaR computation (``compute_var``) rather than the engine's cached book.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from redfire.risk.measures import VaRConfig, VaRMethod
from redfire.risk.portfolio import HistoryPolicy, assemble_portfolio
from redfire.risk.var import compute_var
from tests.support.engine import Engine, build_engine
from tests.support.trading import (
    command,
    deliver,
    fill,
    history,
    order,
    reader,
    risk,
    send_commands,
    set_cash,
)

PRICES = {"AAPL": 190.0, "MSFT": 410.0, "TSLA": 250.0, "NVDA": 120.0}
CASH = 1_000_000.0


def trade(engine: Engine, account: str = "ACC1") -> None:
    """Long AAPL, short MSFT, long NVDA, flat TSLA; three live orders, one partly filled."""
    set_cash(engine, account, CASH)
    fill(engine, f"{account}-f1", account, "AAPL", "BUY", 120, 190.0)
    fill(engine, f"{account}-f2", account, "MSFT", "SELL", 35, 410.0)
    fill(engine, f"{account}-f3", account, "TSLA", "BUY", 10, 250.0)
    fill(engine, f"{account}-f4", account, "TSLA", "SELL", 10, 250.0)
    fill(engine, f"{account}-f5", account, "NVDA", "BUY", 200, 120.0)
    order(engine, f"{account}-o1", account, "AAPL", "BUY", 10, 190.0)
    order(engine, f"{account}-o2", account, "MSFT", "BUY", 20, 410.0)
    order(engine, f"{account}-o3", account, "NVDA", "SELL", 50, 120.0)
    fill(engine, f"{account}-f6", account, "AAPL", "BUY", 4, 190.0, order_id=f"{account}-o1")


# What trade() leaves, computed by hand.
QTY = {"AAPL": 124.0, "MSFT": -35.0, "NVDA": 200.0}
CASH_AFTER = CASH - 120 * 190.0 + 35 * 410.0 - 10 * 250.0 + 10 * 250.0 - 200 * 120.0 - 4 * 190.0
LIVE = {  # order → (qty, filled, state)
    "ACC1-o1": (10.0, 4.0, "PARTIALLY_FILLED"),
    "ACC1-o2": (20.0, 0.0, "OPEN"),
    "ACC1-o3": (50.0, 0.0, "OPEN"),
}
RESERVED = (10 - 4) * 190.0 + 20 * 410.0  # live BUY orders: remaining qty × limit price


def market_value(symbol: str) -> float:
    return QTY[symbol] * PRICES[symbol]


@pytest.fixture
def engine() -> Engine:
    engine = build_engine()
    history(engine, PRICES)
    trade(engine)
    return engine


def full_var(engine: Engine, method: VaRMethod, confidence: float = 0.99) -> float:
    """Return the account's VaR by the full computation over the market's windows."""
    market = engine.state.market
    windows = {s: w for s in QTY if (w := market.returns(s)) is not None}
    policy = HistoryPolicy(window=engine.settings.var_window, min_window=20)
    portfolio = assemble_portfolio({s: market_value(s) for s in QTY}, windows, policy)
    assert not hasattr(portfolio, "unpriced"), portfolio
    config = VaRConfig(method=method, confidence=confidence)
    return compute_var(portfolio.returns, np.asarray(portfolio.exposures), config).var  # type: ignore[union-attr]


@pytest.mark.parametrize("method", ["historical", "parametric"])
def test_component_var_of_every_position_sums_to_var99(method: str) -> None:
    engine = build_engine(var_method=method)
    history(engine, PRICES)
    trade(engine)

    body = risk(engine, "ACC1")

    assert body["var_method"] == method
    held = {p["symbol"]: p for p in body["positions"]}
    assert set(held) == {"AAPL", "MSFT", "TSLA", "NVDA"}
    assert held["TSLA"]["qty"] == 0 and held["TSLA"]["component_var"] == 0.0
    total = sum(p["component_var"] for p in body["positions"])
    assert body["var_99"] > 0
    assert math.isclose(total, body["var_99"], rel_tol=1e-6)
    assert math.isclose(body["var_99"], full_var(engine, VaRMethod(method)), rel_tol=1e-9)
    assert {s: held[s]["qty"] for s in QTY} == QTY


@pytest.mark.parametrize(("count", "expected"), [(5, 3), (1, 1), (0, 0)])
def test_snapshot_carries_the_largest_components(count: int, expected: int) -> None:
    engine = build_engine(snapshot_components=count)
    history(engine, PRICES)
    trade(engine)
    engine.monitor()

    (snapshot,) = [
        s for s in engine.producer.on(engine.names.risk_metrics) if s["account"] == "ACC1"
    ]
    components = snapshot["components"]
    assert len(components) == expected
    sizes = [abs(c["component_var"]) for c in components]
    assert sizes == sorted(sizes, reverse=True)
    allocation = {p["symbol"]: p["component_var"] for p in risk(engine, "ACC1")["positions"]}
    for component in components:
        assert component["component_var"] == pytest.approx(
            allocation[component["symbol"]], rel=1e-12
        )
    if expected == len(QTY):
        total = sum(c["component_var"] for c in components)
        assert math.isclose(total, snapshot["var_99"], rel_tol=1e-6)


def test_risk_body_has_limits_with_utilisation_orders_and_state(engine: Engine) -> None:
    body = risk(engine, "ACC1")
    limits = {row["name"]: row for row in body["limits"]}
    book = engine.state.config.limits_for("ACC1")
    gross = sum(abs(market_value(s)) for s in QTY)
    net = sum(market_value(s) for s in QTY)
    equity = CASH_AFTER + net

    assert body["cash"] == pytest.approx(CASH_AFTER)
    assert body["equity"] == pytest.approx(equity)
    assert body["reserved"] == pytest.approx(RESERVED)
    assert body["trading_state"] == "ACTIVE"

    def check(name: str, value: float, limit: float | None) -> None:
        row = limits[name]
        assert row["value"] == pytest.approx(value) and row["limit"] == limit
        assert row["utilisation"] == pytest.approx(value / limit)

    check("max_gross_exposure", gross, book.max_gross_exposure)
    check("max_net_exposure", abs(net), book.max_net_exposure)
    assert gross < book.concentration_min_gross and "max_concentration" not in limits
    check("max_position_notional:NVDA", abs(market_value("NVDA")), book.max_position_notional)
    check("max_active_orders", len(LIVE), book.max_active_orders)
    check("max_orders_per_window", 3.0, book.max_orders_per_window)
    check("max_var_pct", body["var_99"] / equity, book.max_var_pct)
    check("max_drawdown", 0.0, book.max_drawdown)
    check("buying_power", RESERVED * book.max_leverage, CASH_AFTER * book.max_leverage)
    assert "max_position_notional:TSLA" not in limits  # flat
    assert "max_position_qty:AAPL" not in limits  # off by default
    assert "max_daily_loss" not in limits  # off by default

    orders = {o["order_id"]: o for o in body["orders"]}
    assert {k: (o["qty"], o["filled_qty"], o["state"]) for k, o in orders.items()} == LIVE
    assert orders["ACC1-o2"]["price"] == 410.0 and orders["ACC1-o3"]["side"] == "SELL"


def test_concentration_is_listed_where_its_check_applies() -> None:
    engine = build_engine()
    history(engine, PRICES)
    send_commands(engine, command("lim", "SET_LIMITS", "ACC1", concentration_min_gross=1000))
    trade(engine)

    limits = {row["name"]: row for row in risk(engine, "ACC1")["limits"]}

    gross = sum(abs(market_value(s)) for s in QTY)
    largest = max(abs(market_value(s)) for s in QTY)
    assert limits["max_concentration"]["value"] == pytest.approx(largest / gross)
    assert limits["max_concentration"]["limit"] == 0.5


def test_per_symbol_qty_limits_are_reported_for_each_symbol_held() -> None:
    engine = build_engine()
    history(engine, PRICES)
    send_commands(
        engine,
        command(
            "lim",
            "SET_LIMITS",
            "ACC1",
            max_position_qty=1000,
            max_position_qty_by_symbol={"AAPL": 500},
        ),
    )
    trade(engine)

    limits = {row["name"]: row for row in risk(engine, "ACC1")["limits"]}

    assert (limits["max_position_qty:AAPL"]["value"], limits["max_position_qty:AAPL"]["limit"]) == (
        124.0,
        500.0,
    )
    assert limits["max_position_qty:MSFT"]["value"] == 35.0
    assert limits["max_position_qty:MSFT"]["utilisation"] == pytest.approx(35.0 / 1000)


def test_risk_body_keeps_the_last_ten_alerts_newest_first(engine: Engine) -> None:
    for n in range(12):
        send_commands(engine, command(f"stop-{n}", "FLATTEN", "ACC1"))

    alerts = risk(engine, "ACC1")["alerts"]

    assert [a["trigger"] for a in alerts] == [f"FLATTEN stop-{n}" for n in range(11, 1, -1)]
    assert risk(engine, "ACC1")["trading_state"] == "HALTED"


def test_unknown_account_answers_without_creating_state(engine: Engine) -> None:
    body = risk(engine, "NOBODY")

    assert body["positions"] == [] and body["orders"] == [] and body["alerts"] == []
    assert engine.state.known_account("NOBODY") is None


def test_account_report_fields_equal_independent_computations(engine: Engine) -> None:
    aggregate = engine.state.account("ACC1")
    report = reader(engine).account_report(aggregate, engine.now_ms)
    book = engine.state.config.limits_for("ACC1")

    values = {s: market_value(s) for s in QTY}
    largest = max(values, key=lambda s: abs(values[s]))
    gross = sum(abs(v) for v in values.values())
    positions = report["positions"]
    assert positions["total_positions"] == len(QTY)
    assert positions["long_positions"] == sum(1 for q in QTY.values() if q > 0)
    assert positions["short_positions"] == sum(1 for q in QTY.values() if q < 0)
    assert positions["total_position_value"] == pytest.approx(gross)
    assert positions["net_position_value"] == pytest.approx(sum(values.values()))
    assert positions["largest_position"]["symbol"] == largest
    assert positions["concentration_risk"] == pytest.approx(abs(values[largest]) / gross)

    orders = report["orders"]
    assert orders["total_active_orders"] == len(LIVE)
    assert orders["partially_filled_orders"] == 1
    assert orders["pending_orders"] == 2
    filled = sum(f for _, f, _ in LIVE.values())
    assert orders["average_fill_rate"] == pytest.approx(
        filled / sum(q for q, _, _ in LIVE.values())
    )

    summary = report["summary"]
    assert summary["total_position_value"] == pytest.approx(gross)
    assert summary["available_buying_power"] == pytest.approx(
        (CASH_AFTER - RESERVED) * book.max_leverage
    )
    rules = engine.state.config.rules.all()
    account_rules = [
        r for r in rules.values() if r.scope in ("account", "all") and r.account is None
    ]
    assert {row["rule_id"] for row in report["metrics"]} == {r.rule_id for r in account_rules}
    gross_row = next(r for r in report["metrics"] if r["metric"] == "concentration")
    assert gross_row["value"] == pytest.approx(abs(values[largest]) / gross)
    assert gross_row["status"] == ("WARNING" if abs(values[largest]) / gross > 0.4 else "OK")
    assert summary["active_alerts"] == sum(1 for row in report["metrics"] if row["status"] != "OK")
    assert report["risk"]["var_99"] == pytest.approx(full_var(engine, VaRMethod.HISTORICAL))


def test_firm_report_sums_every_partition(engine: Engine) -> None:
    other = next(
        f"ACC{n}"
        for n in range(2, 50)
        if engine.state.partition_of(f"ACC{n}") != engine.state.partition_of("ACC1")
    )
    trade(engine, other)
    engine.monitor()
    deliver(engine, engine.names.firm_exposures)

    report = reader(engine).firm_report(engine.now_ms)

    # Two accounts with the same book: firm quantities and exposures are twice one account's.
    positions = report["positions"]
    assert positions["total_positions"] == len(QTY)
    assert positions["long_positions"] == 2 and positions["short_positions"] == 1
    assert positions["total_position_value"] == pytest.approx(
        2 * sum(abs(market_value(s)) for s in QTY)
    )
    orders = report["orders"]
    assert orders["total_active_orders"] == 2 * len(LIVE)
    assert orders["partially_filled_orders"] == 2
    assert orders["average_fill_rate"] == pytest.approx(
        sum(f for _, f, _ in LIVE.values()) / sum(q for q, _, _ in LIVE.values())
    )
    leverage = engine.state.config.limits_for("ACC1").max_leverage
    assert report["summary"]["available_buying_power"] == pytest.approx(
        2 * (CASH_AFTER - RESERVED) * leverage
    )
    assert report["accounts"] == 2 and report["account"] == "FIRM"
    assert report["risk"]["var_99"] > 0
    firm_rules = {
        r.rule_id for r in engine.state.config.rules.all().values() if r.scope in ("FIRM", "all")
    }
    assert {row["rule_id"] for row in report["metrics"]} == firm_rules


def test_firm_report_reads_the_stored_parts_before_the_stage_ran(engine: Engine) -> None:
    engine.monitor()
    deliver(engine, engine.names.firm_exposures)
    restarted = build_engine(tables=engine.state.tables)
    restarted.now_ms = engine.now_ms
    assert restarted.desks.firm.parts is None

    report = reader(restarted).firm_report(engine.now_ms)

    assert report["positions"]["total_position_value"] == pytest.approx(
        sum(abs(market_value(s)) for s in QTY)
    )
    assert report["orders"]["total_active_orders"] == len(LIVE)

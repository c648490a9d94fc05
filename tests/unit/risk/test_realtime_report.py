"""Seed 002's real-time report from plain values: summary, rule metrics, positions, orders."""

from __future__ import annotations

import pytest

from redfire.risk.report import (
    AccountPicture,
    OrderView,
    PositionView,
    orders_analysis,
    overall_status,
    positions_analysis,
    realtime_report,
    rule_metrics,
)
from redfire.risk.rules import MonitoringRule

RULES = [
    MonitoringRule("var3", "VaR > 3% equity", "var_equity_ratio", ">", 0.03, "WARNING"),
    MonitoringRule("dd20", "Drawdown 20%", "drawdown", ">=", 0.20, "CRITICAL", action="halt"),
    MonitoringRule("gross", "Gross", "gross_exposure", ">", 1e6, "INFO"),
    MonitoringRule("other", "Other account", "drawdown", ">", 0.0, "WARNING", account="ACC9"),
    MonitoringRule("firm", "Firm VaR", "var_99", ">", 1.0, "CRITICAL", scope="FIRM"),
    MonitoringRule("off", "Disabled", "drawdown", ">", 0.0, "CRITICAL", enabled=False),
]


def picture(**changes: object) -> AccountPicture:
    values: dict[str, object] = {
        "account": "ACC1",
        "ts": 1_000,
        "cash": 500_000.0,
        "reserved": 100_000.0,
        "max_leverage": 2.0,
        "trading_state": "ACTIVE",
        "metrics": {"var_equity_ratio": 0.05, "drawdown": 0.1, "gross_exposure": None},
        "positions": [
            PositionView("AAPL", 100, 19_000.0),
            PositionView("MSFT", -50, -20_500.0),
            PositionView("FLAT", 0, 0.0),
            PositionView("NVDA", 10, 1_500.0),
        ],
        "orders": [
            OrderView("o1", "AAPL", "BUY", 100, 0, "OPEN"),
            OrderView("o2", "AAPL", "BUY", 200, 50, "PARTIALLY_FILLED"),
            OrderView("o3", "MSFT", "SELL", 10, 10, "FILLED"),
            OrderView("o4", "MSFT", "SELL", 30, 0, "APPROVED"),
        ],
        "alerts": [{"alert_id": f"a{n}", "ts": n} for n in range(15)],
    }
    values.update(changes)
    return AccountPicture(**values)  # type: ignore[arg-type]


def test_rule_metrics_list_the_account_rules_with_status() -> None:
    table = rule_metrics("ACC1", picture().metrics, RULES)
    assert [(row["rule_id"], row["value"], row["status"]) for row in table] == [
        ("var3", 0.05, "WARNING"),
        ("dd20", 0.1, "OK"),
        ("gross", None, "OK"),  # no value: not breached
    ]
    assert [row["rule_id"] for row in rule_metrics("FIRM", {"var_99": 2.0}, RULES)] == ["firm"]


def test_positions_analysis() -> None:
    found = positions_analysis(picture().positions)
    assert found["total_positions"] == 3
    assert (found["long_positions"], found["short_positions"]) == (2, 1)
    assert found["total_position_value"] == 41_000.0
    assert found["net_position_value"] == 0.0
    assert found["largest_position"] == {"symbol": "MSFT", "qty": -50, "market_value": -20_500.0}
    assert found["concentration_risk"] == pytest.approx(20_500 / 41_000)
    empty = positions_analysis([])
    assert empty["largest_position"] is None and empty["concentration_risk"] == 0.0


def test_orders_analysis_counts_live_orders_only() -> None:
    found = orders_analysis(picture().orders)
    assert found == {
        "total_active_orders": 3,
        "pending_orders": 2,
        "partially_filled_orders": 1,
        "average_fill_rate": pytest.approx(50 / 330),
    }
    assert orders_analysis([])["average_fill_rate"] is None


def test_overall_status_is_the_worst_of_rules_and_trading_state() -> None:
    assert overall_status([], "ACTIVE") == "OK"
    assert overall_status([{"status": "INFO"}, {"status": "WARNING"}], "ACTIVE") == "WARNING"
    assert overall_status([{"status": "WARNING"}], "HALTED") == "CRITICAL"
    assert overall_status([], "REDUCE_ONLY") == "WARNING"


def test_realtime_report_summary_and_last_ten_alerts() -> None:
    report = realtime_report(picture(), RULES)
    assert report["summary"] == {
        "overall_risk_status": "WARNING",
        "trading_state": "ACTIVE",
        "active_alerts": 1,
        "total_position_value": 41_000.0,
        "available_buying_power": 800_000.0,
    }
    assert [a["alert_id"] for a in report["alerts"]] == [f"a{n}" for n in range(14, 4, -1)]
    assert report["report_type"] == "real_time" and report["account"] == "ACC1"
    overdrawn = realtime_report(picture(cash=10.0, reserved=20.0), RULES)
    assert overdrawn["summary"]["available_buying_power"] == 0.0

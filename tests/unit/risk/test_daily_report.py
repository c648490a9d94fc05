"""The daily report's figures from hand-made records (the integration test uses Kafka)."""

from __future__ import annotations

from datetime import date

import pytest

from redfire.risk.report import (
    DayRecords,
    daily_report,
    day_bounds,
    nearest_rank,
    select_day,
    trading_stats,
    var_figures,
)

START, END = day_bounds(date(2026, 1, 2))


def decision(order_id: str, account: str, ok: bool, *checks: str) -> dict[str, object]:
    return {
        "order_id": order_id,
        "account": account,
        "decision": "APPROVED" if ok else "REJECTED",
        "reasons": [{"check": c, "message": c} for c in checks],
        "latency_us": 100,
        "ts": START + 1,
    }


def test_day_bounds_are_the_utc_day() -> None:
    assert (START, END) == (1_767_312_000_000, 1_767_398_400_000)
    assert END - START == 86_400_000


def test_select_day_keeps_the_half_open_day_and_the_account() -> None:
    records = [
        {"account": "A", "ts": START - 1},
        {"account": "A", "ts": START},
        {"account": "B", "ts": END - 1},
        {"account": "A", "ts": END},
    ]
    day = select_day(records, [], [], [], date(2026, 1, 2))
    assert [r["ts"] for r in day.decisions] == [START, END - 1]
    only_a = select_day(records, [], [], [], date(2026, 1, 2), "A")
    assert [r["ts"] for r in only_a.decisions] == [START]


def test_nearest_rank() -> None:
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([5.0, 1.0, 3.0], 0.5) == 3.0
    assert nearest_rank([float(n) for n in range(1, 101)], 0.99) == 99.0


def test_fill_rate_counts_approved_orders_with_a_fill_once() -> None:
    decisions = [
        decision("o1", "A", True),
        decision("o2", "A", True),
        decision("o3", "A", False, "max_order_qty", "price_collar"),
        decision("o4", "A", False, "max_order_qty"),
    ]
    fills = [
        {"account": "A", "fill_id": "f1", "order_id": "o1", "qty": 10, "price": 2.0, "fee": 1},
        {"account": "A", "fill_id": "f1", "order_id": "o1", "qty": 10, "price": 2.0, "fee": 1},
        {"account": "A", "fill_id": "f2", "order_id": "o1", "qty": 5, "price": 2.0, "fee": 0},
        {"account": "A", "fill_id": "f3", "order_id": "gw", "qty": 1, "price": 3.0, "fee": 0},
    ]
    stats = trading_stats(decisions, fills)
    assert (stats.orders, stats.approved, stats.rejected) == (4, 2, 2)
    assert stats.rejects_by_check == {"max_order_qty": 2, "price_collar": 1}
    assert (stats.fills, stats.filled_orders, stats.fill_rate) == (3, 1, 0.5)
    assert stats.traded_notional == 33.0 and stats.fees == 1.0 and stats.filled_qty == 16.0
    assert trading_stats([], []).fill_rate is None


def test_a_loss_beyond_the_start_of_day_var_is_an_exception() -> None:
    snapshots = [
        {"account": "A", "ts": 1, "equity": 100.0, "var_99": 10.0, "daily_pnl": 0.0},
        {"account": "A", "ts": 2, "equity": 90.0, "var_99": 30.0, "daily_pnl": -11.0},
    ]
    var = var_figures(snapshots)
    assert var is not None
    assert var.exception and var.loss == 11.0 and var.start_var_99 == 10.0
    assert var.peak_var_99 == 30.0 and var.peak_var_equity == pytest.approx(30.0 / 90.0)
    calm = var_figures([{**snapshots[0]}, {**snapshots[1], "daily_pnl": -10.0}])
    assert calm is not None and not calm.exception


def test_quiet_day_recommends_nothing() -> None:
    records = DayRecords(
        decisions=[decision("o1", "A", True)],
        snapshots=[{"account": "A", "ts": START, "equity": 1e6, "var_99": 1e3, "daily_pnl": 0}],
    )
    report = daily_report(records, date(2026, 1, 2))
    assert report.recommendations == ["No action: every figure is within its threshold."]


def test_high_reject_rate_and_var_share_are_flagged() -> None:
    decisions = [decision(f"o{n}", "A", n < 2, "buying_power") for n in range(6)]
    snapshots = [{"account": "A", "ts": START, "equity": 1e5, "var_99": 5e3, "daily_pnl": 0}]
    report = daily_report(DayRecords(decisions=decisions, snapshots=snapshots), date(2026, 1, 2))
    text = " ".join(report.recommendations)
    assert "67% of orders were rejected (most by buying_power, 4)" in text
    assert "VaR99 reached 5.0% of equity" in text

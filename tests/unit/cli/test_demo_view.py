"""The demo's feed and screen, without a broker: deterministic story, 80 columns."""

from __future__ import annotations

from typing import Any

from redfire.cli.demo_feed import CONCENTRATED, DemoFeed
from redfire.cli.demo_view import WIDTH, DemoView, alert_line, compact, decision_lines
from redfire.risk.limits import Limits


def orders(feed: DemoFeed, count: int) -> list[Any]:
    return [feed.order(1_000 + i)[1] for i in range(count)]


def test_feed_is_the_same_for_the_same_seed() -> None:
    assert orders(DemoFeed(seed=3), 40) == orders(DemoFeed(seed=3), 40)


def test_every_eleventh_order_is_malformed_on_purpose() -> None:
    sent = orders(DemoFeed(), 33)
    assert [i + 1 for i, order in enumerate(sent) if isinstance(order, bytes)] == [11, 22, 33]


def test_concentrated_account_sells_down_once_told_reduce_only() -> None:
    feed = DemoFeed()
    feed.held[(CONCENTRATED, "600519.SH")] = 300
    feed.observe({"account": CONCENTRATED, "reasons": [{"check": "trading_state", "message": "x"}]})
    sides = {
        o["side"] for o in orders(feed, 30) if isinstance(o, dict) and o["account"] == CONCENTRATED
    }
    assert sides == {"SELL"}


def test_lines_fit_eighty_columns() -> None:
    reasons = [
        {"check": "max_order_notional", "message": "order notional " + "9" * 90},
        {"check": "concentration", "message": "weight"},
    ]
    decision = {
        "order_id": "demo-12345",
        "account": "ACC-2",
        "symbol": "600519.SH",
        "decision": "REJECTED",
        "reasons": reasons,
        "latency_us": 123456,
        "_order": {"side": "BUY", "qty": 123456},
    }
    alert = {
        "rule_id": "a_rule_with_a_long_name",
        "account": "ACC-1",
        "metric": "daily_pnl",
        "value": -61_234.5,
        "comparison": "<",
        "threshold": -50_000,
        "severity": "CRITICAL",
        "state": "FIRING",
    }
    lines = [*decision_lines(decision), alert_line(alert, 12.3)]
    assert all(len(line.plain) <= WIDTH for line in lines)
    assert "max_order_notional" in lines[0].plain
    assert "-61.2k < -50.0k" in lines[2].plain


def test_summary_counts_results_reasons_alerts_and_dead_letters() -> None:
    view = DemoView(("ACC-1",), Limits())
    view.on_decision(
        {"order_id": "a", "account": "ACC-1", "symbol": "X", "decision": "APPROVED"}, None
    )
    view.on_decision(
        {
            "order_id": "b",
            "account": "ACC-1",
            "symbol": "X",
            "decision": "REJECTED",
            "reasons": [{"check": "price_collar", "message": "m"}],
        },
        None,
    )
    view.on_alert(
        {
            "rule_id": "r",
            "account": "ACC-1",
            "metric": "m",
            "value": 1,
            "comparison": ">",
            "threshold": 0,
            "severity": "INFO",
            "state": "FIRING",
        },
        1.0,
    )
    view.on_dead_letter({"reason": "undecodable"})
    text = "\n".join(line.plain for line in view.summary(60))
    assert "decisions     2: APPROVED 1, REJECTED 1" in text
    assert "price_collar" in text
    assert "r                                1 fired, 0 resolved" in text
    assert "dead letters  1: undecodable 1" in text


def test_compact_numbers() -> None:
    assert [compact(v) for v in (None, 950, 12_345, 4_930_000)] == ["-", "950", "12.3k", "4.93M"]

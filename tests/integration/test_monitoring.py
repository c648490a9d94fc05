"""Issue 6 on a real Kafka: alert transitions with cooldown, and the CRITICAL halt.

Each test loads only its own rules (REDFIRE_RULES_FILE in tmp_path) and no stress
scenarios, so every alert on ``risk_alerts`` is one the test caused. Snapshots are due every
0.5 s and the monitor clock ticks every 0.2 s; the tests wait by reading topics and polling
HTTP, never by sleeping.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.desk import (
    Desk,
    account_alerts,
    http_json,
    monitor_env,
    same,
    wait_price,
    wait_record,
)
from tests.support.eventually import eventually
from tests.support.kafka_io import JsonRecord, TopicReader
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

COOLDOWN_MS = 5_000
GROSS_ALERT = 15_000.0
GROSS_HALT = 50_000.0


def test_alert_fires_once_resolves_once_and_refires_only_after_the_cooldown(
    redfire_worker: Any, tmp_path: Path
) -> None:
    account = "ALERT-1"
    rule = {
        "rule_id": "gross_above_15k",
        "name": "Gross exposure above 15k",
        "metric": "gross_exposure",
        "comparison": ">",
        "threshold": GROSS_ALERT,
        "severity": "WARNING",
        "scope": "account",
        "account": account,
        "frequency_ms": 0,
        "cooldown_ms": COOLDOWN_MS,
        "action": "alert",
    }
    worker: RedFireWorker = redfire_worker(**monitor_env(tmp_path, [rule]))
    desk = Desk(worker)
    alerts = desk.reader("risk_alerts")
    snapshots = desk.reader("risk_metrics")

    def snapshot_with(gross: float, after: int = 0) -> JsonRecord:
        return wait_record(
            snapshots,
            lambda s: s["account"] == account and s["gross_exposure"] == gross and s["ts"] > after,
        )

    def alert_number(n: int, timeout: float = 60.0) -> JsonRecord:
        values = alerts.wait_for(
            lambda found: len([a for a in found if a["account"] == account]) >= n, timeout
        )
        return [a for a in values if a["account"] == account][n - 1]

    try:
        desk.tick("AAPL", 100.0)
        wait_price(worker, "AAPL", 100.0)

        desk.fill(account, "AAPL", "BUY", 100, 100.0)  # 10k: under
        under = snapshot_with(10_000.0)
        desk.fill(account, "AAPL", "BUY", 100, 100.0)  # 20k: over
        fired = alert_number(1)
        assert (fired["state"], fired["value"]) == ("FIRING", 20_000.0), fired
        assert fired["ts"] > under["ts"]

        desk.fill(account, "AAPL", "BUY", 50, 100.0)  # 25k: still over, nothing new
        snapshot_with(25_000.0, after=fired["ts"])
        desk.fill(account, "AAPL", "SELL", 150, 100.0)  # 10k: under again
        resolved = alert_number(2)
        assert (resolved["state"], resolved["value"]) == ("RESOLVED", 10_000.0), resolved

        desk.fill(account, "AAPL", "BUY", 100, 100.0)  # 20k: over again, inside the cooldown
        rebreach = snapshot_with(20_000.0, after=resolved["ts"])
        assert rebreach["ts"] - fired["ts"] < COOLDOWN_MS, (
            "the re-breach reached the monitor only after the cooldown; nothing was tested "
            f"(fired at {fired['ts']}, re-breach snapshot at {rebreach['ts']})"
        )

        refired = alert_number(3, timeout=COOLDOWN_MS / 1000 + 60)
        assert (refired["state"], refired["value"]) == ("FIRING", 20_000.0), refired
        assert refired["ts"] - fired["ts"] >= COOLDOWN_MS
        # it fires at the first evaluation after the cooldown, not much later
        assert refired["ts"] - fired["ts"] < COOLDOWN_MS + 10_000

        # Let a few more evaluations pass with the rule still holding, then read everything.
        snapshot_with(20_000.0, after=refired["ts"] + 2_000)
        alerts.poll(1.0)
        sequence = [(a["rule_id"], a["state"]) for a in account_alerts(alerts, account)]
        assert sequence == [
            ("gross_above_15k", "FIRING"),
            ("gross_above_15k", "RESOLVED"),
            ("gross_above_15k", "FIRING"),
        ], account_alerts(alerts, account)
        assert all(
            a["threshold"] == GROSS_ALERT and a["severity"] == "WARNING"
            for a in account_alerts(alerts, account)
        )
        assert {a["account"] for a in alerts.json_values()} == {account}
    except AssertionError:
        print(worker.log_tail(80))
        raise
    finally:
        desk.close()


def test_critical_halt_rejects_the_next_order_and_cancels_live_orders(
    redfire_worker: Any, tmp_path: Path
) -> None:
    account = "HALT-1"
    rule = {
        "rule_id": "gross_halt_50k",
        "name": "Gross exposure above 50k - halt",
        "metric": "gross_exposure",
        "comparison": ">",
        "threshold": GROSS_HALT,
        "severity": "CRITICAL",
        "scope": "account",
        "account": account,
        "cooldown_ms": 600_000,
        "action": "halt",
    }
    worker: RedFireWorker = redfire_worker(**monitor_env(tmp_path, [rule]))
    desk = Desk(worker)
    alerts = desk.reader("risk_alerts")
    decisions = desk.reader("order_decisions")
    orders = desk.reader("orders")

    def risk() -> Any:
        return http_json(worker, f"/accounts/{account}/risk")

    try:
        desk.command("SET_CASH", account, {"cash": 1_000_000.0})
        desk.tick("AAPL", 100.0)
        wait_price(worker, "AAPL", 100.0)
        eventually(lambda: risk()["cash"] == 1_000_000.0, timeout=30)

        desk.order("live-1", account, "AAPL", 10, 100.0)
        live = wait_record(decisions, lambda d: d["order_id"] == "live-1")
        assert live["decision"] == "APPROVED", live
        held = eventually(lambda: risk()["reserved"], timeout=30, message="reservation held")
        assert held == pytest.approx(1_000.0)
        assert risk()["trading_state"] == "ACTIVE"

        desk.fill(account, "AAPL", "BUY", 600, 100.0)  # 60k gross: over the halt threshold
        fired = wait_record(alerts, lambda a: a["account"] == account)
        assert (fired["rule_id"], fired["state"], fired["severity"]) == (
            "gross_halt_50k",
            "FIRING",
            "CRITICAL",
        ), fired

        desk.order("after-halt", account, "AAPL", 1, 100.0)  # the very next order
        after = wait_record(decisions, lambda d: d["order_id"] == "after-halt")
        assert after["decision"] == "REJECTED", after
        assert "trading_state" in {r["check"] for r in after["reasons"]}, after

        cancel = wait_record(
            orders, lambda o: o.get("action") == "CANCEL" and o["order_id"] == "live-1"
        )
        assert cancel["account"] == account
        eventually(lambda: risk()["reserved"] == 0.0, timeout=30, message="reservation released")
        assert risk()["trading_state"] == "HALTED"

        lifecycle = TopicReader(worker.bootstrap, f"{worker.app_id}-orders_state-changelog")
        desk.readers.append(lifecycle)
        key = f"{account}|live-1"

        def statuses() -> list[str]:
            lifecycle.poll(0.2)
            return [json.loads(v)["status"] for k, v, _p in lifecycle.records if same(k, key) and v]

        try:
            eventually(lambda: statuses()[-1:] == ["CANCELLED"], timeout=30)
        except AssertionError:
            raise AssertionError(f"live-1 went {statuses()}, not to CANCELLED") from None
        # Approval and OPEN are stored in one write (no venue ack stands between them).
        assert statuses() == ["OPEN", "CANCELLED"]
    except AssertionError:
        print(worker.log_tail(80))
        raise
    finally:
        desk.close()

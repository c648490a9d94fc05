"""Issue 13 on a real Kafka: ``redfire report daily`` from the output topics.

The test plays the engine and the gateway: it writes a seeded, irregular day of decisions,
alerts, snapshots and fills (some as Avro, a redelivered fill, fills for orders RedFire never
saw, and records of the days before and after) to the topics, runs the command as an operator
would, and checks the report's figures against its own plain computation of the same records.
"""

from __future__ import annotations

import html
import json
import os
import random
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from redfire.schemas.codec import encode_avro
from redfire.schemas.records import Fill
from tests.support.kafka_io import producer, send_json
from tests.support.worker import REPO, RedFireWorker

pytestmark = pytest.mark.integration

DAY = date(2026, 3, 16)
START = int(datetime(2026, 3, 16, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000
ACCOUNTS = ("ACC-A", "ACC-B", "ACC-C")
CHECKS = ("max_order_qty", "price_collar", "buying_power", "var_limit", "concentration")


def make_day(rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Return the records of DAY plus a few of the neighbouring days, by topic."""
    decisions, fills, snapshots, alerts = [], [], [], []
    for n in range(60):
        account = rng.choice(ACCOUNTS)
        ts = START + rng.randrange(-3 * HOUR, 27 * HOUR)  # some fall outside the day
        rejected = rng.random() < 0.3
        reasons = [
            {"check": c, "message": f"{c} failed"} for c in rng.sample(CHECKS, rng.randint(1, 2))
        ]
        decisions.append(
            {
                "order_id": f"o-{n}",
                "account": account,
                "symbol": "AAPL",
                "decision": "REJECTED" if rejected else "APPROVED",
                "reasons": reasons if rejected else [],
                "var_before": 100.0,
                "var_after": 120.0,
                "latency_us": rng.randint(200, 5000),
                "ts": ts,
            }
        )
        if not rejected and rng.random() < 0.6:
            for part in range(rng.randint(1, 2)):
                fills.append(fill(f"f-{n}-{part}", f"o-{n}", account, rng, ts + 1000))
    fills.append(dict(fills[0]))  # a redelivered fill: counted once
    fills.append(fill("gw-1", "gateway-only", "ACC-A", rng, START + 5 * HOUR))  # unknown order
    for account in (*ACCOUNTS, "FIRM"):
        loss_day = account == "ACC-B"
        for k in range(12):
            ts = START + k * 2 * HOUR + rng.randrange(0, HOUR)
            snapshots.append(
                {
                    "account": account,
                    "ts": ts,
                    "equity": 1_000_000.0 + k * 500,
                    "cash": 500_000.0,
                    "daily_pnl": -5_000.0 * k if loss_day else 300.0 * k,
                    "realized_pnl": 10.0 * k,
                    "unrealized_pnl": 20.0 * k,
                    "var_99": 20_000.0 + rng.uniform(0, 10_000),
                    "var_method": "historical",
                    "var_exceptions": 6 if loss_day else 1,
                    "traffic_light": "yellow" if loss_day else "green",
                }
            )
    snapshots.append({**snapshots[0], "ts": START - HOUR, "var_99": 1e9})  # the day before
    for n in range(9):
        alerts.append(
            {
                "alert_id": f"a-{n}",
                "rule_id": rng.choice(["var_equity_3pct", "drawdown_halt"]),
                "account": rng.choice(ACCOUNTS),
                "metric": "var_equity_ratio",
                "value": 0.05,
                "threshold": 0.03,
                "comparison": ">",
                "severity": rng.choice(["WARNING", "CRITICAL"]),
                "state": rng.choice(["FIRING", "RESOLVED"]),
                "message": "m",
                "ts": START + rng.randrange(-HOUR, 25 * HOUR),
            }
        )
    return {
        "order_decisions": decisions,
        "fills": fills,
        "risk_metrics": snapshots,
        "risk_alerts": alerts,
    }


def fill(fill_id: str, order_id: str, account: str, rng: random.Random, ts: int) -> dict[str, Any]:
    return {
        "fill_id": fill_id,
        "order_id": order_id,
        "account": account,
        "symbol": "AAPL",
        "side": "BUY",
        "qty": float(rng.randint(1, 50) * 10),
        "price": round(rng.uniform(180, 200), 2),
        "fee": round(rng.uniform(0, 3), 2),
        "ts": ts,
    }


def expected(records: dict[str, list[dict[str, Any]]], account: str | None) -> dict[str, Any]:
    """The figures, computed plainly from the records the test wrote."""
    end = START + 24 * HOUR

    def of_day(topic: str) -> list[dict[str, Any]]:
        return [
            r
            for r in records[topic]
            if START <= r["ts"] < end and (account is None or r["account"] == account)
        ]

    decisions = of_day("order_decisions")
    approved = [d for d in decisions if d["decision"] == "APPROVED"]
    rejected = [d for d in decisions if d["decision"] == "REJECTED"]
    by_check: Counter[str] = Counter()
    for d in rejected:
        for reason in d["reasons"]:
            by_check[reason["check"]] += 1
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for f in of_day("fills"):
        unique[(f["account"], f["fill_id"])] = f
    approved_keys = {(d["account"], d["order_id"]) for d in approved}
    filled = {(f["account"], f["order_id"]) for f in unique.values()} & approved_keys
    alerts = of_day("risk_alerts")
    return {
        "orders": len(decisions),
        "approved": len(approved),
        "rejected": len(rejected),
        "rejects_by_check": dict(by_check),
        "fills": len(unique),
        "filled_orders": len(filled),
        "fill_rate": len(filled) / len(approved) if approved else None,
        "filled_qty": sum(f["qty"] for f in unique.values()),
        "traded_notional": sum(f["qty"] * f["price"] for f in unique.values()),
        "fees": sum(f["fee"] for f in unique.values()),
        "firing": sum(1 for a in alerts if a["state"] == "FIRING"),
        "resolved": sum(1 for a in alerts if a["state"] == "RESOLVED"),
        "snapshots": of_day("risk_metrics"),
    }


def write(worker: RedFireWorker, records: dict[str, list[dict[str, Any]]]) -> None:
    kafka = producer(worker.bootstrap)
    for topic, values in records.items():
        for n, value in enumerate(values):
            raw: dict[str, Any] | bytes = value
            if topic == "fills" and n % 3 == 0:  # a gateway writing Avro
                raw = encode_avro(Fill(**value), "fill")
            send_json(kafka, worker.topic(topic), value["account"], raw)
    assert kafka.flush(30) == 0


def run_report(worker: RedFireWorker, tmp_path: Path, *extra: str) -> tuple[dict[str, Any], str]:
    out, figures = tmp_path / "report.html", tmp_path / "report.json"
    env = {**os.environ, "REDFIRE_TOPIC_PREFIX": worker.topic_prefix}
    command = [sys.executable, "-m", "redfire", "report", "daily", "--date", DAY.isoformat()]
    command += ["--out", str(out), "--json", str(figures)]
    command += ["--broker", f"kafka://{worker.bootstrap}", *extra]
    done = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(figures.read_text()), out.read_text()


def assert_trading(found: dict[str, Any], want: dict[str, Any]) -> None:
    for name in ("orders", "approved", "rejected", "fills", "filled_orders", "rejects_by_check"):
        assert found[name] == want[name], name
    for name in ("filled_qty", "traded_notional", "fees", "fill_rate"):
        assert found[name] == pytest.approx(want[name], rel=1e-12), name


def test_daily_report_figures_match_an_independent_count(
    redfire_worker: Any, tmp_path: Path
) -> None:
    worker: RedFireWorker = redfire_worker(start=False)  # topics only: the test is the engine
    records = make_day(random.Random(13))
    write(worker, records)

    figures, page = run_report(worker, tmp_path)
    want = expected(records, None)
    assert_trading(figures["trading"], want)
    assert figures["alerts"]["firing"] == want["firing"]
    assert figures["alerts"]["resolved"] == want["resolved"]
    assert figures["records"]["risk_metrics"] == len(want["snapshots"])

    by_account = {day["account"]: day for day in figures["accounts"]}
    assert set(by_account) == {*ACCOUNTS, "FIRM"}
    for account in ACCOUNTS:
        assert_trading(by_account[account]["trading"], expected(records, account))
        snaps = sorted(expected(records, account)["snapshots"], key=lambda s: s["ts"])
        var = by_account[account]["var"]
        assert var["peak_var_99"] == max(s["var_99"] for s in snaps)  # not the day before's 1e9
        assert var["start_var_99"] == snaps[0]["var_99"]
        assert var["loss"] == -snaps[-1]["daily_pnl"]
        assert var["exception"] == (-snaps[-1]["daily_pnl"] > snaps[0]["var_99"])
        assert by_account[account]["pnl"]["end_equity"] == snaps[-1]["equity"]
    assert by_account["ACC-B"]["var"]["exception"]  # lost 55k against a VaR of 20-30k
    advice = " ".join(figures["recommendations"])
    assert "ACC-B: the day's loss" in advice and "yellow zone" in advice

    # The HTML carries the same figures, the tables and the embedded charts.
    embedded = page.split("<script type='application/json' id='report-data'>")[1]
    assert json.loads(html.unescape(embedded.split("</script>")[0])) == figures
    assert page.count("src='data:image/png;base64,") == 3
    for recommendation in figures["recommendations"]:
        assert html.escape(recommendation) in page


def test_daily_report_for_one_account(redfire_worker: Any, tmp_path: Path) -> None:
    worker: RedFireWorker = redfire_worker(start=False)
    records = make_day(random.Random(31))
    write(worker, records)
    figures, _ = run_report(worker, tmp_path, "--account", "ACC-C")
    want = expected(records, "ACC-C")
    assert figures["account"] == "ACC-C"
    assert [day["account"] for day in figures["accounts"]] == ["ACC-C"]
    assert_trading(figures["trading"], want)
    assert figures["alerts"]["firing"] == want["firing"]

"""Issue 13 on a real Kafka: FLATTEN end to end, component VaR, and the real-time reports.

* FLATTEN (admin route, and a raw command on ``risk_commands``): one closing MARKET order per
  non-flat position on ``emergency_orders`` with the opposite side and the exact quantity,
  the emergency-stop event on ``risk_alerts``; the same command again changes nothing;
  ``*`` reaches the accounts of every partition.
* For historical and parametric VaR (``REDFIRE_VAR_METHOD``): the component VaR of every
  position in ``GET /accounts/{a}/risk`` (and in the snapshot) sums to the account's VaR99,
  and VaR99 equals the full computation over the windows ``GET /market/{s}`` reports.
* ``GET /accounts/{a}/report`` and ``GET /report``: counts, sums and the fill rate equal
  what the test computes from what it sent.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from redfire.risk.measures import VaRConfig, VaRMethod
from redfire.risk.var import compute_var
from redfire.risk.vocabulary import FIRM
from redfire.streams.partitioning import partition_for
from tests.support.desk import Desk, http_json, monitor_env, now_ms, wait_record
from tests.support.eventually import eventually
from tests.support.kafka_io import JsonRecord
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

ADMIN = "flatten-admin-token-0123456789"
DAY_MS = 86_400_000
PRICES = {"AAPL": 190.0, "MSFT": 410.0, "NVDA": 120.0}
LIMITS = {"default": {"max_price_age_ms": None, "max_var_pct": None}}


def closes(base: float, step: int, days: int = 25) -> list[float]:
    """Return a deterministic wiggle of daily closes around ``base``."""
    return [
        round(base * (1 + 0.013 * ((i * step) % 5 - 2) + 0.002 * (i % 3)), 2) for i in range(days)
    ]


def start(redfire_worker: Any, tmp_path: Path, **env: str) -> tuple[RedFireWorker, Desk]:
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(LIMITS))
    worker: RedFireWorker = redfire_worker(
        **monitor_env(tmp_path, []),
        REDFIRE_LIMITS_FILE=str(limits),
        REDFIRE_ADMIN_TOKEN=ADMIN,
        **env,
    )
    return worker, Desk(worker)


def history(desk: Desk) -> None:
    """Send 25 daily closes and a live price per symbol; wait for the return windows."""
    today = now_ms() // DAY_MS * DAY_MS
    for step, (symbol, base) in enumerate(sorted(PRICES.items()), start=3):
        series = closes(base, step)
        for day, close in enumerate(series):
            ts = today - (len(series) - day) * DAY_MS + 20 * 3_600_000
            desk.send("ticks", symbol, {"symbol": symbol, "ts": ts, "price": close})
        desk.tick(symbol, base)
    for symbol in PRICES:
        eventually(
            lambda s=symbol: (
                len((http_json(desk.worker, f"/market/{s}")["window"] or {}).get("returns", []))
                == 24
            ),
            timeout=60,
            message=f"{symbol} return window",
        )


def set_cash(desk: Desk, account: str, cash: float) -> None:
    desk.command("SET_CASH", account, {"cash": cash})
    eventually(
        lambda: http_json(desk.worker, f"/accounts/{account}/risk")["cash"] == cash,
        timeout=60,
        message=f"{account} cash",
    )


def positions(desk: Desk, account: str) -> dict[str, float]:
    body = http_json(desk.worker, f"/accounts/{account}/risk")
    return {p["symbol"]: p["qty"] for p in body["positions"] if p["qty"]}


def book(desk: Desk, account: str) -> dict[str, float]:
    """Fill a long AAPL, a short MSFT and a closed NVDA position; return the open ones."""
    desk.fill(account, "AAPL", "BUY", 120, PRICES["AAPL"])
    desk.fill(account, "MSFT", "SELL", 35.5, PRICES["MSFT"])
    desk.fill(account, "NVDA", "BUY", 10, PRICES["NVDA"])
    desk.fill(account, "NVDA", "SELL", 10, PRICES["NVDA"])
    held = {"AAPL": 120.0, "MSFT": -35.5}
    eventually(lambda: positions(desk, account) == held, timeout=60, message=f"{account} fills")
    return held


def flatten_command(command_id: str, account: str) -> JsonRecord:
    return {
        "command_id": command_id,
        "command": "FLATTEN",
        "account": account,
        "payload": {"reason": "test"},
        "ts": now_ms(),
    }


def test_flatten_closes_every_position_once(redfire_worker: Any, tmp_path: Path) -> None:
    assert partition_for("FLAT-1", 2) == partition_for("FLAT-2", 2)
    worker, desk = start(redfire_worker, tmp_path)
    emergency = desk.reader("emergency_orders")
    alerts = desk.reader("risk_alerts")
    history(desk)
    set_cash(desk, "FLAT-1", 1_000_000.0)
    held = book(desk, "FLAT-1")
    desk.order("live-1", "FLAT-1", "AAPL", 5, PRICES["AAPL"])
    eventually(
        lambda: (
            [o["order_id"] for o in http_json(worker, "/accounts/FLAT-1/risk")["orders"]]
            == ["live-1"]
        ),
        timeout=60,
        message="live order",
    )

    answer = worker.post("/admin/accounts/FLAT-1/flatten", {"reason": "drill"})
    assert answer["command"] == "FLATTEN"

    event = wait_record(alerts, lambda a: a["rule_id"] == "emergency_stop")
    closing = emergency.wait_for(lambda found: len(found) >= len(held))
    assert sorted((o["symbol"], o["side"], o["qty"]) for o in closing) == [
        ("AAPL", "SELL", 120.0),
        ("MSFT", "BUY", 35.5),
    ]
    assert all(o["order_type"] == "MARKET" and o["account"] == "FLAT-1" for o in closing)
    assert {key for key, _value, _p in emergency.records} == {"FLAT-1"}
    assert sorted(event["order_ids"]) == sorted(o["order_id"] for o in closing)
    assert event["cancelled_order_ids"] == ["live-1"]
    assert (event["severity"], event["trigger"]) == (
        "CRITICAL",
        f"FLATTEN {answer['command_id']}: drill",
    )
    body = eventually(
        lambda: (b := http_json(worker, "/accounts/FLAT-1/risk"))["orders"] == [] and b,
        timeout=60,
        message="the live order cancelled",
    )
    assert body["trading_state"] == "HALTED"
    assert body["alerts"][0]["rule_id"] == "emergency_stop"

    # The same command again (same id) changes nothing. FLAT-2 shares FLAT-1's partition
    # (of every topic): its own FLATTEN, sent after, is read after the repeat, so once its
    # closing order and event are out, anything the repeat produced is out before them.
    desk.fill("FLAT-2", "AAPL", "BUY", 7, PRICES["AAPL"])
    eventually(lambda: positions(desk, "FLAT-2") == {"AAPL": 7.0}, timeout=60)
    desk.send("risk_commands", "FLAT-1", flatten_command(answer["command_id"], "FLAT-1"))
    desk.send("risk_commands", "FLAT-2", flatten_command("marker", "FLAT-2"))
    emergency.wait_for(lambda found: any(o["account"] == "FLAT-2" for o in found))
    wait_record(alerts, lambda a: a["rule_id"] == "emergency_stop" and a["account"] == "FLAT-2")
    assert [o["account"] for o in emergency.json_values()].count("FLAT-1") == len(held)
    events = [a for a in alerts.json_values() if a["rule_id"] == "emergency_stop"]
    assert [e["account"] for e in events].count("FLAT-1") == 1
    assert http_json(worker, "/accounts/FLAT-1/risk")["alerts"][0] == event
    desk.close()


def test_flatten_all_reaches_the_accounts_of_every_partition(
    redfire_worker: Any, tmp_path: Path
) -> None:
    worker, desk = start(redfire_worker, tmp_path)
    emergency = desk.reader("emergency_orders")
    history(desk)
    accounts = ["ALL-1", "ALL-2", "ALL-3", "ALL-4", "ALL-5"]
    for account in accounts:
        set_cash(desk, account, 1_000_000.0)
        book(desk, account)

    desk.send("risk_commands", "*", flatten_command("stop-everything", "*"))

    closing = emergency.wait_for(lambda found: len(found) >= 2 * len(accounts))
    assert sorted((o["account"], o["symbol"], o["side"]) for o in closing) == sorted(
        (a, s, side) for a in accounts for s, side in (("AAPL", "SELL"), ("MSFT", "BUY"))
    )
    partitions = {p for _key, _value, p in emergency.records}
    assert partitions == {0, 1}, "both partitions' accounts are flattened"
    for account in accounts:
        eventually(
            lambda a=account: http_json(worker, f"/accounts/{a}/risk")["trading_state"] == "HALTED",
            timeout=30,
        )
    desk.close()


def full_var(worker: RedFireWorker, held: dict[str, float], method: str) -> float:
    """Return VaR99 by the full computation over the windows and prices the worker reports."""
    exposures, columns = [], []
    for symbol, qty in sorted(held.items()):
        market = http_json(worker, f"/market/{symbol}")
        exposures.append(qty * market["price"]["price"])
        columns.append(market["window"]["returns"])
    rows = min(len(c) for c in columns)
    returns = np.column_stack([np.asarray(c[-rows:], dtype=float) for c in columns])
    config = VaRConfig(method=VaRMethod(method), confidence=0.99)
    return compute_var(returns, np.asarray(exposures), config).var


@pytest.mark.parametrize("method", ["historical", "parametric"])
def test_component_var_sums_to_var99_and_reports_add_up(
    redfire_worker: Any, tmp_path: Path, method: str
) -> None:
    worker, desk = start(redfire_worker, tmp_path, REDFIRE_VAR_METHOD=method)
    snapshots = desk.reader("risk_metrics")
    history(desk)
    cash = 1_000_000.0
    set_cash(desk, "COMP-1", cash)
    held = book(desk, "COMP-1")
    desk.order("o-1", "COMP-1", "AAPL", 10, PRICES["AAPL"])
    desk.order("o-2", "COMP-1", "NVDA", 40, PRICES["NVDA"])
    live = {"o-1": (10.0, 4.0), "o-2": (40.0, 0.0)}
    # The gateway fills part of o-1 once it is live (orders and fills are separate topics).
    eventually(
        lambda: len(http_json(worker, "/accounts/COMP-1/risk")["orders"]) == len(live),
        timeout=60,
        message="both orders live",
    )
    desk.send(
        "fills",
        "COMP-1",
        {
            "fill_id": "part-1",
            "order_id": "o-1",
            "account": "COMP-1",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 4,
            "price": PRICES["AAPL"],
            "ts": now_ms(),
        },
    )
    held["AAPL"] += 4
    body = eventually(
        lambda: (
            (b := http_json(worker, "/accounts/COMP-1/risk"))
            and {o["order_id"]: o["filled_qty"] for o in b["orders"]} == {"o-1": 4.0, "o-2": 0.0}
            and b
        ),
        timeout=60,
        message="orders and the partial fill",
    )

    # Component VaR: every position's, summed, is VaR99; VaR99 is the full computation's.
    assert body["var_method"] == method
    components = {p["symbol"]: p["component_var"] for p in body["positions"]}
    assert components["NVDA"] == 0.0  # closed
    assert math.isclose(sum(components.values()), body["var_99"], rel_tol=1e-6)
    assert math.isclose(body["var_99"], full_var(worker, held, method), rel_tol=1e-9)
    snapshot = wait_record(
        snapshots,
        lambda s: s["account"] == "COMP-1" and len(s["components"]) == len(held),
    )
    total = sum(c["component_var"] for c in snapshot["components"])
    assert math.isclose(total, snapshot["var_99"], rel_tol=1e-6)

    # The account's real-time report against what was sent.
    prices = {s: http_json(worker, f"/market/{s}")["price"]["price"] for s in held}
    values = {s: q * prices[s] for s, q in held.items()}
    gross = sum(abs(v) for v in values.values())
    reserved = (10 - 4) * PRICES["AAPL"] + 40 * PRICES["NVDA"]
    spent = (124 * PRICES["AAPL"]) - 35.5 * PRICES["MSFT"]
    report = http_json(worker, "/accounts/COMP-1/report")
    assert report["positions"]["total_positions"] == 2
    assert (report["positions"]["long_positions"], report["positions"]["short_positions"]) == (1, 1)
    assert report["positions"]["total_position_value"] == pytest.approx(gross)
    assert report["positions"]["largest_position"]["symbol"] == max(
        values, key=lambda s: abs(values[s])
    )
    assert report["orders"]["total_active_orders"] == len(live)
    assert report["orders"]["partially_filled_orders"] == 1
    rate = sum(f for _q, f in live.values()) / sum(q for q, _f in live.values())
    assert report["orders"]["average_fill_rate"] == pytest.approx(rate)
    assert report["summary"]["available_buying_power"] == pytest.approx(cash - spent - reserved)
    assert report["risk"]["var_99"] == pytest.approx(body["var_99"], rel=1e-9)

    # The firm's report, once the firm stage has this account's part after the fill: the
    # part before it has the same two live orders and two positions, 4 AAPL short.
    firm = eventually(
        lambda: (
            (r := http_json(worker, "/report"))["orders"]["total_active_orders"] == len(live)
            and r["orders"]["partially_filled_orders"] == 1
            and r["positions"]["total_positions"] == 2
            and r
        ),
        timeout=60,
        message="the firm report with the account",
    )
    assert firm["account"] == "FIRM" and firm["accounts"] == 1
    assert firm["positions"]["total_position_value"] == pytest.approx(gross)
    assert firm["orders"]["average_fill_rate"] == pytest.approx(rate)
    assert firm["summary"]["available_buying_power"] == pytest.approx(cash - spent - reserved)
    desk.close()


def owner_port(worker: RedFireWorker, table: str, key: str) -> int:
    """Return the web port of the worker that owns ``key`` of ``table``, as ``worker`` sees it."""
    url = http_json(worker, f"/router/{table}/{key}/")
    return int(str(url).rstrip("/").rsplit(":", 1)[1])


def test_firm_report_is_the_same_whichever_worker_is_asked(
    redfire_worker: Any, tmp_path: Path
) -> None:
    first, desk = start(redfire_worker, tmp_path)
    second: RedFireWorker = redfire_worker(**first.extra_env)
    workers = (first, second)
    accounts = ["ALL-1", "ALL-2"]  # partitions 0 and 1: one per worker once both run
    assert {partition_for(a, 2) for a in accounts} == {0, 1}

    # Each worker owns one partition, and both agree on which one runs the firm stage.
    def routes() -> set[tuple[int, int, int]]:
        return {
            (
                owner_port(w, "firm_parts", FIRM),
                owner_port(w, "accounts", "ALL-1"),
                owner_port(w, "accounts", "ALL-2"),
            )
            for w in workers
        }

    eventually(
        lambda: (
            len(found := routes()) == 1
            and {p for route in found for p in route[1:]} == {w.web_port for w in workers}
        ),
        timeout=60,
        message="one partition per worker, the same routes on both",
    )
    history(desk)
    for account in accounts:
        set_cash(desk, account, 1_000_000.0)
        book(desk, account)

    # Each part values its accounts at that worker's prices: a worker that does not own a
    # symbol's ticks mirrors its price from the prices table, so wait for the live prices.
    gross = sum(abs(q * PRICES[s]) for s, q in (("AAPL", 240.0), ("MSFT", -71.0)))

    def both() -> list[dict[str, Any]] | None:
        reports = [http_json(w, "/report") for w in workers]
        if any(
            r["accounts"] != 2
            or not math.isclose(r["positions"]["total_position_value"], gross, rel_tol=1e-9)
            for r in reports
        ):
            return None
        return reports

    reports = eventually(both, timeout=90, message="both workers report both accounts")
    for report in reports:
        assert report["positions"]["total_positions"] == 2
        assert report["positions"]["long_positions"] == 1
        assert report["partitions"] == 2
    assert reports[0]["positions"] == reports[1]["positions"]
    desk.close()

"""Issue 15 on a real Kafka: the instrument master, market rules and a mixed-currency account.

One worker starts with an instrument master file (REDFIRE_INSTRUMENTS_FILE) and JWT roles.
The decisive cases go through Kafka: an A-share bought today cannot be sold today but can
tomorrow (T+1), an ST share's ±5% band from the master, a Hong Kong board lot that arrives on
the ``instruments`` topic (and leaves with a tombstone), a bad instrument record dead-lettered,
self-trade crossing and not, the decision's note for a symbol missing from the master, and
``GET /instruments/{symbol}`` for viewers. Then a CNY account holding MSFT and 0700.HK, with
FX pairs ticking, must show the equity, exposures and VaR of the independent computation of
``tests.support.fx_model`` in its snapshot and on its risk route.
"""

from __future__ import annotations

import json
import time
import urllib.error
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from redfire.web.auth import Role, issue_token
from tests.support.desk import monitor_env, wait_price
from tests.support.eventually import eventually
from tests.support.fx_model import CNY_ACCOUNT, independent
from tests.support.kafka_io import TopicReader, producer, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

SECRET = "market-rules-secret-0123456789abcdef012"
ADMIN = "market-rules-admin-token"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2024, 6, 4, tzinfo=SHANGHAI)  # a Tuesday
MASTER = {
    "instruments": {
        "MSFT": {"market": "US", "currency": "USD"},
        "0700.HK": {"market": "XHKG", "currency": "HKD", "lot_size": 100},
        "600000.SH": {"market": "XSHG", "currency": "CNY", "previous_close": 10.0},
        "600001.SH": {"market": "XSHG", "currency": "CNY", "is_st": True, "previous_close": 4.0},
        "USDCNY": {"market": "FX", "fx_base": "USD", "currency": "CNY", "tradable": False},
        "HKDCNY": {"market": "FX", "fx_base": "HKD", "currency": "CNY", "tradable": False},
    }
}
LIMITS = {
    "default": {
        "price_collar_pct": None,
        "max_price_age_ms": None,
        "max_var_pct": None,
        "max_concentration": None,
    }
}
BASES = {"CN1": "CNY", "HK1": "HKD", "MX1": "CNY"}


def at(day: int, clock: str) -> int:
    hours, minutes = (int(part) for part in clock.split(":"))
    return int((DAY + timedelta(days=day, hours=hours, minutes=minutes)).timestamp() * 1000)


def start_worker(redfire_worker: Any, tmp_path: Path) -> RedFireWorker:
    master, limits = tmp_path / "instruments.yaml", tmp_path / "limits.yaml"
    master.write_text(yaml.safe_dump(MASTER))
    limits.write_text(yaml.safe_dump(LIMITS))
    worker: RedFireWorker = redfire_worker(
        REDFIRE_INSTRUMENTS_FILE=str(master),
        REDFIRE_LIMITS_FILE=str(limits),
        REDFIRE_ACCOUNT_BASE_CURRENCIES=json.dumps(BASES),
        REDFIRE_JWT_SECRET=SECRET,
        REDFIRE_ADMIN_TOKEN=ADMIN,
        **monitor_env(tmp_path, rules=[]),
    )
    return worker


class Trader:
    """Send ticks, fills, commands and orders with explicit times; read the decisions."""

    def __init__(self, worker: RedFireWorker) -> None:
        self.worker = worker
        self.producer = producer(worker.bootstrap)
        self.decisions = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
        self.sequence = 0

    def send(self, topic: str, key: str, value: dict[str, Any] | None) -> None:
        name = self.worker.topic(topic)
        if value is None:
            self.producer.produce(name, key=key.encode(), value=None)
        else:
            send_json(self.producer, name, key, value)
        self.producer.flush(30)

    def next_id(self, prefix: str) -> str:
        self.sequence += 1
        return f"{prefix}-{self.sequence}"

    def tick(self, symbol: str, price: float, ts: int) -> None:
        self.send("ticks", symbol, {"symbol": symbol, "price": price, "ts": ts})

    def command(self, command: str, account: str, payload: dict[str, Any], ts: int) -> None:
        body = {
            "command_id": self.next_id("cmd"),
            "command": command,
            "account": account,
            "payload": payload,
            "ts": ts,
        }
        self.send("risk_commands", account, body)

    def fill(
        self, account: str, symbol: str, qty: float, price: float, ts: int, fee: float = 0.0
    ) -> None:
        fill_id = self.next_id("fill")
        body = {
            "fill_id": fill_id,
            "order_id": f"gw-{fill_id}",
            "account": account,
            "symbol": symbol,
            "side": "BUY",
            "qty": qty,
            "price": price,
            "fee": fee,
            "ts": ts,
        }
        self.send("fills", account, body)

    def order(
        self, account: str, symbol: str, side: str, qty: float, price: float, ts: int
    ) -> dict[str, Any]:
        """Send a LIMIT order and return its decision."""
        order_id = self.next_id("ord")
        body = {
            "order_id": order_id,
            "account": account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "order_type": "LIMIT",
            "ts": ts,
        }
        self.send("orders", account, body)
        values = self.decisions.wait_for(
            lambda found: any(v["order_id"] == order_id for v in found), timeout=60
        )
        decision: dict[str, Any] = next(v for v in values if v["order_id"] == order_id)
        return decision

    def close(self) -> None:
        self.decisions.close()


def checks(decision: dict[str, Any]) -> set[str]:
    return {reason["check"] for reason in decision["reasons"]}


def limit_of(decision: dict[str, Any], check: str) -> float:
    (found,) = (r["limit"] for r in decision["reasons"] if r["check"] == check)
    return float(found)


def wait_position(worker: RedFireWorker, account: str, symbol: str, qty: float) -> None:
    def held() -> bool:
        body = worker.get(f"/accounts/{account}/positions")
        return any(p["symbol"] == symbol and p["qty"] == qty for p in body["positions"])

    eventually(held, timeout=60, retry_on=(AssertionError, OSError), message=f"{symbol} held")


def instrument(worker: RedFireWorker, symbol: str, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = worker.get(f"/instruments/{symbol}", token=token)
    return body


def test_market_rules_on_kafka(redfire_worker: Any, tmp_path: Path) -> None:
    worker = start_worker(redfire_worker, tmp_path)
    trader = Trader(worker)
    try:
        ts = at(0, "09:31")
        for account in (*BASES, "US1"):
            trader.command("SET_CASH", account, {"cash": 1e9}, ts)
        for symbol, price in (("600000.SH", 10.0), ("600001.SH", 4.0), ("AAPL", 100.5)):
            trader.tick(symbol, price, ts)
        trader.tick("0002.HK", 60.0, ts)

        # GET /instruments/{symbol}: viewers read it; a symbol not in the master says so.
        viewer = issue_token(SECRET, Role.VIEWER, 60)
        listed = instrument(worker, "0700.HK", viewer)
        assert (listed["in_master"], listed["lot_size"], listed["currency"]) == (True, 100, "HKD")
        unknown = instrument(worker, "0002.HK", viewer)
        assert (unknown["in_master"], unknown["source"], unknown["lot_size"]) == (
            False,
            "suffix_rules",
            100,
        )
        assert unknown["note"] == (
            "0002.HK is not in the instrument master: suffix rules used (XHKG, HKD, lot 100)"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            worker.get("/instruments/0700.HK", token="not-a-token")
        assert refused.value.code == 401

        # T+1: shares bought today are sellable from the next trading day.
        trader.fill("CN1", "600000.SH", 300, 10.0, at(0, "10:00"))
        wait_position(worker, "CN1", "600000.SH", 300)
        same_day = trader.order("CN1", "600000.SH", "SELL", 300, 10.0, at(0, "14:00"))
        next_day = trader.order("CN1", "600000.SH", "SELL", 300, 10.0, at(1, "10:00"))
        assert checks(same_day) == {"t_plus_one"}, same_day
        assert limit_of(same_day, "t_plus_one") == 0.0
        assert next_day["decision"] == "APPROVED", next_day

        # ST from the master: ±5% of its previous close 4.00.
        st_above = trader.order("CN1", "600001.SH", "BUY", 100, 4.21, at(0, "10:05"))
        st_at = trader.order("CN1", "600001.SH", "BUY", 100, 4.20, at(0, "10:06"))
        assert checks(st_above) == {"daily_limit"} and limit_of(st_above, "daily_limit") == 4.20
        assert st_at["decision"] == "APPROVED", st_at

        # A Hong Kong board lot from the topic, then a tombstone; a bad record is dead-lettered.
        fallback = trader.order("HK1", "0002.HK", "BUY", 100, 60.0, at(0, "10:10"))
        assert fallback["decision"] == "APPROVED", fallback
        assert fallback["notes"] == [unknown["note"]]
        what_if = worker.post(
            "/accounts/HK1/what-if", {"symbol": "0002.HK", "side": "BUY", "qty": 100}
        )
        assert what_if["notes"] == [unknown["note"]], what_if
        entry = {"symbol": "0002.HK", "market": "XHKG", "currency": "HKD", "lot_size": 500}
        trader.send("instruments", "0002.HK", entry)
        bad = {"symbol": "0003.HK", "market": "XHKG", "currency": "HKD"}  # no board lot
        trader.send("instruments", "0003.HK", bad)
        eventually(
            lambda: instrument(worker, "0002.HK")["lot_size"] == 500,
            timeout=60,
            message="0002.HK's board lot from the topic",
        )
        odd = trader.order("HK1", "0002.HK", "BUY", 100, 60.0, at(0, "10:11"))
        board = trader.order("HK1", "0002.HK", "BUY", 500, 60.0, at(0, "10:12"))
        assert checks(odd) == {"lot_size"} and limit_of(odd, "lot_size") == 500, odd
        assert board["decision"] == "APPROVED" and board["notes"] == [], board
        letters = TopicReader(worker.bootstrap, worker.topic("dead_letters"))
        try:
            found = letters.wait_for(
                lambda values: any(v.get("key") == "0003.HK" for v in values), timeout=60
            )
        finally:
            letters.close()
        (letter,) = (v for v in found if v.get("key") == "0003.HK")
        assert letter["reason"] == "bad_value" and "field lot_size: missing" in letter["error"]
        trader.send("instruments", "0002.HK", None)
        eventually(
            lambda: not instrument(worker, "0002.HK")["in_master"],
            timeout=60,
            message="0002.HK removed by its tombstone",
        )
        again = trader.order("HK1", "0002.HK", "BUY", 100, 60.0, at(0, "10:13"))
        assert again["decision"] == "APPROVED" and again["notes"] == [unknown["note"]], again

        # Self-trade: a BUY crossing the account's own resting SELL is rejected (US1 has the
        # default base currency, USD).
        resting = trader.order("US1", "AAPL", "SELL", 10, 101.0, at(0, "10:20"))
        crossing = trader.order("US1", "AAPL", "BUY", 10, 101.0, at(0, "10:21"))
        below = trader.order("US1", "AAPL", "BUY", 10, 100.99, at(0, "10:22"))
        assert resting["decision"] == "APPROVED", resting
        assert checks(crossing) == {"self_trade"}, crossing
        assert resting["order_id"] in crossing["reasons"][0]["message"]
        assert below["decision"] == "APPROVED", below

        # A CNY account buying a USD name needs the rate: rejected until USDCNY ticks.
        unpriced = trader.order("CN1", "AAPL", "BUY", 10, 100.0, at(0, "10:30"))
        trader.tick("USDCNY", 7.2, at(0, "10:31"))
        wait_price(worker, "USDCNY", 7.2)
        priced = trader.order("CN1", "AAPL", "BUY", 10, 100.0, at(0, "10:32"))
        assert checks(unpriced) == {"fx_rate"}, unpriced
        assert priced["decision"] == "APPROVED", priced
    finally:
        trader.close()


def test_mixed_currency_account_on_kafka(redfire_worker: Any, tmp_path: Path) -> None:
    worker = start_worker(redfire_worker, tmp_path)
    trader = Trader(worker)
    book = CNY_ACCOUNT
    history = book.closes()
    try:
        first = at(-book.days, "12:00")
        for day in range(book.days):
            for symbol in history:
                trader.tick(symbol, history[symbol][day], first + day * 86_400_000)
        now = time.time_ns() // 1_000_000
        for currency, amount in book.cash.items():
            trader.command("SET_CASH", "MX1", {"cash": amount, "currency": currency}, now)
        eventually(  # the fills must come after the cash they spend
            lambda: worker.get("/accounts/MX1/positions")["cash_by_currency"] == book.cash,
            timeout=60,
            message="MX1's cash set",
        )
        for symbol, qty, price, fee in book.fills:
            trader.fill("MX1", symbol, qty, price, now, fee)
        expected = independent(book, history)

        def snapshot_matches() -> dict[str, Any]:
            snapshots = [
                v for v in metrics.json_values() if v["account"] == "MX1" and v["positions"]
            ]
            assert snapshots, "no snapshot of MX1 yet"
            latest = snapshots[-1]
            assert latest["unvalued"] == [] and latest["var_99"] is not None, latest
            assert latest["equity"] == pytest.approx(expected["equity"], rel=1e-9), latest
            for name in ("var_95", "var_99", "es_975"):
                assert latest[name] == pytest.approx(expected[name], rel=1e-9), name
            return latest

        metrics = TopicReader(worker.bootstrap, worker.topic("risk_metrics"))
        try:
            snapshot = eventually(
                lambda: metrics.poll(0.2) >= 0 and snapshot_matches(),
                timeout=120,
                message="MX1's snapshot equals the independent computation",
            )
        finally:
            metrics.close()
        assert snapshot["base_currency"] == "CNY"
        for name in ("cash", "gross_exposure", "net_exposure"):
            assert snapshot[name] == pytest.approx(expected[name], rel=1e-9), name
        values = {p["symbol"]: p["market_value"] for p in snapshot["positions"]}
        assert values == pytest.approx(expected["market_values"], rel=1e-9)

        body = worker.get("/accounts/MX1/risk")
        assert body["base_currency"] == "CNY"
        assert body["cash_by_currency"] == pytest.approx(expected["cash_by_currency"])
        for name in ("equity", "cash", "gross_exposure", "net_exposure"):
            assert body[name] == pytest.approx(expected[name], rel=1e-9), name
    finally:
        trader.close()

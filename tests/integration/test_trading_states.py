"""Issue 5 on a real Kafka: trading states, cancels, what-if and the admin routes.

Commands go to ``risk_commands`` as any back office would send them; each test waits
for a command to take effect (the account's state over HTTP, or a what-if answer)
before it sends the order that depends on it, because topics are consumed
independently.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.eventually import eventually
from tests.support.kafka_io import TopicReader, producer, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
ORDER_DAY = 1_717_372_800_000  # 2024-06-03 00:00 UTC
LIVE_TS = ORDER_DAY + 14 * 3_600_000 + 30 * 60_000
PRICE = 100.00
HISTORY = [round(100.0 * (1 + 0.01 * ((i * 7) % 5 - 2)), 2) for i in range(25)]
TOKEN = "desk-token-5"
# Defaults, but with no price-age limit (what-if stamps its order with the wall clock,
# while the scripted orders and ticks carry the 2024 trading day's times) and no VaR/equity
# limit (an account without cash has no equity to divide by).
LIMITS = {"default": {"max_price_age_ms": None, "max_var_pct": None, "max_order_qty": 1000}}


class Desk:
    """A test's view of one worker: send commands, ticks, orders and fills; read back."""

    def __init__(self, worker: RedFireWorker) -> None:
        self.worker = worker
        self.producer = producer(worker.bootstrap)
        self.decisions = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
        self.clock: Iterator[int] = itertools.count(LIVE_TS + 1_000, 100)
        self.ids: Iterator[int] = itertools.count(1)
        self.taken: dict[str, int] = {}

    def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        send_json(self.producer, self.worker.topic(topic), key, value)
        self.producer.flush(30)

    def command(self, command: str, account: str, payload: dict[str, Any] | None = None) -> None:
        body = {
            "command_id": f"{command}-{account}-{next(self.ids)}",
            "command": command,
            "account": account,
            "payload": payload or {},
            "ts": next(self.clock),
        }
        self.send("risk_commands", account, body)

    def risk(self, account: str) -> dict[str, Any]:
        body: dict[str, Any] = self.worker.get(f"/accounts/{account}/risk")
        return body

    def set_cash(self, account: str, cash: float) -> None:
        self.command("SET_CASH", account, {"cash": cash})
        eventually(lambda: self.risk(account)["cash"] == cash, timeout=30, message="cash set")

    def set_state(self, command: str, account: str, state: str) -> None:
        """Send HALT / RESUME / REDUCE_ONLY for one account and wait until it holds."""
        self.command(command, account)
        eventually(
            lambda: self.risk(account)["trading_state"] == state,
            timeout=30,
            message=f"{account} {state}",
        )

    def seed_price(self, symbol: str = "AAPL") -> None:
        """Send 25 daily closes and the live price; wait for the price and the window."""
        for day, close in enumerate(HISTORY):
            ts = ORDER_DAY - (len(HISTORY) - day) * DAY_MS + 20 * 3_600_000
            send_json(
                self.producer,
                self.worker.topic("ticks"),
                symbol,
                {"symbol": symbol, "ts": ts, "price": close},
            )
        self.send("ticks", symbol, {"symbol": symbol, "ts": LIVE_TS, "price": PRICE})

        def ready() -> bool:
            state = self.worker.get(f"/market/{symbol}")
            window = state.get("window") or {}
            return bool(
                state.get("price", {}).get("ts") == LIVE_TS
                and len(window.get("returns", ())) == len(HISTORY) - 1
            )

        eventually(ready, timeout=60, retry_on=(AssertionError, OSError), message="prices")

    def order(
        self,
        account: str,
        order_id: str,
        side: str,
        qty: float,
        price: float | None = PRICE,
        action: str = "NEW",
        symbol: str = "AAPL",
    ) -> dict[str, Any]:
        body = {
            "order_id": order_id,
            "account": account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "order_type": "LIMIT" if price is not None else "MARKET",
            "action": action,
            "ts": next(self.clock),
        }
        self.send("orders", account, body)
        return body

    def decide(self, account: str, order_id: str, side: str, qty: float, **kw: Any) -> Any:
        """Send a NEW (or REPLACE) order and return its decision."""
        self.order(account, order_id, side, qty, **kw)
        return self.decision(order_id)

    def decision(self, order_id: str) -> dict[str, Any]:
        """Return the next decision for ``order_id`` not returned before (REPLACE reuses ids)."""
        taken = self.taken.get(order_id, 0)
        values = self.decisions.wait_for(
            lambda vs: sum(v["order_id"] == order_id for v in vs) > taken, timeout=30
        )
        self.taken[order_id] = taken + 1
        found: dict[str, Any] = [v for v in values if v["order_id"] == order_id][taken]
        return found

    def fill(self, account: str, order_id: str, side: str, qty: float, expect_qty: float) -> None:
        """Fill an order at the live price; wait until the position is ``expect_qty``."""
        fill = {
            "fill_id": f"fill-{order_id}",
            "order_id": order_id,
            "account": account,
            "symbol": "AAPL",
            "side": side,
            "qty": qty,
            "price": PRICE,
            "ts": next(self.clock),
        }
        self.send("fills", account, fill)
        eventually(lambda: position(self.risk(account)) == expect_qty, timeout=30, message="filled")

    def what_if(self, account: str, side: str, qty: float, price: float | None = PRICE) -> Any:
        body = {"symbol": "AAPL", "side": side, "qty": qty, "price": price}
        return self.worker.post(f"/accounts/{account}/what-if", body)

    def close(self) -> None:
        self.decisions.close()


def position(risk: dict[str, Any], symbol: str = "AAPL") -> float:
    return next((p["qty"] for p in risk["positions"] if p["symbol"] == symbol), 0.0)


def checks(decision: dict[str, Any]) -> list[str]:
    return sorted(r["check"] for r in decision["reasons"])


def what_if_fails(desk: Desk, account: str, check: str) -> bool:
    """Tell whether a what-if BUY of 10 for ``account`` fails ``check``."""
    return check in checks(desk.what_if(account, "BUY", 10))


def what_if_approves(desk: Desk, account: str) -> bool:
    return bool(desk.what_if(account, "BUY", 10)["decision"] == "APPROVED")


def reserved_is(desk: Desk, account: str, amount: float) -> bool:
    return bool(desk.risk(account)["reserved"] == amount)


def start_desk(
    redfire_worker: Any, tmp_path: Path, accounts: tuple[str, ...] = ("ACC1",), **env: str
) -> Desk:
    limits = tmp_path / "limits.yaml"
    limits.write_text(yaml.safe_dump(LIMITS))
    worker: RedFireWorker = redfire_worker(
        REDFIRE_LIMITS_FILE=str(limits), REDFIRE_BAR_INTERVAL="1d", **env
    )
    desk = Desk(worker)
    for account in accounts:
        desk.set_cash(account, 1_000_000.0)
    desk.seed_price()
    return desk


def post_status(
    worker: RedFireWorker, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST and return (status, JSON body) whatever the status."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.web_port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# --- HALT / RESUME -----------------------------------------------------------------------


def test_halt_rejects_the_next_order_and_resume_restores_trading(
    redfire_worker: Any, tmp_path: Path
) -> None:
    desk = start_desk(redfire_worker, tmp_path)
    first = desk.decide("ACC1", "h-1", "BUY", 100)
    assert first["decision"] == "APPROVED", first
    desk.fill("ACC1", "h-1", "BUY", 100, expect_qty=100)

    desk.set_state("HALT", "ACC1", "HALTED")
    halted_buy = desk.decide("ACC1", "h-2", "BUY", 10)
    halted_sell = desk.decide("ACC1", "h-3", "SELL", 10)  # even a reducing order
    assert halted_buy["decision"] == "REJECTED" and checks(halted_buy) == ["trading_state"]
    assert halted_sell["decision"] == "REJECTED" and checks(halted_sell) == ["trading_state"]
    assert "HALTED" in halted_buy["reasons"][0]["message"]

    desk.set_state("RESUME", "ACC1", "ACTIVE")
    resumed = desk.decide("ACC1", "h-4", "BUY", 10)
    assert resumed["decision"] == "APPROVED", resumed
    assert resumed["reasons"] == []
    desk.close()


# --- REDUCE_ONLY -------------------------------------------------------------------------


def test_reduce_only_accepts_closing_orders_and_rejects_opening_ones(
    redfire_worker: Any, tmp_path: Path
) -> None:
    desk = start_desk(redfire_worker, tmp_path)
    assert desk.decide("ACC1", "r-1", "BUY", 100)["decision"] == "APPROVED"
    desk.fill("ACC1", "r-1", "BUY", 100, expect_qty=100)
    desk.set_state("REDUCE_ONLY", "ACC1", "REDUCE_ONLY")

    closing = desk.decide("ACC1", "r-2", "SELL", 40)
    assert closing["decision"] == "APPROVED", closing
    desk.fill("ACC1", "r-2", "SELL", 40, expect_qty=60)

    buy_more = desk.decide("ACC1", "r-3", "BUY", 10)
    sell_through = desk.decide("ACC1", "r-4", "SELL", 61)  # 60 held: would flip short
    market_buy = desk.decide("ACC1", "r-5", "BUY", 1, price=None)
    for opening in (buy_more, sell_through, market_buy):
        assert opening["decision"] == "REJECTED", opening
        assert checks(opening) == ["trading_state"], opening
        assert "REDUCE_ONLY" in opening["reasons"][0]["message"]

    to_flat = desk.decide("ACC1", "r-6", "SELL", 60)  # exactly the position: closes it
    assert to_flat["decision"] == "APPROVED", to_flat
    desk.fill("ACC1", "r-6", "SELL", 60, expect_qty=0)
    from_flat = desk.decide("ACC1", "r-7", "SELL", 1)  # nothing held: any order opens
    assert from_flat["decision"] == "REJECTED" and checks(from_flat) == ["trading_state"]
    desk.close()


# --- cancels -----------------------------------------------------------------------------


def test_cancel_while_halted_cancels_the_order_and_releases_its_reservation(
    redfire_worker: Any, tmp_path: Path
) -> None:
    desk = start_desk(redfire_worker, tmp_path)
    assert desk.decide("ACC1", "k-1", "BUY", 100)["decision"] == "APPROVED"
    assert desk.decide("ACC1", "k-2", "BUY", 50)["decision"] == "APPROVED"
    eventually(lambda: desk.risk("ACC1")["reserved"] == 15_000.0, timeout=30)

    desk.set_state("HALT", "ACC1", "HALTED")
    desk.order("ACC1", "k-1", "BUY", 100, action="CANCEL")
    eventually(lambda: desk.risk("ACC1")["reserved"] == 5_000.0, timeout=30, message="k-1 released")
    # k-1 is CANCELLED now (terminal): replacing it is refused as unknown, not as halted,
    # while k-2, still live, is refused by the halt.
    gone = desk.decide("ACC1", "k-1", "BUY", 80, action="REPLACE")
    live = desk.decide("ACC1", "k-2", "BUY", 80, action="REPLACE")
    assert checks(gone) == ["unknown_order"], gone
    assert checks(live) == ["trading_state"], live
    assert desk.risk("ACC1")["reserved"] == 5_000.0
    assert desk.risk("ACC1")["trading_state"] == "HALTED"
    desk.close()


# --- firm-wide halt ----------------------------------------------------------------------


def test_halt_for_all_accounts_halts_every_account(redfire_worker: Any, tmp_path: Path) -> None:
    accounts = ("ACC1", "ACC2", "ACC3")
    desk = start_desk(redfire_worker, tmp_path, accounts)
    for account in accounts:
        assert desk.decide(account, f"f-{account}-1", "BUY", 10)["decision"] == "APPROVED"

    desk.command("HALT", "*")
    # NEVER_SEEN has no cash either, so it fails buying power as well.
    for account in (*accounts, "NEVER_SEEN"):
        eventually(
            partial(what_if_fails, desk, account, "trading_state"),
            timeout=30,
            message=f"{account} halted by HALT *",
        )
    for account in accounts:
        decision = desk.decide(account, f"f-{account}-2", "BUY", 10)
        assert decision["decision"] == "REJECTED" and checks(decision) == ["trading_state"]
    unseen = desk.decide("NEVER_SEEN", "f-unseen", "BUY", 10)
    assert checks(unseen) == ["buying_power", "trading_state"], unseen

    desk.command("RESUME", "*")
    for account in accounts:
        eventually(
            partial(what_if_approves, desk, account), timeout=30, message=f"{account} resumed"
        )
        assert desk.decide(account, f"f-{account}-3", "BUY", 10)["decision"] == "APPROVED"
    desk.close()


# --- what-if -----------------------------------------------------------------------------


def test_what_if_answers_as_a_real_order_would_and_reserves_nothing(
    redfire_worker: Any, tmp_path: Path
) -> None:
    desk = start_desk(redfire_worker, tmp_path)
    cases = [
        ("BUY", 100, PRICE),  # approved, with VaR from the 24-bar window
        ("BUY", 2000, PRICE),  # max_order_qty
        ("BUY", 10, 120.00),  # 20% through the last price: collar
        ("SELL", 10.5, PRICE),  # half a share: lot size
    ]
    reserved = 0.0
    for number, (side, qty, price) in enumerate(cases):
        answer = desk.what_if("ACC1", side, qty, price)
        assert desk.risk("ACC1")["reserved"] == reserved, "what-if reserved buying power"
        real = desk.decide("ACC1", f"w-{number}", side, qty, price=price)
        assert answer["decision"] == real["decision"], (answer, real)
        assert checks(answer) == checks(real), (answer, real)
        for field in ("var_before", "var_after"):
            if real[field] is None:
                assert answer[field] is None, (field, answer, real)
            else:
                assert answer[field] == pytest.approx(real[field], rel=1e-9), (answer, real)
        if real["decision"] == "APPROVED":
            reserved += qty * price
            eventually(partial(reserved_is, desk, "ACC1", reserved), timeout=30)
        if number == 0:
            assert real["var_before"] == 0.0 and real["var_after"] > 0.0, real

    desk.set_state("HALT", "ACC1", "HALTED")
    answer = desk.what_if("ACC1", "BUY", 100)
    real = desk.decide("ACC1", "w-halted", "BUY", 100)
    assert answer["decision"] == real["decision"] == "REJECTED"
    assert checks(answer) == checks(real) == ["trading_state"]
    assert desk.risk("ACC1")["reserved"] == reserved
    desk.close()


# --- admin routes ------------------------------------------------------------------------


def test_admin_routes_need_the_bearer_token(redfire_worker: Any, tmp_path: Path) -> None:
    desk = start_desk(redfire_worker, tmp_path, REDFIRE_ADMIN_TOKEN=TOKEN)
    worker = desk.worker
    commands = TopicReader(worker.bootstrap, worker.topic("risk_commands"))
    wrong = {"Authorization": "Bearer not-the-token"}
    right = {"Authorization": f"Bearer {TOKEN}"}
    limits = {"account": "ACC1", "limits": {"max_order_qty": 5}}

    for headers in ({}, wrong, {"Authorization": TOKEN}):
        assert post_status(worker, "/admin/accounts/ACC1/halt", {}, headers)[0] == 401
        assert post_status(worker, "/admin/accounts/ACC1/cash", {"cash": 1}, headers)[0] == 401
        assert post_status(worker, "/admin/limits", limits, headers)[0] == 401

    status, body = post_status(worker, "/admin/accounts/ACC1/halt", {}, right)
    assert status == 200 and body["command"] == "HALT", body
    eventually(lambda: desk.risk("ACC1")["trading_state"] == "HALTED", timeout=30)
    # Only the authorised call reached risk_commands (all keyed ACC1, so anything the
    # refused calls had published would come before it): the test's SET_CASH, then HALT.
    sent = commands.wait_for(lambda vs: any(c["command"] == "HALT" for c in vs), timeout=30)
    assert [c["command"] for c in sent] == ["SET_CASH", "HALT"], sent
    assert desk.risk("ACC1")["cash"] == 1_000_000.0

    assert post_status(worker, "/admin/accounts/ACC1/resume", {}, right)[0] == 200
    eventually(lambda: desk.risk("ACC1")["trading_state"] == "ACTIVE", timeout=30)
    assert post_status(worker, "/admin/limits", limits, right)[0] == 200
    eventually(
        lambda: checks(desk.what_if("ACC1", "BUY", 10)) == ["max_order_qty"],
        timeout=30,
        message="limit set through /admin/limits",
    )
    commands.close()
    desk.close()


def test_admin_routes_are_off_without_a_token(redfire_worker: Any, tmp_path: Path) -> None:
    desk = start_desk(redfire_worker, tmp_path, REDFIRE_ADMIN_TOKEN="")
    worker = desk.worker
    for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}, {"Authorization": "Bearer "}):
        assert post_status(worker, "/admin/accounts/ACC1/halt", {}, headers)[0] == 404
        assert (
            post_status(worker, "/admin/limits", {"limits": {"max_order_qty": 1}}, headers)[0]
            == 404
        )
    # The account routes still serve, and nothing was halted.
    assert desk.risk("ACC1")["trading_state"] == "ACTIVE"
    assert desk.what_if("ACC1", "BUY", 10)["decision"] == "APPROVED"
    desk.close()

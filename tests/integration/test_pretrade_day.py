"""Issue 5 on a real Kafka: a scripted trading day checked against an independent model.

Ticks build 200-bar return windows for four US symbols; three accounts then send a day
of orders, each approved order followed by the gateway's fill. Before every order the
in-test model (``tests.support.pretrade_model``, which imports nothing of ``redfire``)
predicts the decision, the exact set of failed checks and the historical VaR without and
with the order; the worker's decision must agree on all of them. Prices stay fixed for
the day, so the VaR book the worker marks at build time values positions as the model
does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.support.eventually import eventually
from tests.support.kafka_io import TopicReader, producer, send_json
from tests.support.pretrade_model import Expected, Order, PretradeModel
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
ORDER_DAY = 1_717_372_800_000  # 2024-06-03 00:00 UTC, a Monday
LIVE_TS = ORDER_DAY + 14 * 3_600_000 + 30 * 60_000  # 14:30 UTC: the day's only prices
HISTORY_DAYS = 205  # 205 daily closes → 204 returns once the live tick closes the last bar
VAR_WINDOW = 200  # T = 200 at 99%: k = ⌈200 × 0.01⌉ = 2 (2.0000000000000018 in floats)
CONFIDENCE = 0.99
LIVE_PRICES = {"AAPL": 190.00, "MSFT": 400.00, "JPM": 150.00, "XOM": 100.00}
DAILY_VOL = {"AAPL": 0.021, "MSFT": 0.017, "JPM": 0.013, "XOM": 0.011}
CASH = {"ACC_A": 350_000.0, "ACC_B": 120_000.0, "ACC_C": 1_000_000.0}
VAR_REL_TOL = 1e-6

DEFAULT_LIMITS: dict[str, Any] = {
    "max_order_qty": 1000,
    "max_order_notional": 150_000,
    "max_price_age_ms": 60_000,
    "price_collar_pct": 0.10,
    "daily_limit_pct": None,
    "check_lot_size": True,
    "check_tick_size": True,
    "max_orders_per_window": None,
    "max_cancels_per_window": None,
    "max_active_orders": None,
    "max_position_qty": 1500,
    "max_position_qty_by_symbol": {"MSFT": 500},
    "max_position_notional": None,
    "max_gross_exposure": 600_000,
    "max_net_exposure": None,
    "max_concentration": 0.5,
    "concentration_min_gross": 200_000,
    "max_leverage": 2.0,
    "max_daily_loss": None,
    "max_drawdown": None,
    "max_var": 60_000,
    "max_var_pct": None,
    "restricted_symbols": [],
}
ACCOUNT_LIMITS: dict[str, dict[str, Any]] = {
    "ACC_A": {"max_gross_exposure": 380_000},
    "ACC_B": {"restricted_symbols": ["XOM"], "max_leverage": 1.0},
    # ACC_C's max_var is set from the model before the worker starts (see var_limit_for_c).
    "ACC_C": {"max_concentration": None, "max_gross_exposure": 2_000_000},
}


# --- the script ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Send a NEW order; ``fill`` says whether the gateway fills it at once."""

    order: Order
    fill: bool = True
    fee: float = 0.0


@dataclass(frozen=True, slots=True)
class FillLater:
    """The gateway fills an order left open earlier."""

    account: str
    order_id: str


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel an open order (never blocked): its reservation is released."""

    account: str
    order_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class SetLimits:
    """Lower an account's limit live (SET_LIMITS); ``var_scale`` × the model's current VaR."""

    account: str
    var_scale: float


Step = Place | FillLater | Cancel | SetLimits


def script() -> list[Step]:
    """Return the day: comments say what the model is expected to conclude."""
    steps: list[Step] = []
    clock = iter(range(LIVE_TS + 1_000, LIVE_TS + 59_000, 300))

    def place(
        oid: str,
        account: str,
        side: str,
        qty: float,
        symbol: str,
        price: float | None,
        *,
        fill: bool = True,
        fee: float = 0.0,
    ) -> None:
        steps.append(Place(Order(oid, account, symbol, side, qty, price, next(clock)), fill, fee))

    # ACC_A: cash 350k, leverage 2, gross ≤ 380k, concentration ≤ 50% from 200k gross.
    place("A01", "ACC_A", "BUY", 500, "AAPL", 190.00, fee=1.50)  # gross 95k: approved
    place("A02", "ACC_A", "BUY", 300, "MSFT", 400.00)  # MSFT 56% of 215k: concentration
    place("A03", "ACC_A", "BUY", 200, "MSFT", 400.00)  # gross 175k < 200k: approved
    place("A04", "ACC_A", "BUY", 1000, "JPM", 150.00)  # notional exactly 150k: approved
    place("A05", "ACC_A", "BUY", 1001, "XOM", 100.00)  # qty 1001 and buying power
    place("A06", "ACC_A", "BUY", 400, "XOM", 100.00, fill=False)  # approved, left open
    place("A07", "ACC_A", "BUY", 50, "XOM", 100.00)  # the open order's reservation: BP
    place("A08", "ACC_A", "SELL", 200, "AAPL", 190.00, fee=0.75)  # reduces: approved
    steps.append(FillLater("ACC_A", "A06"))
    place("A09", "ACC_A", "BUY", 600, "JPM", 150.00)  # position 1600, BP, gross, conc.
    place("A10", "ACC_A", "SELL", 1000, "JPM", 150.00)  # flat JPM: approved
    place("A11", "ACC_A", "SELL", 700, "MSFT", 400.00)  # flips to −500: notional, conc.
    place("A12", "ACC_A", "BUY", 10.5, "AAPL", 190.00)  # half a share: lot size
    place("A13", "ACC_A", "BUY", 10, "AAPL", 190.005)  # off the cent: tick size
    place("A14", "ACC_A", "BUY", 100, "AAPL", 210.00)  # 10.5% through the last: collar
    place("A15", "ACC_A", "BUY", 10, "NOPE", 50.00)  # never quoted: unknown symbol
    place("A01", "ACC_A", "BUY", 100, "JPM", 150.00)  # an id seen before: duplicate
    place("A16", "ACC_A", "BUY", 100, "XOM", None)  # market order at the last price
    place("A17", "ACC_A", "SELL", 300, "MSFT", 399.50)  # limit below the last: flip short
    place("A18", "ACC_A", "BUY", 300, "JPM", 150.00, fill=False)  # open, then cancelled
    steps.append(Cancel("ACC_A", "A18", next(clock)))
    place("A19", "ACC_A", "BUY", 800, "JPM", 150.00)  # gross 267k: approved
    place("A20", "ACC_A", "BUY", 650, "AAPL", 190.00)  # gross 390.5k: gross exposure alone
    # ACC_B: cash 120k, leverage 1, XOM restricted.
    place("B01", "ACC_B", "BUY", 10, "XOM", 100.00)  # restricted list
    place("B02", "ACC_B", "BUY", 800, "JPM", 150.00)  # uses all 120k of buying power
    place("B03", "ACC_B", "BUY", 1, "AAPL", 190.00)  # no buying power left
    place("B04", "ACC_B", "SELL", 300, "JPM", 150.00, fee=2.00)  # reduces: approved
    place("B05", "ACC_B", "SELL", 600, "JPM", 150.00)  # flips to −100 short: approved
    place("B06", "ACC_B", "SELL", 150, "MSFT", 400.00)  # opens a short: approved
    place("B07", "ACC_B", "BUY", 100, "JPM", 150.00)  # covers the JPM short: approved
    place("B08", "ACC_B", "BUY", 900, "AAPL", 190.00)  # notional 171k and concentration
    place("B09", "ACC_B", "BUY", 700, "AAPL", 189.50)  # below 200k gross: approved
    place("B10", "ACC_B", "BUY", 300, "AAPL", 190.00)  # buying power and concentration
    place("B11", "ACC_B", "SELL", 1100, "MSFT", 400.00)  # qty, notional, position, BP, conc.
    # ACC_C: cash 1M, VaR limit set so that C03 breaches it and nothing else.
    place("C01", "ACC_C", "BUY", 300, "AAPL", 190.00)
    place("C02", "ACC_C", "BUY", 500, "XOM", 100.00)
    place("C03", "ACC_C", "BUY", 400, "AAPL", 190.00)  # VaR limit alone
    place("C04", "ACC_C", "BUY", 200, "JPM", 150.00)
    place("C05", "ACC_C", "SELL", 100, "AAPL", 190.00)
    steps.append(SetLimits("ACC_C", 0.5))  # max_var halved below the current VaR
    place("C06", "ACC_C", "BUY", 50, "AAPL", 190.00)  # raises VaR past the limit
    place("C07", "ACC_C", "SELL", 100, "XOM", 100.00)  # over the limit, but lowers VaR
    place("C08", "ACC_C", "BUY", 100, "MSFT", 400.00)  # raises VaR past the limit
    return steps


# --- market history ----------------------------------------------------------------------


def histories(seed: int = 20240603) -> dict[str, list[float]]:
    """Return 205 daily closes per symbol (one market factor), ending near the live price."""
    rng = np.random.default_rng(seed)
    market = rng.standard_normal(HISTORY_DAYS)
    closes: dict[str, list[float]] = {}
    for symbol, live in LIVE_PRICES.items():
        shocks = 0.6 * market + 0.8 * rng.standard_normal(HISTORY_DAYS)
        path = np.cumprod(1.0 + DAILY_VOL[symbol] * shocks)
        path *= live * 0.995 / path[-1]
        closes[symbol] = [round(float(p), 2) for p in path]
    return closes


def history_ts(day: int) -> int:
    """Return the time of history close ``day`` (0 = oldest): 20:00 UTC, one per day."""
    return ORDER_DAY - (HISTORY_DAYS - day) * DAY_MS + 20 * 3_600_000


# --- the model's plan ---------------------------------------------------------------------


def limits_by_account(var_limit_c: float | None) -> dict[str, dict[str, Any]]:
    limits = {a: {**DEFAULT_LIMITS, **overrides} for a, overrides in ACCOUNT_LIMITS.items()}
    limits["ACC_C"]["max_var"] = var_limit_c
    return limits


def new_model(var_limit_c: float | None, closes: dict[str, list[float]]) -> PretradeModel:
    model = PretradeModel(
        limits_by_account(var_limit_c), confidence=CONFIDENCE, var_window=VAR_WINDOW
    )
    for symbol, history in closes.items():
        model.set_history(symbol, history)
        model.set_price(symbol, LIVE_PRICES[symbol], LIVE_TS)
    for account, cash in CASH.items():
        model.set_cash(account, cash)
    return model


def fill_price(expected: Expected) -> float:
    """Return the price the gateway fills at: the order price (the last price if market)."""
    assert expected.order_price is not None
    return expected.order_price


def dry_run(model: PretradeModel, steps: list[Step]) -> dict[str, Expected]:
    """Play the script on the model alone; return the expectation per order."""
    plan: dict[str, Expected] = {}
    for step in steps:
        if isinstance(step, Place):
            expected = model.decide(step.order)
            plan[key_of(step.order)] = expected
            if expected.decision == "APPROVED" and step.fill:
                model.fill(
                    step.order.account,
                    step.order.order_id,
                    step.order.qty,
                    fill_price(expected),
                    step.fee,
                )
        elif isinstance(step, FillLater):
            live = model.accounts[step.account].open_orders[step.order_id]
            model.fill(step.account, step.order_id, live.leaves, live.price, 0.0)
        elif isinstance(step, Cancel):
            model.cancel(step.account, step.order_id)
        else:
            current = model.var_of(model.exposures(step.account))
            assert current is not None
            model.set_limit(step.account, "max_var", round(current * step.var_scale, 2))
    return plan


def key_of(order: Order) -> str:
    """Return a unique key per request (a duplicate id is a second request)."""
    return f"{order.order_id}@{order.ts}"


def var_limit_for_c(closes: dict[str, list[float]]) -> float:
    """Return a VaR limit for ACC_C between VaR before and after C03 (the order it stops)."""
    probe = new_model(None, closes)
    steps = [s for s in script() if isinstance(s, Place) and s.order.account == "ACC_C"]
    for step in steps:
        expected = probe.decide(step.order)
        if step.order.order_id == "C03":
            assert expected.var_before is not None and expected.var_after is not None
            return round((expected.var_before + expected.var_after) / 2, 2)
        assert expected.decision == "APPROVED", (step.order, expected)
        order = step.order
        probe.fill(order.account, order.order_id, order.qty, fill_price(expected), step.fee)
    raise AssertionError("C03 is not in the script")


# --- Kafka and HTTP plumbing ------------------------------------------------------------


class Decisions:
    """Read order_decisions as they come; hand out each request's decision in order."""

    def __init__(self, worker: RedFireWorker) -> None:
        self.reader = TopicReader(worker.bootstrap, worker.topic("order_decisions"))
        self.taken: dict[str, int] = {}

    def next_for(self, order_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """Return the next not yet taken decision for ``order_id``."""
        deadline = time.monotonic() + timeout
        while True:
            matches = [v for v in self.reader.json_values() if v["order_id"] == order_id]
            taken = self.taken.get(order_id, 0)
            if len(matches) > taken:
                self.taken[order_id] = taken + 1
                return matches[taken]
            if time.monotonic() > deadline:
                raise AssertionError(f"no decision for {order_id} after {timeout}s")
            self.reader.poll(0.05)

    def close(self) -> None:
        self.reader.close()


def risk_of(worker: RedFireWorker, account: str) -> dict[str, Any]:
    body: dict[str, Any] = worker.get(f"/accounts/{account}/risk")
    return body


def positions_in(body: dict[str, Any]) -> dict[str, float]:
    return {p["symbol"]: p["qty"] for p in body["positions"] if p["qty"] != 0}


def assert_account_matches(worker: RedFireWorker, model: PretradeModel, account: str) -> None:
    """Assert cash, reservation, positions and gross exposure equal the model's."""
    body = risk_of(worker, account)
    book = model.accounts[account]
    expected_positions = {s: q for s, q in book.positions.items() if q != 0}
    assert positions_in(body) == expected_positions, (account, body["positions"])
    assert math.isclose(body["cash"], book.cash, abs_tol=1e-6), (account, body["cash"], book.cash)
    assert math.isclose(body["reserved"], book.reserved, abs_tol=1e-6), (account, body)
    assert math.isclose(body["gross_exposure"], model.gross(account), abs_tol=1e-6), body


def wait_account(worker: RedFireWorker, model: PretradeModel, account: str) -> None:
    """Wait until the worker's view of ``account`` is the model's (retrying the asserts)."""

    def matches() -> bool:
        assert_account_matches(worker, model, account)
        return True

    eventually(matches, timeout=30, message=f"{account} as the model has it")


def assert_close(actual: float | None, expected: float | None, what: str) -> None:
    if expected is None:
        assert actual is None, f"{what}: expected none, got {actual}"
        return
    assert actual is not None, f"{what}: expected {expected}, got none"
    assert math.isclose(actual, expected, rel_tol=VAR_REL_TOL, abs_tol=1e-6), (
        f"{what}: worker {actual!r} vs model {expected!r}"
    )


@dataclass
class Day:
    worker: RedFireWorker
    model: PretradeModel
    decisions: Decisions

    def __post_init__(self) -> None:
        self.producer = producer(self.worker.bootstrap)
        self.fill_clock: Iterator[int] = iter(range(LIVE_TS + 1_100, LIVE_TS + 3_600_000, 300))

    def send(self, topic: str, key: str, value: dict[str, Any]) -> None:
        send_json(self.producer, self.worker.topic(topic), key, value)
        self.producer.flush(30)

    def command(self, command_id: str, command: str, account: str, payload: dict[str, Any]) -> None:
        body = {
            "command_id": command_id,
            "command": command,
            "account": account,
            "payload": payload,
            "ts": LIVE_TS,
        }
        self.send("risk_commands", account, body)

    def fill(
        self,
        account: str,
        order_id: str,
        symbol: str,
        side: str,
        qty: float,
        price: float,
        fee: float,
    ) -> None:
        fill = {
            "fill_id": f"fill-{order_id}",
            "order_id": order_id,
            "account": account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "fee": fee,
            "ts": next(self.fill_clock),
        }
        self.send("fills", account, fill)
        self.model.fill(account, order_id, qty, price, fee)
        wait_account(self.worker, self.model, account)


def seed_market(day: Day, closes: dict[str, list[float]]) -> None:
    """Send the history and the live ticks; wait until every window and price is there."""
    for index in range(HISTORY_DAYS):
        for symbol, history in closes.items():
            tick = {"symbol": symbol, "ts": history_ts(index), "price": history[index]}
            send_json(day.producer, day.worker.topic("ticks"), symbol, tick)
    for symbol, price in LIVE_PRICES.items():
        tick = {"symbol": symbol, "ts": LIVE_TS, "price": price}
        send_json(day.producer, day.worker.topic("ticks"), symbol, tick)
    day.producer.flush(30)

    for symbol in LIVE_PRICES:
        state = eventually(
            partial(market_ready, day.worker, symbol),
            timeout=60,
            retry_on=(AssertionError, OSError),
            message=f"{symbol} price and window",
        )
        assert state["window"]["last_close"] == closes[symbol][-1]
        # The worker's returns are the model's, computed independently from the same closes.
        assert state["window"]["returns"] == day.model.returns[symbol].tolist(), symbol


def market_ready(worker: RedFireWorker, symbol: str) -> dict[str, Any]:
    """Return GET /market/{symbol} once it has the live price and a full window."""
    state: dict[str, Any] = worker.get(f"/market/{symbol}")
    price, window = state.get("price") or {}, state.get("window") or {}
    assert price.get("ts") == LIVE_TS, price
    assert len(window.get("returns", ())) == VAR_WINDOW, len(window.get("returns", ()))
    return state


def seed_cash(day: Day) -> None:
    for account, cash in CASH.items():
        day.command(f"cash-{account}", "SET_CASH", account, {"cash": cash})
    for account in CASH:
        wait_account(day.worker, day.model, account)


def write_limits(path: Path, var_limit_c: float) -> Path:
    accounts = {a: dict(o) for a, o in ACCOUNT_LIMITS.items()}
    accounts["ACC_C"]["max_var"] = var_limit_c
    path.write_text(yaml.safe_dump({"default": DEFAULT_LIMITS, "accounts": accounts}))
    return path


def wait_var_limit(day: Day, account: str, probe: Order) -> None:
    """Wait until a what-if of ``probe`` is stopped by the VaR limit (the new one applied)."""

    def stopped() -> bool:
        body = {"symbol": probe.symbol, "side": probe.side, "qty": probe.qty, "price": probe.price}
        answer = day.worker.post(f"/accounts/{account}/what-if", body)
        return any(r["check"] == "var_limit" for r in answer["reasons"])

    eventually(stopped, timeout=30, message=f"{account}: new max_var applied")


# --- the test -------------------------------------------------------------------------


def test_scripted_day_decisions_match_an_independent_model(
    redfire_worker: Any, tmp_path: Path
) -> None:
    closes = histories()
    var_limit_c = var_limit_for_c(closes)
    steps = script()
    plan = dry_run(new_model(var_limit_c, closes), steps)

    # The script must exercise what it claims to before any of it is sent.
    rejected = {k: e.failed for k, e in plan.items() if e.decision == "REJECTED"}
    approved = [k for k, e in plan.items() if e.decision == "APPROVED"]
    fired = set().union(*rejected.values())
    assert fired >= {
        "max_order_qty",
        "max_order_notional",
        "max_position_qty",
        "gross_exposure",
        "concentration",
        "buying_power",
        "var_limit",
        "lot_size",
        "tick_size",
        "price_collar",
        "known_symbol_with_price",
        "duplicate_order_id",
        "restricted_list",
    }, fired
    assert any(len(f) >= 3 for f in rejected.values()), "no order breaks several limits at once"
    assert plan[f"C03@{order_of(steps, 'C03').ts}"].failed == {"var_limit"}
    c07 = plan[f"C07@{order_of(steps, 'C07').ts}"]
    assert c07.decision == "APPROVED" and c07.var_after is not None
    assert len(plan) >= 30 and len(approved) >= 15, (len(plan), len(approved))
    assert all(plan[k].var_before is not None and plan[k].var_after is not None for k in approved)

    worker: RedFireWorker = redfire_worker(
        REDFIRE_LIMITS_FILE=str(write_limits(tmp_path / "limits.yaml", var_limit_c)),
        REDFIRE_BAR_INTERVAL="1d",
        REDFIRE_VAR_WINDOW=str(VAR_WINDOW),
        REDFIRE_VAR_CONFIDENCE=str(CONFIDENCE),
        REDFIRE_VAR_METHOD="historical",
    )
    model = new_model(var_limit_c, closes)
    day = Day(worker, model, Decisions(worker))
    seed_cash(day)
    seed_market(day, closes)

    mismatches: list[str] = []
    for number, step in enumerate(steps):
        if isinstance(step, Place):
            order = step.order
            expected = model.decide(order)
            assert expected == plan[key_of(order)]
            day.send("orders", order.account, order.to_json())
            got = day.decisions.next_for(order.order_id)
            failed = {r["check"] for r in got["reasons"]}
            if got["decision"] != expected.decision or failed != expected.failed:
                mismatches.append(
                    f"{order.order_id} ({order.side} {order.qty} {order.symbol} @ {order.price}):"
                    f" worker {got['decision']} {sorted(failed)}, model {expected.decision}"
                    f" {sorted(expected.failed)}; reasons {got['reasons']}"
                )
                continue
            assert all(r["message"] for r in got["reasons"]), got
            assert_close(got["var_before"], expected.var_before, f"{order.order_id} var_before")
            assert_close(got["var_after"], expected.var_after, f"{order.order_id} var_after")
            if expected.decision == "APPROVED" and step.fill:
                day.fill(
                    order.account,
                    order.order_id,
                    order.symbol,
                    order.side,
                    order.qty,
                    fill_price(expected),
                    step.fee,
                )
            else:
                assert_account_matches(worker, model, order.account)
        elif isinstance(step, FillLater):
            live = model.accounts[step.account].open_orders[step.order_id]
            day.fill(
                step.account, step.order_id, live.symbol, live.side, live.leaves, live.price, 0.0
            )
        elif isinstance(step, Cancel):
            cancel = replace(order_of(steps, step.order_id), ts=step.ts).to_json()
            cancel["action"] = "CANCEL"
            day.send("orders", step.account, cancel)
            model.cancel(step.account, step.order_id)
            wait_account(worker, model, step.account)
        else:
            current = model.var_of(model.exposures(step.account))
            assert current is not None
            limit = round(current * step.var_scale, 2)
            model.set_limit(step.account, "max_var", limit)
            day.command(f"limits-{number}", "SET_LIMITS", step.account, {"max_var": limit})
            probe = next(s.order for s in steps[number:] if isinstance(s, Place))
            wait_var_limit(day, step.account, probe)

    day.decisions.close()
    assert not mismatches, "\n".join(mismatches) + "\n--- worker log ---\n" + worker.log_tail()
    for account in CASH:
        assert_account_matches(worker, model, account)


def order_of(steps: list[Step], order_id: str) -> Order:
    """Return the first order placed with ``order_id``."""
    return next(s.order for s in steps if isinstance(s, Place) and s.order.order_id == order_id)

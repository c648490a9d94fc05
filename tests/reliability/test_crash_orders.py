"""Orders are crash-consistent: SIGKILL the worker five times at random points of a stream.

Each round sends NEW orders (some too large, so rejected), REPLACEs, CANCELs and fills
of the orders still live, then SIGKILLs the worker once a random share of the round's
decisions has arrived, restarts it and waits until it has caught up. After five rounds:

* every order has exactly one distinct answer (a redelivered request gets the answer it
  had, never a "duplicate order id" or a flip), and as many as its requests at least;
* the reserved buying power of every account, read over HTTP, equals the sum of its live
  buy orders' (qty - filled) x price, recomputed here from what was sent and decided;
* every order's lifecycle, read from the engine's changelog, moves only by legal steps
  and ends where the stream says it must;
* positions and cash equal an independent ledger of the fills.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from tests.conftest import WorkerFactory
from tests.support.cluster import topics_of
from tests.support.eventually import eventually
from tests.support.kafka_io import read_to_end
from tests.support.ledger import Ledger, wait_until_consumed, wait_until_worker_matches_ledger
from tests.support.mixed import DecisionWatch, now_ms, one_answer_each, reliable_producer, send
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.reliability


CASH = 1_000_000
ACCOUNTS = ("CRA", "CRB", "CRC", "CRD")
MARKS = {"AAPL": Decimal("190.00"), "MSFT": Decimal("410.00"), "JPM": Decimal("200.00")}
ROUNDS = 5
NEW_PER_ROUND = 24
TOO_LARGE_QTY = 20_000  # x ~200 = 4M notional: over the 1M max_order_notional
CENT = Decimal("0.01")

LIVE = {"APPROVED", "OPEN", "PARTIALLY_FILLED"}
TERMINAL = {"FILLED", "CANCELLED", "EXPIRED", "REJECTED", "FAILED"}
# The lifecycle of DESIGN §5, written again here: a stored order may start approved or
# open (approval and acknowledgement can be one write) and only moves forward.
LEGAL_NEXT = {
    "CREATED": {"VALIDATED", "APPROVED", "OPEN", "REJECTED", "FAILED"},
    "VALIDATED": {"APPROVED", "OPEN", "REJECTED", "FAILED"},
    "APPROVED": {"OPEN", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "EXPIRED"} | {"REJECTED"},
    "OPEN": {"PARTIALLY_FILLED", "FILLED", "CANCELLED", "EXPIRED"},
    "PARTIALLY_FILLED": {"FILLED", "CANCELLED", "EXPIRED"},
}


@dataclass
class Order:
    """What this test knows of one order: what it sent, what RedFire answered."""

    order_id: str
    account: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    requests: int = 1  # NEW + REPLACEs, each owed one decision
    status: str = "SENT"  # SENT → LIVE | REJECTED; LIVE → FILLED | CANCELLED
    filled: Decimal = Decimal(0)

    @property
    def leaves(self) -> Decimal:
        return self.qty - self.filled

    def reservation(self) -> Decimal:
        live_buy = self.status == "LIVE" and self.side == "BUY"
        return self.leaves * self.price if live_buy else Decimal(0)


@pytest.fixture
def worker(redfire_worker: WorkerFactory) -> Iterator[RedFireWorker]:
    yield redfire_worker(partitions=2, REDFIRE_DEFAULT_CASH=str(CASH))


def request(order: Order, action: str, **changes: Any) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account": order.account,
        "symbol": order.symbol,
        "side": order.side,
        "qty": float(changes.get("qty", order.qty)),
        "price": float(order.price),
        "order_type": "LIMIT",
        "time_in_force": "GTC",
        "action": action,
        "ts": now_ms(),
    }


class Desk:
    """Build each round's requests and fills, and follow the orders' state."""

    def __init__(self, worker: RedFireWorker, seed: int) -> None:
        self.worker = worker
        self.rng = random.Random(seed)
        self.producer = reliable_producer(worker.bootstrap)
        self.orders: dict[str, Order] = {}
        self.ledger = Ledger(Fraction(CASH))
        self.fills = 0

    def ticks(self) -> None:
        for symbol, mark in MARKS.items():
            tick = {"symbol": symbol, "ts": now_ms(), "price": float(mark)}
            send(self.producer, self.worker.topic("ticks"), symbol, tick)
        assert self.producer.flush(30) == 0

    def send_round(self, number: int) -> list[str]:
        """Send one round; return the ids of the orders that owe a decision from it."""
        owed = [self.new_order(number, n) for n in range(NEW_PER_ROUND)]
        for order in [o for o in self.orders.values() if o.status == "LIVE"]:
            roll = self.rng.random()
            if roll < 0.2 and order.leaves > 1:
                self.replace(order)
                owed.append(order.order_id)
            elif roll < 0.35:
                send(self.producer, self.topic("orders"), order.account, request(order, "CANCEL"))
                order.status = "CANCELLED"
            elif roll < 0.6:
                self.fill(order)
        assert self.producer.flush(60) == 0
        return owed

    def topic(self, name: str) -> str:
        return self.worker.topic(name)

    def new_order(self, number: int, n: int) -> str:
        account = self.rng.choice(ACCOUNTS)
        symbol = self.rng.choice(list(MARKS))
        qty = TOO_LARGE_QTY if self.rng.random() < 0.1 else self.rng.randint(5, 50)
        offset = Decimal(self.rng.randint(-40, 40)) / Decimal(10_000)
        price = (MARKS[symbol] * (1 + offset)).quantize(CENT)
        order = Order(
            f"{account}-R{number}N{n:02d}",
            account,
            symbol,
            self.rng.choice(("BUY", "SELL")),
            Decimal(qty),
            price,
        )
        self.orders[order.order_id] = order
        send(self.producer, self.topic("orders"), account, request(order, "NEW"))
        return order.order_id

    def replace(self, order: Order) -> None:
        """Replace to a smaller quantity, still above what is filled."""
        new_qty = order.filled + max(Decimal(1), (order.leaves / 2).to_integral_value())
        send(
            self.producer,
            self.topic("orders"),
            order.account,
            request(order, "REPLACE", qty=new_qty),
        )
        order.qty = new_qty
        order.requests += 1

    def fill(self, order: Order) -> None:
        qty = order.leaves if self.rng.random() < 0.5 else max(Decimal(1), order.leaves // 2)
        self.fills += 1
        record = {
            "fill_id": f"{order.order_id}-F{self.fills}",
            "order_id": order.order_id,
            "account": order.account,
            "symbol": order.symbol,
            "side": order.side,
            "qty": float(qty),
            "price": float(order.price),
            "fee": 0.0,
            "ts": now_ms(),
        }
        send(self.producer, self.topic("fills"), order.account, record)
        self.ledger.apply(record)
        order.filled += qty
        if order.leaves == 0:
            order.status = "FILLED"

    def learn(self, watch: DecisionWatch, order_ids: list[str]) -> None:
        """Mark this round's new orders live or rejected from their first decision."""
        answered = watch.by_order()
        for order_id in order_ids:
            order = self.orders[order_id]
            if order.status == "SENT":
                approved = answered[order_id][0].decision == "APPROVED"
                order.status = "LIVE" if approved else "REJECTED"


def test_five_sigkills_leave_orders_consistent(worker: RedFireWorker) -> None:
    desk = Desk(worker, seed=2024)
    watch = DecisionWatch(worker.bootstrap, worker.topic("order_decisions")).start()
    rng = random.Random(99)
    desk.ticks()
    kills = []
    for number in range(ROUNDS):
        before = len(watch.snapshot())
        owed = desk.send_round(number)
        share = rng.random()
        wanted = before + int(share * len(owed))
        eventually(
            lambda wanted=wanted: len(watch.snapshot()) >= wanted,
            timeout=60,
            message=f"{wanted - before} decisions of round {number}",
        )
        worker.kill()
        kills.append(f"after {len(watch.snapshot()) - before}/{len(owed)}")
        worker.start()
        wait_round_done(worker, watch, desk, owed)
        desk.learn(watch, owed)

    order_ids = list(desk.orders)
    problems = one_answer_each(watch, [o for o in order_ids])
    assert not problems, f"orders without exactly one distinct answer: {problems[:5]}"
    short = [
        o.order_id for o in desk.orders.values() if len(watch.by_order()[o.order_id]) < o.requests
    ]
    assert not short, f"orders answered fewer times than asked: {short[:5]}"
    replaced = [o for o in desk.orders.values() if o.requests > 1]
    assert replaced, "no REPLACE was tested"
    assert all(watch.by_order()[o.order_id][0].decision == "APPROVED" for o in replaced)
    assert_lifecycles(worker, desk)
    assert_reservations(worker, desk)
    wait_until_worker_matches_ledger(
        worker.get, desk.ledger, list(ACCOUNTS), timeout=60, what="positions equal the ledger"
    )
    watch.stop()
    counts = {
        s: sum(o.status == s for o in desk.orders.values())
        for s in ("LIVE", "FILLED", "CANCELLED", "REJECTED")
    }
    print(
        f"\ncrash-consistent orders: {len(order_ids)} orders {counts}, {desk.fills} fills, "
        f"kills {kills}"
    )


def wait_round_done(
    worker: RedFireWorker, watch: DecisionWatch, desk: Desk, owed: list[str]
) -> None:
    """Wait until every request of the round is answered and every input committed."""

    def answered() -> bool:
        counts = watch.by_order()
        return all(len(counts.get(o, ())) >= desk.orders[o].requests for o in owed)

    eventually(answered, timeout=90, interval=0.2, message="the round's decisions")
    for name in ("orders", "fills"):
        wait_until_consumed(worker.bootstrap, worker.app_id, worker.topic(name), timeout=90)


def assert_reservations(worker: RedFireWorker, desk: Desk) -> None:
    expected = {account: Decimal(0) for account in ACCOUNTS}
    for order in desk.orders.values():
        expected[order.account] += order.reservation()

    def matches() -> bool:
        for account, want in expected.items():
            got = Decimal(str(worker.get(f"/accounts/{account}/risk")["reserved"]))
            assert abs(got - want) < CENT / 2, f"{account}: reserved {got}, live buy orders {want}"
        return True

    eventually(matches, timeout=30, interval=0.5, retry_on=(AssertionError, OSError))


def stored_orders(value: Any) -> Iterator[dict[str, Any]]:
    """Yield every order lifecycle held in a changelog value, however it is nested."""
    if isinstance(value, dict):
        if "order_id" in value and "status" in value:
            yield value
        for inner in value.values():
            yield from stored_orders(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from stored_orders(inner)


def lifecycles(worker: RedFireWorker) -> dict[str, list[str]]:
    """Return order id → the statuses its changelog records hold, in the order written."""
    statuses: dict[str, list[str]] = {}
    for topic in topics_of(worker.bootstrap, [f"{worker.app_id}-"]):
        if not topic.endswith("-changelog"):
            continue
        for _key, raw, _partition in read_to_end(worker.bootstrap, topic):
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            for stored in stored_orders(value):
                statuses.setdefault(str(stored["order_id"]), []).append(str(stored["status"]))
    return statuses


def assert_lifecycles(worker: RedFireWorker, desk: Desk) -> None:
    found = lifecycles(worker)
    problems = []
    for order in desk.orders.values():
        path = found.get(order.order_id, [])
        steps = [s for i, s in enumerate(path) if i == 0 or s != path[i - 1]]
        for before, after in itertools.pairwise(steps):
            if after not in LEGAL_NEXT.get(before, set()):
                problems.append(f"{order.order_id}: {before} -> {after} in {path}")
        final = steps[-1] if steps else None
        wanted = {
            "LIVE": LIVE,
            "FILLED": {"FILLED"},
            "CANCELLED": {"CANCELLED"},
            "REJECTED": {None, "REJECTED"},
        }[order.status]
        if final not in wanted:
            problems.append(
                f"{order.order_id}: ends {final} ({path}), expected {sorted(map(str, wanted))}"
            )
    assert found, "no order lifecycle found in any changelog"
    assert not problems, f"{len(problems)} illegal or wrong lifecycles: {problems[:6]}"

"""A mixed stream (ticks, orders, gateway fills) sent at fixed rates from a thread, and a
watch that timestamps every order decision as it arrives.

    watch = DecisionWatch(bootstrap, topic("order_decisions")).start()
    stream = MixedStream(bootstrap, topic, accounts, fills).start()
    ...                                          # kill brokers or workers meanwhile
    stream.stop(); watch.wait_all(stream.order_ids(), timeout=60)
    assert not one_answer_each(watch, stream.order_ids())

The producer is idempotent, so a broker failover neither reorders nor duplicates what
it sends (the ledger's average cost depends on the order of an account's fills).
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.support.kafka_io import partition_count

JsonRecord = dict[str, Any]
TopicName = Callable[[str], str]
SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0, "NVDA": 120.0, "JPM": 200.0}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def reliable_producer(bootstrap: str) -> Producer:
    """Return an idempotent producer partitioning keys as Kafka's Java client does."""
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 300_000,
            "log_level": 0,
        }
    )


def send(producer: Producer, topic: str, key: str | None, value: JsonRecord | bytes) -> None:
    """Queue one record, serving delivery reports while the local queue is full."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    while True:
        try:
            producer.produce(topic, key=None if key is None else key.encode(), value=raw)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.1)


@dataclass(frozen=True)
class Decision:
    order_id: str
    decision: str
    checks: tuple[str, ...]
    arrived: float  # time.monotonic() when the watch read it

    @property
    def answer(self) -> tuple[str, tuple[str, ...]]:
        return self.decision, self.checks


class DecisionWatch:
    """Read order_decisions from the start in a thread, stamping each on arrival."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"watch-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        partitions = partition_count(bootstrap, topic)
        self.consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
        self.decisions: list[Decision] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> DecisionWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.consumer.poll(0.1)
            if message is None or message.error() or message.value() is None:
                continue
            value = json.loads(message.value())
            checks = tuple(sorted(r["check"] for r in value.get("reasons", ())))
            decision = Decision(value["order_id"], value["decision"], checks, time.monotonic())
            with self._lock:
                self.decisions.append(decision)

    def snapshot(self) -> list[Decision]:
        with self._lock:
            return list(self.decisions)

    def by_order(self) -> dict[str, list[Decision]]:
        grouped: dict[str, list[Decision]] = {}
        for decision in self.snapshot():
            grouped.setdefault(decision.order_id, []).append(decision)
        return grouped

    def first_arrivals(self) -> dict[str, float]:
        first: dict[str, float] = {}
        for decision in self.snapshot():
            first.setdefault(decision.order_id, decision.arrived)
        return first

    def missing(self, order_ids: Iterable[str]) -> list[str]:
        answered = self.by_order()
        return [order_id for order_id in order_ids if order_id not in answered]

    def wait_all(self, order_ids: Sequence[str], timeout: float) -> float:
        """Wait until every order has a decision; return seconds waited."""
        began = time.monotonic()
        while missing := self.missing(order_ids):
            if time.monotonic() - began > timeout:
                raise AssertionError(
                    f"{len(missing)} of {len(order_ids)} orders have no decision after "
                    f"{timeout:g}s, e.g. {missing[:5]}"
                )
            time.sleep(0.2)
        return time.monotonic() - began

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.consumer.close()


def one_answer_each(watch: DecisionWatch, order_ids: Iterable[str]) -> list[str]:
    """Return the orders with no decision or with contradictory ones (none is right)."""
    answered = watch.by_order()
    problems = []
    for order_id in order_ids:
        answers = {d.answer for d in answered.get(order_id, [])}
        if len(answers) != 1:
            problems.append(f"{order_id}: {sorted(answers) or 'no decision'}")
    return problems


@dataclass
class Rates:
    """Records per second of each kind."""

    ticks: float = 40.0
    orders: float = 8.0
    fills: float = 8.0


@dataclass
class SentOrder:
    order_id: str
    account: str
    sent: float  # time.monotonic()
    record: JsonRecord


@dataclass
class MixedStream:
    """Send ticks, NEW limit orders and the given gateway fills at fixed rates."""

    bootstrap: str
    topic: TopicName
    accounts: Sequence[str]
    fills: Sequence[tuple[str, JsonRecord]]
    rates: Rates = field(default_factory=Rates)
    seed: int = 12
    orders: list[SentOrder] = field(default_factory=list)
    fills_sent: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.prices = dict(SYMBOLS)
        self.producer = reliable_producer(self.bootstrap)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def opening_ticks(self) -> None:
        """Send one tick per symbol and wait until they are written."""
        for symbol in self.prices:
            self._tick(symbol)
        self.producer.flush(60)

    def start(self) -> MixedStream:
        self._thread.start()
        return self

    def _run(self) -> None:
        step = 0.05
        owed = {"ticks": 0.0, "orders": 0.0, "fills": 0.0}
        while not self._stop.is_set():
            began = time.monotonic()
            owed["ticks"] += self.rates.ticks * step
            owed["orders"] += self.rates.orders * step
            owed["fills"] += self.rates.fills * step
            while owed["ticks"] >= 1:
                owed["ticks"] -= 1
                self._tick(self.rng.choice(list(self.prices)))
            while owed["orders"] >= 1:
                owed["orders"] -= 1
                self._order()
            while owed["fills"] >= 1 and self.fills_sent < len(self.fills):
                owed["fills"] -= 1
                key, value = self.fills[self.fills_sent]
                send(self.producer, self.topic("fills"), key, value)
                self.fills_sent += 1
            self.producer.poll(0)
            self._stop.wait(max(0.0, step - (time.monotonic() - began)))

    def _tick(self, symbol: str) -> None:
        self.prices[symbol] = max(1.0, self.prices[symbol] * (1 + self.rng.gauss(0, 0.0005)))
        price = round(self.prices[symbol], 2)
        send(
            self.producer,
            self.topic("ticks"),
            symbol,
            {"symbol": symbol, "ts": now_ms(), "price": price},
        )

    def _order(self) -> None:
        symbol = self.rng.choice(list(self.prices))
        account = self.rng.choice(list(self.accounts))
        with self._lock:
            order_id = f"{account}-N{len(self.orders):06d}"
        record = {
            "order_id": order_id,
            "account": account,
            "symbol": symbol,
            "side": self.rng.choice(("BUY", "SELL")),
            "qty": self.rng.randint(1, 20),
            "price": round(self.prices[symbol], 2),
            "order_type": "LIMIT",
            "time_in_force": "GTC",
            "action": "NEW",
            "ts": now_ms(),
        }
        send(self.producer, self.topic("orders"), account, record)
        with self._lock:
            self.orders.append(SentOrder(order_id, account, time.monotonic(), record))

    def order_ids(self) -> list[str]:
        with self._lock:
            return [order.order_id for order in self.orders]

    def sent_after(self, moment: float) -> list[SentOrder]:
        with self._lock:
            return [order for order in self.orders if order.sent >= moment]

    def stop(self, send_remaining_fills: bool = True) -> None:
        """Stop the thread; send the fills not yet sent; wait until everything is written."""
        self._stop.set()
        self._thread.join(10)
        if send_remaining_fills:
            for key, value in self.fills[self.fills_sent :]:
                send(self.producer, self.topic("fills"), key, value)
            self.fills_sent = len(self.fills)
        left = self.producer.flush(120)
        assert left == 0, f"{left} records of the stream were never written"


def worst_latency(stream: MixedStream, watch: DecisionWatch, since: float, until: float) -> float:
    """Return the longest send → decision time of the orders sent in [since, until)."""
    arrivals = watch.first_arrivals()
    sent = [order for order in stream.sent_after(since) if order.sent < until]
    waits = [arrivals[o.order_id] - o.sent for o in sent if o.order_id in arrivals]
    return max(waits, default=float("nan"))


def longest_gap(watch: DecisionWatch, since: float, until: float) -> float:
    """Return the longest time in [since, until] with no decision arriving."""
    moments = sorted(d.arrived for d in watch.snapshot() if since <= d.arrived <= until)
    edges = [since, *moments, until]
    return max(b - a for a, b in itertools.pairwise(edges))

"""``redfire demo``: embedded broker + worker + a small seeded feed, decisions printed."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from rich.console import Console

from redfire.embedded import EmbeddedBroker, free_port, start_tansu
from redfire.risk.markets import market_of, tick_size
from redfire.settings import Settings
from redfire.streams.admin import client_config, ensure_topics
from redfire.worker_process import start_worker, stop_worker

SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0, "600519.SH": 1700.0, "0700.HK": 300.0}
ACCOUNTS = ("ACC-1", "ACC-2", "ACC-3")
DAY_MS = 24 * 3600 * 1000


@dataclass
class Feed:
    """A deterministic stream of ticks and orders for the demo."""

    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.prices = dict(SYMBOLS)
        self.order_no = 0
        self.sent: dict[str, dict[str, Any]] = {}

    def opening(self, ts: int, days: int = 60) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield the cash of each account and ``days`` of daily closes, for VaR history."""
        for account in ACCOUNTS:
            yield (
                "risk_commands",
                {
                    "command_id": f"demo-cash-{account}-{ts}",
                    "command": "SET_CASH",
                    "account": account,
                    "payload": {"cash": 5_000_000},
                    "ts": ts,
                },
            )
        for day in range(days, 0, -1):
            yield from self.ticks(ts - day * DAY_MS, vol=0.015)

    def fill_for(self, decision: dict[str, Any], ts: int) -> dict[str, Any] | None:
        """Return a gateway fill for about half of the approved orders."""
        if decision["decision"] != "APPROVED" or self.rng.random() < 0.5:
            return None
        order = self.sent[decision["order_id"]]
        return {
            "fill_id": f"fill-{order['order_id']}",
            "order_id": order["order_id"],
            "account": order["account"],
            "symbol": order["symbol"],
            "side": order["side"],
            "qty": order["qty"],
            "price": order["price"],
            "fee": round(order["qty"] * order["price"] * 0.0003, 2),
            "ts": ts,
        }

    def ticks(self, ts: int, vol: float = 0.002) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield one tick per symbol, a small random walk."""
        for symbol in self.prices:
            self.prices[symbol] *= 1 + self.rng.gauss(0, vol)
            price = round(self.prices[symbol], 2)
            yield "ticks", {"symbol": symbol, "ts": ts, "price": price, "volume": 100}

    def order(self, ts: int) -> tuple[str, dict[str, Any] | bytes]:
        """Return one order request; now and then a deliberately bad one."""
        self.order_no += 1
        if self.order_no % 11 == 0:
            return "orders", b'{"order_id": "broken", "qty": "lots"'
        symbol = self.rng.choice([*self.prices, "UNKNOWN"])
        price = on_tick_grid(
            symbol, self.prices.get(symbol, 10.0) * (1 + self.rng.uniform(-0.01, 0.01))
        )
        order = {
            "order_id": f"demo-{self.order_no}",
            "account": self.rng.choice(ACCOUNTS),
            "symbol": symbol,
            "side": self.rng.choice(["BUY", "SELL"]),
            "qty": self.rng.choice([100, 200, 500]),
            "price": price,
            "order_type": "LIMIT",
            "ts": ts,
        }
        self.sent[str(order["order_id"])] = order
        return "orders", order


def on_tick_grid(symbol: str, price: float) -> float:
    """Round a price to its market's tick, as a real strategy would."""
    tick = float(tick_size(market_of(symbol), price, symbol))
    return round(round(price / tick) * tick, 4)


def key_of(topic: str, value: dict[str, Any] | bytes) -> bytes:
    """Return the key a well-behaved producer uses for ``value``."""
    if isinstance(value, bytes):
        return b"ACC-1"
    return str(value["symbol" if topic == "ticks" else "account"]).encode()


def send_opening(producer: Producer, feed: Feed) -> None:
    """Send the accounts' cash and the price history before the live feed."""
    for topic, value in feed.opening(int(time.time() * 1000)):
        produce(producer, topic, value)
    producer.flush(10)


def produce(producer: Producer, topic: str, value: dict[str, Any] | bytes) -> None:
    """Send one record as JSON with the Java-compatible partitioner."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    producer.produce(topic, key=key_of(topic, value), value=raw)


def decision_consumer(settings: Settings) -> Consumer:
    """Return a group-less consumer on order_decisions (no rebalance wait)."""
    consumer = Consumer(
        {**client_config(settings), "group.id": "redfire-demo", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition("order_decisions", 0, 0)])
    return consumer


def print_decision(console: Console, raw: bytes) -> dict[str, Any]:
    """Print one decision as a line a trader can read; return it."""
    decision: dict[str, Any] = json.loads(raw)
    colour = "green" if decision["decision"] == "APPROVED" else "red"
    reasons = "; ".join(r["message"] for r in decision["reasons"])
    var = decision.get("var_after")
    before = decision["var_before"] or 0.0
    var_text = "" if var is None else f"VaR99 {max(before, 0):,.0f}→{max(var, 0):,.0f}"
    console.print(
        f"[{colour}]{decision['decision']:<8}[/] {decision['order_id']:<10} "
        f"{decision['account']:<6} {decision['symbol']:<10} "
        f"{decision['latency_us']:>6} µs  {var_text}  {reasons}"
    )
    return decision


def run_demo(seconds: float, broker_url: str | None, console: Console) -> int:
    """Run the whole demo; return the number of decisions printed."""
    workdir = Path(tempfile.mkdtemp(prefix="redfire-demo-"))
    broker: EmbeddedBroker | None = None
    if broker_url is None:
        broker = start_tansu(port=free_port(), log_file=workdir / "tansu.log")
        broker_url = broker.url
        console.print(f"[bold]embedded Tansu broker[/] on {broker.bootstrap}")
    # The security settings (REDFIRE_KAFKA_*) come from the environment, for the feed
    # here and for the worker, which inherits it.
    settings = Settings(broker=broker_url, partitions=1)
    env = {
        "REDFIRE_BROKER": broker_url,
        "REDFIRE_APP_ID": f"redfire-demo-{int(time.time())}",
        "REDFIRE_PARTITIONS": "1",
        "REDFIRE_DATADIR": str(workdir / "data"),
        "REDFIRE_WEB_PORT": str(free_port()),
        "REDFIRE_REBALANCE_TIMEOUT_S": "3",
        "REDFIRE_SESSION_TIMEOUT_S": "10",
    }
    # Create the topics first, so the feed cannot auto-create them with other counts.
    ensure_topics(settings)
    worker = start_worker(env, workdir / "worker.log")
    console.print(f"worker pid {worker.pid}, logs in {workdir}")
    try:
        printed = stream_demo(seconds, settings, console, worker)
        if worker.poll() is not None:
            console.print(f"[red]worker exited[/]; see {workdir / 'worker.log'}")
        return printed
    finally:
        stop_worker(worker)
        if broker is not None:
            broker.stop()
        console.print("[bold]stopped[/]: worker and broker are down")


def stream_demo(
    seconds: float, settings: Settings, console: Console, worker: subprocess.Popen[bytes]
) -> int:
    """Feed ticks and orders and print decisions until time runs out or Ctrl-C."""
    producer = Producer({**client_config(settings), "partitioner": "murmur2_random"})
    feed = Feed()
    deadline = time.monotonic() + seconds
    consumer: Consumer | None = None
    printed = 0
    send_opening(producer, feed)
    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    try:
        while time.monotonic() < deadline and not stop["now"] and worker.poll() is None:
            ts = int(time.time() * 1000)
            for topic, value in feed.ticks(ts):
                produce(producer, topic, value)
            produce(producer, *feed.order(ts))
            producer.flush(5)
            consumer = consumer or decision_consumer(settings)
            for decision in drain(consumer, console, wait=0.5):
                printed += 1
                fill = feed.fill_for(decision, int(time.time() * 1000))
                if fill is not None:
                    produce(producer, "fills", fill)
    finally:
        signal.signal(signal.SIGINT, previous)
        if consumer is not None:
            consumer.close()
    return printed


def drain(consumer: Consumer, console: Console, wait: float) -> list[dict[str, Any]]:
    """Print and return every decision that arrives within ``wait`` seconds."""
    decisions = []
    deadline = time.monotonic() + wait
    while (remaining := deadline - time.monotonic()) > 0:
        message = consumer.poll(remaining)
        if message is None or message.error():
            continue
        value = message.value()
        if value is not None:
            decisions.append(print_decision(console, value))
    return decisions

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
from redfire.settings import Settings
from redfire.streams.admin import ensure_topics
from redfire.worker_process import start_worker, stop_worker

SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0, "600519.SH": 1700.0, "0700.HK": 300.0}
ACCOUNTS = ("ACC-1", "ACC-2", "ACC-3")


@dataclass
class Feed:
    """A deterministic stream of ticks and orders for the demo."""

    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.prices = dict(SYMBOLS)
        self.order_no = 0

    def ticks(self, ts: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield one tick per symbol, a small random walk."""
        for symbol in self.prices:
            self.prices[symbol] *= 1 + self.rng.gauss(0, 0.002)
            price = round(self.prices[symbol], 2)
            yield "ticks", {"symbol": symbol, "ts": ts, "price": price, "volume": 100}

    def order(self, ts: int) -> tuple[str, dict[str, Any] | bytes]:
        """Return one order request; now and then a deliberately bad one."""
        self.order_no += 1
        if self.order_no % 11 == 0:
            return "orders", b'{"order_id": "broken", "qty": "lots"'
        symbol = self.rng.choice([*self.prices, "UNKNOWN"])
        price = round(self.prices.get(symbol, 10.0) * (1 + self.rng.uniform(-0.01, 0.01)), 2)
        return "orders", {
            "order_id": f"demo-{self.order_no}",
            "account": self.rng.choice(ACCOUNTS),
            "symbol": symbol,
            "side": self.rng.choice(["BUY", "SELL"]),
            "qty": self.rng.choice([100, 200, 500]),
            "price": price,
            "order_type": "LIMIT",
            "ts": ts,
        }


def key_of(topic: str, value: dict[str, Any] | bytes) -> bytes:
    """Return the key a well-behaved producer uses for ``value``."""
    if isinstance(value, bytes):
        return b"ACC-1"
    return str(value["symbol" if topic == "ticks" else "account"]).encode()


def produce(producer: Producer, topic: str, value: dict[str, Any] | bytes) -> None:
    """Send one record as JSON with the Java-compatible partitioner."""
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    producer.produce(topic, key=key_of(topic, value), value=raw)


def decision_consumer(bootstrap: str) -> Consumer:
    """Return a group-less consumer on order_decisions (no rebalance wait)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "redfire-demo", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition("order_decisions", 0, 0)])
    return consumer


def print_decision(console: Console, raw: bytes) -> None:
    """Print one decision as a line a trader can read."""
    decision = json.loads(raw)
    colour = "green" if decision["decision"] == "APPROVED" else "red"
    reasons = "; ".join(r["message"] for r in decision["reasons"])
    console.print(
        f"[{colour}]{decision['decision']:<8}[/] {decision['order_id']:<10} "
        f"{decision['account']:<6} {decision['symbol']:<10} "
        f"{decision['latency_us']:>6} µs  {reasons}"
    )


def run_demo(seconds: float, broker_url: str | None, console: Console) -> int:
    """Run the whole demo; return the number of decisions printed."""
    workdir = Path(tempfile.mkdtemp(prefix="redfire-demo-"))
    broker: EmbeddedBroker | None = None
    if broker_url is None:
        broker = start_tansu(port=free_port(), log_file=workdir / "tansu.log")
        broker_url = broker.url
        console.print(f"[bold]embedded Tansu broker[/] on {broker.bootstrap}")
    bootstrap = broker_url.split("://", 1)[-1]
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
    ensure_topics(Settings(broker=broker_url, partitions=1))
    worker = start_worker(env, workdir / "worker.log")
    console.print(f"worker pid {worker.pid}, logs in {workdir}")
    try:
        printed = stream_demo(seconds, bootstrap, console, worker)
        if worker.poll() is not None:
            console.print(f"[red]worker exited[/]; see {workdir / 'worker.log'}")
        return printed
    finally:
        stop_worker(worker)
        if broker is not None:
            broker.stop()
        console.print("[bold]stopped[/]: worker and broker are down")


def stream_demo(
    seconds: float, bootstrap: str, console: Console, worker: subprocess.Popen[bytes]
) -> int:
    """Feed ticks and orders and print decisions until time runs out or Ctrl-C."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    feed = Feed()
    deadline = time.monotonic() + seconds
    consumer: Consumer | None = None
    printed = 0
    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    try:
        while time.monotonic() < deadline and not stop["now"] and worker.poll() is None:
            ts = int(time.time() * 1000)
            for topic, value in feed.ticks(ts):
                produce(producer, topic, value)
            produce(producer, *feed.order(ts))
            producer.flush(5)
            consumer = consumer or decision_consumer(bootstrap)
            printed += drain(consumer, console, wait=0.5)
    finally:
        signal.signal(signal.SIGINT, previous)
        if consumer is not None:
            consumer.close()
    return printed


def drain(consumer: Consumer, console: Console, wait: float) -> int:
    """Print every decision that arrives within ``wait`` seconds."""
    count = 0
    deadline = time.monotonic() + wait
    while (remaining := deadline - time.monotonic()) > 0:
        message = consumer.poll(remaining)
        if message is None or message.error():
            continue
        value = message.value()
        if value is not None:
            print_decision(console, value)
            count += 1
    return count

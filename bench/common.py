"""Shared plumbing of the pipeline benchmarks: a real Kafka, RedFire workers, clients, stats.

Every benchmark starts its own single-node Apache Kafka from the Maven jars
(``deploy/kafka/kafka.py``) on free 127.0.0.1 ports with a temporary data dir,
and its own ``faust -A redfire worker`` processes, and stops them all (the JVM
also dies with the benchmark process if it crashes: PDEATHSIG).

Benchmarks print their progress to stderr and a markdown fragment to stdout;
with ``--json-out PATH`` they also write their figures as JSON for
``bench/run_all.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
LAUNCHER_PATH = REPO / "deploy" / "kafka" / "kafka.py"
LAUNCHER_MODULE = "redfire_bench_kafka_launcher"
INPUT_TOPICS = ("ticks", "orders", "fills", "risk_commands")
DAY_MS = 24 * 3600 * 1000
QUIET = {"log_level": 2}

# Twenty liquid US names (1-share lots, 1-cent ticks) with realistic prices.
SYMBOLS: dict[str, float] = {
    "AAPL": 190.0, "MSFT": 410.0, "AMZN": 180.0, "GOOGL": 170.0, "META": 480.0,
    "NVDA": 120.0, "TSLA": 250.0, "JPM": 200.0, "V": 275.0, "JNJ": 155.0,
    "WMT": 68.0, "PG": 165.0, "MA": 460.0, "HD": 350.0, "XOM": 115.0,
    "BAC": 39.0, "KO": 62.0, "PEP": 170.0, "CSCO": 48.0, "ORCL": 140.0,
}  # fmt: skip
ACCOUNTS: tuple[str, ...] = tuple(f"ACC-{i:03d}" for i in range(50))

JsonRecord = dict[str, Any]
Record = tuple[str, bytes, bytes]  # topic, key, JSON value


def log(message: str) -> None:
    """Print a progress line on stderr (stdout carries the markdown)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ----------------------------------------------------------------------- machine


def machine() -> dict[str, str]:
    """Describe the machine and the software the figures were taken with."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.0f} GiB"
                break
    versions = {}
    for package in ("faust-streaming", "aiokafka", "confluent-kafka", "rocksdict"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "cpu": model,
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kafka": launcher().kafka_version(),
        **versions,
    }


def machine_line() -> str:
    m = machine()
    return (
        f"{m['cpu']}, nproc={m['nproc']}, {m['memory']} RAM, {m['os']}, Python {m['python']}, "
        f"Apache Kafka {m['kafka']} (single KRaft node, loopback), faust-streaming "
        f"{m['faust-streaming']}, aiokafka {m['aiokafka']}, confluent-kafka "
        f"{m['confluent-kafka']}, rocksdict {m['rocksdict']}"
    )


# ------------------------------------------------------------------------- stats


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    """Return n, p50, p95, p99, max and mean of latencies (ms)."""
    return {
        "n": float(len(values_ms)),
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "max": max(values_ms) if values_ms else math.nan,
        "mean": sum(values_ms) / len(values_ms) if values_ms else math.nan,
    }


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


# ------------------------------------------------------------------------- Kafka


def launcher() -> ModuleType:
    """``deploy/kafka/kafka.py`` as a module (``deploy`` is not a package)."""
    module = sys.modules.get(LAUNCHER_MODULE)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(LAUNCHER_MODULE, LAUNCHER_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Kafka launcher from {LAUNCHER_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[LAUNCHER_MODULE] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


@dataclass
class Broker:
    """A running single-node Kafka and the temporary dir of this benchmark."""

    bootstrap: str
    node: Any
    workdir: Path
    ready_seconds: float


@contextlib.contextmanager
def kafka_broker(name: str) -> Iterator[Broker]:
    """Start Kafka on free ports in a temp dir; stop it and delete the dir afterwards."""
    kafka = launcher()
    workdir = Path(tempfile.mkdtemp(prefix=f"redfire-bench-{name}-"))
    port, controller_port = kafka.free_ports(2)
    started = time.monotonic()
    node = kafka.start_single(
        port,
        workdir / "kafka",
        controller_port=controller_port,
        wipe=True,
        die_with_parent=True,
    )
    broker = Broker(node.bootstrap, node, workdir, time.monotonic() - started)
    log(f"Kafka {kafka.kafka_version()} ready on {broker.bootstrap} in {broker.ready_seconds:.1f}s")
    try:
        yield broker
    finally:
        kafka.stop(node)
        if os.environ.get("REDFIRE_BENCH_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept {workdir}")


def create_topics(bootstrap: str, partitions: int, prefix: str = "") -> None:
    """Create RedFire's topics as an operator would (imports the redfire package)."""
    from redfire.settings import Settings
    from redfire.streams.admin import ensure_topics

    settings = Settings(broker=f"kafka://{bootstrap}", partitions=partitions, topic_prefix=prefix)
    ensure_topics(settings)


def create_plain_topics(bootstrap: str, names: Iterable[str], partitions: int) -> None:
    """Create plain topics (for the bare baselines)."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    names = list(names)
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions) for n in names])
    for future in futures.values():
        future.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every partition has a leader
        topics = admin.list_topics(timeout=10).topics
        if all(
            n in topics
            and len(topics[n].partitions) == partitions
            and all(p.leader >= 0 for p in topics[n].partitions.values())
            for n in names
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {names} have no leaders after 30 s")


def producer(bootstrap: str, **overrides: Any) -> Producer:
    """A producer with Kafka's Java default partitioner (murmur2), as RedFire expects."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        **QUIET,
    }
    config.update(overrides)
    return Producer(config)


def send(prod: Producer, topic: str, key: bytes | None, value: bytes) -> None:
    """Queue one record, waiting for room when the local queue is full."""
    while True:
        try:
            prod.produce(topic, key=key, value=value)
            return
        except BufferError:
            prod.poll(0.05)


def produce_all(bootstrap: str, records: Iterable[Record]) -> dict[str, int]:
    """Send every record and flush; return the count per topic."""
    prod = producer(bootstrap, **{"linger.ms": 20, "batch.num.messages": 10_000})
    counts: dict[str, int] = {}
    for i, (topic, key, value) in enumerate(records):
        send(prod, topic, key, value)
        counts[topic] = counts.get(topic, 0) + 1
        if i % 10_000 == 0:
            prod.poll(0)
    left = prod.flush(60)
    if left:
        raise RuntimeError(f"{left} records not delivered")
    return counts


def partitions_of(bootstrap: str, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-meta", **QUIET})
    try:
        metadata = consumer.list_topics(timeout=10)
        out: list[TopicPartition] = []
        for topic in topics:
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                raise RuntimeError(f"topic {topic} does not exist")
            out.extend(TopicPartition(topic, p) for p in sorted(found.partitions))
        return out
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """High watermark of every partition of ``topics``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-meta", **QUIET})
    try:
        out = {}
        for tp in partitions_of(bootstrap, topics):
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            out[(tp.topic, tp.partition)] = int(high)
        return out
    finally:
        consumer.close()


class CommittedWatcher:
    """Reads a consumer group's committed offsets without joining the group."""

    def __init__(self, bootstrap: str, group: str, topics: Iterable[str]) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "enable.auto.commit": False,
                **QUIET,
            }
        )
        self.partitions = partitions_of(bootstrap, topics)

    def committed(self) -> dict[tuple[str, int], int]:
        """Committed offset per partition (0 when none yet)."""
        tps = self.consumer.committed(
            [TopicPartition(t.topic, t.partition) for t in self.partitions], timeout=10
        )
        return {(t.topic, t.partition): max(0, t.offset) for t in tps}

    def total(self, start: Mapping[tuple[str, int], int] | None = None) -> int:
        """Records committed since ``start`` offsets (or since offset 0)."""
        base = start or {}
        return sum(max(0, off - base.get(tp, 0)) for tp, off in self.committed().items())

    def wait_for(
        self,
        targets: Mapping[tuple[str, int], int],
        timeout: float,
        poll: float = 0.1,
        worker: BenchWorker | None = None,
    ) -> float:
        """Poll until every partition's committed offset reaches its target; return when.

        With ``worker``, stop at once (with its log) if it exits before that.
        """
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + 10
        while True:
            committed = self.committed()
            if all(committed.get(tp, 0) >= off for tp, off in targets.items()):
                return time.monotonic()
            if worker is not None and not worker.is_running():
                raise RuntimeError(f"worker exited before catching up:\n{worker.log_tail()}")
            if time.monotonic() > next_report:
                next_report += 10
                done = sum(min(committed.get(tp, 0), off) for tp, off in targets.items())
                log(f"  committed {done:,} of {sum(targets.values()):,}")
            if time.monotonic() > deadline:
                behind = {
                    f"{t}[{p}]": off - committed.get((t, p), 0)
                    for (t, p), off in targets.items()
                    if committed.get((t, p), 0) < off
                }
                raise TimeoutError(f"group not caught up after {timeout:.0f}s: behind {behind}")
            time.sleep(poll)

    def close(self) -> None:
        self.consumer.close()


def read_json(bootstrap: str, topic: str, timeout: float = 60.0) -> list[JsonRecord]:
    """Read every record of ``topic`` from the start to the current end, decoded."""
    targets = end_offsets(bootstrap, [topic])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-read-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            **QUIET,
        }
    )
    consumer.assign([TopicPartition(t, p, 0) for (t, p) in targets])
    left = {tp: off for tp, off in targets.items() if off > 0}
    values: list[JsonRecord] = []
    deadline = time.monotonic() + timeout
    try:
        while left and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                if message.error():
                    continue
                tp = (str(message.topic()), int(message.partition() or 0))
                values.append(json.loads(message.value() or b"null"))
                if int(message.offset() or 0) + 1 >= left.get(tp, 0):
                    left.pop(tp, None)
    finally:
        consumer.close()
    return values


# ------------------------------------------------------------------------ worker


def exit_on_signals() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so every ``finally`` stops what we started."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (VmRSS), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def sched_seconds(pid: int | None) -> tuple[float, float]:
    """(ran on a CPU, waited runnable for a CPU) seconds of all the process's live threads.

    The wait is time the process could have run but every core was busy: on a shared
    machine it tells a slow engine from a starved one. Threads that ended are not counted.
    NaN for no process (``None``) or one /proc does not show.
    """
    if pid is None:
        return math.nan, math.nan
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return math.nan, math.nan
    ran = waited = 0
    for task in tasks:
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return ran / 1e9, waited / 1e9


@dataclass
class BenchWorker:
    """One ``faust -A redfire worker`` with its own datadir and port (redfire.worker_process)."""

    bootstrap: str
    app_id: str
    datadir: Path
    partitions: int = 4
    topic_prefix: str = ""
    log_level: str = "info"  # as the tests run it
    extra_env: Mapping[str, str] = field(default_factory=dict)
    web_port: int = field(default_factory=free_port)
    handle: Any = None
    starts: int = 0

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "REDFIRE_BROKER": f"kafka://{self.bootstrap}",
            "REDFIRE_APP_ID": self.app_id,
            "REDFIRE_TOPIC_PREFIX": self.topic_prefix,
            "REDFIRE_PARTITIONS": str(self.partitions),
            "REDFIRE_DATADIR": str(self.datadir),
            "REDFIRE_WEB_PORT": str(self.web_port),
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        return env

    @property
    def pid(self) -> int:
        if self.handle is None:
            raise RuntimeError("worker not started")
        return int(self.handle.pid)

    @property
    def launched_at(self) -> float:
        return 0.0 if self.handle is None else float(self.handle.launched_at)

    def launch(self) -> None:
        """Start the process; return at once."""
        from redfire.worker_process import WorkerProcess

        self.starts += 1
        self.datadir.mkdir(parents=True, exist_ok=True)
        log_file = self.datadir.parent / f"worker-{self.datadir.name}-{self.starts}.log"
        self.handle = WorkerProcess(
            self.env(), log_file, self.web_port, cwd=REPO, log_level=self.log_level,
            die_with_parent=True,
        )  # fmt: skip
        self.handle.launch()

    def wait_healthy(self, timeout: float = 180.0, poll: float = 0.05) -> float:
        """Return the monotonic time /health first said ok."""
        return float(self.handle.wait_healthy(timeout, poll))

    def start(self, timeout: float = 180.0) -> float:
        """Launch and wait for /health ok; return the seconds from launch to ready."""
        self.launch()
        return self.wait_healthy(timeout) - self.launched_at

    def rss_bytes(self) -> int | None:
        return None if self.handle is None else self.handle.rss_bytes()

    def cpu_seconds(self) -> float:
        return math.nan if self.handle is None else float(self.handle.cpu_seconds())

    def metrics(self) -> dict[str, float]:
        """Scrape /metrics: series (name with labels) → value."""
        url = f"http://127.0.0.1:{self.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    values[series] = float(value)
        return values

    def batches_done(self, agents: Iterable[str]) -> float:
        """Events handed to ``agents`` in batches so far (redfire_batch_events_count)."""
        found = self.metrics()
        return sum(found.get(f'redfire_batch_events_count{{agent="{a}"}}', 0.0) for a in agents)

    def last_batch_at(self, agents: Iterable[str]) -> float:
        """Wall time (epoch s) the last of ``agents`` finished its last batch."""
        found = self.metrics()
        return max(
            found.get(f'redfire_last_batch_timestamp_seconds{{agent="{a}"}}', 0.0) for a in agents
        )

    def is_running(self) -> bool:
        return self.handle is not None and bool(self.handle.is_running())

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the worker's process group; SIGKILL it if it does not stop in time."""
        if self.handle is not None:
            self.handle.stop(timeout)

    def kill(self) -> None:
        if self.handle is not None:
            self.handle.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "(no log)" if self.handle is None else str(self.handle.log_tail(lines))


@contextlib.contextmanager
def running(*workers: BenchWorker) -> Iterator[None]:
    """Stop every given worker on the way out, whatever happened."""
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()


# -------------------------------------------------------------------------- feed


def encode(value: JsonRecord) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class MixedFeed:
    """A deterministic stream of ticks 90% / orders 8% / fills 2% on 20 symbols, 50 accounts.

    Orders are NEW limit orders near the last price (on the 1-cent grid, 1-share
    lots) and, one in four, CANCELs of the account's oldest open order, so open
    orders stay bounded over a long run. Fills execute one of the account's
    open orders in full at its limit price, as a gateway would.
    """

    def __init__(self, seed: int = 11, tag: str = "b", cash: float = 50_000_000.0) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.cash = cash
        self.prices = dict(SYMBOLS)
        self.orders = 0
        self.fills = 0
        self.open: dict[str, deque[JsonRecord]] = {a: deque() for a in ACCOUNTS}

    def opening(self, ts: int, days: int = 260) -> Iterator[Record]:
        """SET_CASH for every account and ``days`` daily closes per symbol before ``ts``."""
        for account in ACCOUNTS:
            command = {
                "command_id": f"cash-{self.tag}-{account}",
                "command": "SET_CASH",
                "account": account,
                "payload": {"cash": self.cash},
                "ts": ts - (days + 1) * DAY_MS,
            }
            yield "risk_commands", account.encode(), encode(command)
        history = random.Random(1)
        closes = dict(self.prices)
        for day in range(days, 0, -1):
            for symbol in closes:
                closes[symbol] *= 1 + history.gauss(0, 0.015)
                price = round(closes[symbol], 2)
                tick = {"symbol": symbol, "ts": ts - day * DAY_MS, "price": price}
                yield "ticks", symbol.encode(), encode(tick)

    def fresh_ticks(self, ts: int) -> Iterator[Record]:
        """One tick per symbol at ``ts``, at the current prices."""
        for symbol, price in self.prices.items():
            value = {"symbol": symbol, "ts": ts, "price": round(price, 2), "volume": 100}
            yield "ticks", symbol.encode(), encode(value)

    def tick(self, ts: int) -> Record:
        symbol = self.rng.choice(tuple(self.prices))
        price = self.prices[symbol] = self.prices[symbol] * (1 + self.rng.gauss(0, 0.0004))
        mid = round(price, 2)
        value = {
            "symbol": symbol,
            "ts": ts,
            "price": mid,
            "bid": round(mid - 0.01, 2),
            "ask": round(mid + 0.01, 2),
            "volume": self.rng.randint(1, 50) * 100,
        }
        return "ticks", symbol.encode(), encode(value)

    def new_order(self, ts: int, account: str | None = None, order_id: str | None = None) -> Record:
        self.orders += 1
        account = account or self.rng.choice(ACCOUNTS)
        symbol = self.rng.choice(tuple(self.prices))
        price = round(self.prices[symbol] * (1 + self.rng.uniform(-0.004, 0.004)), 2)
        value = {
            "order_id": order_id or f"o-{self.tag}-{self.orders}",
            "account": account,
            "symbol": symbol,
            "side": self.rng.choice(("BUY", "SELL")),
            "qty": self.rng.randint(1, 20) * 5,
            "price": price,
            "order_type": "LIMIT",
            "action": "NEW",
            "ts": ts,
            "strategy": "bench-mm",
        }
        self.open[account].append(value)
        if len(self.open[account]) > 200:
            self.open[account].popleft()
        return "orders", account.encode(), encode(value)

    def order(self, ts: int) -> Record:
        account = self.rng.choice(ACCOUNTS)
        live = self.open[account]
        if live and self.rng.random() < 0.25:
            cancelled = live.popleft()
            value = dict(cancelled, action="CANCEL", ts=ts)
            return "orders", account.encode(), encode(value)
        return self.new_order(ts, account)

    def fill(self, ts: int) -> Record:
        account = self.rng.choice(ACCOUNTS)
        live = self.open[account]
        self.fills += 1
        if live:
            order = live.popleft()
        else:  # nothing open: a fill the gateway reports for an order we never saw
            order = {
                "order_id": f"ext-{self.tag}-{self.fills}",
                "symbol": self.rng.choice(tuple(self.prices)),
                "side": "BUY",
                "qty": 10,
                "price": 100.0,
            }
        value = {
            "fill_id": f"f-{self.tag}-{self.fills}",
            "order_id": order["order_id"],
            "account": account,
            "symbol": order["symbol"],
            "side": order["side"],
            "qty": order["qty"],
            "price": order["price"],
            "fee": round(order["qty"] * order["price"] * 0.0002, 2),
            "ts": ts,
        }
        return "fills", account.encode(), encode(value)

    def next(self, ts: int) -> Record:
        """One event of the 90/8/2 mix."""
        draw = self.rng.random()
        if draw < 0.90:
            return self.tick(ts)
        if draw < 0.98:
            return self.order(ts)
        return self.fill(ts)

    def stream(self, count: int, start_ts: int, step_ms: float = 1.0) -> Iterator[Record]:
        """``count`` events with event times ``start_ts + i·step_ms``."""
        for i in range(count):
            yield self.next(start_ts + int(i * step_ms))


# --------------------------------------------------------------------------- CLI


def bench_arguments(description: str) -> argparse.ArgumentParser:
    exit_on_signals()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json-out", type=Path, default=None, help="write the figures as JSON")
    return parser


@dataclass
class Report:
    """What one benchmark hands to run_all: summary rows and a markdown fragment."""

    name: str
    command: str
    rows: list[dict[str, str]] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def row(self, target: str, measured: str, baseline: str, ratio: str, status: str) -> None:
        self.rows.append(
            {"target": target, "measured": measured, "baseline": baseline, "ratio": ratio,
             "status": status}
        )  # fmt: skip

    def line(self, text: str = "") -> None:
        self.markdown.append(text)

    def emit(self, json_out: Path | None) -> None:
        """Print the markdown fragment; write everything as JSON when asked."""
        print("\n".join(self.markdown), flush=True)
        if json_out is not None:
            json_out.write_text(
                json.dumps(
                    {
                        "name": self.name,
                        "command": self.command,
                        "rows": self.rows,
                        "markdown": self.markdown,
                        "figures": self.figures,
                    },
                    indent=2,
                    default=str,
                )
            )

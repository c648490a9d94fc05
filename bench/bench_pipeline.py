"""Pipeline throughput on real Kafka: RedFire against faust's own per-event floor, same run.

Run: .venv/bin/python bench/bench_pipeline.py [--events 200000] [--passes 3]

The workload (issue 10): N JSON events produced up front with Kafka's Java
default partitioner (murmur2) to 4 partitions, interleaved in time: 90% ticks
over 200 symbols, 8% orders over 50 accounts (random side, qty 1–2000, a limit
price near the last tick; one in four a CANCEL of an open order), 2% fills of
recent orders. Each pass starts its own broker and runs, one after the other:

* **floor**: ``bench/floor_app.py``, a faust app doing the same logical job
  with plain dicts and no tables (tick → last price; fill → position += qty;
  order → read position and price, produce one decision), faust's defaults;
* **RedFire**: ``faust -A redfire worker`` on the shipped defaults. It first
  applies the desk's opening (SET_CASH for every account, 260 daily closes per
  symbol, a fresh tick each) and is stopped; then the N events are produced and
  it is restarted on its datadir with the backlog waiting.

Each engine is timed from its first processed event to its last (the floor
records both; RedFire's come from /metrics: the first batch seen by polling
every 10 ms, the last batch's ``redfire_last_batch_timestamp_seconds``). CPU:
the floor's process time from its first to its last event; RedFire's from
/proc, from ready to the moment every input offset is committed (both commit
every 0.1 s here: REDFIRE_COMMIT_INTERVAL_S, the floor's
broker_commit_interval). Also reported: changelog records written
per event, RSS at the end. Target (DESIGN §11): RedFire ≥ 0.8× the floor's
events/s in the same pass; stretch ≥ 1.0×.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from common import (
    ACCOUNTS,
    DAY_MS,
    BenchWorker,
    CommittedWatcher,
    JsonRecord,
    Record,
    Report,
    bench_arguments,
    create_topics,
    encode,
    end_offsets,
    free_port,
    kafka_broker,
    log,
    now_ms,
    produce_all,
    read_json,
    rss_bytes,
    running,
    verdict,
)
from confluent_kafka import Consumer, TopicPartition

from redfire.streams.partitioning import partition_for

TARGET, STRETCH = 0.8, 1.0
BENCH_DIR = Path(__file__).resolve().parent
INPUTS = ("ticks", "orders", "fills")
SYMBOL_COUNT = 200
PARTITIONS = 4
TICK_BATCH = 100  # ticks per batch record in the stretch measurement


class PipelineFeed:
    """The issue's workload: 90/8/2 ticks/orders/fills, 200 symbols, 50 accounts."""

    def __init__(self, seed: int = 7, tag: str = "p") -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.prices = {
            f"SYM{i:03d}": round(self.rng.uniform(10, 500), 2) for i in range(SYMBOL_COUNT)
        }
        self.symbols = tuple(self.prices)
        self.orders = 0
        self.fills = 0
        self.open: dict[str, deque[JsonRecord]] = {a: deque() for a in ACCOUNTS}

    def opening(self, ts: int, days: int = 260) -> Iterator[Record]:
        for account in ACCOUNTS:
            command = {
                "command_id": f"cash-{self.tag}-{account}",
                "command": "SET_CASH",
                "account": account,
                "payload": {"cash": 1e9},
                "ts": ts - (days + 1) * DAY_MS,
            }
            yield "risk_commands", account.encode(), encode(command)
        history = random.Random(1)
        closes = dict(self.prices)
        for day in range(days, 0, -1):
            for symbol in self.symbols:
                closes[symbol] *= 1 + history.gauss(0, 0.015)
                tick = {
                    "symbol": symbol,
                    "ts": ts - day * DAY_MS,
                    "price": round(closes[symbol], 2),
                }
                yield "ticks", symbol.encode(), encode(tick)
        for symbol in self.symbols:
            yield (
                "ticks",
                symbol.encode(),
                encode({"symbol": symbol, "ts": ts, "price": self.prices[symbol]}),
            )

    def tick_value(self, ts: int) -> JsonRecord:
        symbol = self.rng.choice(self.symbols)
        price = self.prices[symbol] = round(self.prices[symbol] * (1 + self.rng.gauss(0, 4e-4)), 2)
        return {
            "symbol": symbol,
            "ts": ts,
            "price": price,
            "bid": round(price - 0.01, 2),
            "ask": round(price + 0.01, 2),
            "volume": self.rng.randint(1, 50) * 100,
        }

    def tick(self, ts: int) -> Record:
        value = self.tick_value(ts)
        return "ticks", str(value["symbol"]).encode(), encode(value)

    def tick_batches(self, count: int, start_ts: int, size: int) -> Iterator[Record]:
        """Yield ``count`` ticks as batch records of ``size``, each for one partition.

        A feed handler batches what it sends to one partition: each record holds ticks of
        symbols the same partition owns, keyed by the first, so none is forwarded.
        """
        pending: dict[int, list[JsonRecord]] = {}
        for i in range(count):
            value = self.tick_value(start_ts + i // 4)
            batch = pending.setdefault(partition_for(str(value["symbol"]), PARTITIONS), [])
            batch.append(value)
            if len(batch) == size:
                yield "ticks", str(batch[0]["symbol"]).encode(), json.dumps(batch).encode()
                batch.clear()
        for batch in pending.values():
            if batch:
                yield "ticks", str(batch[0]["symbol"]).encode(), json.dumps(batch).encode()

    def order(self, ts: int) -> Record:
        account = self.rng.choice(ACCOUNTS)
        live = self.open[account]
        if live and self.rng.random() < 0.25:
            value = dict(live.popleft(), action="CANCEL", ts=ts)
            return "orders", account.encode(), encode(value)
        self.orders += 1
        symbol = self.rng.choice(self.symbols)
        value = {
            "order_id": f"o-{self.tag}-{self.orders}",
            "account": account,
            "symbol": symbol,
            "side": self.rng.choice(("BUY", "SELL")),
            "qty": self.rng.randint(1, 2000),
            "price": round(self.prices[symbol] * (1 + self.rng.uniform(-0.003, 0.003)), 2),
            "ts": ts,
        }
        live.append(value)
        if len(live) > 200:
            live.popleft()
        return "orders", account.encode(), encode(value)

    def fill(self, ts: int) -> Record:
        account = self.rng.choice(ACCOUNTS)
        live = self.open[account]
        self.fills += 1
        order = (
            live.popleft()
            if live
            else {
                "order_id": f"ext-{self.fills}",
                "symbol": self.rng.choice(self.symbols),
                "side": "BUY",
                "qty": 10,
                "price": 100.0,
            }
        )
        value = {
            "fill_id": f"f-{self.tag}-{self.fills}",
            "order_id": order["order_id"],
            "account": account,
            "symbol": order["symbol"],
            "side": order["side"],
            "qty": order["qty"],
            "price": order["price"],
            "fee": 1.0,
            "ts": ts,
        }
        return "fills", account.encode(), encode(value)

    def stream(self, count: int, start_ts: int) -> Iterator[Record]:
        for i in range(count):
            ts = start_ts + i // 4
            draw = self.rng.random()
            yield self.tick(ts) if draw < 0.90 else self.order(ts) if draw < 0.98 else self.fill(ts)


@dataclass
class Run:
    engine: str
    seconds: float
    cpu_seconds: float
    events: int
    changelog_records: int
    rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.events * 1e6


def changelog_records(bootstrap: str, app_id: str) -> int:
    """Records written to the app's changelog topics so far."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-meta", "log_level": 2})
    try:
        names = [
            t
            for t in consumer.list_topics(timeout=10).topics
            if t.startswith(app_id) and t.endswith("-changelog")
        ]
    finally:
        consumer.close()
    return sum(end_offsets(bootstrap, names).values()) if names else 0


def commit_at(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Start ``group`` at ``offsets`` (the floor must not read RedFire's opening)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "log_level": 2,
        }
    )
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def run_floor(
    bootstrap: str, workdir: Path, start: dict, targets: dict, events: int, tag: str
) -> Run:
    group = f"bench-floor-{tag}"
    commit_at(bootstrap, group, start)
    stats = workdir / f"floor-{tag}.json"
    env = {
        **os.environ,
        "FLOOR_BROKER": f"kafka://{bootstrap}",
        "FLOOR_APP_ID": group,
        "FLOOR_EXPECTED": str(events),
        "FLOOR_STATS": str(stats),
        "FLOOR_WEB_PORT": str(free_port()),
    }
    log_file = workdir / f"floor-{tag}.log"
    watcher = CommittedWatcher(bootstrap, group, INPUTS)
    with open(log_file, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "faust", "-A", "floor_app", "worker", "-l", "warn"],
            cwd=BENCH_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while not stats.exists() and process.poll() is None:
            time.sleep(0.05)
        if not stats.exists():
            raise RuntimeError(f"floor app exited early:\n{log_file.read_text()[-3000:]}")
        progress = json.loads(stats.read_text())
        rss = (rss_bytes(process.pid) or 0) / 2**20
        watcher.wait_for(targets, timeout=120)
    finally:
        watcher.close()
        process.terminate()
        process.wait(30)
    seconds = progress["last"] - progress["first"]
    cpu = progress["cpu_last"] - progress["cpu_first"]
    return Run("floor", seconds, cpu, events, 0, rss)


def apply_opening(bootstrap: str, worker: BenchWorker, watcher: CommittedWatcher) -> None:
    """Let RedFire apply the desk's opening (cash, price history), then stop it."""
    with running(worker):
        worker.start()
        watcher.wait_for(end_offsets(bootstrap, INPUTS), timeout=600, worker=worker)


def drain(
    bootstrap: str,
    worker: BenchWorker,
    watcher: CommittedWatcher,
    agents: tuple[str, ...] = ("market", "orders", "fills"),
    events: int | None = None,
) -> Run:
    """Restart RedFire on its datadir with the backlog waiting; time it until all is committed.

    ``events`` counts what the backlog holds when a record is not one event (tick batches).
    """
    app_id = worker.app_id
    before = changelog_records(bootstrap, app_id)
    start = watcher.committed()
    targets = end_offsets(bootstrap, INPUTS)
    with running(worker):
        worker.launch()
        worker.wait_healthy()
        cpu_at_ready = worker.cpu_seconds()
        while worker.batches_done(agents) == 0:  # the first batch of the backlog
            time.sleep(0.01)
        first = time.time()
        watcher.wait_for(targets, timeout=900, poll=0.05, worker=worker)
        last = worker.last_batch_at(agents)
        cpu = worker.cpu_seconds() - cpu_at_ready
        rss = (worker.rss_bytes() or 0) / 2**20
    written = changelog_records(bootstrap, app_id) - before
    if events is None:
        events = sum(targets.values()) - sum(start.values())
    return Run("redfire", last - first, cpu, events, written, rss)


def tick_phase(
    bootstrap: str,
    worker: BenchWorker,
    watcher: CommittedWatcher,
    feed: PipelineFeed,
    ticks: int,
    batch: int,
) -> Run:
    """Time RedFire on a backlog of ``ticks`` ticks, one per record or ``batch`` per record."""
    start_ts = now_ms()
    if batch == 1:
        records: Iterator[Record] = (feed.tick(start_ts + i // 4) for i in range(ticks))
    else:
        records = feed.tick_batches(ticks, start_ts, batch)
    produce_all(bootstrap, records)
    run = drain(bootstrap, worker, watcher, agents=("market",), events=ticks)
    run.engine = f"ticks x{batch}"
    return run


def one_pass(
    events: int, number: int, tick_batch_ticks: int
) -> tuple[Run, Run, Counter[str], list[Run]]:
    with kafka_broker(f"pipeline-{number}") as broker:
        bootstrap = broker.bootstrap
        create_topics(bootstrap, PARTITIONS)
        feed = PipelineFeed(tag=f"p{number}")
        start_ts = now_ms() - events // 4 - 10_000
        produce_all(bootstrap, feed.opening(start_ts))
        app_id = f"bench-pipeline-{number}"
        worker = BenchWorker(
            bootstrap,
            app_id,
            broker.workdir / "data",
            extra_env={"REDFIRE_COMMIT_INTERVAL_S": "0.1"},
        )
        watcher = CommittedWatcher(bootstrap, app_id, INPUTS)
        apply_opening(bootstrap, worker, watcher)
        opening = end_offsets(bootstrap, INPUTS)
        counts = produce_all(bootstrap, feed.stream(events, start_ts))
        log(f"pass {number}: produced {sum(counts.values()):,} events {dict(counts)}")
        targets = end_offsets(bootstrap, INPUTS)
        floor = run_floor(bootstrap, broker.workdir, opening, targets, events, f"{number}")
        log(f"pass {number}: floor {floor.rate:,.0f} events/s, {floor.cpu_us:.0f} µs CPU/event")
        redfire = drain(bootstrap, worker, watcher)
        batches = []
        if tick_batch_ticks:
            for size in (1, TICK_BATCH):
                batches.append(tick_phase(bootstrap, worker, watcher, feed, tick_batch_ticks, size))
                log(f"pass {number}: ticks x{size}: {batches[-1].rate:,.0f} ticks/s")
        watcher.close()
        outcome = Counter(str(d.get("decision")) for d in read_json(bootstrap, "order_decisions"))
        log(
            f"pass {number}: RedFire {redfire.rate:,.0f} events/s, {redfire.cpu_us:.0f} µs "
            f"CPU/event, ratio {redfire.rate / floor.rate:.2f}"
        )
        return floor, redfire, outcome, batches


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument(
        "--tick-batch-ticks",
        type=int,
        default=100_000,
        help="after each pass, this many ticks one per record, then in batches of 100 (0: skip)",
    )
    args = parser.parse_args()
    report = Report(
        "pipeline",
        f".venv/bin/python bench/bench_pipeline.py --events {args.events} --passes {args.passes}",
    )
    passes = [one_pass(args.events, n + 1, args.tick_batch_ticks) for n in range(args.passes)]
    ratios = [r.rate / f.rate for f, r, _, _ in passes]
    median = statistics.median(ratios)
    floor_rates = [f.rate for f, _, _, _ in passes]
    red_rates = [r.rate for _, r, _, _ in passes]
    report.figures = {
        "ratios": ratios,
        "passes": [
            {
                "floor": vars(f),
                "redfire": vars(r),
                "decisions": dict(o),
                "tick_batches": [vars(b) for b in batches],
            }
            for f, r, o, batches in passes
        ],
    }
    report.row(
        "pipeline throughput ≥ 0.8× faust's floor (plain dicts, no tables)",
        f"{statistics.median(red_rates):,.0f} events/s",
        f"{statistics.median(floor_rates):,.0f} events/s",
        f"{median:.2f}× (passes {', '.join(f'{r:.2f}' for r in ratios)})",
        verdict(median >= TARGET) + (" (stretch met)" if median >= STRETCH else ""),
    )
    report.line(
        f"### Pipeline throughput ({args.events:,} events, 4 partitions, {args.passes} passes)"
    )
    report.line()
    report.line(f"Command: `{report.command}`")
    report.line()
    report.line(
        "| pass | engine | seconds | events/s | CPU µs/event | changelog records/event "
        "| RSS MiB | ratio |"
    )
    report.line("|---|---|---:|---:|---:|---:|---:|---:|")
    for number, (floor, redfire, _outcome, _batches) in enumerate(passes, 1):
        for run in (floor, redfire):
            ratio = run.rate / floor.rate
            report.line(
                f"| {number} | {'faust floor' if run.engine == 'floor' else 'RedFire'} "
                f"| {run.seconds:.2f} "
                f"| {run.rate:,.0f} | {run.cpu_us:.0f} | {run.changelog_records / run.events:.3f} "
                f"| {run.rss_mb:.0f} | {ratio:.2f} |"
            )
    report.line()
    last = passes[-1][2]
    report.line(
        f"- RedFire / floor (median of passes): **{median:.2f}×** "
        f"(target ≥ {TARGET}×, stretch ≥ {STRETCH}×)"
    )
    report.line(
        f"- decisions in the last pass: {', '.join(f'{k} {v:,}' for k, v in sorted(last.items()))}"
    )
    report.line()
    if args.tick_batch_ticks:
        tick_batch_lines(report, passes, args.tick_batch_ticks)
    report.emit(args.json_out)


def tick_batch_lines(
    report: Report, passes: list[tuple[Run, Run, Counter[str], list[Run]]], ticks: int
) -> None:
    """Report ticks per CPU-second with batch records of 100 next to one tick per record.

    The ratio is taken on CPU per tick: the worker is CPU-bound on a backlog, and a backlog
    of batch records (1,000 records for 100,000 ticks) is handed to the market agent in one
    or two micro-batches, so the wall time from the end of the first batch to the end of
    the last (the seconds column) can be almost nothing.
    """
    report.line(f"### Tick batches ({ticks:,} ticks after each pass, same worker and broker)")
    report.line()
    report.line("| pass | records | seconds | ticks/s | CPU µs/tick | changelog records/tick |")
    report.line("|---|---|---:|---:|---:|---:|")
    gains = []
    for number, (_floor, _redfire, _outcome, batches) in enumerate(passes, 1):
        for run in batches:
            report.line(
                f"| {number} | {run.engine.replace('ticks x', 'ticks per record: ')} "
                f"| {run.seconds:.2f} | {run.rate:,.0f} | {run.cpu_us:.0f} "
                f"| {run.changelog_records / run.events:.3f} |"
            )
        if len(batches) == 2:
            gains.append(batches[0].cpu_us / batches[1].cpu_us)
    report.line()
    if gains:
        report.line(
            f"- batch records of {TICK_BATCH} / single-tick records: **"
            f"{statistics.median(gains):.1f}×** ticks per CPU-second (median; passes "
            f"{', '.join(f'{g:.1f}' for g in gains)})"
        )
        report.line()


if __name__ == "__main__":
    main()

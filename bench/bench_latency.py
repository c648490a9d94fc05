"""Order → decision latency through a real Kafka on loopback vs a bare produce→consume echo.

Run: .venv/bin/python bench/bench_latency.py [--seconds 15] [--phases 30:2,200:10,1000:2]

One broker, one run. A pacer thread sends orders at a steady rate (one every
1/rate s, never in bursts) with ``ticks`` ticks before each order, each
order's send time kept by its order_id; a consumer thread stamps every
decision (or echoed record) on arrival. For every load of ``--phases``
(orders/s:ticks per order; by default 30 + 60 ticks/s, 200 + 2,000 and
1,000 + 2,000), each ``--seconds`` long:

1. echo baseline: a tiny aiokafka process (this file, ``--echo-serve``) that
   re-produces every record of ``bench-echo-in`` to ``bench-echo-out`` and
   reads (and drops) the same ticks; the same pacer and consumer measure
   produce → broker → echo → broker → consume at the same load;
2. RedFire: a worker on the shipped defaults (monitoring, rules, scheduled
   stress and the firm stage on; after SET_CASH and 260 daily closes, so
   every order gets an incremental VaR) answers the same order stream and the
   ticks; about half of the approved orders are filled by the consumer thread
   (positions move, books are rebuilt, as in production). The worker's
   event-loop lag p99 over the phase comes from its /metrics.

Also the in-process cost per order of the pre-trade path (``PreTrade.evaluate``:
context, incremental VaR, every check) on a 20-position account, T=250.

Targets (DESIGN.md §11): RedFire p99 ≤ 3× the echo's p99 at the same load,
every order answered; in-process ≤ 20 µs per order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    REPO,
    SYMBOLS,
    BenchWorker,
    CommittedWatcher,
    MixedFeed,
    Report,
    bench_arguments,
    create_plain_topics,
    create_topics,
    encode,
    end_offsets,
    kafka_broker,
    latency_summary,
    log,
    now_ms,
    percentile,
    produce_all,
    producer,
    running,
    sched_seconds,
    send,
    verdict,
)
from confluent_kafka import Consumer, Producer, TopicPartition

APP_ID = "bench-latency"
BENCH = Path(__file__).resolve().parent
ECHO_IN, ECHO_OUT, ECHO_TICKS = "bench-echo-in", "bench-echo-out", "bench-echo-ticks"
TARGET = 3.0
DRAIN_S = 15.0


# ------------------------------------------------------------------------- echo


async def echo_serve(bootstrap: str, source: str, sink: str, partitions: int) -> None:
    """Re-produce every record of ``source`` to ``sink`` (same key and partition).

    It also consumes (and drops) the ticks sent beside the orders, so the echo
    reads the same volume as a RedFire worker does.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka import TopicPartition as AioTP

    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # "topic not found yet" noise
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    out = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await out.start()
    try:
        assigned = [AioTP(t, p) for t in (source, ECHO_TICKS) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for tp in assigned:
            await consumer.position(tp)
        print("ready", flush=True)
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batches.items():
                if tp.topic != source:
                    continue
                for message in messages:
                    await out.send(sink, message.value, key=message.key, partition=tp.partition)
    finally:
        await out.stop()
        await consumer.stop()


# ------------------------------------------------------------------ measurement


@dataclass
class Phase:
    """Send times by order id, arrival latencies, and what came back."""

    name: str
    sent: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    late_sends_ms: list[float] = field(default_factory=list)
    # Shares of one core while pacing, over all threads: what the engine (the echo or
    # the worker) and the broker ran, and how long they waited runnable for a core.
    engine_cpu: float = math.nan
    engine_wait: float = math.nan
    broker_cpu: float = math.nan
    broker_wait: float = math.nan

    def summary(self) -> dict[str, float]:
        out = latency_summary(self.latencies_ms)
        out["sent"] = float(len(self.sent))
        out["answered"] = float(len(self.latencies_ms))
        out["pacing_p99_ms"] = percentile(self.late_sends_ms, 99)
        out["engine_cpu"], out["engine_wait"] = self.engine_cpu, self.engine_wait
        out["broker_cpu"], out["broker_wait"] = self.broker_cpu, self.broker_wait
        return out


class Receiver(threading.Thread):
    """Stamps every record of ``topic`` on arrival; fills half the approved orders."""

    def __init__(self, bootstrap: str, topic: str, fills: Producer | None) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-latency-rx-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 100,
                "log_level": 2,
            }
        )
        # Explicit offsets: OFFSET_END would be resolved at the first fetch, after
        # answers to the first orders may already have been written.
        targets = end_offsets(bootstrap, [topic])
        self.consumer.assign([TopicPartition(t, p, off) for (t, p), off in targets.items()])
        self.fills = fills
        self.phase: Phase | None = None
        self.stopping = threading.Event()
        self.rng = random.Random(5)
        self.fill_no = 0
        self.orders: dict[str, dict[str, Any]] = {}

    def run(self) -> None:
        while not self.stopping.is_set():
            # poll() returns on the first record; consume(n, t) would wait for n or t.
            first = self.consumer.poll(0.05)
            arrived = time.perf_counter_ns()
            if first is None:
                continue
            messages = [first, *self.consumer.consume(1000, 0)]
            phase = self.phase
            for message in messages:
                if message.error() or phase is None:
                    continue
                value = json.loads(message.value() or b"{}")
                order_id = str(value.get("order_id"))
                sent = phase.sent.get(order_id)
                if sent is None:
                    continue
                phase.latencies_ms.append((arrived - sent) / 1e6)
                phase.outcomes[str(value.get("decision", "echo"))] += 1
                if value.get("decision") == "APPROVED":
                    self.maybe_fill(order_id)
        self.consumer.close()

    def maybe_fill(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if self.fills is None or order is None or self.rng.random() < 0.5:
            return
        self.fill_no += 1
        fill = {
            "fill_id": f"lf-{self.fill_no}",
            "order_id": order_id,
            "account": order["account"],
            "symbol": order["symbol"],
            "side": order["side"],
            "qty": order["qty"],
            "price": order["price"],
            "fee": 0.5,
            "ts": now_ms(),
        }
        send(self.fills, "fills", order["account"].encode(), encode(fill))
        self.fills.poll(0)


def pace(
    prod: Producer,
    feed: MixedFeed,
    phase: Phase,
    receiver: Receiver,
    *,
    seconds: float,
    rate: float,
    order_topic: str,
    ticks_per_order: int,
    tick_topic: str = "ticks",
) -> None:
    """Send ``rate`` orders/s (plus ticks) for ``seconds``, one at a time, on schedule."""
    period_ns = int(1e9 / rate)
    count = int(seconds * rate)
    start = time.perf_counter_ns() + 1_000_000
    for i in range(count):
        due = start + i * period_ns
        wait = due - time.perf_counter_ns()
        if wait > 0:
            time.sleep(wait / 1e9)
        ts = now_ms()
        for _ in range(ticks_per_order):
            _topic, key, value = feed.tick(ts)
            send(prod, tick_topic, key, value)
        order_id = f"{phase.name}-{i}"
        _topic, key, raw = feed.new_order(ts, order_id=order_id)
        order = json.loads(raw)
        receiver.orders[order_id] = order
        sent = time.perf_counter_ns()
        phase.sent[order_id] = sent
        send(prod, order_topic, key, raw)
        prod.poll(0)
        phase.late_sends_ms.append(max(0, sent - due) / 1e6)
    prod.flush(30)


def run_phase(
    bootstrap: str,
    receiver: Receiver,
    name: str,
    *,
    seconds: float,
    rate: float,
    order_topic: str,
    ticks_per_order: int,
    engine_pid: int,
    broker_pid: int | None,
    tick_topic: str = "ticks",
) -> Phase:
    """Pace one phase, then wait for its answers (at most DRAIN_S)."""
    phase = Phase(name)
    receiver.phase = phase
    prod = producer(bootstrap, **{"linger.ms": 0})
    feed = MixedFeed(seed=zlib.crc32(name.encode()), tag=name)
    engine_before = sched_seconds(engine_pid)
    broker_before = sched_seconds(broker_pid)
    started = time.monotonic()
    pace(
        prod,
        feed,
        phase,
        receiver,
        seconds=seconds,
        rate=rate,
        order_topic=order_topic,
        ticks_per_order=ticks_per_order,
        tick_topic=tick_topic,
    )
    elapsed = time.monotonic() - started
    phase.engine_cpu, phase.engine_wait = shares(engine_before, sched_seconds(engine_pid), elapsed)
    phase.broker_cpu, phase.broker_wait = shares(broker_before, sched_seconds(broker_pid), elapsed)
    deadline = time.monotonic() + DRAIN_S
    while len(phase.latencies_ms) < len(phase.sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = phase.summary()
    log(
        f"{name}: {int(stats['answered'])}/{int(stats['sent'])} answered, "
        f"p50 {stats['p50']:.2f} ms, p99 {stats['p99']:.2f} ms, max {stats['max']:.1f} ms, "
        f"CPU: engine {cpu_cell(stats['engine_cpu'], stats['engine_wait'])}, "
        f"broker {cpu_cell(stats['broker_cpu'], stats['broker_wait'])}"
    )
    return phase


def shares(
    before: tuple[float, float], after: tuple[float, float], elapsed: float
) -> tuple[float, float]:
    """(ran, waited) between two ``sched_seconds`` readings, as shares of one core."""
    return (after[0] - before[0]) / elapsed, (after[1] - before[1]) / elapsed


def cpu_cell(ran: float, waited: float) -> str:
    """'ran% (waited%)' of one core, or '-' where /proc could not tell."""
    if math.isnan(ran):
        return "-"
    return f"{ran:.0%}" + ("" if math.isnan(waited) else f" ({waited:.0%})")


def start_echo(bootstrap: str, partitions: int) -> subprocess.Popen[bytes]:
    echo = subprocess.Popen(
        [sys.executable, __file__, "--echo-serve", bootstrap, str(partitions)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert echo.stdout is not None
    line = echo.stdout.readline()
    if line.strip() != b"ready":
        echo.kill()
        raise RuntimeError(f"echo did not start: {line!r}")
    return echo


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# --------------------------------------------------------------- checks in-process


def checks_cost(orders: int = 20_000) -> dict[str, float]:
    """µs per order of the engine's pre-trade path, in process: context, VaR, every check.

    The same ``PreTrade.evaluate`` the order agent runs, on an account holding 20
    symbols with 250 daily returns each, over memory tables (no Kafka).
    """
    from redfire.agents.pretrade import PreTrade
    from redfire.app import build_state
    from redfire.risk.bars import ReturnWindow
    from redfire.risk.checks import failures
    from redfire.schemas.records import OrderRequest
    from redfire.settings import Settings
    from redfire.state.market import PriceMark
    from redfire.state.memory import memory_tables

    state = build_state(Settings(var_window=250), memory_tables())
    state.on_recovered(set(range(state.partitions)), set())
    rng = np.random.default_rng(3)
    names = list(SYMBOLS)
    now = 1_700_000_000_000
    for name, price in SYMBOLS.items():
        returns = tuple(float(r) for r in rng.standard_t(4, size=250) * 0.012)
        window = ReturnWindow(250, returns, price, now - 86_400_000)
        state.market.mirror_window(name, window.to_dict())
        state.market.prices[name] = PriceMark(price, now)
    account = state.account("ACC-001")
    fund(account)
    for name, price in SYMBOLS.items():
        hold(account, name, float(rng.integers(-2000, 2000)), price)
    pretrade = PreTrade(state, daily_bars=True)
    limits = state.config.limits_for(account.name)
    picks = rng.integers(0, len(names), orders)
    qtys = rng.integers(1, 20, orders) * 5
    sides = rng.integers(0, 2, orders)
    evaluate_us: list[float] = []
    checks_us: list[float] = []
    approved = 0
    for i in range(orders):
        symbol = names[int(picks[i])]
        order = OrderRequest(
            order_id=f"c-{i}", account=account.name, symbol=symbol,
            side="BUY" if sides[i] else "SELL", qty=float(qtys[i]), ts=now + i,
            price=round(SYMBOLS[symbol] * 1.001, 2),
        )  # fmt: skip
        started = time.perf_counter_ns()
        verdict_ = pretrade.evaluate(account, order, duplicate=False)
        middle = time.perf_counter_ns()
        failures(pretrade.context(account, order, False), limits)
        ended = time.perf_counter_ns()
        approved += not verdict_.reasons
        evaluate_us.append((middle - started) / 1e3)
        checks_us.append((ended - middle) / 1e3)
    warm = orders // 10  # the first orders warm caches; leave them out
    after_fill_us = orders_after_fills(pretrade, state.account("ACC-002"), orders // 4, now)
    return {
        "per_order_us": percentile(evaluate_us[warm:], 50),
        "per_order_p99_us": percentile(evaluate_us[warm:], 99),
        "context_and_checks_us": percentile(checks_us[warm:], 50),
        "approved_fraction": approved / orders,
        "after_fill_us": percentile(after_fill_us, 50),
        "after_fill_p99_us": percentile(after_fill_us, 99),
    }


def fund(account: Any) -> None:
    """Give ``account`` cash enough that no order of the benchmark fails buying power."""
    from redfire.risk.positions import to_decimal

    account.record.cash = to_decimal(50_000_000)


def hold(account: Any, symbol: str, qty: float, price: float) -> None:
    """Set ``account``'s position in ``symbol`` as the fill agent does (``set_position``)."""
    from redfire.risk.positions import Position, to_decimal
    from redfire.state.records import PositionEntry

    zero = to_decimal(0)
    position = Position(to_decimal(qty), to_decimal(price), zero, zero)
    account.set_position(symbol, PositionEntry(position))


def orders_after_fills(pretrade: Any, account: Any, orders: int, now: int) -> list[float]:
    """µs per order when, as in the worker under load, a fill changed the account just
    before and half the orders are in symbols it does not hold.

    The account holds the first half of the symbols. Each order follows a fill of one of
    them (``set_position``, as the fill agent does), so the order pays the move of the
    account's VaR book; an order in a symbol not held pays for that symbol's window.
    """
    from redfire.schemas.records import OrderRequest

    names = list(SYMBOLS)
    held = names[: len(names) // 2]
    fund(account)
    for name in held:
        hold(account, name, 500, SYMBOLS[name])
    rng = np.random.default_rng(4)
    timings: list[float] = []
    for i in range(orders):
        filled = held[i % len(held)]
        hold(account, filled, 500 + int(rng.integers(1, 50)) * 5, SYMBOLS[filled])
        symbol = names[int(rng.integers(0, len(names)))]
        order = OrderRequest(
            order_id=f"f-{i}", account=account.name, symbol=symbol, side="BUY",
            qty=float(rng.integers(1, 20) * 5), ts=now + i, price=round(SYMBOLS[symbol] * 1.001, 2),
        )  # fmt: skip
        started = time.perf_counter_ns()
        pretrade.evaluate(account, order, duplicate=False)
        timings.append((time.perf_counter_ns() - started) / 1e3)
    return timings[orders // 10 :]


# --------------------------------------------------------------------------- main


# The worker's histograms read before and after each phase: how late the loop probe woke,
# and how long orders waited to be read (the backlog before the checks).
HISTOGRAMS = ("redfire_event_loop_lag_seconds", "redfire_order_wait_seconds")


def histogram_buckets(worker: BenchWorker) -> dict[str, dict[float, float]]:
    """Cumulative counts by bucket bound of each of HISTOGRAMS, from /metrics."""
    found = worker.metrics()
    return {name: buckets_of(found, name) for name in HISTOGRAMS}


def buckets_of(found: dict[str, float], name: str) -> dict[float, float]:
    buckets = {}
    for series, value in found.items():
        if series.startswith(f"{name}_bucket{{"):
            bound = series.split('le="', 1)[1].split('"', 1)[0]
            buckets[math.inf if bound == "+Inf" else float(bound)] = value
    return buckets


def bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The q-quantile (upper bucket bound) of the histogram's growth between two scrapes."""
    bounds = sorted(after)
    grown = [after[b] - before.get(b, 0.0) for b in bounds]
    total = grown[-1] if grown else 0.0
    if total <= 0:
        return math.nan
    for bound, count in zip(bounds, grown, strict=True):
        if count >= q * total:
            return bound
    return math.inf


def bound(seconds: float) -> str:
    """A histogram quantile's bucket bound (from ``bucket_quantile``) as text."""
    if math.isnan(seconds):
        return "-"
    return "above the top bucket" if math.isinf(seconds) else f"≤ {seconds * 1000:g} ms"


def plot(phases: dict[str, Phase], levels: list[str], path: Path) -> None:
    """Latency distributions (CCDF, log-log) of echo and RedFire at every load."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots(1, len(levels), sharey=True, squeeze=False)[0]
    for ax, level in zip(axes, levels, strict=True):
        for prefix, label in (("echo", "bare echo"), ("rf", "RedFire decision")):
            values = np.sort(np.asarray(phases[f"{prefix}-{level}"].latencies_ms))
            if not len(values):
                continue
            tail = 1.0 - np.arange(len(values)) / len(values)
            ax.loglog(values, tail, label=label)
        ax.set_title(level)
        ax.set_xlabel("latency (ms)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("share of orders slower than x")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--echo-serve":
        asyncio.run(echo_serve(sys.argv[2], ECHO_IN, ECHO_OUT, int(sys.argv[3])))
        return
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--phases",
        default="30:2,200:10,1000:2",
        help="orders/s:ticks per order, comma-separated (30:2 = 30 orders/s + 60 ticks/s)",
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--plot", type=Path, default=BENCH / "latency.png")
    args = parser.parse_args()
    command = (
        f".venv/bin/python bench/bench_latency.py --seconds {args.seconds:g} --phases {args.phases}"
    )
    report = Report("latency", command)
    loads: dict[str, tuple[float, int]] = {}
    for item in args.phases.split(","):
        rate, ticks = item.split(":")
        loads[f"{float(rate):g}+{float(rate) * int(ticks):g}"] = (float(rate), int(ticks))
    phases: dict[str, Phase] = {}
    lags: dict[str, float] = {}
    waits: dict[str, float] = {}
    first_rate = min(rate for rate, _ in loads.values())

    with kafka_broker("latency") as broker:
        bootstrap = broker.bootstrap
        create_topics(bootstrap, args.partitions)
        create_plain_topics(bootstrap, [ECHO_IN, ECHO_OUT, ECHO_TICKS], args.partitions)

        echo = start_echo(bootstrap, args.partitions)
        try:
            receiver = Receiver(bootstrap, ECHO_OUT, None)
            receiver.start()
            pids = {"engine_pid": echo.pid, "broker_pid": broker.node.pid}
            run_phase(bootstrap, receiver, "echo-warm", seconds=3, rate=first_rate,
                      order_topic=ECHO_IN, ticks_per_order=2, tick_topic=ECHO_TICKS,
                      **pids)  # fmt: skip
            for level, (rate, ticks) in loads.items():
                phases[f"echo-{level}"] = run_phase(
                    bootstrap, receiver, f"echo-{level}", seconds=args.seconds, rate=rate,
                    order_topic=ECHO_IN, ticks_per_order=ticks, tick_topic=ECHO_TICKS, **pids,
                )  # fmt: skip
            receiver.stopping.set()
            receiver.join(10)
        finally:
            stop_process(echo)

        worker = BenchWorker(bootstrap, APP_ID, broker.workdir / "data")
        with running(worker):
            worker.start()
            opening = list(MixedFeed(tag="open").opening(now_ms()))
            produce_all(bootstrap, opening)
            watcher = CommittedWatcher(bootstrap, APP_ID, ["ticks", "risk_commands"])
            watcher.wait_for(
                end_offsets(bootstrap, ["ticks", "risk_commands"]), timeout=300, worker=worker
            )
            watcher.close()
            log(f"worker ready with {len(opening)} opening records applied")
            fills = producer(bootstrap, **{"linger.ms": 0})
            receiver = Receiver(bootstrap, "order_decisions", fills)
            receiver.start()
            pids = {"engine_pid": worker.pid, "broker_pid": broker.node.pid}
            run_phase(bootstrap, receiver, "rf-warm", seconds=3, rate=first_rate,
                      order_topic="orders", ticks_per_order=2, **pids)  # fmt: skip
            for level, (rate, ticks) in loads.items():
                before = histogram_buckets(worker)
                phases[f"rf-{level}"] = run_phase(
                    bootstrap, receiver, f"rf-{level}", seconds=args.seconds, rate=rate,
                    order_topic="orders", ticks_per_order=ticks, **pids,
                )  # fmt: skip
                after = histogram_buckets(worker)
                lag, wait = (bucket_quantile(before[n], after[n], 0.99) for n in HISTOGRAMS)
                lags[level], waits[level] = lag, wait
                log(f"rf-{level}: in the worker, p99 loop lag {bound(lag)}, "
                    f"p99 wait to be read {bound(wait)}")  # fmt: skip
            receiver.stopping.set()
            receiver.join(10)
            fills.flush(10)
            cpu = worker.cpu_seconds()
        log(f"worker used {cpu:.1f} CPU s in all")

    log("timing the pre-trade path (context, VaR, every check) in-process")
    checks = checks_cost()
    summaries = {name: phase.summary() for name, phase in phases.items()}
    plot(phases, list(loads), args.plot)
    report.figures = {
        "phases": summaries,
        "checks": checks,
        "loop_lag_p99_s": lags,
        "order_wait_p99_s": waits,
    }

    report.line("### Order → decision latency (real Kafka, loopback)")
    report.line()
    report.line(f"Command: `{command}`")
    report.line()
    report.line(
        f"Each phase {args.seconds:g} s at a steady rate (orders/s + ticks/s); the shipped "
        "monitoring is on (snapshots, rules, scheduled stress, firm stage). Latencies in ms "
        "from just before `produce()` to arrival at a consumer in the same process; about "
        "half of the approved orders are filled back. Unanswered = no answer within "
        f"{DRAIN_S:g} s after the phase. Distribution: [`latency.png`]({args.plot.name}). "
        "CPU: the share of one core the engine (the echo or the worker, all threads) and the "
        "broker ran while the phase was paced, and in brackets the share they waited "
        "runnable for a core (`/proc/<pid>/task/*/schedstat`): a large wait means the "
        "machine, not the engine, set the pace. Loop lag and order wait: p99 bucket bounds of "
        "the worker's `redfire_event_loop_lag_seconds` and `redfire_order_wait_seconds` "
        "(record timestamp → the order agent reading it) over the phase, from `/metrics`."
    )
    report.line()
    report.line(
        "| path | load | sent | answered | p50 | p95 | p99 | max | p99 / echo p99 "
        "| engine CPU (waiting) | broker CPU (waiting) | loop lag p99 | order wait p99 |"
    )
    report.line("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in loads:
        echo_stats, rf = summaries[f"echo-{level}"], summaries[f"rf-{level}"]
        for name, stats in (("bare echo (aiokafka)", echo_stats), ("RedFire decision", rf)):
            complete = stats["answered"] >= stats["sent"]
            ratio = stats["p99"] / echo_stats["p99"] if complete else math.inf
            p99 = f"{stats['p99']:.2f}" if complete else f"> {DRAIN_S * 1000:.0f} (unanswered)"
            redfire = name.startswith("RedFire")
            lag = lags.get(level, math.nan) if redfire else math.nan
            wait = waits.get(level, math.nan) if redfire else math.nan
            report.line(
                f"| {name} | {level} | {int(stats['sent'])} | {int(stats['answered'])} "
                f"| {stats['p50']:.2f} | {stats['p95']:.2f} | {p99} | {stats['max']:.1f} "
                + (f"| {ratio:.2f}× | " if complete else "| ∞ | ")
                + cpu_cell(stats["engine_cpu"], stats["engine_wait"])
                + " | "
                + cpu_cell(stats["broker_cpu"], stats["broker_wait"])
                + f" | {bound(lag)} | {bound(wait)} |"
            )
    report.line()
    for level in loads:
        echo_stats, rf = summaries[f"echo-{level}"], summaries[f"rf-{level}"]
        complete = rf["answered"] >= rf["sent"]
        ratio = rf["p99"] / echo_stats["p99"] if complete else float("inf")
        met = complete and ratio <= TARGET
        report.row(
            f"order→decision p99 ≤ 3× echo p99 at {level} orders+ticks/s",
            f"p99 {rf['p99']:.1f} ms" + ("" if complete else
                                         f" ({int(rf['sent'] - rf['answered'])} unanswered)"),
            f"echo p99 {echo_stats['p99']:.2f} ms",
            f"{ratio:.1f}×" if complete else "∞",
            verdict(met),
        )  # fmt: skip
        report.line(
            f"- {level}/s: RedFire p99 / echo p99 = "
            + (f"**{ratio:.1f}×**" if complete else "**∞** (orders left unanswered)")
            + f" (target ≤ {TARGET:g}×) — {verdict(met)}; decisions "
            + ", ".join(f"{k} {v}" for k, v in sorted(phases[f"rf-{level}"].outcomes.items()))
        )
    report.row(
        "in-process pre-trade path ≤ 20 µs per order (context, VaR, every check)",
        f"{checks['per_order_us']:.1f} µs median (p99 {checks['per_order_p99_us']:.1f})",
        "-",
        "-",
        verdict(checks["per_order_us"] <= 20.0),
    )
    report.line(
        "- in-process cost per order (no Kafka; `PreTrade.evaluate`, 20 positions, T=250): "
        f"median {checks['per_order_us']:.1f} µs, p99 {checks['per_order_p99_us']:.1f} µs"
    )
    report.line(
        "- the same, each order right after a fill of its account and half of them in "
        "symbols the account does not hold (the order pays the move of the VaR book, or "
        f"the new symbol's window): median {checks['after_fill_us']:.1f} µs, "
        f"p99 {checks['after_fill_p99_us']:.1f} µs"
    )
    report.line()
    report.emit(args.json_out)


if __name__ == "__main__":
    main()

"""Prometheus metrics, all named ``redfire_*``; labels have bounded cardinality."""

from __future__ import annotations

import asyncio
import time

from faust.types import AppT
from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "redfire_events_total", "Records consumed, by topic and outcome", ["topic", "outcome"]
)
DEAD_LETTERS = Counter(
    "redfire_dead_letters_total", "Records sent to dead_letters, by reason", ["topic", "reason"]
)
DECISIONS = Counter("redfire_decisions_total", "Order decisions, by result", ["decision"])
REJECTIONS = Counter("redfire_rejections_total", "Failed pre-trade checks, by check", ["check"])
DECISION_LATENCY = Histogram(
    "redfire_decision_latency_seconds",
    "Time from reading an order request to emitting its decision",
    buckets=(50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.5),
)
# Measured against the record's Kafka timestamp, set by the producer's clock unless the topic
# uses LogAppendTime: skew between hosts shows here, so a negative wait is counted as zero.
ORDER_WAIT = Histogram(
    "redfire_order_wait_seconds",
    "Time from an order request's Kafka record timestamp to the order agent reading it: "
    "how far behind the worker is before the checks start",
    buckets=(1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ILLEGAL_TRANSITIONS = Counter(
    "redfire_illegal_transitions_total", "Order lifecycle transitions refused", ["event"]
)
DUPLICATES = Counter("redfire_duplicates_total", "Records ignored as already seen", ["topic"])
TICK_OUTCOMES = Counter(
    "redfire_ticks_total", "Ticks by bar outcome (applied, new_bar, late, duplicate…)", ["status"]
)
ROCKSDB_MEMTABLES = Gauge(
    "redfire_rocksdb_memtable_bytes",
    "Bytes all RocksDB memtables of the worker hold (bounded by REDFIRE_ROCKSDB_MEMORY_MB)",
)
VAR = Gauge("redfire_var", "Latest VaR by account (top accounts only)", ["account", "confidence"])
ES = Gauge("redfire_es", "Latest expected shortfall by account", ["account", "confidence"])
ALERTS = Counter(
    "redfire_alerts_total",
    "Alert transitions, by rule, severity and state",
    ["rule_id", "severity", "state"],
)
UNKNOWN_ORDER_FILLS = Counter(
    "redfire_unknown_order_fills_total", "Fills applied for orders RedFire never saw"
)
# Accounts that have their own VaR/ES gauge series (bounded; the rest share "_other").
VAR_ACCOUNTS: set[str] = set()
BATCH_EVENTS = Histogram(
    "redfire_batch_events",
    "Events per micro-batch (one unit of work), by agent",
    ["agent"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
)
BATCH_SECONDS = Histogram(
    "redfire_batch_seconds",
    "Time a micro-batch takes, from its handler's start until every write it made is delivered",
    ["agent"],
    buckets=(1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LAST_BATCH = Gauge(
    "redfire_last_batch_timestamp_seconds",
    "When each agent last finished a batch (its writes delivered): staleness at a glance",
    ["agent"],
)
FHS_REFIT_SECONDS = Histogram(
    "redfire_fhs_refit_seconds",
    "Time one fhs volatility-filter refit takes on the refit thread (REDFIRE_VAR_METHOD=fhs)",
    buckets=(1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1.0, 2.5),
)
LOOP_LAG = Histogram(
    "redfire_event_loop_lag_seconds",
    "How late a periodic probe wakes up: time the event loop was busy with something else",
    buckets=(1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1.0),
)
GC_PAUSE = Histogram(
    "redfire_gc_pause_seconds",
    "How long one cyclic garbage collection held the worker, by generation (redfire.heap)",
    ["generation"],
    buckets=(1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5),
)
GC_FROZEN = Gauge(
    "redfire_gc_frozen_objects",
    "Objects frozen out of garbage collection's walks (REDFIRE_GC_FREEZE_S)",
)


def register_loop_probe(app: AppT, interval_s: float) -> None:
    """Measure event-loop lag: a task sleeps ``interval_s`` and records how late it wakes."""

    @app.task  # type: ignore[untyped-decorator]
    async def loop_lag_probe() -> None:
        clock = time.perf_counter
        while True:
            expected = clock() + interval_s
            await asyncio.sleep(interval_s)
            LOOP_LAG.observe(max(0.0, clock() - expected))

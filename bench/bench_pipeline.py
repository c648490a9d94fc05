"""Full pipeline throughput on a real Kafka vs a bare aiokafka consume + json.loads loop.

Run: .venv/bin/python bench/bench_pipeline.py [--events 60000] [--partitions 4]

One broker, one run: N events (ticks 90% / orders 8% / fills 2%, 20 symbols,
50 accounts, event times 0.5 ms apart) are produced to the input topics. Then

* baseline: a group-less ``AIOKafkaConsumer`` assigned every partition of
  ticks/orders/fills/risk_commands reads the whole backlog and ``json.loads``
  every value (best of three passes: the strictest baseline);
* RedFire: a ``faust -A redfire worker`` that had applied the opening state
  (SET_CASH, 260 daily closes and a fresh tick per symbol) and was stopped is
  restarted on its datadir after producing, and drains the same backlog; the
  clock runs from /health ok to the moment the worker's
  consumer group has committed every partition's end offset (polled every
  0.1 s; faust commits every second, so the figure errs by up to ~1 s, against
  RedFire).

Target (DESIGN.md §11): RedFire ≥ 50% of the bare loop's events/s.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from aiokafka import AIOKafkaConsumer, TopicPartition
from common import (
    INPUT_TOPICS,
    BenchWorker,
    CommittedWatcher,
    MixedFeed,
    Report,
    bench_arguments,
    create_topics,
    end_offsets,
    kafka_broker,
    log,
    now_ms,
    produce_all,
    read_json,
    running,
    sched_seconds,
    verdict,
)

APP_ID = "bench-pipeline"
TARGET = 0.50


async def bare_drain(
    bootstrap: str, start: dict[tuple[str, int], int], end: dict[tuple[str, int], int]
) -> tuple[float, float]:
    """Read and decode every record between ``start`` and ``end``; return (seconds, cpu s)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for (t, p), off in end.items() if off > start[(t, p)]]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, start[(tp.topic, tp.partition)])
        total = sum(end.values()) - sum(start.values())
        count = 0
        cpu = time.process_time()
        started = time.monotonic()
        while count < total:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                for message in messages:
                    json.loads(message.value or b"null")
                count += len(messages)
        return time.monotonic() - started, time.process_time() - cpu
    finally:
        await consumer.stop()


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--baseline-passes", type=int, default=3)
    parser.add_argument("--log-level", default="info", help="the worker's -l (info, warn...)")
    args = parser.parse_args()
    command = f".venv/bin/python bench/bench_pipeline.py --events {args.events}"
    if args.log_level != "info":
        command += f" --log-level {args.log_level}"
    report = Report("pipeline", command)

    with kafka_broker("pipeline") as broker:
        bootstrap = broker.bootstrap
        create_topics(bootstrap, args.partitions)
        feed = MixedFeed(tag="p")
        # Event times 0.5 ms apart: the whole stream spans less than the 60 s price-age limit.
        start_ts = now_ms() - args.events // 2 - 10_000
        worker = BenchWorker(bootstrap, APP_ID, broker.workdir / "data", log_level=args.log_level)
        watcher = CommittedWatcher(bootstrap, APP_ID, INPUT_TOPICS)
        with running(worker):  # the desk's state first: cash, price history, a fresh tick each
            worker.start()
            produce_all(bootstrap, [*feed.opening(start_ts), *feed.fresh_ticks(start_ts)])
            watcher.wait_for(end_offsets(bootstrap, INPUT_TOPICS), timeout=300)
        start = end_offsets(bootstrap, INPUT_TOPICS)
        log(f"opening applied ({sum(start.values())} records); worker stopped")

        records = list(feed.stream(args.events, start_ts, step_ms=0.5))
        produced_at = time.monotonic()
        counts = produce_all(bootstrap, records)
        total = sum(counts.values())
        log(f"produced {total} records {counts} in {time.monotonic() - produced_at:.1f}s")
        targets = end_offsets(bootstrap, INPUT_TOPICS)
        assert sum(targets.values()) - sum(start.values()) == total, (targets, total)

        passes = []
        for i in range(args.baseline_passes):
            seconds, cpu = asyncio.run(bare_drain(bootstrap, start, targets))
            passes.append((seconds, cpu))
            log(f"bare aiokafka pass {i + 1}: {total / seconds:,.0f} events/s ({seconds:.2f}s)")
        bare_seconds, bare_cpu = min(passes)

        with running(worker):  # restarted on its datadir, with the backlog waiting
            worker.launch()
            ready = worker.wait_healthy()
            cpu_at_ready = worker.cpu_seconds()
            ran_at_ready, waited_at_ready = sched_seconds(worker.pid)
            at_ready = watcher.total(start)
            log(f"worker ready in {ready - worker.launched_at:.1f}s ({at_ready} already committed)")
            done = watcher.wait_for(targets, timeout=600)
            cpu_used = worker.cpu_seconds() - cpu_at_ready
            ran, waited = sched_seconds(worker.pid)
            ran, waited = ran - ran_at_ready, waited - waited_at_ready
            rss = (worker.rss_bytes() or 0) / 2**20
        watcher.close()
        worker_seconds = done - ready
        drained = total - at_ready
        decisions = read_json(bootstrap, "order_decisions")
        outcome = Counter(str(d.get("decision")) for d in decisions)
        reasons = Counter(r["check"] for d in decisions for r in d.get("reasons", []))

    bare_rate = total / bare_seconds
    worker_rate = drained / worker_seconds
    ratio = worker_rate / bare_rate
    new_orders = sum(1 for _t, _k, v in records if b'"action":"NEW"' in v)
    report.figures = {
        "events": total,
        "per_topic": counts,
        "bare_seconds": bare_seconds,
        "bare_events_per_s": bare_rate,
        "bare_cpu_us_per_event": bare_cpu / total * 1e6,
        "worker_seconds": worker_seconds,
        "worker_events_per_s": worker_rate,
        "worker_cpu_us_per_event": cpu_used / drained * 1e6,
        "worker_cpu_utilisation": cpu_used / worker_seconds,
        "worker_rss_mb_at_end": rss,
        "main_thread_ran_s": ran,
        "main_thread_waited_for_cpu_s": waited,
        "ratio": ratio,
        "decisions": dict(outcome),
        "new_orders": new_orders,
        "top_reject_reasons": dict(reasons.most_common(5)),
    }
    report.row(
        "pipeline throughput ≥ 50% of bare aiokafka consume+decode",
        f"{worker_rate:,.0f} events/s",
        f"{bare_rate:,.0f} events/s",
        f"{ratio:.1%}",
        verdict(ratio >= TARGET),
    )
    report.line(f"### Pipeline throughput ({total:,} events, {args.partitions} partitions)")
    report.line()
    report.line(f"Command: `{report.command}`")
    report.line()
    report.line(
        "Events: "
        + ", ".join(f"{topic} {n:,}" for topic, n in sorted(counts.items()))
        + " (before them, and not counted: SET_CASH for 50 accounts, 260 daily closes and a "
        "fresh tick for 20 symbols, applied by the same worker, which was then stopped)."
    )
    report.line()
    report.line("| consumer | seconds | events/s | CPU µs/event | ratio |")
    report.line("|---|---:|---:|---:|---:|")
    report.line(
        f"| bare aiokafka consume + json.loads (best of {args.baseline_passes}) "
        f"| {bare_seconds:.2f} | {bare_rate:,.0f} | {bare_cpu / total * 1e6:.1f} | 1.00 |"
    )
    report.line(
        f"| RedFire worker, /health ok → all offsets committed | {worker_seconds:.2f} "
        f"| {worker_rate:,.0f} | {cpu_used / drained * 1e6:.1f} | {ratio:.3f} |"
    )
    report.line()
    report.line(
        f"- RedFire / bare: **{ratio:.1%}** (target ≥ {TARGET:.0%}) — {verdict(ratio >= TARGET)}"
    )
    report.line(
        f"- worker CPU while draining: {cpu_used / worker_seconds:.0%} of one core; its event-loop "
        f"thread was on a CPU {ran / worker_seconds:.0%} of the time and runnable but waiting "
        f"for one (other processes) {waited / worker_seconds:.0%}; "
        f"RSS at the end {rss:.0f} MiB"
    )
    report.line(
        f"- decisions: {len(decisions):,} for {new_orders:,} NEW orders "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(outcome.items()))}); "
        f"top reject reasons: {', '.join(f'{k} {v:,}' for k, v in reasons.most_common(3)) or '-'}"
    )
    report.line()
    report.emit(args.json_out)


if __name__ == "__main__":
    main()

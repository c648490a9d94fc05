"""Soak: the worker's resident memory over a long mixed stream (target: 1M events).

Run: .venv/bin/python bench/bench_soak.py [--events 1000000] [--seconds 120]

One broker, one worker (after SET_CASH and 260 daily closes). A producer
thread sends a continuous stream (ticks 90% / orders 8% / fills 2%, event
times = wall clock, a quarter of the orders cancel an earlier one, fills
execute open orders) as fast as the worker keeps up: it never runs more than
``--max-lag`` records ahead of the worker's committed offsets, so the figure
is the worker's memory, not a backlog's. It stops at ``--events`` or after
``--seconds`` of producing, whichever comes first; the worker then drains.

Every second: the worker's VmRSS (/proc/<pid>/status) and its committed
offsets. RSS after warm-up = the first sample once 20% of the events were
processed; growth = RSS at the end − that. If fewer than 1M events fit in the
time, the output says so and adds a linear extrapolation of the post-warm-up
slope to 1M events.

Target (DESIGN.md §11): growth ≤ 50 MB after warm-up over a 1M-event soak.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
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
    producer,
    running,
    send,
    verdict,
)

APP_ID = "bench-soak"
TARGET_MB = 50.0
FULL = 1_000_000
MB = 2**20


@dataclass
class Sample:
    seconds: float
    processed: int
    rss: int


class Feeder(threading.Thread):
    """Produces the mixed stream, staying at most ``max_lag`` records ahead of the worker."""

    def __init__(self, bootstrap: str, events: int, seconds: float, max_lag: int) -> None:
        super().__init__(daemon=True)
        self.prod = producer(bootstrap, **{"linger.ms": 5})
        self.feed = MixedFeed(seed=23, tag="s")
        self.events, self.seconds, self.max_lag = events, seconds, max_lag
        self.produced = 0
        self.processed = 0  # updated by the sampler
        self.stop = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        while self.produced < self.events and time.monotonic() < deadline:
            if self.stop.is_set():
                break
            if self.produced - self.processed >= self.max_lag:
                self.prod.poll(0.01)
                continue
            ts = now_ms()
            for _ in range(min(500, self.events - self.produced)):
                topic, key, value = self.feed.next(ts)
                send(self.prod, topic, key, value)
                self.produced += 1
            self.prod.poll(0)
        self.prod.flush(60)


def rocksdb_files(datadir: Path) -> tuple[int, int]:
    """Bytes in RocksDB write-ahead logs (data still in memtables) and the .sst count."""
    wal = sum(p.stat().st_size for p in datadir.rglob("*.log") if p.parent.name != "logs")
    return wal, sum(1 for _ in datadir.rglob("*.sst"))


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=FULL)
    parser.add_argument("--seconds", type=float, default=120.0, help="longest producing time")
    parser.add_argument("--max-lag", type=int, default=5000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    command = (
        f".venv/bin/python bench/bench_soak.py --events {args.events} --seconds {args.seconds:g}"
    )
    report = Report("soak", command)
    samples: list[Sample] = []

    with kafka_broker("soak") as broker:
        bootstrap = broker.bootstrap
        create_topics(bootstrap, args.partitions)
        worker = BenchWorker(bootstrap, APP_ID, broker.workdir / "data")
        with running(worker):
            worker.start()
            produce_all(bootstrap, list(MixedFeed(tag="open").opening(now_ms())))
            watcher = CommittedWatcher(bootstrap, APP_ID, INPUT_TOPICS)
            start = end_offsets(bootstrap, INPUT_TOPICS)
            watcher.wait_for(start, timeout=120)
            rss_start = worker.rss_bytes() or 0
            log(f"worker warm with the opening applied; RSS {rss_start / MB:.0f} MiB")
            feeder = Feeder(bootstrap, args.events, args.seconds, args.max_lag)
            began = time.monotonic()
            feeder.start()
            next_sample = began
            try:
                while True:
                    next_sample += 1.0
                    time.sleep(max(0.0, next_sample - time.monotonic()))
                    processed = watcher.total(start)
                    feeder.processed = processed
                    samples.append(
                        Sample(time.monotonic() - began, processed, worker.rss_bytes() or 0)
                    )
                    if len(samples) % 15 == 0:
                        log(f"  {processed:,} processed, RSS {samples[-1].rss / MB:.0f} MiB")
                    if not feeder.is_alive() and processed >= feeder.produced:
                        break
                    if not feeder.is_alive() and samples[-1].seconds > args.seconds + 60:
                        raise TimeoutError("worker did not drain within 60 s")
            finally:
                feeder.stop.set()
                feeder.join(30)
            for _ in range(3):  # settle: the end is the mean of three more seconds
                time.sleep(1.0)
                samples.append(Sample(time.monotonic() - began, processed, worker.rss_bytes() or 0))
            watcher.close()
            wal_bytes, sst_files = rocksdb_files(worker.datadir)

    processed = samples[-1].processed
    elapsed = samples[-1].seconds
    warm_index = next(i for i, s in enumerate(samples) if s.processed >= 0.2 * processed)
    warm = samples[warm_index]
    end_rss = sum(s.rss for s in samples[-3:]) / 3
    growth = (end_rss - warm.rss) / MB
    after = samples[warm_index:]
    peak = max(s.rss for s in after) / MB
    slope = 0.0
    if len(after) > 2 and after[-1].processed > after[0].processed:
        xs = np.array([s.processed for s in after], dtype=float)
        ys = np.array([s.rss for s in after], dtype=float) / MB
        slope = float(np.polyfit(xs, ys, 1)[0]) * 100_000  # MB per 100k events
    extrapolated = growth + slope * max(0, FULL - processed) / 100_000
    rate = processed / max(elapsed, 1e-9)
    full_run = processed >= FULL
    met = growth <= TARGET_MB and (full_run or extrapolated <= TARGET_MB)
    report.figures = {
        "events": processed,
        "seconds": elapsed,
        "events_per_s": rate,
        "rss_start_mb": rss_start / MB,
        "rss_warm_mb": warm.rss / MB,
        "warm_after_events": warm.processed,
        "rss_end_mb": end_rss / MB,
        "rss_peak_after_warm_mb": peak,
        "growth_mb": growth,
        "slope_mb_per_100k": slope,
        "extrapolated_growth_1m_mb": extrapolated,
        "rocksdb_wal_mb_at_end": wal_bytes / MB,
        "rocksdb_sst_files_at_end": sst_files,
        "samples": [(round(s.seconds, 1), s.processed, s.rss) for s in samples],
    }
    scope = (
        f"{processed:,} events"
        if full_run
        else f"{processed:,} events (1M did not fit: {rate:,.0f} events/s would need "
        f"{FULL / rate / 60:.0f} min)"
    )
    report.row(
        "RSS growth after warm-up ≤ 50 MB over 1M events",
        f"{growth:+.1f} MB over {processed:,} events"
        + ("" if full_run else f"; extrapolated to 1M: {extrapolated:+.1f} MB"),
        f"RSS after warm-up {warm.rss / MB:.0f} MiB",
        f"{growth / TARGET_MB:.2f} of the budget",
        verdict(met),
    )
    report.line("### Soak: resident memory")
    report.line()
    report.line(f"Command: `{command}`")
    report.line()
    report.line(
        f"Scope: {scope}, in {elapsed:.0f} s; RSS sampled every second (VmRSS of the worker)."
    )
    report.line()
    report.line("| point | events processed | RSS MiB |")
    report.line("|---|---:|---:|")
    report.line(f"| worker warm, opening applied | 0 | {rss_start / MB:.1f} |")
    report.line(f"| after warm-up (20% of the events) | {warm.processed:,} | {warm.rss / MB:.1f} |")
    report.line(f"| peak after warm-up | | {peak:.1f} |")
    report.line(f"| end (mean of the last 3 s) | {processed:,} | {end_rss / MB:.1f} |")
    report.line()
    report.line(
        f"- growth after warm-up: **{growth:+.1f} MB** (target ≤ {TARGET_MB:g} MB); "
        f"slope {slope:+.1f} MB per 100k events"
        + ("" if full_run else f", linear extrapolation to 1M events {extrapolated:+.1f} MB")
        + f" — {verdict(met)}"
    )
    report.line(f"- worker throughput during the soak: {rate:,.0f} events/s")
    report.line(
        f"- RocksDB at the end: {wal_bytes / MB:.1f} MiB in write-ahead logs (data still held in "
        f"memtables, not yet flushed), {sst_files} .sst files"
    )
    report.line()
    report.emit(args.json_out)


if __name__ == "__main__":
    main()

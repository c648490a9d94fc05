"""Worker restart with 100k positions vs reading the positions changelog alone.

Run: .venv/bin/python bench/bench_restart.py [--accounts 1000] [--symbols 100] [--real-fills 2000]

One broker, one run:

1. A worker applies ``--real-fills`` fills (1,000 accounts × 100 symbols, one
   fill per (account, symbol), after SET_CASH) and is stopped. Pushing all
   100k fills through one worker would take minutes on this machine, so the
   changelog records of the remaining fills are then written straight to the
   worker's changelog topics, in exactly the format, key and partition the
   worker itself wrote for the real ones (read back from those topics): per
   fill one ``positions`` record, one ``accounts`` record (cash) and one
   ``seen_fills`` record, as ``fills.apply_to_position`` does.
2. Baseline: a group-less ``AIOKafkaConsumer`` reads
   ``<app_id>-positions-changelog`` from offset 0 to its end (best of three).
3. A worker with an EMPTY datadir starts: /health 200 only after recovering
   every changelog (full recovery); then one with the SAME, now complete,
   datadir (rocksdb) restarts. Both are timed from process launch to /health
   200 and checked: a sample of accounts must report 100 positions each.
4. For the decomposition: ``python -c "import redfire"``.

   Beside them, the fixed start: the same worker (its own app id) on an empty
   changelog.

Target (DESIGN.md §11): recovery beyond the fixed start ≤ 2× a bare read of
the same changelogs (every changelog topic of the app).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from common import (
    REPO,
    BenchWorker,
    CommittedWatcher,
    Report,
    bench_arguments,
    create_topics,
    encode,
    end_offsets,
    kafka_broker,
    log,
    now_ms,
    produce_all,
    producer,
    running,
    verdict,
)
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as CkTP

APP_ID = "bench-restart"
TARGET = 2.0


@dataclass
class ChangelogRecord:
    key: bytes
    value: bytes
    partition: int


def key_text(key: bytes) -> str:
    """A changelog key as text (faust may have written it as a JSON string)."""
    text = key.decode()
    return str(json.loads(text)) if text.startswith('"') else text


def changelog(table: str) -> str:
    return f"{APP_ID}-{table}-changelog"


def read_changelog(bootstrap: str, topic: str) -> list[ChangelogRecord]:
    """Every record of a changelog topic, with its partition."""
    targets = end_offsets(bootstrap, [topic])
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-restart-peek", "log_level": 2}
    )
    consumer.assign([CkTP(t, p, 0) for (t, p) in targets])
    left = {p for (_t, p), end in targets.items() if end > 0}
    out: list[ChangelogRecord] = []
    deadline = time.monotonic() + 60
    try:
        while left and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                if message.error():
                    continue
                partition = int(message.partition() or 0)
                out.append(ChangelogRecord(message.key() or b"", message.value() or b"", partition))
                if int(message.offset() or 0) + 1 >= targets[(topic, partition)]:
                    left.discard(partition)
    finally:
        consumer.close()
    return out


async def bare_read(bootstrap: str, topics: list[str]) -> tuple[float, int]:
    """Read ``topics`` from offset 0 to their current end; return (seconds, records)."""
    targets = end_offsets(bootstrap, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for (t, p), end in targets.items() if end > 0]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        total = sum(targets.values())
        count = 0
        started = time.monotonic()
        while count < total:
            batches = await consumer.getmany(timeout_ms=200)
            count += sum(len(messages) for messages in batches.values())
        return time.monotonic() - started, count
    finally:
        await consumer.stop()


def synthesize(
    bootstrap: str,
    partitions: int,
    accounts: list[str],
    symbols: list[str],
    real: int,
) -> dict[str, int]:
    """Write the changelog records of fills ``real``.. as the worker writes them."""
    from redfire.streams.partitioning import partition_for

    templates = {t: read_changelog(bootstrap, changelog(t)) for t in ("positions", "accounts")}
    seen = read_changelog(bootstrap, changelog("seen_fills"))
    for table, records in (*templates.items(), ("seen_fills", seen)):
        if not records:
            raise RuntimeError(f"the worker wrote no {table} changelog records")
        for record in records[:50]:
            account = key_text(record.key).split("|", 1)[0]
            if record.partition != partition_for(account, partitions):
                raise RuntimeError(f"{table}: {record.key!r} on partition {record.partition}")
    quoted = templates["positions"][-1].key.startswith(b'"')  # faust wrote the key as JSON

    def table_key(text: str) -> bytes:
        return json.dumps(text).encode() if quoted else text.encode()

    position_value = templates["positions"][-1].value
    account_template = json.loads(templates["accounts"][-1].value)
    seen_value = seen[-1].value
    prod = producer(bootstrap, **{"linger.ms": 20, "batch.num.messages": 10_000})
    written = {"positions": 0, "accounts": 0, "seen_fills": 0}
    for k in range(real, len(accounts) * len(symbols)):
        account, symbol = accounts[k // len(symbols)], symbols[k % len(symbols)]
        partition = partition_for(account, partitions)
        rows = (
            ("positions", table_key(f"{account}|{symbol}"), position_value),
            ("accounts", table_key(account), encode({**account_template, "account": account})),
            ("seen_fills", table_key(f"{account}|rf-{k}"), seen_value),
        )
        for table, key, value in rows:
            while True:
                try:
                    prod.produce(changelog(table), key=key, value=value, partition=partition)
                    break
                except BufferError:
                    prod.poll(0.05)
            written[table] += 1
        if k % 10_000 == 0:
            prod.poll(0)
    if prod.flush(60):
        raise RuntimeError("synthetic changelog records not delivered")
    return written


def fill(k: int, account: str, symbol: str, ts: int) -> bytes:
    return encode(
        {
            "fill_id": f"rf-{k}",
            "order_id": f"ro-{k}",
            "account": account,
            "symbol": symbol,
            "side": "BUY",
            "qty": 10 + k % 7,
            "price": 50.0 + k % 100,
            "fee": 0.1,
            "ts": ts,
        }
    )


def import_seconds() -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import redfire"], cwd=REPO, check=True)
    return time.monotonic() - started


def positions_seen(worker: BenchWorker, sample: list[str]) -> list[int]:
    return [len(worker_get(worker, f"/accounts/{a}/positions")["positions"]) for a in sample]


def worker_get(worker: BenchWorker, path: str) -> dict[str, Any]:
    import urllib.request

    url = f"http://127.0.0.1:{worker.web_port}{path}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
        return body


def main() -> None:
    parser = bench_arguments(__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--real-fills", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    command = (
        f".venv/bin/python bench/bench_restart.py --accounts {args.accounts} "
        f"--symbols {args.symbols} --real-fills {args.real_fills}"
    )
    report = Report("restart", command)
    accounts = [f"R{i:04d}" for i in range(args.accounts)]
    symbols = [f"S{j:03d}" for j in range(args.symbols)]
    total = len(accounts) * len(symbols)
    real = min(args.real_fills, total)
    sample = [accounts[0], accounts[len(accounts) // 2], accounts[-1]]

    with kafka_broker("restart") as broker:
        bootstrap = broker.bootstrap
        create_topics(bootstrap, args.partitions)
        ts = now_ms()
        writer = BenchWorker(bootstrap, APP_ID, broker.workdir / "data-writer")
        with running(writer):
            writer.start()
            commands = [
                (
                    "risk_commands",
                    a.encode(),
                    encode(
                        {
                            "command_id": f"cash-{a}",
                            "command": "SET_CASH",
                            "account": a,
                            "payload": {"cash": 10_000_000},
                            "ts": ts,
                        }
                    ),
                )
                for a in accounts
            ]
            fills = [
                ("fills", accounts[k // len(symbols)].encode(),
                 fill(k, accounts[k // len(symbols)], symbols[k % len(symbols)], ts))
                for k in range(real)
            ]  # fmt: skip
            started = time.monotonic()
            produce_all(bootstrap, [*commands, *fills])
            watcher = CommittedWatcher(bootstrap, APP_ID, ["fills", "risk_commands"])
            watcher.wait_for(end_offsets(bootstrap, ["fills", "risk_commands"]), timeout=600)
            watcher.close()
            real_rate = (real + len(commands)) / (time.monotonic() - started)
            log(f"worker applied {real} fills + {len(commands)} commands at {real_rate:,.0f}/s")
        started = time.monotonic()
        written = synthesize(bootstrap, args.partitions, accounts, symbols, real)
        log(
            f"wrote the changelog records of {total - real:,} more fills: {written} "
            f"in {time.monotonic() - started:.1f}s"
        )
        positions_records = sum(end_offsets(bootstrap, [changelog("positions")]).values())

        passes = [asyncio.run(bare_read(bootstrap, [changelog("positions")])) for _ in range(3)]
        baseline, read_count = min(passes)
        log(f"bare read of {read_count:,} positions changelog records: {baseline:.2f}s")
        all_changelogs = sorted(
            t for t in end_offsets_topics(bootstrap) if t.startswith(f"{APP_ID}-")
        )
        sizes = end_offsets(bootstrap, all_changelogs)
        per_topic = {t: sum(n for (tt, _p), n in sizes.items() if tt == t) for t in all_changelogs}
        log(f"changelog records: { {t: n for t, n in per_topic.items() if n} }")
        all_seconds, all_count = asyncio.run(bare_read(bootstrap, all_changelogs))
        log(
            f"bare read of all {len(all_changelogs)} changelogs ({all_count:,}): {all_seconds:.2f}s"
        )

        fixed = BenchWorker(bootstrap, f"{APP_ID}-fixed", broker.workdir / "data-fixed")
        with running(fixed):  # the same worker on an empty changelog: the fixed start
            fixed_seconds = fixed.start()
        log(f"fixed start (empty changelog): ready in {fixed_seconds:.2f}s")
        datadir = broker.workdir / "data-restart"
        empty = BenchWorker(bootstrap, APP_ID, datadir)
        with running(empty):
            empty_seconds = empty.start()
            empty_check = positions_seen(empty, sample)
        log(f"empty datadir: ready in {empty_seconds:.2f}s, positions {empty_check}")
        same = BenchWorker(bootstrap, APP_ID, datadir)
        with running(same):
            same_seconds = same.start()
            same_check = positions_seen(same, sample)
        log(f"same datadir: ready in {same_seconds:.2f}s, positions {same_check}")

    imports = import_seconds()

    complete = all(n == len(symbols) for n in [*empty_check, *same_check])
    beyond_same = max(0.0, same_seconds - fixed_seconds)
    beyond_empty = max(0.0, empty_seconds - fixed_seconds)
    ratio_same, ratio_empty = beyond_same / all_seconds, beyond_empty / all_seconds
    report.figures = {
        "positions": total,
        "real_fills": real,
        "real_fill_rate": real_rate,
        "synthetic_records": written,
        "positions_changelog_records": positions_records,
        "baseline_seconds": baseline,
        "all_changelogs_seconds": all_seconds,
        "all_changelog_records": all_count,
        "changelog_records_per_topic": per_topic,
        "restart_same_seconds": same_seconds,
        "restart_empty_seconds": empty_seconds,
        "fixed_start_seconds": fixed_seconds,
        "import_redfire_seconds": imports,
        "positions_check": {"empty": empty_check, "same": same_check},
    }
    for name, beyond, ratio in (
        ("same datadir (rocksdb)", beyond_same, ratio_same),
        ("empty datadir (full recovery)", beyond_empty, ratio_empty),
    ):
        report.row(
            f"restart with {total // 1000}k positions, {name}: recovery beyond the fixed start "
            "≤ 2× a bare read of the same changelogs",
            f"{beyond:.2f} s beyond a {fixed_seconds:.2f} s fixed start",
            f"{all_seconds:.2f} s bare read",
            f"{ratio:.1f}×",
            verdict(ratio <= TARGET and complete),
        )
    report.line(f"### Restart with {total:,} positions")
    report.line()
    report.line(f"Command: `{command}`")
    report.line()
    report.line(
        f"{real:,} fills went through a worker ({real_rate:,.0f} records/s); the changelog "
        f"records of the other {total - real:,} were written in the worker's own format "
        f"({written['positions']:,} positions, {written['accounts']:,} accounts, "
        f"{written['seen_fills']:,} seen_fills records). Positions changelog: "
        f"{positions_records:,} records; all {len(all_changelogs)} changelogs of the app: "
        f"{all_count:,} records."
    )
    report.line()
    report.line("| what | seconds | ratio to the bare read of every changelog |")
    report.line("|---|---:|---:|")
    rows = (
        ("bare aiokafka read of the positions changelog (best of 3)", baseline),
        ("bare aiokafka read of every changelog of the app (the baseline)", all_seconds),
        ("fixed start: the same worker on an empty changelog → /health 200", fixed_seconds),
        ("worker restart, SAME datadir → /health 200", same_seconds),
        ("worker restart, EMPTY datadir (full recovery) → /health 200", empty_seconds),
        ("`python -c 'import redfire'` (builds nothing: part of every start)", imports),
    )
    for label, seconds in rows:
        report.line(f"| {label} | {seconds:.2f} | {seconds / all_seconds:.1f}× |")
    report.line()
    report.line(
        f"- recovery beyond the fixed start: same datadir **{beyond_same:.2f} s "
        f"({ratio_same:.1f}×)**, empty datadir **{beyond_empty:.2f} s ({ratio_empty:.1f}×)** "
        f"the bare read (target ≤ {TARGET:g}×) — same {verdict(ratio_same <= TARGET)}, "
        f"empty {verdict(ratio_empty <= TARGET)}"
    )
    report.line(
        f"- recovered state checked: positions per sampled account after the empty-datadir "
        f"start {empty_check}, after the same-datadir start {same_check} (expected "
        f"{len(symbols)} each)"
    )
    report.line(
        f"- the fixed start ({fixed_seconds:.2f} s) is the interpreter, the imports "
        f"({imports:.2f} s), faust's start and the group join; the empty-datadir start "
        f"replays every changelog through faust's recovery "
        f"({(empty_seconds - fixed_seconds) / max(all_count, 1) * 1e6:.0f} µs a record)"
    )
    report.line()
    report.emit(args.json_out)


def end_offsets_topics(bootstrap: str) -> list[str]:
    """Every topic name on the cluster."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-meta", "log_level": 2})
    try:
        return list(consumer.list_topics(timeout=10).topics)
    finally:
        consumer.close()


if __name__ == "__main__":
    main()

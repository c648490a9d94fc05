"""Takeover after a SIGKILLed worker, with and without standby replicas.

Run: .venv/bin/python bench/bench_takeover.py [--fills 60000] [--json-out PATH]

Two workers share four partitions. They build state from ``--fills`` fills (positions,
accounts and seen-fill records in the changelogs), then one is SIGKILLed. A probe order
per partition every 100 ms measures when each partition decides again; the takeover is
the slowest partition, counted from the kill. It includes the consumer session timeout
(10 s here), after which the group notices the dead member; what follows it is the
rebalance plus, without a standby, the survivor's recovery of the dead worker's tables
from their changelogs. Run once with ``REDFIRE_STANDBY_REPLICAS=0`` and once with 1 (faust's
default), same machine, same state.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2
from common import (
    ACCOUNTS,
    SYMBOLS,
    BenchWorker,
    CommittedWatcher,
    Report,
    bench_arguments,
    create_topics,
    encode,
    end_offsets,
    kafka_broker,
    log,
    machine_line,
    now_ms,
    produce_all,
    producer,
    running,
    send,
)
from confluent_kafka import Consumer, TopicPartition

PARTITIONS = 4
SESSION_TIMEOUT_S = 10.0


def partition_of(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def probe_accounts() -> dict[int, str]:
    """Return one account per partition."""
    found: dict[int, str] = {}
    for n in range(1000):
        account = f"PROBE-{n}"
        found.setdefault(partition_of(account), account)
        if len(found) == PARTITIONS:
            return found
    raise RuntimeError("no account for some partition")


def fills(count: int, prefix: str) -> list[tuple[str, bytes, bytes]]:
    rng = random.Random(5)
    records = []
    for n in range(count):
        account = rng.choice(ACCOUNTS)
        symbol = rng.choice(tuple(SYMBOLS))
        value = {
            "fill_id": f"tk-{n}",
            "order_id": f"ext-{n}",
            "account": account,
            "symbol": symbol,
            "side": rng.choice(("BUY", "SELL")),
            "qty": rng.randint(1, 100),
            "price": SYMBOLS[symbol],
            "fee": 0.1,
            "ts": now_ms(),
        }
        records.append((f"{prefix}fills", account.encode(), encode(value)))
    return records


def probe_order(prefix: str, account: str, n: int) -> tuple[str, bytes, bytes]:
    value = {
        "order_id": f"{account}-{n}",
        "account": account,
        "symbol": "AAPL",
        "side": "BUY",
        "qty": 1,
        "price": SYMBOLS["AAPL"],
        "order_type": "LIMIT",
        "action": "NEW",
        "ts": now_ms(),
    }
    return f"{prefix}orders", account.encode(), encode(value)


def decisions_from_now(bootstrap: str, topic: str) -> Consumer:
    ends = end_offsets(bootstrap, [topic])
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "bench-takeover", "log_level": 2}
    )
    consumer.assign([TopicPartition(t, p, off) for (t, p), off in ends.items()])
    return consumer


def takeover(bootstrap: str, workdir: Path, standby: int, count: int) -> dict[str, Any]:
    """Build state on two workers, SIGKILL one; return seconds until each partition decides."""
    tag = f"s{standby}-{int(time.time())}"
    prefix, app_id = f"tk{tag}-", f"takeover-{tag}"
    create_topics(bootstrap, PARTITIONS, prefix)
    env = {"REDFIRE_STANDBY_REPLICAS": str(standby), "REDFIRE_DEFAULT_CASH": "1e12"}
    workers = [
        BenchWorker(bootstrap, app_id, workdir / f"{tag}-{n}", PARTITIONS, prefix, extra_env=env)
        for n in range(2)
    ]
    with running(*workers):
        for worker in workers:
            worker.start()
        log(f"standby {standby}: two workers up; sending {count:,} fills")
        produce_all(bootstrap, fills(count, prefix))
        watcher = CommittedWatcher(bootstrap, app_id, [f"{prefix}fills"])
        watcher.wait_for(end_offsets(bootstrap, [f"{prefix}fills"]), timeout=600)
        watcher.close()
        # Standbys read the changelogs continuously; give them a moment past the commits.
        time.sleep(5)
        probes = probe_accounts()
        consumer = decisions_from_now(bootstrap, f"{prefix}order_decisions")
        prod = producer(bootstrap)
        killed = time.monotonic()
        workers[1].kill()
        log(f"standby {standby}: worker 2 SIGKILLed")
        decided: dict[int, float] = {}
        sent: dict[str, int] = {}
        n = 0
        next_probe = killed
        while len(decided) < PARTITIONS and time.monotonic() - killed < 300:
            if time.monotonic() >= next_probe:
                n += 1
                for partition, account in probes.items():
                    topic, key, value = probe_order(prefix, account, n)
                    send(prod, topic, key, value)
                    sent[f"{account}-{n}"] = partition
                prod.poll(0)
                next_probe += 0.1
            message = consumer.poll(0.05)
            if message is None or message.error():
                continue
            order_id = json.loads(message.value())["order_id"]
            partition = sent.get(order_id)
            if partition is not None:
                decided.setdefault(partition, time.monotonic() - killed)
        consumer.close()
    return {"standby": standby, "per_partition": decided, "takeover": max(decided.values())}


def main() -> None:
    parser = bench_arguments(__doc__ or "")
    parser.add_argument("--fills", type=int, default=60_000)
    args = parser.parse_args()
    report = Report("takeover", f"bench/bench_takeover.py --fills {args.fills}")
    results = []
    with kafka_broker("takeover") as broker:
        for standby in (0, 1):
            results.append(takeover(broker.bootstrap, broker.workdir, standby, args.fills))
            log(f"standby {standby}: takeover {results[-1]['takeover']:.1f}s")
    report.line("### Takeover after a SIGKILLed worker (standby replicas)")
    report.line()
    report.line(f"Command: `.venv/bin/python {report.command}`  ")
    report.line(machine_line())
    report.line()
    report.line(
        f"Two workers, {PARTITIONS} partitions, state from {args.fills:,} fills; one worker "
        f"SIGKILLed; a probe order per partition every 100 ms. Seconds from the kill until "
        f"each partition decides again (the {SESSION_TIMEOUT_S:g} s session timeout included)."
    )
    report.line()
    report.line(
        "| standby replicas | slowest partition | after the session timeout | per partition |"
    )
    report.line("|---:|---:|---:|---|")
    for result in results:
        per = ", ".join(f"p{p} {s:.1f}" for p, s in sorted(result["per_partition"].items()))
        report.line(
            f"| {result['standby']} | {result['takeover']:.1f} s | "
            f"{result['takeover'] - SESSION_TIMEOUT_S:.1f} s | {per} |"
        )
    report.figures = {"results": results}
    report.emit(args.json_out)


if __name__ == "__main__":
    main()

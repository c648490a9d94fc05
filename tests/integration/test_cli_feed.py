"""The feed commands against a real broker: replay, backfill-returns, tail and commands."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import typer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from typer.testing import CliRunner, Result

from redfire.cli import feed as cli_feed
from redfire.risk.bars import ReturnWindow, bar_start, returns_from_closes
from redfire.schemas.codec import COMMAND, FILL, encode_avro, encode_json
from redfire.schemas.records import DeadLetter, OrderDecision, RiskCommand
from redfire.streams.partitioning import partition_for
from tests.plugins.kafka_broker import KafkaNamespace
from tests.support.kafka_io import TopicReader, producer, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

PARTITIONS = 3
DAY_MS = 86_400_000
TICKS_CSV = """symbol,ts,price,volume
AAPL,1700000000000,190.5,100
MSFT,1700000000100,370.25,
000001.XSHE,1700000000200,10.5,300
AAPL,1700000000300,-1,1
GOOG,2023-11-14T22:13:20.400Z,135.0,2
TSLA,1700000000500,220.0,
"""
CLOSES_CSV = """date,AAPL,MSFT
2024-01-02,100.0,370.0
2024-01-03,101.0,
2024-01-04,99.5,372.5
2024-01-05,102.0,371.0
"""


@pytest.fixture
def env(kafka_bootstrap: str, kafka_namespace: KafkaNamespace) -> dict[str, str]:
    return {**kafka_namespace.env(kafka_bootstrap), "REDFIRE_PARTITIONS": str(PARTITIONS)}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_feed.register(app)
    return app


@pytest.fixture
def readers(kafka_bootstrap: str) -> Iterator[list[TopicReader]]:
    opened: list[TopicReader] = []
    yield opened
    for reader in opened:
        reader.close()


def invoke(app: typer.Typer, env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def read(
    kafka_bootstrap: str, topic: str, count: int, readers: list[TopicReader]
) -> list[tuple[str | None, bytes, int]]:
    reader = TopicReader(kafka_bootstrap, topic)
    readers.append(reader)
    reader.wait_for(lambda values: len(values) >= count, timeout=30)
    reader.poll(0.3)  # nothing more should arrive
    return reader.records


def test_replay_sends_valid_ticks_keyed_by_symbol_on_murmur2_partitions(
    app: typer.Typer,
    env: dict[str, str],
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_namespace: KafkaNamespace,
    readers: list[TopicReader],
) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text(TICKS_CSV)

    result = invoke(app, env, "replay", str(path), "--topic", "ticks")

    assert "sent 5, invalid 1, failed 0" in result.output
    assert "line 5: non_positive" in result.output
    records = read(kafka_bootstrap, kafka_namespace.topic("ticks"), 5, readers)
    assert len(records) == 5
    by_symbol = {key: (json.loads(value), partition) for key, value, partition in records}
    assert set(by_symbol) == {"AAPL", "MSFT", "000001.XSHE", "GOOG", "TSLA"}
    for symbol, (value, partition) in by_symbol.items():
        assert value["symbol"] == symbol
        assert partition == partition_for(symbol, PARTITIONS)
    assert by_symbol["MSFT"][0] == {"symbol": "MSFT", "ts": 1700000000100, "price": 370.25}
    assert by_symbol["GOOG"][0]["ts"] == "2023-11-14T22:13:20.400Z"


def test_replay_with_speed_follows_the_record_clock(
    app: typer.Typer,
    env: dict[str, str],
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_namespace: KafkaNamespace,
    readers: list[TopicReader],
) -> None:
    rows = [
        {
            "fill_id": f"f{i}",
            "order_id": f"o{i}",
            "account": f"ACC{i % 2}",
            "symbol": "AAPL",
            "side": "BUY",
            "qty": 10,
            "price": 100.0,
            "ts": 1_700_000_000_000 + 400 * i,
        }
        for i in range(4)
    ]
    path = tmp_path / "fills.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))

    began = time.monotonic()
    invoke(app, env, "replay", str(path), "--topic", "fills", "--speed", "2")
    elapsed = time.monotonic() - began

    assert elapsed >= 0.6  # 1.2 s of record time at 2× real time
    records = read(kafka_bootstrap, kafka_namespace.topic("fills"), 4, readers)
    assert sorted(json.loads(value)["fill_id"] for _k, value, _p in records) == [
        "f0",
        "f1",
        "f2",
        "f3",
    ]
    for key, value, partition in records:
        fill = FILL.build(json.loads(value))
        assert key == fill.account
        assert partition == partition_for(fill.account, PARTITIONS)


def test_backfill_returns_writes_one_changelog_record_per_symbol(
    app: typer.Typer,
    env: dict[str, str],
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_namespace: KafkaNamespace,
    readers: list[TopicReader],
) -> None:
    path = tmp_path / "closes.csv"
    path.write_text(CLOSES_CSV)

    result = invoke(app, env, "backfill-returns", str(path), "--window", "250")

    changelog = f"{kafka_namespace.app_id}-returns-changelog"
    assert f"wrote 2 windows to {changelog}" in result.output
    records = read(kafka_bootstrap, changelog, 2, readers)
    assert len(records) == 2
    last_bar = bar_start(1704412800000, DAY_MS)  # 2024-01-05 UTC
    expected = {
        "AAPL": returns_from_closes([100.0, 101.0, 99.5, 102.0], 250, last_bar_start=last_bar),
        "MSFT": returns_from_closes([370.0, 372.5, 371.0], 250, last_bar_start=last_bar),
    }
    for key, value, partition in records:
        assert key is not None
        assert ReturnWindow.from_dict(json.loads(value)) == expected[key]
        assert partition == partition_for(key, PARTITIONS)
    assert _cleanup_policy(kafka_bootstrap, changelog) == "compact"


def _cleanup_policy(bootstrap: str, topic: str) -> str:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=30)
    return str(configs["cleanup.policy"].value)


def _commands(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace, count: int, readers: list[TopicReader]
) -> list[tuple[str | None, RiskCommand, int]]:
    records = read(kafka_bootstrap, kafka_namespace.topic("risk_commands"), count, readers)
    return [(key, COMMAND.build(json.loads(value)), partition) for key, value, partition in records]


def test_halt_produces_a_risk_command_keyed_by_account(
    app: typer.Typer,
    env: dict[str, str],
    kafka_bootstrap: str,
    kafka_namespace: KafkaNamespace,
    readers: list[TopicReader],
) -> None:
    result = invoke(app, env, "halt", "ACC1", "--reason", "fat finger")

    ((key, command, partition),) = _commands(kafka_bootstrap, kafka_namespace, 1, readers)
    assert key == "ACC1"
    assert partition == partition_for("ACC1", PARTITIONS)
    assert command.command == "HALT"
    assert command.account == "ACC1"
    assert command.payload == {"reason": "fat finger"}
    assert len(command.command_id) == 32
    assert command.command_id in result.output
    assert abs(command.ts - time.time() * 1000) < 60_000


def test_operator_commands_carry_their_payloads(
    app: typer.Typer,
    env: dict[str, str],
    kafka_bootstrap: str,
    kafka_namespace: KafkaNamespace,
    readers: list[TopicReader],
) -> None:
    invoke(app, env, "resume", "*")
    invoke(app, env, "reduce-only", "ACC2")
    invoke(app, env, "set-cash", "ACC2", "1250000.5")
    invoke(
        app, env, "limits", "set", "--account", "ACC2", "max_var=50000", "restricted_symbols=X,Y"
    )

    got = {
        command.command: (key, command)
        for key, command, _p in _commands(kafka_bootstrap, kafka_namespace, 4, readers)
    }

    assert got["RESUME"][0] == "*" and got["RESUME"][1].account == "*"
    assert got["REDUCE_ONLY"][0] == "ACC2"
    assert got["SET_CASH"][1].payload == {"cash": 1250000.5}
    assert got["SET_LIMITS"][0] == "ACC2"
    assert got["SET_LIMITS"][1].payload == {"max_var": 50000.0, "restricted_symbols": ["X", "Y"]}


def test_tail_prints_json_and_avro_values_one_per_line(
    app: typer.Typer,
    env: dict[str, str],
    kafka_bootstrap: str,
    kafka_namespace: KafkaNamespace,
) -> None:
    # any producing command creates RedFire's topics (ensure_topics) first
    CliRunner().invoke(app, ["halt", "SETUP"], env=env)
    decision = OrderDecision("o1", "ACC1", "AAPL", "APPROVED", latency_us=42, ts=1)
    letter = DeadLetter("ticks", 0, 9, "bad", b"\xff", 2, key="AAPL")
    prod = producer(kafka_bootstrap)
    send_json(prod, kafka_namespace.topic("order_decisions"), "ACC1", encode_json(decision))
    send_json(
        prod,
        kafka_namespace.topic("order_decisions"),
        "ACC1",
        encode_avro(decision, "order_decision"),
    )
    send_json(
        prod, kafka_namespace.topic("dead_letters"), "AAPL", encode_avro(letter, "dead_letter")
    )
    assert prod.flush(30) == 0

    decisions = invoke(
        app, env, "tail", "order_decisions", "--from-beginning", "--max", "2", "--timeout", "20"
    )
    letters = invoke(
        app, env, "tail", "dead_letters", "--from-beginning", "--timeout", "3", "--meta"
    )

    lines = [json.loads(line) for line in decisions.output.splitlines()]
    assert lines == [json.loads(encode_json(decision))] * 2
    (wrapped,) = [json.loads(line) for line in letters.output.splitlines()]
    assert wrapped["key"] == "AAPL" and wrapped["offset"] == 0
    assert wrapped["value"]["payload"] == "/w==" and wrapped["value"]["offset"] == 9


def test_tail_of_a_missing_topic_says_so(app: typer.Typer, env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["tail", "risk_alerts", "--timeout", "1"], env=env)

    assert result.exit_code == 1
    assert "does not exist yet" in result.output


def test_worker_started_after_backfill_reads_the_seeded_windows(
    app: typer.Typer,
    env: dict[str, str],
    tmp_path: Path,
    redfire_worker: Callable[..., RedFireWorker],
) -> None:
    closes = [100.0 * (1 + 0.01 * ((i * 7) % 5 - 2)) ** i for i in range(40)]
    lines = ["date,AAPL"] + [
        f"{time.strftime('%Y-%m-%d', time.gmtime((19700 + i) * 86400))},{c}"
        for i, c in enumerate(closes)
    ]
    path = tmp_path / "closes.csv"
    path.write_text("\n".join(lines) + "\n")
    worker = redfire_worker(partitions=PARTITIONS, start=False)
    invoke(app, env, "backfill-returns", str(path), "--window", "250")

    worker.start()

    window = worker.get("/market/AAPL")["window"]
    expected = returns_from_closes(closes, 250)
    assert window["returns"] == list(expected.returns)
    assert window["last_close"] == closes[-1]

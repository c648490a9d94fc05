"""`redfire instruments load` against a real broker: a compacted topic keyed by symbol whose
records decode, with the workers' codec, to exactly the file's instruments."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from typer.testing import CliRunner

from redfire.cli import instruments as cli_instruments
from redfire.config.instruments import example_instruments
from redfire.schemas.codec import INSTRUMENT, DecodeFailure, decode, instrument_of
from redfire.streams.partitioning import partition_for
from tests.plugins.kafka_broker import KafkaNamespace
from tests.support.kafka_io import TopicReader

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).parents[2] / "redfire" / "config" / "instruments.example.yaml"
PARTITIONS = 2


def load(env: dict[str, str], path: Path) -> str:
    app = typer.Typer()
    cli_instruments.register(app)
    result = CliRunner().invoke(app, ["instruments", "load", str(path)], env=env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_load_publishes_every_entry_keyed_by_symbol_on_a_compacted_topic(
    kafka_bootstrap: str, kafka_namespace: KafkaNamespace
) -> None:
    env = {**kafka_namespace.env(kafka_bootstrap), "REDFIRE_PARTITIONS": str(PARTITIONS)}
    expected = example_instruments()
    topic = kafka_namespace.topic("instruments")

    output = load(env, EXAMPLE)

    assert f"sent {len(expected)} instruments to {topic}, failed 0" in output
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        reader.wait_for(lambda values: len(values) >= len(expected), timeout=30)
        reader.poll(0.3)  # nothing more should arrive
        records = list(reader.records)
    finally:
        reader.close()
    assert len(records) == len(expected)
    decoded = {}
    for key, value, partition in records:
        record = decode(value, INSTRUMENT)
        assert not isinstance(record, DecodeFailure), record
        assert key == record.symbol
        assert partition == partition_for(record.symbol, PARTITIONS)
        decoded[key] = instrument_of(record)
    assert decoded == expected
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource("topic", topic)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    assert config["cleanup.policy"].value == "compact"

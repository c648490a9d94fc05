"""``redfire instruments load FILE``: validate an instrument master file and publish it.

Every entry is checked twice before anything is sent: by the file loader (which names the file,
symbol and field of a bad entry) and by the workers' own codec, so what reaches the compacted
``instruments`` topic (key symbol, JSON values) is exactly what a worker accepts. Compaction keeps
the latest entry per symbol; publishing the file again replaces every entry it lists.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

from redfire.cli.feed import (
    BrokerOption,
    Deliveries,
    flush,
    load_settings,
    make_producer,
    prepare_topics,
    produce,
)
from redfire.config.instruments import load_instruments_file
from redfire.risk.instruments import Instrument, InstrumentFileError
from redfire.schemas.codec import INSTRUMENT, DecodeFailure, decode, encode_json, instrument_record
from redfire.streams.specs import INSTRUMENTS

SHOWN_ERRORS = 5

instruments_app = typer.Typer(help="Reference data: the instrument master.", no_args_is_help=True)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One entry ready to send: its key and JSON value."""

    instrument: Instrument
    key: bytes
    value: bytes


def prepare(instruments: Sequence[Instrument], ts: int) -> list[Outgoing]:
    """Encode each instrument as the workers read it; raise ValueError if one would not decode."""
    outgoing = []
    for instrument in instruments:
        value = encode_json(instrument_record(instrument, ts))
        decoded = decode(value, INSTRUMENT)
        if isinstance(decoded, DecodeFailure):  # the loader and the codec disagree: a bug
            raise ValueError(f"{instrument.symbol}: {decoded.reason}: {decoded.error}")
        outgoing.append(Outgoing(instrument, instrument.symbol.encode(), value))
    return outgoing


@instruments_app.command("load")
def load(
    file: Annotated[Path, typer.Argument(help="Instruments YAML (see instruments.example.yaml).")],
    dry_run: Annotated[bool, typer.Option(help="Only read and validate; send nothing.")] = False,
    broker: BrokerOption = None,
) -> None:
    """Validate an instruments file, then publish each entry to the instruments topic."""
    console = Console()
    try:
        instruments = list(load_instruments_file(file).values())
    except InstrumentFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    outgoing = prepare(instruments, time.time_ns() // 1_000_000)
    _print_instruments(console, instruments)
    if dry_run:
        console.print(f"dry run: {len(outgoing)} instruments valid, none sent")
        return
    settings = load_settings(broker)
    prepare_topics(settings, console)
    topic = settings.topic(INSTRUMENTS.name)
    deliveries = _send(make_producer(settings), topic, outgoing)
    for error in deliveries.errors[:SHOWN_ERRORS]:
        console.print(f"[red]delivery failed:[/] {error}")
    console.print(f"sent {deliveries.delivered} instruments to {topic}, failed {deliveries.failed}")
    if deliveries.failed:
        raise typer.Exit(1)


def _send(producer: Producer, topic: str, rows: Sequence[Outgoing]) -> Deliveries:
    deliveries = Deliveries()
    for row in rows:
        produce(producer, topic, row.key, row.value, deliveries)
    flush(producer, deliveries)
    return deliveries


def _print_instruments(console: Console, instruments: Sequence[Instrument]) -> None:
    table = Table()
    columns = ("symbol", "market", "ccy", "lot", "tick", "board", "ST", "close", "T+1", "trade")
    for column in columns:
        table.add_column(column, no_wrap=column == "symbol")
    for inst in instruments:
        minimum = "" if inst.min_order_qty is None else f" min {inst.min_order_qty:g}"
        table.add_row(
            inst.symbol,
            str(inst.market),
            inst.currency,
            f"{inst.lot_size}{minimum}",
            _tick(inst),
            str(inst.board or ""),
            "ST" if inst.is_st else "",
            "bars" if inst.previous_close is None else f"{inst.previous_close:g}",
            "T+1" if inst.t_plus_one else "",
            "" if inst.tradable else "no",
        )
    console.print(table)


def _tick(instrument: Instrument) -> str:
    bands = instrument.ticks.bands
    if instrument.tick_rule is not None:
        return str(instrument.tick_rule).lower()
    return str(bands[0].tick) if len(bands) == 1 else f"{len(bands)} bands"


def register(app: typer.Typer) -> None:
    """Add ``redfire instruments …`` to the CLI."""
    app.add_typer(instruments_app, name="instruments")

"""Feed and steer a running RedFire from the command line: ``replay``, ``backfill-returns``,
``tail``, ``halt``/``resume``/``reduce-only``/``set-cash`` and ``limits set|show``.

``redfire.cli`` calls ``register(app)`` to add them. Files are turned into records by
``redfire.feed`` (pure); this module only talks to Kafka with confluent-kafka and prints.
Settings are read fresh from the environment on every run (``Settings()``), so one process
can run commands against different brokers.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import typer
import yaml
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from redfire import feed
from redfire.risk.bars import parse_interval
from redfire.risk.limits import LimitBook, limit_docs, limits_to_payload, parse_limits_yaml
from redfire.risk.vocabulary import ALL_ACCOUNTS
from redfire.schemas.codec import COMMAND, DecodeFailure, decode, encode_json
from redfire.schemas.records import CommandType, PayloadValue, RiskCommand
from redfire.settings import Settings
from redfire.streams.admin import (
    ClusterSetupError,
    check_connection,
    client_config,
    ensure_topics,
)
from redfire.streams.partitioning import partition_for
from redfire.streams.specs import TopicLayoutError

# Kafka's Java default for keyed records; RedFire's partition routing assumes it.
PARTITIONER: Final = "murmur2_random"
FLUSH_TIMEOUT_S: Final = 60.0
METADATA_TIMEOUT_S: Final = 10.0
SHOWN_ERRORS: Final = 5

DeliveryCallback = Callable[[KafkaError | None, Message], None]


class ReplayTopic(StrEnum):
    """The input topics a file can be replayed into."""

    TICKS = "ticks"
    ORDERS = "orders"
    FILLS = "fills"


BrokerOption = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="Kafka to use (kafka://host:port); default REDFIRE_BROKER.",
        show_default=False,
    ),
]
AccountArgument = Annotated[
    str, typer.Argument(help="Account id, or '*' (quoted in the shell) for every account.")
]


def load_settings(broker: str | None = None) -> Settings:
    """Return settings read from the environment now, with ``broker`` overriding it."""
    return Settings(broker=broker) if broker else Settings()


def _fail(console: Console, message: str, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


# --- producing -----------------------------------------------------------------------------


@dataclass
class Deliveries:
    """Count delivery reports and keep the errors."""

    delivered: int = 0
    errors: list[str] = field(default_factory=list)

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.errors.append(f"{message.topic()}: {error.str()}")

    @property
    def failed(self) -> int:
        """Return how many records the broker did not take."""
        return len(self.errors)


def make_producer(settings: Settings) -> Producer:
    """Return a producer that partitions keys as Kafka's Java client does."""
    return Producer({**client_config(settings), "partitioner": PARTITIONER, "linger.ms": 5})


def produce(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes,
    on_delivery: DeliveryCallback,
    partition: int | None = None,
) -> None:
    """Queue one record, serving delivery reports while the local queue is full."""
    extra: dict[str, Any] = {} if partition is None else {"partition": partition}
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=on_delivery, **extra)
            return
        except BufferError:
            producer.poll(0.1)


def flush(producer: Producer, deliveries: Deliveries, timeout: float = FLUSH_TIMEOUT_S) -> None:
    """Wait for every queued record; count those still queued after ``timeout`` as failed."""
    left = producer.flush(timeout)
    deliveries.errors.extend([f"not delivered within {timeout:g}s"] * left)


def prepare_topics(settings: Settings, console: Console) -> None:
    """Create RedFire's topics with the configured partitions; exit on a broken setup."""
    try:
        ensure_topics(settings)
    except (TopicLayoutError, ClusterSetupError) as exc:
        raise _fail(console, str(exc)) from exc
    except KafkaException as exc:
        raise _fail(
            console, f"Kafka at {settings.bootstrap_servers} did not answer: {exc}"
        ) from exc


def _report_delivery_errors(console: Console, deliveries: Deliveries) -> None:
    for error in deliveries.errors[:SHOWN_ERRORS]:
        console.print(f"[red]delivery failed:[/] {error}")


# --- replay --------------------------------------------------------------------------------


def replay(
    file: Annotated[
        Path, typer.Argument(help="Records as .csv, .jsonl (JSON lines) or .json (array).")
    ],
    topic: Annotated[ReplayTopic, typer.Option(help="Input topic the records belong to.")],
    speed: Annotated[
        float,
        typer.Option(min=0.0, help="N× real time by the records' ts; 0 = as fast as possible."),
    ] = 0.0,
    send_invalid: Annotated[
        bool, typer.Option(help="Send invalid rows too (they become dead letters).")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Only read and validate; send nothing.")] = False,
    broker: BrokerOption = None,
) -> None:
    """Send a file of ticks, orders or fills to RedFire, keyed as the workers expect."""
    console = Console()
    try:
        rows = feed.check_rows(feed.load_records(file, topic.value), topic.value)
    except feed.FeedError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    invalid = [row for row in rows if not row.ok]
    _report_invalid(console, invalid, len(rows), send_invalid)
    to_send = rows if send_invalid else [row for row in rows if row.ok]
    if dry_run:
        console.print(f"dry run: {len(to_send)} records would be sent, {len(invalid)} invalid")
        return
    settings = load_settings(broker)
    prepare_topics(settings, console)
    deliveries, seconds = _send_rows(settings, topic.value, to_send, speed, console)
    _print_replay_summary(console, deliveries, len(invalid), seconds)
    if deliveries.failed:
        raise typer.Exit(1)


def _report_invalid(
    console: Console, invalid: Sequence[feed.CheckedRow], total: int, sending: bool
) -> None:
    if not invalid:
        return
    action = "sending them anyway" if sending else "not sent"
    console.print(f"[yellow]{len(invalid)} of {total} rows invalid ({action}):[/]")
    for row in invalid[:SHOWN_ERRORS]:
        console.print(f"  {row.describe_failure()}", markup=False, highlight=False)
    if len(invalid) > SHOWN_ERRORS:
        console.print(f"  … and {len(invalid) - SHOWN_ERRORS} more")


def _send_rows(
    settings: Settings,
    topic: str,
    rows: Sequence[feed.CheckedRow],
    speed: float,
    console: Console,
) -> tuple[Deliveries, float]:
    producer = make_producer(settings)
    deliveries = Deliveries()
    schedule = feed.pacing_schedule([row.ts for row in rows], speed)
    full_topic = settings.topic(topic)
    started = time.monotonic()
    with _progress(console) as progress:
        task = progress.add_task(f"→ {full_topic}", total=len(rows))
        for row, offset in zip(rows, schedule, strict=True):
            _wait_until(producer, started + offset)
            key = None if row.key is None else row.key.encode()
            produce(producer, full_topic, key, row.value, deliveries)
            progress.advance(task)
        flush(producer, deliveries)
    return deliveries, time.monotonic() - started


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _wait_until(producer: Producer, deadline: float) -> None:
    # Serve delivery reports while waiting instead of sleeping blind.
    while (remaining := deadline - time.monotonic()) > 0:
        producer.poll(min(remaining, 0.1))
    producer.poll(0)


def _print_replay_summary(
    console: Console, deliveries: Deliveries, invalid: int, seconds: float
) -> None:
    _report_delivery_errors(console, deliveries)
    rate = deliveries.delivered / seconds if seconds > 0 else 0.0
    console.print(
        f"sent {deliveries.delivered}, invalid {invalid}, failed {deliveries.failed} "
        f"in {seconds:.2f} s ({rate:,.0f} records/s)"
    )


# --- backfill-returns ----------------------------------------------------------------------


def backfill_returns(
    file: Annotated[
        Path,
        typer.Argument(
            help="Daily closes: wide (date, then one column per symbol) or long "
            "(symbol, date, close), as .csv/.jsonl/.json."
        ),
    ],
    window: Annotated[
        int | None,
        typer.Option(min=1, help="Returns kept per symbol; default REDFIRE_VAR_WINDOW."),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option(help="Bar interval of the closes; default REDFIRE_BAR_INTERVAL (1d)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only compute and print; send nothing.")] = False,
    broker: BrokerOption = None,
) -> None:
    """Seed the returns table with return windows computed from daily closes.

    returns is a faust global table: every worker restores it from its changelog topic
    ({app_id}-returns-changelog) at start and keeps consuming that topic while it runs, so
    the changelog is the table: a record written there becomes the table's value for that
    key in running workers and after any restart. Each record uses the table's own
    serialisation (raw UTF-8 symbol key, JSON value) and goes to the partition of the
    symbol's ticks (Kafka's murmur2 over REDFIRE_PARTITIONS), where the market agent writes
    that symbol's window, so compaction keeps one value per symbol.
    """
    console = Console()
    settings = load_settings(broker)
    capacity = window or settings.var_window
    interval_ms = _interval_ms(interval or settings.bar_interval)
    if interval and interval != settings.bar_interval:
        console.print(
            f"[yellow]note:[/] workers cut bars at {settings.bar_interval}, not {interval}"
        )
    try:
        seeded = feed.seed_windows(feed.load_closes(file), capacity, interval_ms)
    except feed.FeedError as exc:
        raise typer.BadParameter(str(exc), param_hint="FILE") from exc
    if not seeded:
        raise _fail(console, f"{file}: no closes found")
    if not dry_run:
        _write_windows(settings, seeded, console)
    _print_windows(console, seeded, returns_topic(settings), dry_run)


def _interval_ms(text: str) -> int:
    try:
        return parse_interval(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interval") from exc


def returns_topic(settings: Settings) -> str:
    """Return the changelog topic faust keeps the ``returns`` table in."""
    return f"{settings.app_id}-returns-changelog"


def ensure_changelog(settings: Settings, topic: str, console: Console) -> None:
    """Create the compacted changelog topic unless a worker already did; check its size."""
    admin = AdminClient(client_config(settings))
    try:
        existing = admin.list_topics(timeout=METADATA_TIMEOUT_S).topics.get(topic)
        if existing is None:
            new = NewTopic(
                topic,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                config={"cleanup.policy": "compact"},
            )
            admin.create_topics([new])[topic].result(METADATA_TIMEOUT_S * 3)
            return
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" in str(exc):
            return
        raise _fail(console, f"cannot create {topic}: {exc}") from exc
    if len(existing.partitions) != settings.partitions:
        raise _fail(
            console,
            f"{topic} has {len(existing.partitions)} partitions but REDFIRE_PARTITIONS="
            f"{settings.partitions}; set REDFIRE_PARTITIONS to match the workers.",
        )


def _write_windows(
    settings: Settings, seeded: Sequence[feed.SeededWindow], console: Console
) -> None:
    prepare_topics(settings, console)
    topic = returns_topic(settings)
    ensure_changelog(settings, topic, console)
    producer = make_producer(settings)
    deliveries = Deliveries()
    for item in seeded:
        key, value = item.changelog_record()
        partition = partition_for(item.symbol, settings.partitions)
        produce(producer, topic, key, value, deliveries, partition=partition)
    flush(producer, deliveries)
    if deliveries.failed:
        _report_delivery_errors(console, deliveries)
        raise _fail(console, f"{deliveries.failed} of {len(seeded)} windows not written")


def _print_windows(
    console: Console, seeded: Sequence[feed.SeededWindow], topic: str, dry_run: bool
) -> None:
    table = Table()
    for column in ("symbol", "returns", "last close", "last date"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for item in seeded:
        table.add_row(
            item.symbol,
            f"{len(item.window.returns)}/{item.window.capacity}",
            f"{item.window.last_close:,.4f}" if item.window.last_close is not None else "-",
            item.last_date.date().isoformat(),
        )
    console.print(table)
    console.print(f"{'would write' if dry_run else 'wrote'} {len(seeded)} windows to {topic}")


# --- tail ----------------------------------------------------------------------------------


def tail(
    topic: Annotated[
        str,
        typer.Argument(
            help="order_decisions, risk_alerts, risk_metrics, stress_results, dead_letters "
            "(or an input topic)."
        ),
    ],
    from_beginning: Annotated[
        bool, typer.Option(help="Start at the oldest record instead of the next new one.")
    ] = False,
    max_records: Annotated[
        int | None, typer.Option("--max", min=1, help="Stop after this many records.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(min=0.0, help="Stop after this many seconds without a new record."),
    ] = None,
    meta: Annotated[
        bool, typer.Option(help="Wrap each value with its partition, offset and key.")
    ] = False,
    broker: BrokerOption = None,
) -> None:
    """Print a topic's records as they arrive, one JSON value per line (Avro decoded)."""
    console = Console()
    schema_name = feed.TOPIC_SCHEMAS.get(topic)
    if schema_name is None:
        raise typer.BadParameter(f"use one of {', '.join(feed.TOPIC_SCHEMAS)}", param_hint="TOPIC")
    settings = load_settings(broker)
    consumer = _assigned_consumer(settings, settings.topic(topic), from_beginning, console)
    printed = 0
    try:
        for message in _messages(consumer, timeout):
            _print_message(console, message, schema_name, meta)
            printed += 1
            if max_records is not None and printed >= max_records:
                break
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _assigned_consumer(
    settings: Settings, topic: str, from_beginning: bool, console: Console
) -> Consumer:
    # A consumer retries a refused login or an untrusted certificate forever in silence:
    # connect once first, so that such a setup fails at once and says which it is.
    try:
        check_connection(settings)
    except ClusterSetupError as exc:
        raise _fail(console, str(exc)) from exc
    # assign() never joins the group, so there is no rebalance to wait for; the id is only
    # there because librdkafka insists on one, and nothing is committed under it.
    consumer = Consumer(
        {
            **client_config(settings),
            "group.id": f"redfire-tail-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
    except KafkaException as exc:
        consumer.close()
        raise _fail(
            console, f"Kafka at {settings.bootstrap_servers} did not answer: {exc}"
        ) from exc
    if metadata is None or metadata.error is not None or not metadata.partitions:
        consumer.close()
        raise _fail(console, f"topic {topic} does not exist yet: start a worker or replay first")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(metadata.partitions)])
    return consumer


def _messages(consumer: Consumer, idle_timeout: float | None) -> Iterator[Message]:
    """Yield records until ``idle_timeout`` seconds pass without one (forever if None)."""
    last = time.monotonic()
    while idle_timeout is None or time.monotonic() - last < idle_timeout:
        message = consumer.poll(0.2)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(error)
            continue
        last = time.monotonic()
        yield message


def _print_message(console: Console, message: Message, schema_name: str, meta: bool) -> None:
    raw = message.value()
    try:
        value = feed.decode_output(raw, schema_name)
    except ValueError as exc:
        value = {"undecodable": str(exc), "bytes": feed.jsonable(raw)}
    if meta:
        key = message.key()
        value = {
            "partition": message.partition(),
            "offset": message.offset(),
            "key": None if key is None else key.decode(errors="replace"),
            "value": value,
        }
    if console.is_terminal:
        console.print_json(data=value, indent=None)
    else:
        typer.echo(json.dumps(value, separators=(",", ":")))


# --- operator commands ---------------------------------------------------------------------


def send_command(command: RiskCommand, broker: str | None, console: Console) -> None:
    """Send one RiskCommand to ``risk_commands`` keyed by its account; print its id."""
    decoded = decode(encode_json(command), COMMAND)
    if isinstance(decoded, DecodeFailure):  # a bug here, never the operator's input
        raise _fail(console, f"refusing to send an invalid command: {decoded.error}")
    settings = load_settings(broker)
    prepare_topics(settings, console)
    producer = make_producer(settings)
    deliveries = Deliveries()
    key = feed.command_key(command)
    produce(
        producer, settings.topic("risk_commands"), key.encode(), encode_json(command), deliveries
    )
    flush(producer, deliveries)
    if deliveries.failed:
        _report_delivery_errors(console, deliveries)
        raise _fail(console, f"{command.command} for {key} not sent")
    console.print(f"{command.command} {key}: command_id {command.command_id}", highlight=False)


def _send(
    kind: CommandType,
    account: str,
    payload: dict[str, PayloadValue],
    broker: str | None,
) -> None:
    send_command(feed.command_record(kind, account, payload), broker, Console())


def halt(
    account: AccountArgument,
    reason: Annotated[str | None, typer.Option(help="Why, kept in the command.")] = None,
    broker: BrokerOption = None,
) -> None:
    """Stop all new orders for an account (or every account with '*')."""
    _send("HALT", account, {} if reason is None else {"reason": reason}, broker)


def resume(account: AccountArgument, broker: BrokerOption = None) -> None:
    """Let a halted or reduce-only account trade again."""
    _send("RESUME", account, {}, broker)


def reduce_only(account: AccountArgument, broker: BrokerOption = None) -> None:
    """Allow only orders that shrink a position."""
    _send("REDUCE_ONLY", account, {}, broker)


def set_cash(
    account: Annotated[str, typer.Argument(help="Account id.")],
    amount: Annotated[float, typer.Argument(help="Cash as the back office has it.")],
    broker: BrokerOption = None,
) -> None:
    """Set an account's cash to the back office's figure."""
    if account == ALL_ACCOUNTS:
        raise typer.BadParameter("SET_CASH needs one account, not '*'", param_hint="ACCOUNT")
    if not math.isfinite(amount):
        raise typer.BadParameter(f"cash must be a finite number, got {amount}", param_hint="AMOUNT")
    _send("SET_CASH", account, {"cash": amount}, broker)


limits_app = typer.Typer(help="Set or show pre-trade limits.", no_args_is_help=True)


@limits_app.command("set")
def limits_set(
    assignments: Annotated[
        list[str], typer.Argument(help="NAME=VALUE pairs; 'redfire limits show' lists names.")
    ],
    account: Annotated[
        str, typer.Option(help="Account to override; '*' changes the default for all.")
    ] = ALL_ACCOUNTS,
    broker: BrokerOption = None,
) -> None:
    """Change limits at run time (a SET_LIMITS command), validated before sending."""
    try:
        payload = feed.parse_limit_assignments(assignments)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME=VALUE") from exc
    _send("SET_LIMITS", account, payload, broker)


@limits_app.command("show")
def limits_show(
    account: Annotated[
        str | None, typer.Option(help="Show this account's limits (default plus overrides).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Limits YAML; default REDFIRE_LIMITS_FILE, else built-ins."),
    ] = None,
) -> None:
    """Print the limits of the limits file (or the built-in defaults) with what each means."""
    console = Console()
    path = file or load_settings().limits_file
    book = _load_limit_book(path)
    limits = book.for_account(account) if account else book.default
    values = limits_to_payload(limits)
    overridden = book.per_account.get(account or "", {})
    source = str(path) if path else "built-in defaults"
    table = Table(title=f"limits of {account or 'default'} ({source})")
    for column in ("limit", "value", "meaning"):
        table.add_column(column)
    docs = limit_docs()
    for name, value in values.items():
        mark = " *" if name in overridden else ""
        table.add_row(name, f"{json.dumps(value)}{mark}", docs[name])
    console.print(table)
    if book.per_account:
        console.print(f"accounts with overrides: {', '.join(sorted(book.per_account))}")


def _load_limit_book(path: Path | None) -> LimitBook:
    if path is None:
        return LimitBook()
    try:
        return parse_limits_yaml(path.read_text())
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror}", param_hint="--file") from exc
    except (ValueError, yaml.YAMLError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--file") from exc


def register(app: typer.Typer) -> None:
    """Add the feed, tail and operator commands to the ``redfire`` CLI."""
    app.command("replay")(replay)
    app.command("backfill-returns")(backfill_returns)
    app.command("tail")(tail)
    app.command("halt")(halt)
    app.command("resume")(resume)
    app.command("reduce-only")(reduce_only)
    app.command("set-cash")(set_cash)
    app.add_typer(limits_app, name="limits")

"""``redfire demo``: embedded broker + worker + a seeded feed, shown in 80 columns.

The first minute, in order:

1. the embedded Tansu broker (or ``--broker``) and one worker start;
2. the feed sets each account's cash and sends 60 days of closes, so VaR has history;
3. it waits, polling the worker's own routes (``GET /accounts/{a}/positions``,
   ``GET /market/{symbol}``), until the worker shows that cash, the history and a fresh
   price for every symbol: no order is sent before, so no decision is about start-up;
4. ticks and orders stream (``redfire.cli.demo_feed`` tells the story); the demo plays the
   gateway and fills approved orders. Decisions and alerts are printed as they arrive, and a
   table shows each account's equity, VaR99, the limit closest to being reached and its
   trading state;
5. at the end (``--seconds`` after the start, or Ctrl-C) a summary, and everything started is
   stopped.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from rich.console import Console
from rich.live import Live

from redfire import config
from redfire.cli.demo_feed import (
    ACCOUNTS,
    BASE_CURRENCIES,
    FX_RATES,
    HISTORY_DAYS,
    OPENING_CASH,
    SYMBOLS,
    DemoFeed,
    Record,
    key_of,
)
from redfire.cli.demo_view import DemoView
from redfire.cli.readiness import NotReady, WorkerHttp, funded, priced, wait_until
from redfire.config.instruments import EXAMPLE_FILE
from redfire.embedded import EmbeddedBroker, free_port, start_tansu
from redfire.settings import Settings
from redfire.streams.admin import client_config, ensure_topics
from redfire.worker_process import WorkerProcess, start_worker

OUTPUTS = ("order_decisions", "risk_alerts", "risk_metrics", "dead_letters")
STEP_S = 0.5  # one step: a tick per symbol and one order
ACCOUNT_LINES_EVERY_S = 10.0  # when the output is not a terminal (no live table)
# The demo runs on the shipped instrument master (lots, ticks, currencies of the symbols).
INSTRUMENTS_FILE = Path(config.__file__).with_name(EXAMPLE_FILE)


@dataclass
class DemoRun:
    """What one demo run saw, for its caller (and its test)."""

    view: DemoView
    ready_after_s: float | None = None
    orders_sent: int = 0
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def worker_env(broker_url: str, workdir: Path, web_port: int) -> dict[str, str]:
    """Return the demo worker's settings: shipped defaults except where it runs."""
    return {
        "REDFIRE_BROKER": broker_url,
        "REDFIRE_APP_ID": f"redfire-demo-{int(time.time())}",
        "REDFIRE_PARTITIONS": "1",  # one worker on the embedded broker
        "REDFIRE_DATADIR": str(workdir / "data"),
        "REDFIRE_WEB_PORT": str(web_port),
        # Tansu waits a whole rebalance timeout before a group forms: keep it short.
        "REDFIRE_REBALANCE_TIMEOUT_S": "3",
        "REDFIRE_INSTRUMENTS_FILE": str(INSTRUMENTS_FILE),
        "REDFIRE_ACCOUNT_BASE_CURRENCIES": json.dumps(BASE_CURRENCIES),
    }


def run_demo(seconds: float, broker_url: str | None, console: Console, seed: int = 7) -> DemoRun:
    """Run the whole demo for ``seconds`` from now; return what it saw."""
    run = DemoRun(DemoView(ACCOUNTS))
    workdir = Path(tempfile.mkdtemp(prefix="redfire-demo-"))
    broker: EmbeddedBroker | None = None
    if broker_url is None:
        broker = start_tansu(port=free_port(), log_file=workdir / "tansu.log")
        broker_url = broker.url
        console.print(f"[bold]embedded Tansu broker[/] on {broker.bootstrap}")
    web_port = free_port()
    # The security settings (REDFIRE_KAFKA_*) come from the environment, for the feed
    # here and for the worker, which inherits it.
    settings = Settings(broker=broker_url, partitions=1)
    # Create the topics first, so the feed cannot auto-create them with other counts.
    ensure_topics(settings)
    worker = start_worker(
        worker_env(broker_url, workdir, web_port), workdir / "worker.log", web_port
    )
    console.print(f"worker pid {worker.pid}, logs in {workdir}")
    console.print(
        f"instrument master: {INSTRUMENTS_FILE.name}; ACC-1 keeps its books in CNY and trades "
        "US and Hong Kong names too (valued at the USDCNY and HKDCNY ticks); ACC-2 and ACC-3 "
        "are in USD"
    )
    try:
        stream_demo(run, seconds, settings, web_port, console, worker, seed)
        if not worker.is_running():
            console.print(f"[red]worker exited[/]; see {workdir / 'worker.log'}")
        return run
    finally:
        worker.stop()
        if broker is not None:
            broker.stop()
        console.print("[bold]stopped[/]: worker and broker are down")


@contextmanager
def stop_on_ctrl_c() -> Iterator[dict[str, bool]]:
    """Yield a flag that Ctrl-C sets, instead of raising KeyboardInterrupt mid-send."""
    stop = {"now": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(now=True))
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def stream_demo(
    run: DemoRun,
    seconds: float,
    settings: Settings,
    web_port: int,
    console: Console,
    worker: WorkerProcess,
    seed: int,
) -> None:
    """Open the accounts, wait for the worker, then stream until time runs out."""
    producer = Producer({**client_config(settings), "partitioner": "murmur2_random"})
    feed = DemoFeed(seed)
    deadline = run.started + seconds
    http = WorkerHttp(f"http://127.0.0.1:{web_port}")
    with stop_on_ctrl_c() as stop:

        def going() -> bool:
            return not stop["now"] and worker.is_running()

        try:
            open_accounts(run, feed, producer, http, console, deadline, going)
        except NotReady as exc:
            console.print(f"[red]the worker is not ready[/]: {exc}")
            return
        consumer = output_consumer(settings)
        try:
            trade(run, feed, producer, consumer, console, deadline, going)
        finally:
            consumer.close()
    for line in run.view.summary(run.elapsed()):
        console.print(line)


def open_accounts(
    run: DemoRun,
    feed: DemoFeed,
    producer: Producer,
    http: WorkerHttp,
    console: Console,
    deadline: float,
    going: Callable[[], bool],
) -> None:
    """Send cash and history; return once the worker shows them and fresh prices."""
    now = now_ms()
    send(producer, [*feed.cash_commands(now), *feed.history(now)])
    console.print(
        f"sent cash for {len(ACCOUNTS)} accounts and {HISTORY_DAYS} days of closes; "
        "waiting for the worker to apply them"
    )
    cash = dict.fromkeys(ACCOUNTS, float(OPENING_CASH))
    wait_until(lambda: funded(http, cash), deadline, going)
    # N daily closes give N - 2 returns while the last day's bar is open; today's first
    # tick closes it and the window holds N - 1.
    quoted = [*SYMBOLS, *FX_RATES]
    wait_until(lambda: priced(http, quoted, 0, HISTORY_DAYS - 2), deadline, going)
    fresh = now_ms()
    send(producer, list(feed.ticks(fresh)))
    wait_until(lambda: priced(http, quoted, fresh, HISTORY_DAYS - 1), deadline, going)
    run.ready_after_s = run.elapsed()
    console.print(
        f"[bold]ready after {run.ready_after_s:.1f} s[/]: cash set, VaR history loaded, "
        "prices fresh; trading starts"
    )


def trade(
    run: DemoRun,
    feed: DemoFeed,
    producer: Producer,
    consumer: Consumer,
    console: Console,
    deadline: float,
    going: Callable[[], bool],
) -> None:
    """Stream ticks and orders, print what comes back, fill approvals, until the deadline.

    In a terminal the account table stays live below the scrolling lines; otherwise (a pipe,
    a log) the accounts are printed as lines every ``ACCOUNT_LINES_EVERY_S`` seconds.
    """
    if console.is_terminal:
        with Live(run.view.account_table(), console=console, auto_refresh=False) as live:

            def refresh() -> None:
                live.update(run.view.account_table(), refresh=True)

            stream_steps(run, feed, producer, consumer, live.console, deadline, going, refresh)
        return
    printed_at = [time.monotonic()]

    def print_accounts() -> None:
        if time.monotonic() - printed_at[0] >= ACCOUNT_LINES_EVERY_S:
            printed_at[0] = time.monotonic()
            for line in run.view.account_lines():
                console.print(line)

    stream_steps(run, feed, producer, consumer, console, deadline, going, print_accounts)
    for line in run.view.account_lines():
        console.print(line)


def stream_steps(
    run: DemoRun,
    feed: DemoFeed,
    producer: Producer,
    consumer: Consumer,
    console: Console,
    deadline: float,
    going: Callable[[], bool],
    show_accounts: Callable[[], None],
) -> None:
    """Send a step of ticks and one order, then handle what arrives for ``STEP_S``."""
    trading_since = time.monotonic()
    while time.monotonic() < deadline and going():
        step = now_ms()
        send(producer, [*feed.live_ticks(step, time.monotonic() - trading_since), feed.order(step)])
        run.orders_sent += 1
        for message in poll(consumer, STEP_S):
            handle(run, feed, producer, console, message)
        show_accounts()


def handle(
    run: DemoRun, feed: DemoFeed, producer: Producer, console: Console, message: Message
) -> None:
    """Show one output record; answer an approval with the gateway's fill."""
    raw = message.value()
    if raw is None:
        return
    value = json.loads(raw)
    topic = message.topic()
    if topic == "order_decisions":
        for line in run.view.on_decision(value, feed.sent.get(value["order_id"])):
            console.print(line)
        feed.observe(value)
        fill = feed.fill_for(value, now_ms())
        if fill is not None:
            send(producer, [("fills", fill)])
    elif topic == "risk_alerts":
        console.print(run.view.on_alert(value, run.elapsed()))
    elif topic == "risk_metrics":
        run.view.on_snapshot(value)
    elif topic == "dead_letters":
        run.view.on_dead_letter(value)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def send(producer: Producer, records: list[Record]) -> None:
    """Send records as JSON (bytes as they are), keyed as a well-behaved producer would."""
    for topic, value in records:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        producer.produce(topic, key=key_of(topic, value), value=raw)
    producer.flush(10)


def output_consumer(settings: Settings) -> Consumer:
    """Return a group-less consumer on every partition of the output topics, from the start."""
    consumer = Consumer(
        {**client_config(settings), "group.id": "redfire-demo", "enable.auto.commit": False}
    )
    metadata = consumer.list_topics(timeout=10)
    consumer.assign(
        [
            TopicPartition(topic, partition, 0)
            for topic in OUTPUTS
            for partition in metadata.topics[topic].partitions
        ]
    )
    return consumer


def poll(consumer: Consumer, seconds: float) -> list[Message]:
    """Return every record that arrives within ``seconds``."""
    messages = []
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        message = consumer.poll(remaining)
        if message is not None and not message.error():
            messages.append(message)
    return messages

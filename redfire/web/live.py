"""The live risk page: ``GET /`` (HTML), ``GET /static/{file}`` and ``GET /ws`` (WebSocket).

Any worker can serve the page for every account because the data comes from the output
topics, not from the tables a worker owns: a :class:`OutputReader` in the worker process
reads ``risk_metrics``, ``risk_alerts`` and ``order_decisions`` with its own group-less
aiokafka consumer (all partitions, starting a short backlog before the end, JSON or Avro),
and hands each record to the :class:`LiveHub`. It reads only while a client is connected
(and ``IDLE_S`` after the last one leaves): decoding every decision and snapshot of the
whole firm on the worker's event loop cost 2–3% of the worker's CPU with nobody watching.
The hub keeps a small recent buffer (the latest snapshot per account, the last snapshots
for the VaR chart, the last alerts and decisions) for a page that just connected, and fans
every message out to the connected clients through bounded queues: a client that falls
``live_client_queue`` messages behind is dropped (close code 1013), so a slow browser never
slows the engine or the other clients.

faust web's aiohttp driver hands views the aiohttp request itself, so a view serves a
WebSocket the aiohttp way: build an ``aiohttp.web.WebSocketResponse``, ``prepare`` it on
the request, and return it when the connection ends. faust runs its web server on the
worker's event loop (``web_in_thread`` off), the loop the reader and the hub live on.

Every message is ``{"type": "snapshot" | "alert" | "decision", "data": {record fields}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Final, Literal

import faust
from aiohttp import WSCloseCode
from aiohttp import web as aiohttp_web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context
from faust import web

from redfire.feed import decode_output
from redfire.settings import Settings
from redfire.web.auth import Role, require

log = logging.getLogger(__name__)

MessageType = Literal["snapshot", "alert", "decision"]


@dataclass(frozen=True, slots=True)
class OutputTopic:
    """An output topic the page shows: its name, the message type and the Avro schema."""

    name: str
    message_type: MessageType
    schema: str


OUTPUT_TOPICS: Final = (
    OutputTopic("risk_metrics", "snapshot", "risk_snapshot"),
    OutputTopic("risk_alerts", "alert", "risk_alert"),
    OutputTopic("order_decisions", "decision", "order_decision"),
)
CLOSE: Final = ""  # queued in place of the backlog when a client is dropped
STATIC_TYPES: Final[Mapping[str, str]] = {
    ".html": "text/html",
    ".js": "application/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
}
SOCKET_HEARTBEAT_S: Final = 20.0
TOPIC_WAIT_S: Final = 2.0
RECONNECT_S: Final = 5.0
# The reader stops this long after the last client left (a reload reconnects at once).
IDLE_S: Final = 60.0
# How long the reader waits for records at a time: also how often it looks for clients.
POLL_MS: Final = 1000


def encode_message(message_type: MessageType, data: Mapping[str, Any]) -> str:
    """Return the JSON text of one WebSocket message."""
    return json.dumps({"type": message_type, "data": data}, separators=(",", ":"))


@dataclass
class RecentBuffer:
    """What a page that just connected is sent first; bounded whatever the traffic."""

    recent: int
    snapshot_history: int
    latest: dict[str, str] = field(default_factory=dict)
    latest_ts: dict[str, int] = field(default_factory=dict)
    snapshots: deque[str] = field(init=False)
    alerts: deque[str] = field(init=False)
    decisions: deque[str] = field(init=False)

    def __post_init__(self) -> None:
        self.snapshots = deque(maxlen=self.snapshot_history)
        self.alerts = deque(maxlen=self.recent)
        self.decisions = deque(maxlen=self.recent)

    def add(self, message_type: MessageType, data: Mapping[str, Any], encoded: str) -> None:
        """Keep one message."""
        if message_type == "snapshot":
            self.snapshots.append(encoded)
            account, ts = str(data.get("account")), int(data.get("ts") or 0)
            if ts >= self.latest_ts.get(account, -1):
                self.latest[account], self.latest_ts[account] = encoded, ts
        elif message_type == "alert":
            self.alerts.append(encoded)
        else:
            self.decisions.append(encoded)

    def replay(self) -> list[str]:
        """Return the buffered messages: snapshot history, latest per account, feeds."""
        latest = [self.latest[account] for account in sorted(self.latest)]
        return [*self.snapshots, *latest, *self.alerts, *self.decisions]

    def clear(self) -> None:
        """Forget everything (the reader stopped; it reads the backlog again when it starts)."""
        self.latest.clear()
        self.latest_ts.clear()
        self.snapshots.clear()
        self.alerts.clear()
        self.decisions.clear()


class Subscriber:
    """One connected client's bounded queue of encoded messages."""

    def __init__(self, limit: int) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue(limit)
        self.dropped = False

    def offer(self, message: str) -> bool:
        """Queue a message; on overflow drop the backlog, queue CLOSE and return False."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.drop()
            return False
        return True

    def drop(self) -> None:
        """Forget the backlog and tell the sender to close the connection."""
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(CLOSE)


class LiveHub:
    """Fan output records out to connected clients; keep the recent buffer."""

    def __init__(self, client_queue: int, recent: int, snapshot_history: int) -> None:
        self.client_queue = client_queue
        self.buffer = RecentBuffer(recent, snapshot_history)
        self.subscribers: set[Subscriber] = set()
        self.published = 0
        self.dropped_clients = 0
        # Set while a client is connected: the reader runs then.
        self.watched = asyncio.Event()
        self.last_left = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LiveHub:
        """Return a hub sized by the ``live_*`` settings."""
        return cls(settings.live_client_queue, settings.live_recent, settings.live_snapshot_history)

    def publish(self, message_type: MessageType, data: Mapping[str, Any]) -> None:
        """Buffer one record and queue it for every client; drop the clients that lag."""
        encoded = encode_message(message_type, data)
        self.buffer.add(message_type, data, encoded)
        self.published += 1
        for subscriber in list(self.subscribers):
            if not subscriber.offer(encoded):
                self.unsubscribe(subscriber)
                self.dropped_clients += 1
                log.warning("live page client dropped: %d messages behind", self.client_queue)

    def subscribe(self) -> tuple[Subscriber, list[str]]:
        """Register a client; return its queue and the buffered messages to send first.

        Both happen without an await in between, so nothing published is missed or doubled.
        """
        subscriber = Subscriber(self.client_queue)
        self.subscribers.add(subscriber)
        self.watched.set()
        return subscriber, self.buffer.replay()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget a client that went away."""
        self.subscribers.discard(subscriber)
        if not self.subscribers and self.watched.is_set():
            self.watched.clear()
            self.last_left = time.monotonic()

    def idle_for(self) -> float:
        """Return how long no client has been connected (0 while one is)."""
        return 0.0 if self.watched.is_set() else time.monotonic() - self.last_left


# --- reading the output topics -------------------------------------------------------------


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Return aiokafka client options for the configured Kafka security settings."""
    protocol = settings.kafka_security_protocol.upper()
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    if protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return options


class OutputReader:
    """Read the output topics from a short backlog before their end into a hub."""

    def __init__(self, settings: Settings, hub: LiveHub) -> None:
        self.settings = settings
        self.hub = hub
        self.topics = {settings.topic(spec.name): spec for spec in OUTPUT_TOPICS}
        self.undecodable = 0

    def backlog(self, spec: OutputTopic, partitions: int) -> int:
        """Return how many records per partition to read back at start."""
        kept = (
            self.settings.live_snapshot_history
            if spec.message_type == "snapshot"
            else (self.settings.live_recent)
        )
        return max(1, -(-kept // max(1, partitions)))

    async def run(self) -> None:
        """Consume while clients are connected, until cancelled (the worker stopping);
        reconnect after a Kafka failure."""
        while True:
            await self.hub.watched.wait()
            try:
                await self._consume()
            except (KafkaError, OSError) as exc:  # the page goes quiet; the engine goes on
                log.warning("live page reader: %r; reconnecting in %gs", exc, RECONNECT_S)
                await asyncio.sleep(RECONNECT_S)
            finally:
                # Stopped: what it buffered goes stale; the next start reads the backlog again.
                self.hub.buffer.clear()

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_wait_ms=100,
            client_id=f"{self.settings.app_id}-live",
            **aiokafka_security(self.settings),
        )
        await consumer.start()
        try:
            await self._assign(consumer)
            while self.hub.idle_for() < IDLE_S:
                batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=1000)
                for partition, messages in batch.items():
                    for message in messages:
                        self.handle(partition.topic, message.value)
        finally:
            await consumer.stop()

    async def _assign(self, consumer: AIOKafkaConsumer) -> None:
        assigned: list[TopicPartition] = []
        for name in self.topics:
            partitions = await self._partitions(consumer, name)
            assigned.extend(TopicPartition(name, p) for p in sorted(partitions))
        consumer.assign(assigned)
        ends = await consumer.end_offsets(assigned)
        starts = await consumer.beginning_offsets(assigned)
        for partition in assigned:
            spec = self.topics[partition.topic]
            count = sum(1 for p in assigned if p.topic == partition.topic)
            back = ends[partition] - self.backlog(spec, count)
            consumer.seek(partition, max(starts[partition], back))

    async def _partitions(self, consumer: AIOKafkaConsumer, name: str) -> set[int]:
        # The worker creates its topics before it starts services; a page served by a
        # worker that is still creating them waits here rather than failing.
        while True:
            found = consumer.partitions_for_topic(name)
            if found:
                return set(found)
            await consumer._client.force_metadata_update()  # no public refresh in aiokafka
            found = consumer.partitions_for_topic(name)
            if found:
                return set(found)
            log.info("live page: waiting for topic %s", name)
            await asyncio.sleep(TOPIC_WAIT_S)

    def handle(self, topic: str, raw: bytes | None) -> None:
        """Publish one record of ``topic``; count and skip what cannot be read."""
        spec = self.topics[topic]
        try:
            data = decode_output(raw, spec.schema)
        except (ValueError, EOFError, IndexError, KeyError) as exc:
            self.undecodable += 1
            log.warning("live page: skipped an undecodable %s record: %s", topic, exc)
            return
        if isinstance(data, dict):
            self.hub.publish(spec.message_type, data)


# --- serving -------------------------------------------------------------------------------


def static_files() -> dict[str, tuple[bytes, str]]:
    """Return name → (bytes, content type) of every file in ``redfire/web/static``."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("redfire.web").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        if entry.is_file() and suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return files


def file_response(files: Mapping[str, tuple[bytes, str]], name: str) -> web.Response:
    """Return one static file, or 404."""
    found = files.get(name)
    if found is None:
        response = aiohttp_web.json_response({"error": f"no file {name}"}, status=404)
    else:
        body, content_type = found
        response = aiohttp_web.Response(
            body=body, content_type=content_type, headers={"Cache-Control": "no-cache"}
        )
    return response  # type: ignore[return-value]


async def serve_socket(request: web.Request, hub: LiveHub) -> aiohttp_web.WebSocketResponse:
    """Push the buffered, then every new, message to one WebSocket client until it leaves."""
    socket = aiohttp_web.WebSocketResponse(heartbeat=SOCKET_HEARTBEAT_S, max_msg_size=4096)
    await socket.prepare(request)  # type: ignore[arg-type]
    subscriber, replay = hub.subscribe()
    sender = asyncio.ensure_future(_send_all(socket, subscriber, replay))
    try:
        async for _ in socket:  # the page sends nothing; reading notices the close
            pass
    finally:
        hub.unsubscribe(subscriber)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sender
    return socket


async def _send_all(
    socket: aiohttp_web.WebSocketResponse, subscriber: Subscriber, replay: list[str]
) -> None:
    try:
        for message in replay:
            await socket.send_str(message)
        while (message := await subscriber.queue.get()) != CLOSE:
            await socket.send_str(message)
        await socket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow: dropped")
    except ConnectionError:  # the client went away mid-send; the reader loop ends too
        return


def register_live(app: faust.App, settings: Settings) -> LiveHub | None:
    """Add the live page, its static files, the WebSocket and the output reader to ``app``.

    Return the hub, or None when the web server is off (nothing to serve).
    """
    if not settings.web_enabled:
        return None
    hub = LiveHub.from_settings(settings)
    reader = OutputReader(settings, hub)
    files = static_files()

    @app.page("/")
    async def live_page(self: web.View, request: web.Request) -> web.Response:
        """Serve the live risk page (viewer)."""
        if (refused := require(request, Role.VIEWER)) is not None:
            return refused
        return file_response(files, "index.html")

    @app.page("/static/{name}")
    async def live_static(self: web.View, request: web.Request, name: str) -> web.Response:
        """Serve the page's scripts and styles (code only, no data: no token needed)."""
        return file_response(files, name)

    @app.page("/ws")
    async def live_socket(self: web.View, request: web.Request) -> web.Response:
        """Push snapshots, alerts and decisions as they happen (viewer)."""
        if (refused := require(request, Role.VIEWER)) is not None:
            return refused
        return await serve_socket(request, hub)  # type: ignore[return-value]

    app.task(reader.run)
    return hub

"""The factory: one call builds the faust App, topics, tables, state and agents.

Nothing is built on import. ``build_engine(settings)`` assembles a worker;
``faust -A redfire worker`` reaches it through ``redfire.app`` (the package
attribute, built on first use from the environment's settings).
"""

from __future__ import annotations

import itertools
import logging
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.types import AppT

from redfire import metrics
from redfire.agents import Desks, register_agents
from redfire.agents.batches import fatal
from redfire.agents.context import AgentContext
from redfire.agents.monitor import STEPS as MONITOR_STEPS
from redfire.config.instruments import instrument_book
from redfire.heap import CHECK_EVERY_S, Heap
from redfire.risk.bars import parse_interval
from redfire.risk.fhs import FilterSpec
from redfire.risk.limits import LimitBook, parse_limits_yaml
from redfire.risk.measures import VaRConfig, VaRMethod
from redfire.risk.portfolio import HistoryPolicy
from redfire.risk.rules import parse_rules_yaml, rule_from_payload
from redfire.risk.stress import parse_scenarios_yaml, scenario_from_payload
from redfire.settings import Settings, settings_or_exit
from redfire.state.books import AccountBooks
from redfire.state.config import ConfigSet, LiveConfig, config_text
from redfire.state.deadlines import Deadlines
from redfire.state.filters import FilterBank, fitted_spec, window_capacity
from redfire.state.market import MarketState
from redfire.state.pruner import Pruner
from redfire.state.unit import Delivered, StaleUnit
from redfire.state.worker import StateTables, WorkerState
from redfire.streams.durability import faust_durability_options, prepare_cluster
from redfire.streams.fetching import AdaptiveFetch, pause_written_changelogs
from redfire.streams.handoff import install_fast_hand_off
from redfire.streams.linger import AdaptiveLinger, send_held
from redfire.streams.sensor import install_sensor
from redfire.streams.topics import Topics, build_topics
from redfire.tables.definitions import build_tables
from redfire.tables.standby import keep_standby_records_on_resume

log = logging.getLogger(__name__)
# How often the fhs refit timer looks for due refits (each fit takes 15-30 ms on its thread).
REFIT_INTERVAL_S = 1.0


def broker_credentials(settings: Settings) -> Any:
    """Return faust credentials for the configured Kafka security settings."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(
        cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    )
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
        raise ValueError(f"{protocol} needs REDFIRE_KAFKA_SASL_USERNAME and _PASSWORD")
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=context if protocol == "SASL_SSL" else None,
        mechanism=settings.kafka_sasl_mechanism or "PLAIN",
    )


class RedFireApp(faust.App):
    """The faust App, which creates and checks its topics before it consumes."""

    redfire_settings: Settings
    heap: Heap | None = None

    async def on_first_start(self) -> None:
        """Create missing topics; refuse to start on a partition mismatch."""
        # faust creates only the last level of the data directory.
        Path(self.conf.datadir).mkdir(parents=True, exist_ok=True)
        if self.heap is not None:
            self.heap.freeze()  # the imports' heap, before the first rebalance's collections
        await super().on_first_start()
        if not self.client_only:
            await prepare_cluster(self, self.redfire_settings)

    async def on_stop(self) -> None:
        """Freeze the heap first: faust's RocksDB store runs a full collection per table as
        it stops (15 walks of the whole state otherwise, 40 ms each at a bench worker's)."""
        if self.heap is not None:
            self.heap.freeze()
        await super().on_stop()


def quiet_hot_loggers() -> None:
    """Keep per-message debug logging of aiokafka and faust off in workers.

    The worker's log setup leaves these loggers at DEBUG, and their per-record
    debug calls then cost a log record each on the hot path.
    """
    for name in ("aiokafka", "faust.topics", "faust.transport"):
        logging.getLogger(name).setLevel(logging.INFO)


def create_faust_app(settings: Settings) -> RedFireApp:
    """Return a configured, not yet started, faust App."""
    quiet_hot_loggers()
    app = RedFireApp(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(settings.datadir),
        processing_guarantee=settings.processing_guarantee,
        topic_partitions=settings.partitions,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_enabled=settings.web_enabled,
        autodiscover=False,
        table_cleanup_interval=30.0,
        producer_linger_ms=settings.producer_linger_ms,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=1000,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_commit_interval=settings.commit_interval_s,
        # A rebalance waits until every batch in flight is delivered and acked, so
        # the next owner of a partition starts exactly where this worker stopped.
        stream_wait_empty=True,
        **faust_durability_options(settings),
    )
    app.redfire_settings = settings
    install_sensor(app)
    return app


class FaustProducer:
    """The engine's producer: faust's (transactional under exactly_once) aiokafka producer."""

    def __init__(self, app: AppT, linger: AdaptiveLinger | None = None) -> None:
        self.app = app
        self.linger = linger if linger is not None and linger.enabled else None

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None
    ) -> Awaitable[Delivered]:
        if self.linger is not None:
            self.linger.sent()
        # The aiokafka producer faust's ``Producer.send`` uses when given no transactional
        # id, called directly: faust's wrapper adds, per record, a signal no one here
        # listens to and header and timestamp conversions for arguments never given.
        producer: Any = self.app.producer
        future: Awaitable[Delivered] = await producer._ensure_producer().send(
            topic, value, key=key, partition=partition
        )
        return future

    def send_now(self) -> None:
        send_held(self.app)


@dataclass
class Engine:
    """Everything one worker is made of."""

    settings: Settings
    app: RedFireApp
    topics: Topics
    state: WorkerState
    context: AgentContext
    desks: Desks
    heap: Heap


def var_config(settings: Settings) -> VaRConfig:
    """Return the VaR engine the settings choose, with every REDFIRE_VAR_* parameter."""
    return VaRConfig(
        method=VaRMethod(settings.var_method.value),
        confidence=settings.var_confidence,
        fhs_volatility=settings.var_fhs_volatility,
        fhs_fit_window=settings.var_fhs_fit_window,
        fhs_scenarios=settings.var_fhs_scenarios,
        fhs_refit_every=settings.var_fhs_refit_bars,
        fhs_evt_tail=settings.var_fhs_evt_tail,
    )


def history_policy(settings: Settings, spec: FilterSpec | None) -> HistoryPolicy:
    """Return how many rows a book uses: the return window, or the filtered scenarios."""
    rows = settings.var_window if spec is None else spec.scenarios
    return HistoryPolicy(window=rows, min_window=min(20, rows))


def build_state(
    settings: Settings, tables: StateTables, inline_refits: bool = False
) -> WorkerState:
    """Build the worker's in-memory state over its tables, from the settings.

    Raise ``InstrumentFileError`` (naming the file, symbol and field) when
    REDFIRE_INSTRUMENTS_FILE cannot be used: a worker never trades on a half-read master.
    """
    config_var = var_config(settings)
    spec = fitted_spec(config_var)
    market = MarketState(
        window_capacity(settings.var_window, spec),
        parse_interval(settings.bar_interval),
        instrument_book(settings.instruments_file),
        settings.market_sessions,
    )
    config = LiveConfig(
        load_limit_book(settings),
        ConfigSet(
            parse_rules_yaml(
                config_text(settings.rules_file, "rules.default.yaml", "REDFIRE_RULES_FILE")
            ),
            lambda rule: rule.rule_id,
            rule_from_payload,
        ),
        ConfigSet(
            parse_scenarios_yaml(
                config_text(
                    settings.scenarios_file, "scenarios.default.yaml", "REDFIRE_SCENARIOS_FILE"
                )
            ),
            lambda scenario: scenario.scenario_id,
            scenario_from_payload,
        ),
    )
    books = AccountBooks(
        market,
        config_var,
        history_policy(settings, spec),
        int(settings.snapshot_interval * 1000),
        None if spec is None else FilterBank(market, spec, inline_refits),
    )
    state = WorkerState(
        tables,
        market,
        config,
        books,
        partitions=settings.partitions,
        default_cash=settings.default_cash,
        deadline_of=Deadlines(settings.ioc_timeout_ms, settings.session_end_utc).of,
        base_currency_of=settings.base_currency_of,
    )
    tables.prices.on_remote_change = market.mirror_price
    tables.returns.on_remote_change = market.mirror_window
    tables.limits.on_remote_change = config.limit_overrides.apply
    tables.rules.on_remote_change = config.rules.entries.apply
    tables.scenarios.on_remote_change = config.scenarios.entries.apply
    tables.instruments.on_remote_change = market.apply_instrument
    return state


def load_limit_book(settings: Settings) -> LimitBook:
    """Return the limits from REDFIRE_LIMITS_FILE, or the built-in defaults."""
    if settings.limits_file is None:
        return LimitBook()
    try:
        text = settings.limits_file.read_text()
    except OSError as exc:
        path = settings.limits_file
        raise RuntimeError(f"cannot read REDFIRE_LIMITS_FILE={path}: {exc}") from exc
    return parse_limits_yaml(text)


def build_engine(settings: Settings) -> Engine:
    """Build a complete worker: faust app, topics, tables, state, agents, timers, views."""
    from redfire.web import register_views

    app = create_faust_app(settings)
    topics = build_topics(app, settings)
    state = build_state(settings, build_tables(app, settings))
    linger = AdaptiveLinger(
        app,
        settings.producer_linger_ms,
        settings.producer_busy_linger_ms,
        settings.producer_busy_rate,
    )
    context = AgentContext(settings, state, FaustProducer(app, linger), topics.names)
    desks = Desks.build(context)
    register_agents(app, topics, desks, context)
    engine = Engine(settings, app, topics, state, context, desks, Heap(settings.gc_freeze_s))
    app.heap = engine.heap
    register_lifecycle(engine)
    register_timers(engine)
    register_views(engine)
    return engine


def register_lifecycle(engine: Engine) -> None:
    """Load owned state after each recovery; forget it when partitions are revoked."""
    app, state, names = engine.app, engine.state, engine.topics.names
    settings = engine.settings
    fetch = AdaptiveFetch(
        app,
        idle=(settings.fetch_max_wait_ms, settings.fetch_min_bytes),
        busy=(settings.fetch_busy_max_wait_ms, settings.fetch_busy_min_bytes),
        busy_rate=settings.fetch_busy_rate,
    )

    async def on_recovered() -> None:
        actives = app.assignor.assigned_actives()
        accounts = {tp.partition for tp in actives if tp.topic == names.orders}
        symbols = {tp.partition for tp in actives if tp.topic == names.ticks}
        state.on_recovered(accounts, symbols)
        fetch.reset()
        install_fast_hand_off(app, fetch.fetched if fetch.enabled else None)
        await pause_written_changelogs(app)
        engine.heap.freeze_soon()  # the state just loaded lives as long as its partitions

    first_table = next(iter(app.tables.values()))
    first_table.on_recover(on_recovered)
    keep_standby_records_on_resume(app)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    def forget(sender: Any, revoked: Any = None, *args: Any, signal: Any, **kwargs: Any) -> None:
        state.on_revoked()
        engine.desks.forget()
        if revoked:  # the first join revokes nothing, and nothing was loaded to drop
            engine.heap.refreeze()  # what was dropped is collected, the rest frozen again


def register_timers(engine: Engine) -> None:
    """The monitor pass, the price publisher and the event-loop lag probe."""
    app, settings, desks = engine.app, engine.settings, engine.desks

    steps = itertools.cycle(range(MONITOR_STEPS))  # each account once a tick, staggered

    @app.timer(interval=settings.monitor_tick_s / MONITOR_STEPS, name="redfire.monitor")  # type: ignore[untyped-decorator]
    async def monitor_step() -> None:
        step = next(steps)
        if not engine.state.account_partitions:
            return
        try:
            await desks.monitor.run_step(step)
        except Exception as exc:  # a lost monitor write must not pass unnoticed
            log.exception("monitor pass failed")
            fatal(f"monitor: {exc!r}")

    @app.timer(interval=settings.price_publish_ms / 1000, name="redfire.prices")  # type: ignore[untyped-decorator]
    async def publish_prices() -> None:
        market = desks.market
        if not market.unpublished:
            return
        uow = engine.context.unit()
        market.stage_prices(uow, time.monotonic_ns())
        try:
            await uow.commit()
        except StaleUnit:
            return  # a rebalance came between: the prices are staged again next time
        except Exception as exc:
            fatal(f"prices: {exc!r}")

    pruner = Pruner(engine.state, engine.context.unit, int(settings.seen_retention_s * 1000))

    @app.timer(interval=settings.prune_interval_s, name="redfire.prune")  # type: ignore[untyped-decorator]
    async def prune() -> None:
        try:
            deleted = await pruner.run()
        except Exception as exc:
            fatal(f"pruner: {exc!r}")
        if deleted:
            log.info("pruned %d idempotency records older than the retention", deleted)

    filters = engine.state.books.filters
    if filters is not None:
        register_refits(app, filters)
    metrics.register_loop_probe(app, settings.loop_probe_interval_s)
    heap = engine.heap
    heap.install()
    if heap.enabled:

        @app.timer(interval=CHECK_EVERY_S, name="redfire.heap")  # type: ignore[untyped-decorator]
        async def freeze_heap() -> None:
            heap.maybe_freeze()


def register_refits(app: RedFireApp, filters: FilterBank) -> None:
    """Run the fhs filters' due refits on their thread, off the agents' batches.

    The thread needs no stopping: at exit Python waits for a fit under way (≤ 30 ms).
    """

    @app.timer(interval=REFIT_INTERVAL_S, name="redfire.fhs_refits")  # type: ignore[untyped-decorator]
    async def refit() -> None:
        installed = await filters.refit_due()
        if installed:
            log.info("fhs: installed %d refitted filters (%d in all)", installed, filters.refits)


_default: Engine | None = None


def default_engine() -> Engine:
    """Return the worker built from the environment's settings (built on first use)."""
    global _default
    if _default is None:
        _default = build_engine(settings_or_exit())
    return _default


def default_app() -> RedFireApp:
    return default_engine().app

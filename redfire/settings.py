"""Runtime settings: environment first (prefix ``REDFIRE_``), then ``.env``.

Every value is checked when ``Settings`` is built, and so are the combinations that
faust, aiokafka or a Kafka broker would refuse later (see ``kafka_timing_problems``):
a worker refuses to start with a message that names the ``REDFIRE_*`` variables and
a value that works, instead of a faust traceback minutes later.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from redfire.risk.bars import parse_interval
from redfire.risk.fx import check_currency
from redfire.risk.limits import parse_limits_yaml
from redfire.risk.measures import Volatility
from redfire.risk.rules import parse_rules_yaml
from redfire.risk.settlement import session_clocks
from redfire.risk.stress import parse_scenarios_yaml

ENV_PREFIX = "REDFIRE_"
# A Kafka broker accepts consumer session timeouts between its
# group.min.session.timeout.ms and group.max.session.timeout.ms (defaults 6 s and
# 30 min) and answers INVALID_SESSION_TIMEOUT otherwise, which aiokafka treats as fatal.
BROKER_MIN_SESSION_TIMEOUT_S = 6.0
BROKER_MAX_SESSION_TIMEOUT_S = 1800.0
# The heartbeat faust would use when none is set: aiokafka's 3 s, or a third of a
# shorter session (Kafka's advice: heartbeats at most a third of the session).
DEFAULT_HEARTBEAT_S = 3.0
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "GSSAPI", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER")
# Values never echoed in an error message.
SECRET_FIELDS = frozenset({"kafka_sasl_password", "admin_token"})


class VaRMethod(StrEnum):
    HISTORICAL = "historical"
    PARAMETRIC = "parametric"
    EWMA = "ewma"
    FHS = "fhs"
    MONTECARLO = "montecarlo"


class WireFormat(StrEnum):
    JSON = "json"
    AVRO = "avro"


class Settings(BaseSettings):
    """Every knob RedFire reads; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "redfire"
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1)
    # Durability (redfire/streams/durability.py): -1 takes the broker's
    # default.replication.factor, as Kafka Streams' replication.factor=-1 does;
    # min.insync.replicas -1 means 2 when replication >= 3, else 1.
    replication_factor: int = Field(default=-1, ge=-1)
    min_insync_replicas: int = Field(default=-1, ge=-1)
    # 0 by default: faust 0.15.3's standby copies can miss changelog records (README,
    # "Standby replicas"); a takeover then replays the changelog instead.
    standby_replicas: int = Field(default=0, ge=0)
    store: str = "rocksdb://"
    datadir: Path = Path("var/redfire")
    # faust's RocksDB defaults (64 MB x 3 memtables and a 2 GB block cache per table
    # partition) let resident memory grow for a long time; these bound it. A memtable
    # is at most rocksdb_write_buffer_mb; all the worker's memtables together at most
    # rocksdb_memory_mb (past it, a write flushes its database's memtable); one block cache.
    rocksdb_write_buffer_mb: int = Field(default=4, ge=1)
    rocksdb_memory_mb: int = Field(default=16, ge=1)
    rocksdb_block_cache_mb: int = Field(default=8, ge=1)
    processing_guarantee: str = "at_least_once"
    # Consumer group timing. The session (10 s, aiokafka's default) decides how soon a
    # dead worker's partitions move; it must not exceed the request timeout (faust) and
    # must lie in the broker's accepted range. A rebalance may hold a JoinGroup request
    # for the whole rebalance timeout, so that must not exceed the request timeout either.
    rebalance_timeout_s: float = Field(default=30.0, gt=0)
    session_timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_interval_s: float | None = Field(default=None, gt=0)
    # faust's defaults (20 min producer timeout, 5 min metadata age) stall a worker
    # for minutes after a broker dies; these let it move to the new leaders quickly.
    # A millisecond of linger lets one produce request carry the changelog writes and
    # outputs of many events instead of one socket write each.
    producer_linger_ms: int = Field(default=1, ge=0)
    # Above this many records a second (engine writes and outputs), batches linger this
    # long instead: fewer, larger produce requests when the worker is busiest
    # (``redfire.streams.linger``). Equal to the linger above: off.
    producer_busy_linger_ms: int = Field(default=5, ge=0)
    producer_busy_rate: float = Field(default=2500.0, gt=0)
    kafka_request_timeout_s: float = Field(default=30.0, gt=0)
    kafka_metadata_max_age_ms: int = Field(default=30_000, ge=1000)
    # Start-up metadata and admin requests (topic creation and checks) give up after this.
    kafka_admin_timeout_s: float = Field(default=15.0, gt=0)
    web_port: int = Field(default=6066, ge=1, le=65535)
    web_host: str = "127.0.0.1"
    web_enabled: bool = True
    bar_interval: str = "1d"
    var_window: int = Field(default=250, ge=2)
    var_method: VaRMethod = VaRMethod.HISTORICAL
    var_confidence: float = Field(default=0.99, gt=0.5, lt=1.0)
    # REDFIRE_VAR_METHOD=fhs: the per-symbol volatility filter (redfire.risk.fhs.SymbolFilter).
    var_fhs_volatility: Volatility = Volatility.GJR_T
    var_fhs_fit_window: int = Field(default=1000, ge=100)
    var_fhs_scenarios: int = Field(default=1000, ge=2)
    var_fhs_refit_bars: int = Field(default=20, ge=1)
    var_fhs_evt_tail: float = Field(default=0.0, ge=0.0, lt=0.5)
    default_cash: float = 0.0
    ioc_timeout_ms: int = Field(default=1000, ge=0)
    session_end_utc: str = Field(default="00:00", pattern=r"^\d{2}:\d{2}$")
    monitor_tick_s: float = Field(default=1.0, gt=0)
    stress_interval_s: float = Field(default=60.0, gt=0)
    snapshot_interval: float = Field(default=5.0, gt=0)
    # Each RiskSnapshot carries the component VaR(99%) of this many largest contributors.
    snapshot_components: int = Field(default=5, ge=0, le=1000)
    # The monitor yields the event loop after this long, so orders never wait behind it.
    # An order takes several loop turns to reach its agent (fetch hand-over, faust's
    # conductor, the agent), each behind one slice: at 2 ms the slow decisions of
    # bench_latency came in clusters at every monitor pass.
    monitor_slice_ms: float = Field(default=0.5, gt=0)
    # Micro-batches: at most this many events per unit of work (orders: fewer, so a
    # decision never waits behind a long batch); a batch is whatever is waiting.
    batch_max_events: int = Field(default=2000, ge=1)
    order_batch_max_events: int = Field(default=100, ge=1)
    # Ticks and fills wait this long after a batch's first event for more, so a batch
    # writes each symbol's bar once for many ticks; orders never wait.
    batch_window_ms: float = Field(default=50.0, ge=0)
    # The owning worker prices with every tick; the global prices table (other
    # workers, restarts) gets each symbol's price at most this often.
    price_publish_ms: int = Field(default=500, ge=1)
    # A batch whose writes are not delivered in this time stops the worker unacked.
    delivery_timeout_s: float = Field(default=60.0, gt=0)
    loop_probe_interval_s: float = Field(default=0.05, gt=0)
    # The longest a fetch waits at the broker for data (faust fixes 1.5 s): new orders
    # can wait behind a fetch that went out without their partition.
    fetch_max_wait_ms: int = Field(default=20, ge=1, le=1500)
    # A fetch returns once it has this many bytes (or fetch_max_wait_ms passed): more
    # records per fetch, fewer fetches and less CPU per event, each order a little later.
    fetch_min_bytes: int = Field(default=1, ge=1, le=1_048_576)
    # Above this many records a second handed to the agents, fetches wait for this many
    # bytes or at most this long instead: fewer fetch answers to decode when records are
    # always waiting (``redfire.streams.fetching.AdaptiveFetch``). Equal to the two
    # above: off.
    fetch_busy_rate: float = Field(default=2500.0, gt=0)
    fetch_busy_min_bytes: int = Field(default=4096, ge=1, le=1_048_576)
    fetch_busy_max_wait_ms: int = Field(default=3, ge=1, le=1500)
    # Collect and freeze the worker's long-lived objects this often (redfire.heap), so
    # no garbage collection walks the whole state while orders wait; 0 = off.
    gc_freeze_s: float = Field(default=10.0, ge=0)
    # How often acked offsets are committed (faust's broker_commit_interval).
    commit_interval_s: float = Field(default=1.0, gt=0)
    limits_file: Path | None = None
    rules_file: Path | None = None
    scenarios_file: Path | None = None
    # Reference data and currencies (risk.instruments, risk.fx, risk.settlement).
    instruments_file: Path | None = None
    base_currency: str = "USD"
    account_base_currencies: dict[str, str] = Field(default_factory=dict)
    market_sessions: dict[str, str] = Field(default_factory=dict)
    admin_token: str | None = None
    # HS256 key of the viewer/admin JWTs (redfire.web.auth); unset = no JWT roles.
    jwt_secret: str | None = None
    # The live page's WebSocket hub: messages a slow client may lag behind before it is
    # dropped, and the alerts/decisions (and snapshots) kept for a page that just loaded.
    live_client_queue: int = Field(default=1000, ge=10)
    live_recent: int = Field(default=200, ge=1)
    live_snapshot_history: int = Field(default=2000, ge=1)
    output_format: WireFormat = WireFormat.JSON
    max_record_bytes: int = Field(default=1_000_000, ge=1024)
    max_abs_qty: float = Field(default=1e12, gt=0)
    max_price: float = Field(default=1e9, gt=0)
    seen_retention_s: float = Field(default=7 * 24 * 3600, gt=0)
    # How often markers older than the retention are deleted from the local store.
    prune_interval_s: float = Field(default=600.0, gt=0)
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None

    @field_validator("bar_interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        parse_interval(value)
        return value

    @field_validator("session_end_utc")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        hours, minutes = (int(part) for part in value.split(":"))
        if hours > 23 or minutes > 59:
            raise ValueError(f"{value!r} is not a time of day; write HH:MM, e.g. 00:00 or 21:30")
        return value

    @field_validator("kafka_security_protocol")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        protocol = value.strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"{value!r} is not one of {', '.join(SECURITY_PROTOCOLS)}")
        return protocol

    @field_validator("kafka_sasl_mechanism")
    @classmethod
    def _known_mechanism(cls, value: str | None) -> str | None:
        if value is None:
            return None
        mechanism = value.strip().upper()
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(f"{value!r} is not one of {', '.join(SASL_MECHANISMS)}")
        return mechanism

    @field_validator("kafka_ssl_cafile")
    @classmethod
    def _readable_cafile(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{value} is not a file")
        return value

    @model_validator(mode="after")
    def _combinations_work(self) -> Settings:
        problems = [*kafka_timing_problems(self), *security_problems(self)]
        problems += config_file_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    @field_validator("processing_guarantee")
    @classmethod
    def _known_guarantee(cls, value: str) -> str:
        if value not in ("at_least_once", "exactly_once"):
            raise ValueError("processing_guarantee must be at_least_once or exactly_once")
        return value

    @field_validator("replication_factor", "min_insync_replicas")
    @classmethod
    def _replicas(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must be -1 (the cluster's default) or at least 1")
        return value

    @field_validator("store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if not value.startswith(("rocksdb://", "memory://")):
            raise ValueError("store must be rocksdb:// or memory://")
        return value

    @field_validator("base_currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        return check_currency(value)

    @field_validator("account_base_currencies")
    @classmethod
    def _account_currencies(cls, value: dict[str, str]) -> dict[str, str]:
        for account, code in value.items():
            try:
                check_currency(code)
            except ValueError as exc:
                raise ValueError(f"account {account}: {exc}") from None
        return value

    @field_validator("market_sessions")
    @classmethod
    def _sessions(cls, value: dict[str, str]) -> dict[str, str]:
        session_clocks(value)  # raises naming the market and what is wrong
        return value

    def base_currency_of(self, account: str) -> str:
        """Return the account's base currency: its own setting, else REDFIRE_BASE_CURRENCY."""
        return self.account_base_currencies.get(account, self.base_currency)

    @field_validator("jwt_secret", "admin_token")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("jwt_secret")
    @classmethod
    def _long_enough_key(cls, value: str | None) -> str | None:
        # RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes).
        if value is not None and len(value.encode()) < 32:
            raise ValueError(
                "REDFIRE_JWT_SECRET must be at least 32 bytes (HS256 key); "
                "generate one with: python -c 'import secrets; print(secrets.token_hex(32))'"
            )
        return value

    @property
    def heartbeat_s(self) -> float:
        """Return the consumer heartbeat interval: the setting, or min(3 s, session / 3)."""
        if self.heartbeat_interval_s is not None:
            return self.heartbeat_interval_s
        return min(DEFAULT_HEARTBEAT_S, self.session_timeout_s / 3)

    def topic(self, name: str) -> str:
        """Return the full topic name for ``name`` with the configured prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_servers(self) -> str:
        """Return the broker list without the ``kafka://`` scheme, for plain clients."""
        return ",".join(url.split("://", 1)[-1] for url in self.broker.split(";"))


def env_name(field: str) -> str:
    """Return the environment variable that sets ``field``, e.g. ``REDFIRE_WEB_PORT``."""
    return f"{ENV_PREFIX}{field.upper()}"


def _seconds(value: float) -> str:
    return f"{value:g}"


def kafka_timing_problems(settings: Settings) -> list[str]:
    """Return what faust, aiokafka or the broker would refuse in the consumer timing.

    Checked against faust-streaming 0.15.3 and aiokafka 0.14.0:

    * faust's consumer refuses ``broker_session_timeout > broker_request_timeout``
      (``ImproperlyConfigured`` when the consumer starts).
    * aiokafka sends JoinGroup with the plain request timeout, while the broker may hold
      it for the whole rebalance timeout; past the request timeout aiokafka drops the
      connection and rejoins, so a rebalance slower than that never completes.
    * a heartbeat interval not below the session timeout expires every session
      (aiokafka's heartbeat routine; Kafka's Java client refuses it outright).
    * the broker answers INVALID_SESSION_TIMEOUT (fatal in aiokafka) outside
      group.min.session.timeout.ms .. group.max.session.timeout.ms (6 s .. 30 min).
    * (with the engine core's ``delivery_timeout_s``) a unit of work must wait at least a
      request timeout for its writes: the producer may take that long to deliver one.
    """
    session = settings.session_timeout_s
    request = settings.kafka_request_timeout_s
    rebalance = settings.rebalance_timeout_s
    session_env, request_env = env_name("session_timeout_s"), env_name("kafka_request_timeout_s")
    rebalance_env, heartbeat_env = env_name("rebalance_timeout_s"), env_name("heartbeat_interval_s")
    problems: list[str] = []
    if not BROKER_MIN_SESSION_TIMEOUT_S <= session <= BROKER_MAX_SESSION_TIMEOUT_S:
        problems.append(
            f"{session_env}={_seconds(session)} is outside what a Kafka broker accepts by "
            f"default (group.min.session.timeout.ms {_seconds(BROKER_MIN_SESSION_TIMEOUT_S)} s "
            f"to group.max.session.timeout.ms {_seconds(BROKER_MAX_SESSION_TIMEOUT_S)} s); "
            f"set {session_env}=10"
        )
    if session > request:
        problems.append(
            f"{session_env}={_seconds(session)} is greater than {request_env}="
            f"{_seconds(request)}: faust refuses a consumer session longer than a request; "
            f"set {session_env} to at most {_seconds(request)} (e.g. {session_env}="
            f"{_seconds(min(10.0, request))}) or {request_env}={_seconds(session)}"
        )
    if rebalance > request:
        problems.append(
            f"{rebalance_env}={_seconds(rebalance)} is greater than {request_env}="
            f"{_seconds(request)}: the broker may hold a JoinGroup request for the whole "
            f"rebalance timeout and aiokafka gives up on it after the request timeout, so a "
            f"slow rebalance would never finish; set {rebalance_env}={_seconds(request)} "
            f"or {request_env}={_seconds(rebalance)}"
        )
    # The engine's unit of work waits REDFIRE_DELIVERY_TIMEOUT_S for its writes and stops
    # the worker after that; the producer may take a whole request timeout to deliver or
    # fail one. Read with getattr: the setting arrives with the engine core's settings.
    delivery = getattr(settings, "delivery_timeout_s", None)
    if isinstance(delivery, int | float) and delivery < request:
        delivery_env = env_name("delivery_timeout_s")
        problems.append(
            f"{delivery_env}={_seconds(delivery)} is below {request_env}={_seconds(request)}: "
            f"the worker would stop on writes the producer is still delivering; set "
            f"{delivery_env}={_seconds(2 * request)}"
        )
    if settings.heartbeat_s >= session:
        problems.append(
            f"{heartbeat_env}={_seconds(settings.heartbeat_s)} is not below {session_env}="
            f"{_seconds(session)}: every session would expire between two heartbeats; set "
            f"{heartbeat_env}={_seconds(session / 3)} (a third of the session) or leave it unset"
        )
    return problems


def security_problems(settings: Settings) -> list[str]:
    """Return the Kafka security settings that cannot build credentials."""
    protocol = settings.kafka_security_protocol
    if not protocol.startswith("SASL"):
        return []
    missing = [
        env_name(name)
        for name in ("kafka_sasl_username", "kafka_sasl_password")
        if not getattr(settings, name)
    ]
    if not missing:
        return []
    return [
        f"{env_name('kafka_security_protocol')}={protocol} needs {' and '.join(missing)} "
        f"(or {env_name('kafka_security_protocol')}=PLAINTEXT / SSL)"
    ]


def config_file_problems(settings: Settings) -> list[str]:
    """Return what is wrong with the configured limits, rules and scenarios files.

    The files are read and parsed here, so a worker refuses to start on a bad file
    and the message names the file, the entry and the field.
    """
    parsers: tuple[tuple[str, Callable[[str, str], object]], ...] = (
        ("limits_file", lambda text, source: parse_limits_yaml(text)),
        ("rules_file", lambda text, source: parse_rules_yaml(text, source=source)),
        ("scenarios_file", lambda text, source: parse_scenarios_yaml(text)),
    )
    problems: list[str] = []
    for name, parse in parsers:
        path: Path | None = getattr(settings, name)
        if path is None:
            continue
        try:
            parse(path.read_text(), str(path))
        except OSError as error:
            problems.append(f"{env_name(name)}={path} cannot be read: {error.strerror}")
        except ValueError as error:
            problems.append(f"{env_name(name)}={path}: {error}")
    return problems


class SettingsError(ValueError):
    """Settings a worker cannot run with; the message names the variables to change."""

    EXIT_CODE = 78  # EX_CONFIG (sysexits.h): configuration error


def describe_settings_error(error: ValidationError) -> str:
    """Return one line per invalid setting, naming its REDFIRE_* variable (secrets hidden)."""
    lines = []
    for problem in error.errors():
        text = str(problem["msg"]).removeprefix("Value error, ")
        if not problem["loc"]:
            lines.extend(text.splitlines())
            continue
        field = str(problem["loc"][0])
        shown = "(hidden)" if field in SECRET_FIELDS else repr(problem.get("input"))
        lines.append(f"{env_name(field)}={shown}: {text}")
    return "\n".join(f"  - {line}" for line in lines)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, or raise ``SettingsError`` saying what to fix."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        message = "RedFire cannot start with these settings:\n" + describe_settings_error(error)
        raise SettingsError(message) from None


def refuse_to_start(error: SettingsError) -> NoReturn:
    """Print the settings error to stderr and exit with EX_CONFIG, without a traceback."""
    print(error, file=sys.stderr, flush=True)
    raise SystemExit(SettingsError.EXIT_CODE)


def settings_or_exit() -> Settings:
    """Return the settings from the environment; exit naming the setting if invalid.

    ``faust -A redfire worker`` reads its settings through here, so a bad value stops
    the worker before it connects anywhere, with status 78 and a message on stderr.
    """
    try:
        return load_settings()
    except SettingsError as error:
        refuse_to_start(error)

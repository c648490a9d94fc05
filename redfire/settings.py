"""Runtime settings: environment first (prefix ``REDFIRE_``), then ``.env``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from redfire.risk.fx import check_currency
from redfire.risk.measures import Volatility
from redfire.risk.settlement import session_clocks


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
        env_prefix="REDFIRE_", env_file=".env", extra="ignore", frozen=True
    )

    broker: str = "kafka://127.0.0.1:9092"
    app_id: str = "redfire"
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    store: str = "rocksdb://"
    datadir: Path = Path("var/redfire")
    # faust's RocksDB defaults (64 MB x 3 memtables and a 2 GB block cache per table
    # partition) let resident memory grow for a long time; these bound it.
    rocksdb_write_buffer_mb: int = Field(default=4, ge=1)
    rocksdb_block_cache_mb: int = Field(default=8, ge=1)
    processing_guarantee: str = "at_least_once"
    rebalance_timeout_s: float = Field(default=60.0, gt=0)
    session_timeout_s: float = Field(default=60.0, gt=0)
    # faust's defaults (20 min producer timeout, 5 min metadata age) stall a worker
    # for minutes after a broker dies; these let it move to the new leaders quickly.
    # A millisecond of linger lets one produce request carry the changelog writes and
    # outputs of many events instead of one socket write each.
    producer_linger_ms: int = Field(default=1, ge=0)
    kafka_request_timeout_s: float = Field(default=30.0, gt=0)
    kafka_metadata_max_age_ms: int = Field(default=30_000, ge=1000)
    web_port: int = 6066
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
    monitor_slice_ms: float = Field(default=2.0, gt=0)
    # Micro-batches: at most this many events per unit of work (orders: fewer, so a
    # decision never waits behind a long batch); a batch is whatever is waiting.
    batch_max_events: int = Field(default=1000, ge=1)
    order_batch_max_events: int = Field(default=100, ge=1)
    # The owning worker prices with every tick; the global prices table (other
    # workers, restarts) gets each symbol's price at most this often.
    price_publish_ms: int = Field(default=500, ge=1)
    # A batch whose writes are not delivered in this time stops the worker unacked.
    delivery_timeout_s: float = Field(default=60.0, gt=0)
    loop_probe_interval_s: float = Field(default=0.05, gt=0)
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
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None

    @field_validator("processing_guarantee")
    @classmethod
    def _known_guarantee(cls, value: str) -> str:
        if value not in ("at_least_once", "exactly_once"):
            raise ValueError("processing_guarantee must be at_least_once or exactly_once")
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

    def topic(self, name: str) -> str:
        """Return the full topic name for ``name`` with the configured prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_servers(self) -> str:
        """Return the broker list without the ``kafka://`` scheme, for plain clients."""
        return ",".join(url.split("://", 1)[-1] for url in self.broker.split(";"))

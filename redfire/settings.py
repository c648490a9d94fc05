"""Runtime settings: environment first (prefix ``REDFIRE_``), then ``.env``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # Durability (redfire/streams/durability.py): -1 takes the broker's
    # default.replication.factor, as Kafka Streams' replication.factor=-1 does;
    # min.insync.replicas -1 means 2 when replication >= 3, else 1.
    replication_factor: int = Field(default=-1, ge=-1)
    min_insync_replicas: int = Field(default=-1, ge=-1)
    standby_replicas: int = Field(default=1, ge=0)
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
    # Start-up metadata and admin requests (topic creation and checks) give up after this.
    kafka_admin_timeout_s: float = Field(default=15.0, gt=0)
    web_port: int = 6066
    web_host: str = "127.0.0.1"
    web_enabled: bool = True
    bar_interval: str = "1d"
    var_window: int = Field(default=250, ge=2)
    var_method: VaRMethod = VaRMethod.HISTORICAL
    var_confidence: float = Field(default=0.99, gt=0.5, lt=1.0)
    default_cash: float = 0.0
    ioc_timeout_ms: int = Field(default=1000, ge=0)
    session_end_utc: str = Field(default="00:00", pattern=r"^\d{2}:\d{2}$")
    monitor_tick_s: float = Field(default=1.0, gt=0)
    stress_interval_s: float = Field(default=60.0, gt=0)
    snapshot_interval: float = Field(default=5.0, gt=0)
    limits_file: Path | None = None
    rules_file: Path | None = None
    scenarios_file: Path | None = None
    admin_token: str | None = None
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

    def topic(self, name: str) -> str:
        """Return the full topic name for ``name`` with the configured prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_servers(self) -> str:
        """Return the broker list without the ``kafka://`` scheme, for plain clients."""
        return ",".join(url.split("://", 1)[-1] for url in self.broker.split(";"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()

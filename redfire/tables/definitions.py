"""The faust tables (DESIGN §5) and the engine's view of their storage.

faust owns each table's changelog topic, its RocksDB files, recovery and
standby replicas; the engine reads and writes the tables through
``DurableTable`` (``redfire.state.durable``), one write per dirty key per batch.
Values are JSON objects, keys plain UTF-8 strings (``account|symbol`` for
compound keys).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faust.types import AppT, EventT, TableT

from redfire.settings import Settings
from redfire.state.durable import DurableTable
from redfire.state.worker import StateTables
from redfire.streams.partitioning import partition_for
from redfire.tables.faust_store import FaustPartitionStore
from redfire.tables.rocksdb_memory import MB, RocksDBMemory

ChangelogCallback = Callable[[EventT[Any]], Awaitable[None]]


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Bound RocksDB memory per table partition (faust's defaults grow for a long time)."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MB,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mb * MB,
        "block_cache_compressed_size": settings.rocksdb_block_cache_mb * MB,
    }


def _remote_change_callback(durable: DurableTable) -> ChangelogCallback:
    async def on_changelog_event(event: EventT[Any]) -> None:
        if durable.on_remote_change is None:
            return
        key = event.key
        name = key.decode() if isinstance(key, bytes) else str(key)
        value = event.value if isinstance(event.value, dict) else None
        durable.on_remote_change(name, value)

    return on_changelog_event


def build_table(
    app: AppT,
    settings: Settings,
    name: str,
    help_: str,
    *,
    global_: bool = False,
    topic_configs: dict[str, Any] | None = None,
    memory: RocksDBMemory | None = None,
) -> DurableTable:
    """Declare one faust table and return the engine's handle on it."""
    partitions = settings.partitions
    durable = DurableTable(name, "", store=None, is_global=global_)  # type: ignore[arg-type]
    factory = app.GlobalTable if global_ else app.Table
    table: TableT[str, Any] = factory(
        name,
        key_type=str,
        value_type=None,
        partitions=partitions,
        default=None,
        help=help_,
        on_changelog_event=_remote_change_callback(durable) if global_ else None,
        extra_topic_configs=topic_configs,
        options=rocksdb_options(settings),
    )
    if memory is not None:
        memory.share_with(table)
    # Keys go to the changelog as plain UTF-8 (faust would JSON-quote a str key), so
    # a key hashes to the same partition as on the input topics: table_route then
    # reaches the owning worker, and tools can seed a table's changelog.
    table.key_serializer = "raw"  # type: ignore[attr-defined]
    table.changelog_topic = table._new_changelog_topic()  # type: ignore[attr-defined]
    durable.changelog_topic = table.changelog_topic.get_topic_name()
    durable.store = FaustPartitionStore(table, lambda key: partition_for(key, partitions))
    return durable


def build_tables(app: AppT, settings: Settings) -> StateTables:
    """Declare every table on ``app``."""
    # Idempotency keys also expire from the changelog itself after the retention.
    seen_configs = {
        "cleanup.policy": "compact,delete",
        "retention.ms": str(int(settings.seen_retention_s * 1000)),
    }

    memory = RocksDBMemory(settings) if settings.store.startswith("rocksdb://") else None

    def table(name: str, help_: str, **kwargs: Any) -> DurableTable:
        return build_table(app, settings, name, help_, memory=memory, **kwargs)

    return StateTables(
        accounts=table("accounts", "account → cash, equity marks, trading state, watermarks"),
        positions=table("positions", "account|symbol → qty, avg cost, realized PnL, fees"),
        orders=table(
            "orders_state",
            "account|order_id → decision, lifecycle, reservation, fill watermark",
            topic_configs=seen_configs,
        ),
        seen_fills=table(
            "seen_fills", "account|fill_id → ts and offset first seen", topic_configs=seen_configs
        ),
        seen_commands=table("seen_commands", "command_id → ts first applied"),
        bars=table("bars", "symbol → the bar being built"),
        prices=table("prices", "symbol → last price, bid/ask, ts", global_=True),
        returns=table("returns", "symbol → ring buffer of bar returns", global_=True),
        limits=table("limits", "account or * → limit overrides", global_=True),
        rules=table("rules", "rule_id → monitoring rule (or removed)", global_=True),
        scenarios=table("scenarios", "scenario_id → stress scenario", global_=True),
        rule_states=table("rule_states", "account|rule_id → firing, last fired, last value"),
        var_backtests=table("var_backtests", "account → live VaR backtest: flags, last VaR"),
        firm_parts=table("firm_parts", "source partition → its accounts' summed exposures"),
        instruments=table(
            "instruments", "symbol → instrument master entry (from the topic)", global_=True
        ),
    )

"""The faust tables (DESIGN §5). Values are JSON objects; keys are strings.

faust writes a changelog record only when a key is assigned, so agents always
build a new value and re-assign it (``table[key] = value``).
"""

from __future__ import annotations

from typing import Any

from faust.types import TableT

from redfire.app import app, settings
from redfire.tables import mirrors
from redfire.tables.mirror import Mirror

JsonValue = dict[str, Any]


MB = 1024 * 1024
ROCKSDB_OPTIONS = {
    "write_buffer_size": settings.rocksdb_write_buffer_mb * MB,
    "max_write_buffer_number": 2,
    "block_cache_size": settings.rocksdb_block_cache_mb * MB,
    "block_cache_compressed_size": settings.rocksdb_block_cache_mb * MB,
}


def _table(
    name: str,
    *,
    global_: bool = False,
    help_: str,
    mirror: Mirror[Any] | None = None,
    extra_topic_configs: dict[str, Any] | None = None,
) -> TableT[str, Any]:
    factory = app.GlobalTable if global_ else app.Table
    table = factory(
        name,
        key_type=str,
        value_type=None,
        partitions=settings.partitions,
        default=None,
        help=help_,
        on_changelog_event=mirror.on_changelog_event if mirror else None,
        extra_topic_configs=extra_topic_configs,
        options=ROCKSDB_OPTIONS,
    )
    # Keys go to the changelog as plain UTF-8 (faust would JSON-quote a str key), so
    # that a key hashes to the same partition as on the input topics: table_route
    # then reaches the owning worker, and tools can seed a table's changelog.
    table.key_serializer = "raw"  # type: ignore[attr-defined]
    table.changelog_topic = table._new_changelog_topic()  # type: ignore[attr-defined]
    if mirror is not None:
        mirror.attach(table)
    return table


prices = _table(
    "prices", global_=True, help_="symbol → last price, bid/ask, ts", mirror=mirrors.prices
)
bars = _table("bars", help_="symbol → the bar being built")
returns = _table(
    "returns", global_=True, help_="symbol → ring buffer of bar returns", mirror=mirrors.windows
)
positions = _table("positions", help_="account|symbol → qty, avg cost, realized PnL, fees")
accounts = _table("accounts", help_="account → cash, high-water mark, trading state")
orders_state = _table("orders_state", help_="account|order_id → lifecycle state")
# Idempotency keys also expire from the changelog itself after the retention.
SEEN_TOPIC_CONFIG = {
    "cleanup.policy": "compact,delete",
    "retention.ms": str(int(settings.seen_retention_s * 1000)),
}
seen_fills = _table(
    "seen_fills", help_="account|fill_id → ts first seen", extra_topic_configs=SEEN_TOPIC_CONFIG
)
seen_orders = _table(
    "seen_orders",
    help_="account|order_id → first decision",
    extra_topic_configs=SEEN_TOPIC_CONFIG,
)
seen_commands = _table("seen_commands", help_="command_id → ts first applied")
limits = _table(
    "limits", global_=True, help_="account or * → limit overrides", mirror=mirrors.limits
)
rules = _table(
    "rules", global_=True, help_="rule_id → monitoring rule (or removed)", mirror=mirrors.rules
)
scenarios = _table(
    "scenarios", global_=True, help_="scenario_id → stress scenario", mirror=mirrors.scenarios
)
rule_states = _table("rule_states", help_="account|rule_id → firing, last fired, last value")
var_backtests = _table("var_backtests", help_="account → live VaR backtest: flags, last VaR")
firm_parts = _table("firm_parts", help_="source partition → its accounts' summed exposures")


def compound_key(*parts: str) -> str:
    """Return one table key for several parts (``account|symbol``)."""
    return "|".join(parts)

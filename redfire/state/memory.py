"""Every table in memory: the engine without faust, for in-process tests and benchmarks."""

from __future__ import annotations

from dataclasses import fields

from redfire.state.durable import DurableTable, MemoryPartitionStore
from redfire.state.worker import StateTables


def memory_tables() -> StateTables:
    """Return the worker's tables as partitioned dicts (changelog topic ``changelog-<name>``)."""
    return StateTables(
        **{
            field.name: DurableTable(field.name, f"changelog-{field.name}", MemoryPartitionStore())
            for field in fields(StateTables)
        }
    )

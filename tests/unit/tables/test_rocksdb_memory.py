"""Every RocksDB database of a worker flushes within one shared memtable budget (real RocksDB)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import faust
from faust.stores.rocksdb import RocksDBOptions
from prometheus_client import REGISTRY

from redfire.settings import Settings
from redfire.tables.definitions import build_tables
from redfire.tables.rocksdb_memory import MB, RocksDBMemory, SharedMemoryOptions
from tests.support.eventually import eventually

DATABASES = 6
WRITE_BUFFER = 2 * MB
# Each database gets 1.5 MB: under its own memtable size, so only the budget flushes.
WRITTEN = 1536 * 1024
VALUE = 1024


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(datadir=tmp_path / "data", partitions=2, **overrides)


def tables_of(settings: Settings) -> list[Any]:
    """Declare the worker's tables on a bare faust App (no sensors, nothing started)."""
    app = faust.App(
        settings.app_id, store=settings.store, datadir=str(settings.datadir), autodiscover=False
    )
    build_tables(app, settings)
    return list(app.tables.values())


def open_databases(tmp_path: Path, options: RocksDBOptions) -> list[Any]:
    return [options.open(tmp_path / f"db{n}") for n in range(DATABASES)]


def fill(database: Any) -> None:
    for n in range(WRITTEN // VALUE):
        database[f"key-{n:06d}".encode()] = os.urandom(VALUE)


def memtables(databases: list[Any]) -> int:
    return sum(db.property_int_value("rocksdb.cur-size-all-mem-tables") for db in databases)


def no_flush_pending(databases: list[Any]) -> bool:
    return all(
        db.property_int_value("rocksdb.mem-table-flush-pending") == 0
        and db.property_int_value("rocksdb.num-running-flushes") == 0
        for db in databases
    )


def test_the_shared_budget_flushes_memtables_no_single_database_would(tmp_path: Path) -> None:
    base = RocksDBOptions(write_buffer_size=WRITE_BUFFER, max_write_buffer_number=2)
    memory = RocksDBMemory(settings(tmp_path, rocksdb_memory_mb=3))
    alone = open_databases(tmp_path / "alone", base)
    shared = open_databases(
        tmp_path / "shared", SharedMemoryOptions(base, memory.write_buffers, memory.block_cache)
    )

    for database in alone + shared:
        fill(database)
    eventually(lambda: no_flush_pending(alone + shared), timeout=30)
    # RocksDB checks the budget only when a database is written. A database filled while
    # earlier flushes were still running (a loaded machine) can keep its memtable until its
    # next write, as in a worker, which keeps writing. Write each once more, then settle.
    for database in alone + shared:
        database[b"later"] = b"x"
    eventually(lambda: no_flush_pending(alone + shared), timeout=30)

    assert memtables(alone) > DATABASES * WRITTEN  # nothing flushed: 6 × 1.5 MB held
    # Flushes run on RocksDB's background threads, later under load: poll for the bound.
    eventually(lambda: memtables(shared) <= memory.budget + WRITE_BUFFER, timeout=60)
    assert memory.usage() <= memory.budget + WRITE_BUFFER
    assert REGISTRY.get_sample_value("redfire_rocksdb_memtable_bytes") == memory.usage()
    for database in alone + shared:
        assert database[b"key-000000"] is not None  # flushed data still reads back
        database.close()


def test_every_table_store_of_a_worker_opens_in_the_same_budget(tmp_path: Path) -> None:
    tables = tables_of(settings(tmp_path, rocksdb_memory_mb=24, rocksdb_block_cache_mb=5))

    options = [table.data.rocksdb_options for table in tables]

    assert all(isinstance(option, SharedMemoryOptions) for option in options)
    assert len({id(option.write_buffers) for option in options}) == 1
    assert len({id(option.block_cache) for option in options}) == 1
    assert options[0].write_buffers.get_buffer_size() == 24 * MB
    assert options[0].write_buffer_size == 4 * MB  # a memtable's own bound is kept


def test_a_memory_store_worker_builds_no_rocksdb_budget(tmp_path: Path) -> None:
    tables = tables_of(settings(tmp_path, store="memory://"))

    assert tables
    assert all(not hasattr(table.data, "rocksdb_options") for table in tables)


def test_the_shared_options_keep_every_option_of_the_table(tmp_path: Path) -> None:
    memory = RocksDBMemory(settings(tmp_path))
    base = RocksDBOptions(write_buffer_size=WRITE_BUFFER, max_write_buffer_number=3, ttl=60)

    shared = SharedMemoryOptions(base, memory.write_buffers, memory.block_cache)

    kept = ("write_buffer_size", "max_write_buffer_number", "ttl", "bloom_filter_size")
    assert [getattr(shared, name) for name in kept] == [getattr(base, name) for name in kept]

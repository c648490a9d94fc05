"""A table's local store takes a unit's values and its changelog offset in one write
(real RocksDB through faust's store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faust
from faust.types import TP

from redfire.settings import Settings
from redfire.state.durable import DurableTable
from redfire.tables.definitions import build_tables
from redfire.tables.faust_store import FaustPartitionStore


def orders_table(tmp_path: Path) -> tuple[DurableTable, FaustPartitionStore]:
    settings = Settings(datadir=tmp_path / "data", partitions=2)
    app = faust.App(
        settings.app_id, store=settings.store, datadir=str(settings.datadir), autodiscover=False
    )
    orders = build_tables(app, settings).orders
    assert isinstance(orders.store, FaustPartitionStore)
    return orders, orders.store


def rocksdb_of(store: FaustPartitionStore) -> Any:
    return store.table.data  # type: ignore[attr-defined]


def test_values_and_their_changelog_offset_are_written_together(tmp_path: Path) -> None:
    orders, store = orders_table(tmp_path)
    items: list[tuple[bytes, bytes | None]] = [(b"ACC1|o1", b'{"a":1}'), (b"ACC1|o2", b'{"a":2}')]

    store.apply(1, [(items, store.stage(1, items))], 41)

    rocksdb = rocksdb_of(store)
    assert rocksdb.persisted_offset(TP(orders.changelog_topic, 1)) == 41
    assert rocksdb.persisted_offset(TP(orders.changelog_topic, 0)) is None
    assert rocksdb._db_for_partition(1).get(b"ACC1|o1") == b'{"a":1}'
    assert rocksdb._db_for_partition(1).get(b"ACC1|o2") == b'{"a":2}'


def test_a_write_without_an_offset_leaves_the_persisted_offset(tmp_path: Path) -> None:
    orders, store = orders_table(tmp_path)
    put: list[tuple[bytes, bytes | None]] = [(b"ACC2|o1", b"{}")]
    delete: list[tuple[bytes, bytes | None]] = [(b"ACC2|o1", None)]
    store.apply(0, [(put, store.stage(0, put))], 7)
    store.apply(0, [(delete, store.stage(0, delete))], None)

    rocksdb = rocksdb_of(store)
    assert rocksdb.persisted_offset(TP(orders.changelog_topic, 0)) == 7
    assert rocksdb._db_for_partition(0).get(b"ACC2|o1") is None

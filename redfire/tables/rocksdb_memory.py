"""One memory budget for every RocksDB database of a worker.

faust opens one RocksDB database per table partition (15 tables × their
partitions: about 60 in a 4-partition deployment), each with its own
memtables and block cache. A bound per database still lets a long-running
worker grow by the sum of them: tables written slowly fill their memtables
for hours before the first flush. Here all databases share one write buffer
manager (once their total passes the budget, the next write to a database
flushes that database's memtable) and one block cache: RocksDB's documented
way to cap a process with many databases (Kafka Streams bounds its stores
the same way).
"""

from __future__ import annotations

from typing import Any

from faust.stores.rocksdb import RocksDBOptions

from redfire.metrics import ROCKSDB_MEMTABLES
from redfire.settings import Settings

MB = 1024 * 1024


class SharedMemoryOptions(RocksDBOptions):
    """faust's RocksDB options, with the worker's shared memtable budget and block cache."""

    def __init__(self, base: RocksDBOptions, write_buffers: Any, block_cache: Any) -> None:
        super().__init__(
            max_open_files=base.max_open_files,
            write_buffer_size=base.write_buffer_size,
            max_write_buffer_number=base.max_write_buffer_number,
            target_file_size_base=base.target_file_size_base,
            block_cache_size=base.block_cache_size,
            block_cache_compressed_size=base.block_cache_compressed_size,
            bloom_filter_size=base.bloom_filter_size,
            use_rocksdict=True,
            ttl=base.ttl,
            **base.extra_options,
        )
        self.write_buffers = write_buffers
        self.block_cache = block_cache

    def as_options(self) -> Any:
        import rocksdict

        options = super().as_options()
        options.set_write_buffer_manager(self.write_buffers)
        # The same table settings as faust's, with the shared cache instead of its own.
        table_options = rocksdict.BlockBasedOptions()
        table_options.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table_options.set_block_cache(self.block_cache)
        table_options.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table_options)
        return options


class RocksDBMemory:
    """The write buffer manager and block cache every table store of one worker shares."""

    def __init__(self, settings: Settings) -> None:
        import rocksdict

        self.budget = settings.rocksdb_memory_mb * MB
        # No stall: past the budget RocksDB flushes; writes never wait on memory.
        self.write_buffers = rocksdict.WriteBufferManager(self.budget, False)
        self.block_cache = rocksdict.Cache(settings.rocksdb_block_cache_mb * MB)
        ROCKSDB_MEMTABLES.set_function(self.usage)

    def usage(self) -> int:
        """Return the bytes all memtables hold now."""
        return int(self.write_buffers.get_usage())

    def share_with(self, table: Any) -> None:
        """Make ``table``'s RocksDB store (built on first use) open its databases in the budget."""
        new_store = table._new_store

        def new_store_in_budget() -> Any:
            store = new_store()
            options = getattr(store, "rocksdb_options", None)
            if isinstance(options, RocksDBOptions) and options.use_rocksdict:
                store.rocksdb_options = SharedMemoryOptions(
                    options, self.write_buffers, self.block_cache
                )
            return store

        table._new_store = new_store_in_budget

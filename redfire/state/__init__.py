"""In-memory state a worker owns, its durable copy, and the unit of work (DESIGN §12).

* ``account`` / ``market`` / ``config``: the aggregates — one per account
  (cash, positions, live orders, flow counters, VaR book, rule states) and the
  per-symbol market state — held in memory by the worker that owns them.
* ``records``: how each aggregate is written to and read back from its table.
* ``durable``: the tables' storage as the engine sees it (RocksDB behind faust,
  or memory in tests) and the changelog write path.
* ``unit``: one unit of work per micro-batch — every dirty key written once,
  every send awaited, then the batch is acknowledged.
* ``engine``: the whole state of one worker and its lifecycle (assign, revoke,
  recover).
"""

"""What every agent's logic needs: settings, the worker's state, where outputs go.

The logic of each agent (``market``, ``orders``, ``fills``, ``commands``,
``monitor``, ``firm``) is a class built from an ``AgentContext``; faust only
feeds it batches. In-process tests build a context with a memory store and a
list producer (``redfire.state.testing``) and call the logic directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redfire.schemas import codec
from redfire.settings import Settings
from redfire.state.unit import Producer, UnitOfWork
from redfire.state.worker import WorkerState
from redfire.streams.topics import TopicNames

Clock = Callable[[], int]


def wall_clock_ms() -> int:
    """Return the wall clock in epoch milliseconds (output stamps, monitor passes)."""
    return time.time_ns() // 1_000_000


@dataclass
class AgentContext:
    settings: Settings
    state: WorkerState
    producer: Producer
    names: TopicNames
    clock: Clock = field(default=wall_clock_ms)

    def unit(self) -> UnitOfWork:
        """Return a new unit of work for one batch."""
        state = self.state
        return UnitOfWork(self.producer, self.settings.delivery_timeout_s, lambda: state.epoch)

    def encode(
        self, record: object, schema_name: str, jsonable: codec.JsonDict | None = None
    ) -> bytes:
        """Encode an output record in the configured wire format; ``jsonable`` is the
        record's ``codec.to_jsonable`` when the caller has made it already."""
        if self.settings.output_format == "avro":
            return codec.encode_avro(record, schema_name)
        if jsonable is not None:
            return codec.dump_json(jsonable)
        return codec.encode_json(record)

    @property
    def limits(self) -> codec.Limits:
        settings = self.settings
        return codec.Limits(settings.max_record_bytes, settings.max_abs_qty, settings.max_price)

"""The unit of work: staged keys once, write-through first, deliveries awaited, offsets kept."""

from __future__ import annotations

import asyncio

import pytest

from redfire.state.durable import DurableTable, MemoryPartitionStore, decode_value
from redfire.state.unit import DeliveryFailed, StaleUnit, UnitOfWork
from tests.support.engine import ListProducer


def table(name: str = "t") -> DurableTable:
    return DurableTable(name, f"changelog-{name}", MemoryPartitionStore())


def run(coroutine: object) -> None:
    asyncio.run(coroutine)  # type: ignore[arg-type]


def test_staged_key_is_written_once_with_its_value_at_commit() -> None:
    producer, states = ListProducer(), table()
    value = {"n": 0}

    async def work() -> None:
        uow = UnitOfWork(producer, 5.0)
        for n in range(10):
            value["n"] = n
            uow.stage(states, 1, "k", lambda: dict(value))
        await uow.commit()

    run(work())
    assert [s.json() for s in producer.sent] == [{"n": 9}]
    assert states.get(1, "k") == {"n": 9}


def test_write_through_goes_before_the_output_sent_after_it() -> None:
    producer, states = ListProducer(), table()

    async def work() -> None:
        uow = UnitOfWork(producer, 5.0)
        await uow.write_now(states, 0, "order", {"decided": True})
        await uow.emit("decisions", b"k", b"{}", 0)
        await uow.commit()

    run(work())
    assert [s.topic for s in producer.sent] == ["changelog-t", "decisions"]


def test_commit_records_the_highest_changelog_offset_per_partition() -> None:
    producer, states = ListProducer(), table()

    async def work() -> None:
        uow = UnitOfWork(producer, 5.0)
        for key in ("a", "b", "c"):
            uow.stage(states, 2, key, lambda: {"x": 1})
        await uow.commit()

    run(work())
    store = states.store
    assert isinstance(store, MemoryPartitionStore)
    assert store.offsets == {2: 2}


def test_failed_delivery_raises_and_keeps_the_offsets() -> None:
    producer, states = ListProducer(), table()
    producer.fail_topics.add("changelog-t")

    async def work() -> None:
        uow = UnitOfWork(producer, 5.0)
        uow.stage(states, 0, "k", lambda: {"x": 1})
        await uow.commit()

    with pytest.raises(DeliveryFailed):
        run(work())
    store = states.store
    assert isinstance(store, MemoryPartitionStore)
    assert store.offsets == {}


def test_delivery_that_never_comes_times_out() -> None:
    class Stuck(ListProducer):
        async def send(self, topic, key, value, partition):  # type: ignore[no-untyped-def]
            return asyncio.get_running_loop().create_future()

    async def work() -> None:
        uow = UnitOfWork(Stuck(), 0.05)
        await uow.emit("out", None, b"x", 0)
        await uow.commit()

    with pytest.raises(DeliveryFailed, match="REDFIRE_DELIVERY_TIMEOUT_S"):
        run(work())


def test_encoded_values_read_back_as_json_objects() -> None:
    assert decode_value(b'{"a":1}') == {"a": 1}
    assert decode_value(None) is None


def test_a_unit_opened_before_a_rebalance_writes_nothing() -> None:
    producer, states = ListProducer(), table()
    epoch = {"now": 3}

    async def work() -> None:
        uow = UnitOfWork(producer, 5.0, lambda: epoch["now"])
        uow.stage(states, 0, "account", lambda: {"cash": 1})
        epoch["now"] += 1  # partitions revoked (and maybe reassigned) meanwhile
        with pytest.raises(StaleUnit, match="1 writes dropped"):
            await uow.commit()

    run(work())
    assert producer.sent == [] and states.get(0, "account") is None


def test_a_unit_within_one_epoch_writes_as_usual() -> None:
    producer, states = ListProducer(), table()

    async def work() -> None:
        uow = UnitOfWork(producer, 5.0, lambda: 7)
        uow.stage(states, 0, "account", lambda: {"cash": 1})
        await uow.commit()

    run(work())
    assert states.get(0, "account") == {"cash": 1}

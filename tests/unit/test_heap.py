"""The heap policy: long-lived objects frozen out of collections, every collection timed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from redfire import metrics
from redfire.heap import Heap


@pytest.fixture
def heap() -> Iterator[Heap]:
    gc.unfreeze()  # whatever an earlier test froze: each test counts from nothing frozen
    heap = Heap(freeze_interval_s=10.0)
    heap.install()
    try:
        yield heap
    finally:
        gc.callbacks.remove(heap._on_collection)
        gc.unfreeze()  # the whole test process's heap: give it back


def pauses(generation: int) -> float:
    value = metrics.GC_PAUSE.labels(str(generation))._sum.get()  # type: ignore[attr-defined]
    return float(value)


def test_freeze_moves_survivors_out_of_collections_and_counts_what_it_moved(heap: Heap) -> None:
    kept = [[i] for i in range(1000)]  # containers the collector tracks
    heap.freeze()
    assert gc.get_freeze_count() >= len(kept)
    assert metrics.GC_FROZEN._value.get() == gc.get_freeze_count()  # type: ignore[attr-defined]
    more = [[i] for i in range(500)]
    heap.freeze()
    assert len(more) <= metrics.GC_FROZEN._value.get() < len(kept)  # type: ignore[attr-defined]


def test_a_refreeze_collects_frozen_garbage_and_freezes_the_survivors(heap: Heap) -> None:
    class Node:
        other: object

    a, b = Node(), Node()
    a.other, b.other = b, a
    heap.freeze()  # the cycle is frozen while it is live
    collected_before = gc.get_stats()[2]["collected"]
    del a, b  # now garbage, but frozen: no collection would see it
    gc.collect()
    assert gc.get_stats()[2]["collected"] == collected_before
    frozen = gc.get_freeze_count()

    heap.refreeze()

    assert gc.get_stats()[2]["collected"] >= collected_before + 2
    assert 0 < gc.get_freeze_count() < frozen
    assert gc.get_count()[0] < 100  # nothing of the old heap left to walk


def test_garbage_cycles_are_collected_before_a_freeze(heap: Heap) -> None:
    class Node:
        other: object

    collected_before = gc.get_stats()[2]["collected"]
    a, b = Node(), Node()
    a.other, b.other = b, a
    del a, b
    heap.freeze()
    assert gc.get_stats()[2]["collected"] >= collected_before + 2


def test_every_collection_is_timed(heap: Heap) -> None:
    before = pauses(2)
    gc.collect()
    assert pauses(2) > before


def test_a_freeze_is_due_after_the_interval_a_slow_full_collection_or_a_recovery(
    heap: Heap,
) -> None:
    heap.freeze()
    frozen_at = heap._frozen_at
    heap.maybe_freeze()
    assert heap._frozen_at == frozen_at  # neither due nor slow: nothing done
    heap._slow_full_collection = True
    heap.maybe_freeze()
    assert heap._frozen_at > frozen_at
    assert not heap._slow_full_collection
    heap._frozen_at -= heap.interval_s
    moved = heap._frozen_at
    heap.maybe_freeze()
    assert heap._frozen_at > moved
    heap.freeze_soon()  # a recovery loaded state
    recovered = heap._frozen_at
    heap.maybe_freeze()
    assert heap._frozen_at > recovered


def test_zero_turns_freezing_off() -> None:
    gc.unfreeze()
    heap = Heap(freeze_interval_s=0)
    heap.freeze()
    assert not heap.enabled
    assert gc.get_freeze_count() == 0

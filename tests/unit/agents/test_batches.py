"""The batch reader hands out a partition's events only as a contiguous run.

faust can lose records around a rebalance and commit past them; the reader must
notice a skipped offset (first event or mid-generation), seek back to it, and
believe a gap only once seeks back to the same offset show it again.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP

from redfire.agents.batches import MAX_SEEKS, SMALL_GAP_SEEKS, _Reader, _watch

TOPIC = "fills"
PART = TP(TOPIC, 0)
GENERATION = 3


def reader(committed: int | None, compacted: bool = False) -> _Reader:
    """A reader in generation 3 of a consumer whose committed offset is ``committed``."""
    consumer = SimpleNamespace(_committed_offset={} if committed is None else {PART: committed})
    reading = _Reader.__new__(_Reader)
    reading.app = SimpleNamespace(consumer=consumer, consumer_generation_id=GENERATION)  # type: ignore[assignment]
    reading.generation = GENERATION
    reading.compacted = compacted
    reading.next_offset, reading.behind, reading.sought, reading.gaps = {}, {}, {}, []
    return reading


def message(offset: int, generation: int = GENERATION) -> SimpleNamespace:
    return SimpleNamespace(tp=PART, offset=offset, generation_id=generation)


def sought_back(reading: _Reader, times: int) -> None:
    """Note ``times`` seeks back to the offset the partition is behind at."""
    offset = reading.behind[PART]
    reading.sought[PART] = (0.0, times, offset)


def test_a_contiguous_run_from_the_committed_offset_is_handed_out() -> None:
    reading = reader(committed=5)
    assert [reading.continues(message(n)) for n in (5, 6, 7)] == [True, True, True]
    assert reading.next_offset[PART] == 8
    assert not reading.behind and not reading.gaps


def test_no_commit_yet_means_the_run_starts_at_offset_zero() -> None:
    reading = reader(committed=None)
    assert not reading.continues(message(3))
    assert reading.behind == {PART: 0}


def test_already_committed_or_repeated_events_are_dropped() -> None:
    reading = reader(committed=5)
    assert not reading.continues(message(4))
    assert reading.continues(message(5))
    assert not reading.continues(message(5))
    assert not reading.continues(message(7, generation=GENERATION - 1))


def test_a_mid_generation_gap_is_sought_back_before_it_is_believed() -> None:
    reading = reader(committed=8)
    assert reading.continues(message(8))
    for seeks in range(SMALL_GAP_SEEKS):
        assert not reading.continues(message(10)), f"believed after {seeks} seeks"
        assert reading.behind == {PART: 9}
        sought_back(reading, seeks + 1)
    assert reading.continues(message(10))
    assert reading.gaps == [(PART, 9, 9)]
    assert not reading.behind


def test_the_lost_event_arriving_after_a_seek_continues_the_run() -> None:
    reading = reader(committed=8)
    assert reading.continues(message(8))
    assert not reading.continues(message(10))
    sought_back(reading, 1)
    assert reading.continues(message(9))
    assert reading.continues(message(10))
    assert not reading.gaps and not reading.behind


def test_a_larger_gap_needs_more_seeks() -> None:
    reading = reader(committed=0)
    assert not reading.continues(message(4))
    sought_back(reading, MAX_SEEKS - 1)
    assert not reading.continues(message(4))
    sought_back(reading, MAX_SEEKS)
    assert reading.continues(message(4))
    assert reading.gaps == [(PART, 0, 3)]


def test_seeks_to_another_offset_do_not_count() -> None:
    reading = reader(committed=8)
    assert reading.continues(message(8))
    reading.sought[PART] = (0.0, SMALL_GAP_SEEKS, 3)
    assert not reading.continues(message(10))


def test_a_compacted_topic_believes_gaps_after_its_first_event() -> None:
    reading = reader(committed=2, compacted=True)
    assert not reading.continues(message(4)), "the first event must still start the run"
    sought_back(reading, MAX_SEEKS)
    assert reading.continues(message(4))
    assert reading.continues(message(9))
    assert reading.gaps == [(PART, 2, 3), (PART, 5, 8)]


class Consumer:
    """The parts of faust's consumer the reader's idle check uses."""

    def __init__(self, committed: dict[TP, int], positions: dict[TP, int]) -> None:
        self._committed_offset = committed
        self.positions = positions

    async def perform_seek(self) -> None:
        return None

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        return None

    def assignment(self) -> set[TP]:
        return set(self.positions)

    async def position(self, tp: TP) -> int:
        return self.positions[tp]


def idle_reader(consumer: Consumer) -> _Reader:
    """An idle reader whose consumer's closing seek of generation 3 is done."""
    app = SimpleNamespace(
        consumer=consumer,
        consumer_generation_id=GENERATION,
        flow_control=SimpleNamespace(is_active=lambda: True),
    )
    reading = reader(committed=None)
    reading.app = app  # type: ignore[assignment]
    reading.watch = _watch(app)  # type: ignore[arg-type]
    reading.watch.generation = GENERATION
    reading.queue = asyncio.Queue()
    reading.topics = {TOPIC}
    return reading


def test_an_idle_reader_finds_events_swallowed_after_the_last_one_it_took() -> None:
    other = TP(TOPIC, 1)
    reading = idle_reader(Consumer({PART: 0, other: 4}, {PART: 40, other: 4}))
    assert reading.continues(message(0))
    asyncio.run(reading.find_swallowed())
    assert reading.behind == {PART: 1}, "fetched up to 40, handed out only offset 0"


def test_an_idle_reader_believes_a_trailing_gap_once_seeks_show_it() -> None:
    reading = idle_reader(Consumer({PART: 5}, {PART: 6}))
    reading.sought[PART] = (0.0, SMALL_GAP_SEEKS, 5)
    asyncio.run(reading.find_swallowed())
    assert not reading.behind

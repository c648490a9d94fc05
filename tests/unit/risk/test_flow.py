"""Sliding-window counters as immutable values."""

from __future__ import annotations

from typing import Any

import pytest

from redfire.risk.flow import SlidingWindowCounter


def counter_with(*timestamps: int, horizon_ms: int = 60_000) -> SlidingWindowCounter:
    counter = SlidingWindowCounter(horizon_ms=horizon_ms)
    for ts in timestamps:
        counter = counter.add(ts)
    return counter


def test_count_includes_now_and_excludes_the_window_edge() -> None:
    counter = counter_with(1_000, 1_500, 2_000)
    assert counter.count(now=2_000, window_ms=1_000) == 2  # 1_000 is exactly 1 s old: out
    assert counter.count(now=1_999, window_ms=1_000) == 2
    assert counter.count(now=2_000, window_ms=1_001) == 3


def test_future_events_are_not_counted() -> None:
    counter = counter_with(1_000, 5_000)
    assert counter.count(now=2_000, window_ms=10_000) == 1


def test_add_returns_a_new_value() -> None:
    empty = SlidingWindowCounter()
    one = empty.add(10)
    assert empty.timestamps == ()
    assert one.timestamps == (10,)


def test_out_of_order_events_are_kept_sorted() -> None:
    counter = counter_with(3_000, 1_000, 2_000)
    assert counter.timestamps == (1_000, 2_000, 3_000)


def test_events_older_than_the_horizon_are_pruned() -> None:
    counter = counter_with(0, 500, 1_000, 1_600, horizon_ms=1_000)
    assert counter.timestamps == (1_000, 1_600)
    assert counter.prune(now=2_500).timestamps == (1_600,)


def test_memory_stays_bounded_whatever_the_rate() -> None:
    counter = SlidingWindowCounter(horizon_ms=1_000_000, max_entries=50)
    for ts in range(10_000):
        counter = counter.add(ts)
    assert len(counter.timestamps) == 50
    assert counter.timestamps[-1] == 9_999
    assert counter.count(now=9_999, window_ms=1_000) == 50  # saturates at max_entries


def test_window_longer_than_the_horizon_is_refused() -> None:
    with pytest.raises(ValueError, match="horizon"):
        SlidingWindowCounter(horizon_ms=1_000).count(now=0, window_ms=2_000)


@pytest.mark.parametrize("changes", [{"horizon_ms": 0}, {"max_entries": 0}])
def test_counter_rejects_non_positive_bounds(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SlidingWindowCounter(**changes)

"""Paced replay: when each record goes out, from the records' own timestamps."""

from __future__ import annotations

import pytest

from redfire.feed import pacing_schedule


def test_speed_zero_sends_everything_at_once() -> None:
    assert pacing_schedule([0, 1_000, 5_000], 0) == [0.0, 0.0, 0.0]


def test_real_time_follows_the_ts_gaps() -> None:
    assert pacing_schedule([1_000, 1_500, 3_000], 1) == [0.0, 0.5, 2.0]


def test_speed_divides_the_gaps() -> None:
    assert pacing_schedule([0, 10_000, 20_000], 10) == [0.0, 1.0, 2.0]


def test_older_record_goes_out_at_once_and_the_clock_does_not_run_back() -> None:
    assert pacing_schedule([0, 2_000, 1_000, 3_000], 1) == [0.0, 2.0, 2.0, 3.0]


def test_record_without_ts_goes_out_with_the_previous_one() -> None:
    assert pacing_schedule([None, 0, None, 1_000], 1) == [0.0, 0.0, 0.0, 1.0]


def test_empty_and_all_missing_schedules() -> None:
    assert pacing_schedule([], 1) == []
    assert pacing_schedule([None, None], 2) == [0.0, 0.0]


@pytest.mark.parametrize("speed", [-1.0, float("nan"), float("inf")])
def test_bad_speed_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        pacing_schedule([0, 1], speed)

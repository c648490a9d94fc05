"""Daily closes (wide or long) → the return windows that seed the returns table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from redfire.feed import (
    FeedError,
    closes_by_symbol,
    epoch_ms,
    is_long_form,
    load_closes,
    seed_windows,
)
from redfire.risk.bars import ReturnWindow, returns_from_closes

DAY_MS = 86_400_000
WIDE_CSV = """date,AAPL,MSFT
2024-01-03,101.0,
2024-01-02,100.0,370.0
2024-01-04,99.0,372.5
2024-01-05,,371.0
2024-01-08,102.5,375.0
"""


def pct_change_returns(closes: list[float]) -> list[float]:
    return [float(r) for r in pd.Series(closes).pct_change().dropna()]


def test_wide_closes_are_sorted_and_gaps_dropped(tmp_path: Path) -> None:
    path = tmp_path / "closes.csv"
    path.write_text(WIDE_CSV)

    closes = load_closes(path)

    assert sorted(closes) == ["AAPL", "MSFT"]
    assert list(closes["AAPL"]) == [100.0, 101.0, 99.0, 102.5]
    assert list(closes["MSFT"]) == [370.0, 372.5, 371.0, 375.0]
    assert closes["AAPL"].index[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_long_form_is_detected_by_its_columns(tmp_path: Path) -> None:
    long = pd.DataFrame(
        {
            "Symbol": ["AAPL", "MSFT", "AAPL", "AAPL", "MSFT"],
            "Date": ["2024-01-03", "2024-01-02", "2024-01-02", "2024-01-04", "2024-01-03"],
            "Close": [101.0, 370.0, 100.0, 99.0, 372.5],
        }
    )
    path = tmp_path / "closes.jsonl"
    path.write_text(long.to_json(orient="records", lines=True))

    assert is_long_form(long)
    closes = load_closes(path)

    assert list(closes["AAPL"]) == [100.0, 101.0, 99.0]
    assert list(closes["MSFT"]) == [370.0, 372.5]


def test_windows_equal_pandas_pct_change(tmp_path: Path) -> None:
    path = tmp_path / "closes.csv"
    path.write_text(WIDE_CSV)

    seeded = {
        s.symbol: s for s in seed_windows(load_closes(path), capacity=250, interval_ms=DAY_MS)
    }

    for symbol, expected_closes in {
        "AAPL": [100.0, 101.0, 99.0, 102.5],
        "MSFT": [370.0, 372.5, 371.0, 375.0],
    }.items():
        window = seeded[symbol].window
        np.testing.assert_allclose(
            window.returns, pct_change_returns(expected_closes), rtol=0, atol=1e-15
        )
        assert window.last_close == expected_closes[-1]
        assert window.last_bar_start == epoch_ms(pd.Timestamp("2024-01-08", tz="UTC"))
        assert window == returns_from_closes(
            expected_closes, 250, last_bar_start=window.last_bar_start
        )


def test_window_keeps_only_the_newest_returns() -> None:
    dates = pd.date_range("2024-01-01", periods=30, freq="D")
    closes = np.linspace(100.0, 130.0, 30)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "X": closes})

    (seeded,) = seed_windows(closes_by_symbol(frame), capacity=5, interval_ms=DAY_MS)

    assert seeded.window.capacity == 5
    np.testing.assert_allclose(seeded.window.returns, pct_change_returns(list(closes))[-5:])


def test_last_bar_start_is_aligned_to_the_interval() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02T16:00:00Z", "2024-01-03T16:00:00Z"], "X": [1, 2]})

    (seeded,) = seed_windows(closes_by_symbol(frame), capacity=10, interval_ms=DAY_MS)

    assert seeded.window.last_bar_start == epoch_ms(pd.Timestamp("2024-01-03", tz="UTC"))
    assert seeded.window.last_bar_start % DAY_MS == 0


def test_duplicate_date_keeps_its_last_close() -> None:
    frame = pd.DataFrame(
        {
            "symbol": ["X", "X", "X"],
            "date": ["2024-01-02", "2024-01-03", "2024-01-03"],
            "close": [10.0, 11.0, 12.0],
        }
    )

    assert list(closes_by_symbol(frame)["X"]) == [10.0, 12.0]


def test_yyyymmdd_and_epoch_ms_dates_are_understood() -> None:
    by_number = pd.DataFrame({"date": [20240102, 20240103], "X": [1.0, 2.0]})
    by_epoch = pd.DataFrame({"date": [1704153600000, 1704240000000], "X": [1.0, 2.0]})

    assert list(closes_by_symbol(by_number)["X"].index) == list(
        closes_by_symbol(by_epoch)["X"].index
    )
    assert closes_by_symbol(by_epoch)["X"].index[0] == pd.Timestamp("2024-01-02", tz="UTC")


def test_symbol_without_any_close_is_left_out() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "X": [1.0, 2.0], "Y": [None, None]})

    assert list(closes_by_symbol(frame)) == ["X"]


@pytest.mark.parametrize("bad", [0.0, -5.0])
def test_non_positive_close_is_refused_naming_the_symbol(bad: float) -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "X": [1.0, bad]})

    with pytest.raises(FeedError, match="X: closes must be finite and positive"):
        closes_by_symbol(frame)


def test_text_close_is_refused() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "X": ["1.0", "n/a"]})

    with pytest.raises(FeedError, match="not all numbers"):
        closes_by_symbol(frame)


def test_changelog_record_is_raw_key_and_table_json() -> None:
    frame = pd.DataFrame({"date": ["2024-01-02", "2024-01-03"], "Ä": [100.0, 110.0]})
    (seeded,) = seed_windows(closes_by_symbol(frame), capacity=3, interval_ms=DAY_MS)

    key, value = seeded.changelog_record()

    assert key == "Ä".encode()
    assert ReturnWindow.from_dict(json.loads(value)) == seeded.window


def test_epoch_ms_treats_naive_as_utc() -> None:
    assert epoch_ms(pd.Timestamp("1970-01-02")) == DAY_MS
    assert epoch_ms(pd.Timestamp("1970-01-02T01:00:00+01:00")) == DAY_MS

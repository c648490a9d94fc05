"""Replayed daily closes of real indices build the return window pandas computes (real Kafka).

The S&P 500 and NASDAQ daily prices ship inside the ``arch`` wheel. One tick
per trading day at 16:00 UTC makes one daily bar per day; a bar's return joins
the window when the next bar opens, so the last tick's bar is still open and
the window holds the returns of ``closes[:-1]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.data import nasdaq, sp500

from redfire.risk.fhs import SymbolFilter
from redfire.risk.measures import VaRConfig, VaRMethod
from redfire.risk.var import scenario_result
from redfire.state.filters import fitted_spec
from tests.conftest import WorkerFactory
from tests.support.eventually import eventually
from tests.support.kafka_io import producer, send_json
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

DAYS = 400
CAPACITY = 300  # fewer than the 398 returns: the ring buffer must drop the oldest
DAY_MS = 86_400_000
CLOSE_MS = 16 * 3_600_000
RETURN_TOLERANCE = 1e-12
FHS_DAYS = 1002


@dataclass(frozen=True)
class DailyCloses:
    """One symbol's last ``DAYS`` daily closes and their dates (epoch ms at midnight UTC)."""

    symbol: str
    days_ms: list[int]
    closes: list[float]

    def ticks(self) -> list[dict[str, Any]]:
        """Return one tick per day at 16:00 UTC, priced at the day's close."""
        return [
            {"symbol": self.symbol, "ts": day + CLOSE_MS, "price": close}
            for day, close in zip(self.days_ms, self.closes, strict=True)
        ]

    def expected_returns(self, capacity: int) -> list[float]:
        """Return pandas' simple returns of every closed bar (the last bar is open), newest last."""
        closed = pd.Series(self.closes[:-1], dtype="float64")
        return [float(r) for r in closed.pct_change().dropna().to_numpy()][-capacity:]


def daily_closes(symbol: str, frame: pd.DataFrame, days: int = DAYS) -> DailyCloses:
    column = "Adj Close" if "Adj Close" in frame.columns else "Close"
    last = frame[column].dropna().iloc[-days:]
    days_ms = [
        int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000
        for day in pd.DatetimeIndex(last.index)
    ]
    return DailyCloses(symbol, days_ms, [float(close) for close in last.to_numpy()])


def market(worker: RedFireWorker, symbol: str) -> dict[str, Any]:
    body: dict[str, Any] = worker.get(f"/market/{symbol}")
    return body


def window_closed_through(worker: RedFireWorker, history: DailyCloses) -> dict[str, Any]:
    """Return the symbol's market body once its window has closed the next-to-last day."""
    body = market(worker, history.symbol)
    window = body["window"]
    assert window is not None and window["last_bar_start"] == history.days_ms[-2], (
        f"{history.symbol}: window closed through {window and window['last_bar_start']}, "
        f"want {history.days_ms[-2]}"
    )
    return body


def assert_window_matches_pandas(body: dict[str, Any], history: DailyCloses) -> None:
    window = body["window"]
    expected = history.expected_returns(CAPACITY)
    assert window["capacity"] == CAPACITY
    assert len(window["returns"]) == len(expected) == CAPACITY
    worst = float(np.max(np.abs(np.asarray(window["returns"]) - np.asarray(expected))))
    assert worst <= RETURN_TOLERANCE, f"{history.symbol}: returns differ by up to {worst:.3g}"
    assert window["last_close"] == history.closes[-2]
    assert window["last_bar_start"] == history.days_ms[-2]
    assert body["price"]["price"] == history.closes[-1]
    assert body["price"]["ts"] == history.days_ms[-1] + CLOSE_MS


def test_replayed_daily_closes_build_the_pandas_return_window_and_survive_a_restart(
    redfire_worker: WorkerFactory,
) -> None:
    worker: RedFireWorker = redfire_worker(REDFIRE_VAR_WINDOW=str(CAPACITY))
    histories = [daily_closes("SPX", sp500.load()), daily_closes("NDX", nasdaq.load())]
    assert all(len(h.closes) == DAYS and DAYS - 2 > CAPACITY for h in histories)

    prod = producer(worker.bootstrap)
    for day_ticks in zip(*(h.ticks() for h in histories), strict=True):
        for tick in day_ticks:
            send_json(prod, worker.topic("ticks"), tick["symbol"], tick)
        prod.poll(0)
    assert prod.flush(30) == 0

    before: dict[str, dict[str, Any]] = {}
    for history in histories:
        before[history.symbol] = eventually(
            partial(window_closed_through, worker, history),
            timeout=90,
            interval=0.25,
            retry_on=(AssertionError, OSError),
        )
        assert_window_matches_pandas(before[history.symbol], history)

    worker.stop()
    worker.start()
    for history in histories:
        assert market(worker, history.symbol) == before[history.symbol]


def account_var_99(worker: RedFireWorker, account: str) -> float | None:
    value = worker.get(f"/accounts/{account}/report")["risk"]["var_99"]
    return None if value is None else float(value)


def refits_done(worker: RedFireWorker) -> float:
    for line in worker.get_text("/metrics").splitlines():
        if line.startswith("redfire_fhs_refit_seconds_count"):
            return float(line.split()[-1])
    return 0.0


def test_fhs_worker_prices_a_book_on_the_filter_fitted_to_the_replayed_history(
    redfire_worker: WorkerFactory,
) -> None:
    """Shipped fhs (GJR-GARCH-t): the worker fits the S&P 500 window on its refit thread."""
    worker: RedFireWorker = redfire_worker(REDFIRE_VAR_METHOD="fhs")
    # 1,000 returns: the shipped fit window (on the last 400 days alone arch's GJR-t fit does
    # not converge, and the filter would stay on RiskMetrics).
    history = daily_closes("SPX", sp500.load(), FHS_DAYS)
    prod = producer(worker.bootstrap)
    for tick in history.ticks():
        send_json(prod, worker.topic("ticks"), tick["symbol"], tick)
    assert prod.flush(30) == 0
    body = eventually(
        partial(window_closed_through, worker, history),
        timeout=90,
        interval=0.25,
        retry_on=(AssertionError, OSError),
    )
    returns = np.asarray(body["window"]["returns"])
    assert body["window"]["capacity"] == returns.size == FHS_DAYS - 2 == 1000  # a fit's worth

    now = history.days_ms[-1] + CLOSE_MS
    command = {"command_id": "cash", "command": "SET_CASH", "account": "FHS-1", "ts": now}
    send_json(prod, worker.topic("risk_commands"), "FHS-1", {**command, "payload": {"cash": 1e7}})
    fill = {
        "fill_id": "f1",
        "order_id": "o1",
        "account": "FHS-1",
        "symbol": "SPX",
        "side": "BUY",
        "qty": 100,
        "price": history.closes[-1],
        "ts": now,
    }
    send_json(prod, worker.topic("fills"), "FHS-1", fill)
    assert prod.flush(30) == 0

    spec = fitted_spec(VaRConfig(method=VaRMethod.FHS))
    assert spec is not None
    fitted = SymbolFilter.from_history(spec, returns)
    assert fitted.params is not None and fitted.params.gamma > 0
    exposure = np.asarray([100 * history.closes[-1]])
    column = fitted.scenario_column()[:, None]
    expected = scenario_result(column, exposure, VaRConfig(method=VaRMethod.FHS)).var

    def priced_on_the_fit() -> float:
        var_99 = account_var_99(worker, "FHS-1")
        assert var_99 is not None and var_99 == pytest.approx(expected, rel=1e-6), var_99
        return var_99

    eventually(priced_on_the_fit, timeout=60, interval=0.25, retry_on=(AssertionError, OSError))
    assert refits_done(worker) >= 1

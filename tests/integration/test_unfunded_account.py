"""Issue 9 on a real Kafka: fills before SET_CASH do not trip the shipped drawdown halt.

``REDFIRE_DEFAULT_CASH`` is 0, so an account that the gateway fills before the back office
sets its cash has equity made of P&L alone. Measured against such a peak, a small loss was a
drawdown above 100% and the shipped 20% rule HALTED the account at once. Now drawdown has no
evidence until the account is funded; once it is, a real 25% loss halts it as it should.
The worker runs the shipped rules; only the clocks are faster (for speed).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.desk import Desk, account_alerts, http_json, wait_price, wait_record
from tests.support.eventually import eventually
from tests.support.kafka_io import JsonRecord
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

ACCOUNT = "EARLY-1"
QTY = 10_000
HALT_RULE = "drawdown_20pct_halt"


def fast_clocks() -> dict[str, str]:
    """Shipped rules and scenarios; snapshots and the monitor clock faster, for speed."""
    return {
        "REDFIRE_SNAPSHOT_INTERVAL": "0.5",
        "REDFIRE_MONITOR_TICK_S": "0.2",
    }


def test_fills_before_set_cash_do_not_halt_and_a_real_drawdown_does(redfire_worker: Any) -> None:
    worker: RedFireWorker = redfire_worker(**fast_clocks())
    desk = Desk(worker)
    snapshots = desk.reader("risk_metrics")
    alerts = desk.reader("risk_alerts")

    def snapshot_at(price: float, after: int = 0) -> JsonRecord:
        value = QTY * price
        return wait_record(
            snapshots,
            lambda s: s["account"] == ACCOUNT and s["gross_exposure"] == value and s["ts"] > after,
        )

    def later_snapshot(than: JsonRecord) -> JsonRecord:
        """Return a snapshot after ``than``: the rules on ``than`` have been evaluated by then."""
        return wait_record(snapshots, lambda s: s["account"] == ACCOUNT and s["ts"] > than["ts"])

    try:
        desk.tick("AAPL", 100.0)
        wait_price(worker, "AAPL", 100.0)
        desk.fill(ACCOUNT, "AAPL", "BUY", QTY, 100.0)  # cash −1M, equity 0: nothing set yet
        snapshot_at(100.0)
        desk.tick("AAPL", 100.5)  # equity +5,000: the old code took this as the peak
        up = snapshot_at(100.5)
        desk.tick("AAPL", 99.0)  # equity −10,000: "300% drawdown" before
        down = snapshot_at(99.0, after=up["ts"])
        assert down["equity"] == pytest.approx(-10_000)
        later_snapshot(down)
        assert not [a for a in account_alerts(alerts, ACCOUNT) if "drawdown" in a["rule_id"]]
        assert http_json(worker, f"/accounts/{ACCOUNT}/risk")["trading_state"] == "ACTIVE"

        # The back office's figure: 10,000 left after paying for the shares; equity 1,000,000.
        desk.command("SET_CASH", ACCOUNT, {"cash": 10_000})
        eventually(
            lambda: http_json(worker, f"/accounts/{ACCOUNT}/risk")["equity"] == 1_000_000,
            timeout=60,
            retry_on=(AssertionError, OSError),
        )
        funded = later_snapshot(down)
        assert funded["drawdown"] == 0.0
        assert funded["daily_pnl"] == pytest.approx(down["daily_pnl"])  # cash is not P&L

        desk.tick("AAPL", 74.0)  # equity 750,000: 25% below the 1,000,000 peak
        halted = wait_record(
            alerts, lambda a: a["account"] == ACCOUNT and a["rule_id"] == HALT_RULE
        )
        assert halted["state"] == "FIRING"
        assert halted["value"] == pytest.approx(0.25)
        eventually(
            lambda: http_json(worker, f"/accounts/{ACCOUNT}/risk")["trading_state"] == "HALTED",
            timeout=30,
            retry_on=(AssertionError, OSError),
        )
    finally:
        desk.close()

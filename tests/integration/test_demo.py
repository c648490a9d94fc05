"""Issue 9: the demo's first minute, on the embedded Tansu broker as ``make demo`` runs it.

The feed waits until the worker shows the accounts' cash, the price history and fresh prices
before its first order, so no early decision is about the demo's own start-up; a rule fires
for a real reason within the first 60 seconds; and everything fits an 80-column terminal.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from redfire.cli.demo import run_demo
from redfire.cli.demo_feed import SYMBOLS
from redfire.cli.demo_view import WIDTH

pytestmark = pytest.mark.integration

START_UP_CHECKS = {"price_staleness", "buying_power"}


def start_up_reasons(decision: dict[str, object]) -> list[dict[str, object]]:
    """Return the reasons that would mean the worker had not applied the opening yet."""
    found = []
    for reason in decision.get("reasons") or []:  # type: ignore[attr-defined]
        check = reason["check"]
        unpriced_known = check == "known_symbol_with_price" and decision["symbol"] in SYMBOLS
        if check in START_UP_CHECKS or unpriced_known or "cash 0.00" in reason["message"]:
            found.append(reason)
    return found


def test_demo_first_minute_has_no_start_up_rejections_and_fires_an_alert() -> None:
    output = io.StringIO()
    console = Console(file=output, width=WIDTH, force_terminal=False, color_system=None)
    run = run_demo(60, None, console)
    printed = output.getvalue()

    assert run.ready_after_s is not None, printed
    first = run.view.decisions[:10]
    assert len(first) == 10, printed
    assert [d["order_id"] for d in first if start_up_reasons(d)] == [], printed
    firing = [(at, alert) for at, alert in run.view.alerts if alert["state"] == "FIRING"]
    assert firing, printed
    assert firing[0][0] <= 60, firing[0]
    assert run.view.dead_letters, "the malformed orders land in dead_letters"
    assert "Summary after" in printed
    assert "worker and broker are down" in printed
    too_wide = [line for line in printed.splitlines() if len(line) > WIDTH]
    assert too_wide == []

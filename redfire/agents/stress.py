"""Stress scenarios against an account's positions: on a command, on a schedule, over HTTP."""

from __future__ import annotations

from typing import Any

from redfire.risk import stress as stress_math
from redfire.schemas.records import PositionImpact, StressResult
from redfire.state.account import AccountAggregate
from redfire.state.market import MarketState


def stress_account(
    account: AccountAggregate, market: MarketState, scenario: stress_math.StressScenario, ts: int
) -> StressResult:
    """Apply one scenario to the account's positions at the last prices."""
    positions = dict(account.quantities)
    prices = {s: price for s in positions if (price := market.last_price(s)) is not None}
    result = stress_math.run_stress(scenario, positions, prices)
    return StressResult(
        scenario_id=scenario.scenario_id,
        account=account.name,
        pnl=result.pnl,
        ts=ts,
        impacts=tuple(
            PositionImpact(i.symbol, i.qty, i.price, i.shock, i.market_value, i.pnl)
            for i in result.impacts
        ),
    )


def result_body(result: StressResult) -> dict[str, Any]:
    """Return the JSON body of a stress result (HTTP and topic alike)."""
    return {
        "scenario_id": result.scenario_id,
        "account": result.account,
        "pnl": result.pnl,
        "ts": result.ts,
        "impacts": [
            {
                "symbol": i.symbol,
                "qty": i.qty,
                "price": i.price,
                "shock": i.shock,
                "market_value": i.market_value,
                "pnl": i.pnl,
            }
            for i in result.impacts
        ],
    }

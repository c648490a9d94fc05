"""Stress scenarios: run on a command, on a schedule and over HTTP; results to stress_results.

Scenario and rule changes also arrive here as commands (ADD_SCENARIO, ADD_RULE,
REMOVE_RULE); RUN_STRESS runs one scenario (payload ``scenario_id``) or all.
"""

from __future__ import annotations

from typing import Any

from redfire.agents.commands import CommandError, register
from redfire.agents.intake import encode_output, now_ms
from redfire.app import settings
from redfire.risk import stress as stress_math
from redfire.schemas.records import PositionImpact, RiskCommand, StressResult
from redfire.streams import topics
from redfire.tables import mirrors, store
from redfire.tables.config_store import rule_set, scenario_set

# Worst scenario loss per account from the last scheduled run (a rule metric).
worst_loss: dict[str, float] = {}
last_run: dict[str, int] = {}


def stress_account(account: str, scenario: stress_math.StressScenario, ts: int) -> StressResult:
    """Apply one scenario to the account's positions at the last prices."""
    positions = store.position_index.quantities(account)
    prices = {s: mark.price for s in positions if (mark := mirrors.prices.get(s)) is not None}
    result = stress_math.run_stress(scenario, positions, prices)
    return StressResult(
        scenario_id=scenario.scenario_id,
        account=account,
        pnl=result.pnl,
        ts=ts,
        impacts=tuple(
            PositionImpact(i.symbol, i.qty, i.price, i.shock, i.market_value, i.pnl)
            for i in result.impacts
        ),
    )


async def publish_result(result: StressResult) -> None:
    await topics.stress_results.send(
        key=result.account.encode(), value=encode_output(result, "stress_result")
    )


async def run_scenarios(account: str, scenario_ids: list[str], ts: int) -> list[StressResult]:
    """Run and publish the named scenarios for one account."""
    results = []
    for scenario_id in scenario_ids:
        scenario = scenario_set.get(scenario_id)
        if scenario is None:
            raise CommandError(f"unknown scenario {scenario_id!r}")
        result = stress_account(account, scenario, ts)
        await publish_result(result)
        results.append(result)
    return results


async def scheduled_stress(account: str, now: int) -> float | None:
    """Run every scenario every REDFIRE_STRESS_INTERVAL_S; return the worst loss (a rule metric)."""
    if now - last_run.get(account, 0) >= settings.stress_interval_s * 1000:
        last_run[account] = now
        results = await run_scenarios(account, sorted(scenario_set.all()), now)
        worst_loss[account] = max((-r.pnl for r in results), default=0.0)
    return worst_loss.get(account)


def _payload_text(command: RiskCommand, name: str) -> str:
    value = command.payload.get(name)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{command.command} needs payload {{{name}: text}}")
    return value


def add_scenario(command: RiskCommand) -> None:
    try:
        scenario_set.put(_payload_text(command, "scenario_id"), dict(command.payload))
    except ValueError as exc:
        raise CommandError(f"ADD_SCENARIO rejected: {exc}") from exc


def add_rule(command: RiskCommand) -> None:
    try:
        rule_set.put(_payload_text(command, "rule_id"), dict(command.payload))
    except ValueError as exc:
        raise CommandError(f"ADD_RULE rejected: {exc}") from exc


def remove_rule(command: RiskCommand) -> None:
    try:
        rule_set.remove(_payload_text(command, "rule_id"))
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


async def run_stress_command(command: RiskCommand) -> None:
    """RUN_STRESS for one account (``*`` is refused: send one per account)."""
    if command.account in (None, "*"):
        raise CommandError("RUN_STRESS needs an account")
    scenario = command.payload.get("scenario_id")
    ids = [scenario] if isinstance(scenario, str) else sorted(scenario_set.all())
    await run_scenarios(command.account, ids, command.ts or now_ms())


register("ADD_SCENARIO")(add_scenario)
register("ADD_RULE")(add_rule)
register("REMOVE_RULE")(remove_rule)
register("RUN_STRESS")(run_stress_command)


def result_body(result: StressResult) -> dict[str, Any]:
    return {
        "scenario_id": result.scenario_id,
        "account": result.account,
        "pnl": result.pnl,
        "ts": result.ts,
        "impacts": [vars_of(i) for i in result.impacts],
    }


def vars_of(impact: PositionImpact) -> dict[str, Any]:
    return {
        "symbol": impact.symbol,
        "qty": impact.qty,
        "price": impact.price,
        "shock": impact.shock,
        "market_value": impact.market_value,
        "pnl": impact.pnl,
    }

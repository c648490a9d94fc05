"""Command agent: ``risk_commands`` → accounts, limits, rules and scenarios.

Idempotent by ``command_id``. Every command is checked first
(``redfire.risk.commands.check_command``); one that cannot be applied as given
goes to ``dead_letters`` with reason ``invalid_command`` and an error naming the
field, the bad value and the valid choices, is logged and counted, and changes
nothing. It never stops the agent.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from redfire import metrics
from redfire.agents.intake import dead_letter, records
from redfire.app import app
from redfire.risk import valuation
from redfire.risk.commands import REFUSAL_REASON, check_command
from redfire.risk.positions import to_decimal
from redfire.schemas import codec
from redfire.schemas.records import RiskCommand
from redfire.streams import topics
from redfire.tables import definitions as tables
from redfire.tables import mirrors, store
from redfire.tables.accounts import TradingState
from redfire.tables.activity import activity
from redfire.tables.limit_store import limit_store
from redfire.tables.portfolio import account_view

log = logging.getLogger(__name__)
ALL_ACCOUNTS = "*"


class CommandError(ValueError):
    """A command that cannot be applied as given."""


def command_owner(command: RiskCommand) -> str:
    """Return the key a command is processed under: its account or ``*``."""
    return command.account or ALL_ACCOUNTS


def set_cash(command: RiskCommand) -> None:
    """Set the account's cash to the back office's figure (checked by ``check_command``).

    A cash change is neither profit nor loss: the equity marks move with it
    (``valuation.fund``), and an account that traded before its cash was set
    starts its high-water mark here.
    """
    account = _require_account(command)
    cash = command.payload.get("cash")
    if isinstance(cash, bool) or not isinstance(cash, int | float | str):
        raise CommandError("SET_CASH needs payload {cash: number}")
    try:
        amount = to_decimal(cash)
    except (ValueError, TypeError) as exc:
        raise CommandError(f"SET_CASH cash is not a number: {cash!r}") from exc
    state = store.get_account(account)
    before = float(account_view(account).equity)
    marks = valuation.fund(
        valuation.EquityMarks(state.equity_high, state.day_start_equity, state.day),
        equity_before=before,
        equity_after=before + float(amount - state.cash),
    )
    store.put_account(
        replace(state, cash=amount, equity_high=marks.high_water, day_start_equity=marks.day_start)
    )


def set_trading_state(command: RiskCommand, state: TradingState) -> None:
    """Set one account's trading state, or the firm's when the account is ``*``."""
    if command_owner(command) == ALL_ACCOUNTS:
        firm = {**(mirrors.limits.get(store.FIRM_STATE_KEY) or {}), "trading_state": state}
        store.put_versioned(tables.limits, mirrors.limits, store.FIRM_STATE_KEY, firm)
        return
    account = store.get_account(_require_account(command))
    store.put_account(replace(account, trading_state=state))


def set_limits(command: RiskCommand) -> None:
    """Override limits for one account, or the default when the account is ``*``."""
    if not command.payload:
        raise CommandError("SET_LIMITS needs payload {limit: value, ...}")
    account = command_owner(command)
    try:
        limit_store.update(None if account == ALL_ACCOUNTS else account, dict(command.payload))
    except ValueError as exc:
        raise CommandError(f"SET_LIMITS rejected: {exc}") from exc


def _require_account(command: RiskCommand) -> str:
    if command.account is None or command.account == ALL_ACCOUNTS:
        raise CommandError(f"{command.command} needs an account")
    return command.account


CommandHandler = Callable[[RiskCommand], Awaitable[None] | None]

HANDLERS: dict[str, CommandHandler] = {
    "SET_CASH": set_cash,
    "SET_LIMITS": set_limits,
    "HALT": lambda c: set_trading_state(c, "HALTED"),
    "RESUME": lambda c: set_trading_state(c, "ACTIVE"),
    "REDUCE_ONLY": lambda c: set_trading_state(c, "REDUCE_ONLY"),
}


def register(name: str) -> Callable[[CommandHandler], CommandHandler]:
    """Register the handler of one command type (used by later modules)."""

    def decorate(handler: CommandHandler) -> CommandHandler:
        HANDLERS[name] = handler
        return handler

    return decorate


def is_new_command(command: RiskCommand) -> bool:
    """Record the command id; return False when it was already applied."""
    if tables.seen_commands.get(command.command_id) is not None:
        metrics.DUPLICATES.labels("risk_commands").inc()
        return False
    return True


@app.agent(topics.risk_commands)
async def commands(stream: Any) -> None:
    """Apply each command once; bad ones become dead letters."""
    async for event, command in records(stream, codec.COMMAND, topics.risk_commands, command_owner):
        if not is_new_command(command):
            continue
        refusal = check_command(command.command, command.account, command.payload)
        handler = HANDLERS.get(command.command)
        try:
            if refusal is not None:
                raise CommandError(refusal.error)
            if handler is None:
                raise CommandError(f"{command.command} is not handled by this worker")
            pending = handler(command)
            if pending is not None:
                await pending
        except CommandError as exc:
            log.warning("refused %s %s: %s", command.command, command.command_id, exc)
            await dead_letter(event, REFUSAL_REASON, str(exc))
            continue
        tables.seen_commands[command.command_id] = command.ts
        if command.account and command.account != ALL_ACCOUNTS:
            activity.touch(command.account)
        log.info("applied %s %s for %s", command.command, command.command_id, command.account)

"""Command agent: ``risk_commands`` → cash, trading states, limits, rules, scenarios, stress,
and FLATTEN (the emergency stop, ``redfire.agents.emergency``).

Idempotent by ``command_id`` (and SET_CASH by the account's command watermark,
so a redelivered command never overwrites cash that fills moved since). A
command that cannot be applied as given is refused: a ``dead_letters`` record
with reason ``invalid_command`` naming what is wrong, a metric and a log line —
never stored half-applied.

FLATTEN ``*`` must reach every account, but a command keyed ``*`` lands on one
partition. Its owner there sets the firm state HALTED, flattens the accounts of that
partition and sends one copy of the command to every other partition (payload
``partition: p``, keyed by ``partition_key(p)``, a key that hashes to p); each copy
flattens the accounts of its partition on the worker that owns them. Copies carry the
command id, so each partition applies it once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import count
from typing import Any, Final

from redfire import metrics
from redfire.agents.context import AgentContext
from redfire.agents.emergency import EmergencyStop, StopCause
from redfire.agents.intake import Envelope, Intake
from redfire.agents.snapshots import value_account
from redfire.agents.stress import stress_account
from redfire.risk import valuation
from redfire.risk.commands import check_command
from redfire.risk.fx import check_currency
from redfire.risk.limits import validate_changes
from redfire.risk.positions import to_decimal
from redfire.risk.rules import rule_from_payload
from redfire.risk.stress import scenario_from_payload
from redfire.risk.vocabulary import ACTIVE, ALL_ACCOUNTS, HALTED, REDUCE_ONLY, TradingState
from redfire.schemas import codec
from redfire.schemas.records import RiskCommand
from redfire.state.account import AccountAggregate
from redfire.state.config import FIRM_STATE_KEY
from redfire.state.unit import UnitOfWork
from redfire.state.worker import compound_key
from redfire.streams.partitioning import partition_for

log = logging.getLogger(__name__)
INVALID = "invalid_command"
FLATTEN: Final = "FLATTEN"
# The payload field of a FLATTEN "*" copy: the partition whose accounts it flattens.
FANOUT_PARTITION = "partition"


class CommandError(ValueError):
    """A command that cannot be applied as given."""


@dataclass(slots=True)
class Applied:
    """One command being applied: where it came from and what it must write or send."""

    command: RiskCommand
    partition: int
    offset: int
    uow: UnitOfWork


def command_owner(command: RiskCommand) -> str:
    """Return the key a command is processed under: its account or ``*``."""
    return command.account or ALL_ACCOUNTS


@cache
def partition_key(partition: int, partitions: int) -> str:
    """Return the first key ``*#n`` that hashes to ``partition``: a FLATTEN ``*`` copy's key."""
    for n in count():
        key = f"{ALL_ACCOUNTS}#{n}"
        if partition_for(key, partitions) == partition:
            return key
    raise AssertionError("unreachable")


def fanout_partition(command: RiskCommand, partitions: int) -> int | None:
    """Return the partition a FLATTEN ``*`` copy is for; None for any other command."""
    if command.command != FLATTEN or command_owner(command) != ALL_ACCOUNTS:
        return None
    target = command.payload.get(FANOUT_PARTITION)
    if isinstance(target, int) and not isinstance(target, bool) and 0 <= target < partitions:
        return target
    return None


class CommandDesk:
    """Apply each command once; refuse bad ones loudly."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.partitions = ctx.settings.partitions
        self.intake: Intake[RiskCommand] = Intake(ctx, codec.COMMAND, self.owner)
        self.emergency = EmergencyStop(ctx)
        self.handlers: dict[str, Callable[[Applied], Any]] = {
            "SET_CASH": self.set_cash,
            "SET_LIMITS": self.set_limits,
            "HALT": lambda a: self.set_trading_state(a, HALTED),
            "RESUME": lambda a: self.set_trading_state(a, ACTIVE),
            "REDUCE_ONLY": lambda a: self.set_trading_state(a, REDUCE_ONLY),
            "ADD_RULE": self.add_rule,
            "REMOVE_RULE": self.remove_rule,
            "ADD_SCENARIO": self.add_scenario,
        }
        self.async_handlers: dict[str, Callable[[Applied], Awaitable[None]]] = {
            "RUN_STRESS": self.run_stress,
            FLATTEN: self.flatten,
        }

    def owner(self, command: RiskCommand) -> str:
        """Return the key a command is processed under (a FLATTEN ``*`` copy: its partition's)."""
        target = fanout_partition(command, self.partitions)
        if target is None:
            return command_owner(command)
        return partition_key(target, self.partitions)

    async def handle(self, envelopes: Sequence[Envelope]) -> Awaitable[None]:
        uow = self.ctx.unit()
        await self.intake.process(
            envelopes, uow, lambda command, envelope: self.apply(command, envelope, uow)
        )
        delivered = await uow.flush()
        self.intake.publish_counts()
        return delivered

    async def apply(self, command: RiskCommand, envelope: Envelope, uow: UnitOfWork) -> None:
        """Apply one command unless already applied; dead-letter it when it is invalid."""
        seen = self.state.tables.seen_commands
        self.state.saw_event(command.ts)
        key = compound_key(self.owner(command), command.command_id)
        if uow.read(seen, envelope.partition, key) is not None:
            metrics.DUPLICATES.labels("risk_commands").inc()
            return
        refusal = check_command(command.command, command.account, command.payload)
        if refusal is not None:
            log.warning("refused %s %s: %s", command.command, command.command_id, refusal.error)
            await self.intake.dead_letter(envelope, uow, refusal.reason, refusal.error)
            return
        try:
            run = self.async_handlers.get(command.command)
            if run is not None:
                await run(Applied(command, envelope.partition, envelope.offset, uow))
            else:
                handler = self.handlers.get(command.command)
                if handler is None:
                    raise CommandError(f"command {command.command!r} is not handled")
                handler(Applied(command, envelope.partition, envelope.offset, uow))
        except (CommandError, ValueError) as exc:
            log.warning("refused %s %s: %s", command.command, command.command_id, exc)
            await self.intake.dead_letter(envelope, uow, INVALID, f"{command.command}: {exc}")
            return
        ts = command.ts
        uow.stage(seen, envelope.partition, key, lambda: {"ts": ts})
        account = self.state.known_account(command.account or "")
        if account is not None:
            account.touch()
        log.info("applied %s %s for %s", command.command, command.command_id, command.account)

    # ----------------------------------------------------------- accounts

    def set_cash(self, applied: Applied) -> None:
        """Set the account's cash to the back office's figure (once per command offset).

        ``payload.currency`` says which balance (default: the account's base currency).
        """
        command = applied.command
        currency = command.payload.get("currency")
        if currency is not None:
            if not isinstance(currency, str):
                raise CommandError(f"payload field 'currency' must be text, got {currency!r}")
            try:
                check_currency(currency)
            except ValueError as exc:
                raise CommandError(f"payload field 'currency': {exc}") from exc
        cash = command.payload.get("cash")
        if isinstance(cash, bool) or not isinstance(cash, int | float | str):
            raise CommandError(f"payload field 'cash' must be a number, got {cash!r}")
        try:
            amount = to_decimal(cash)
        except (ValueError, TypeError) as exc:
            raise CommandError(f"payload field 'cash' is not a number: {cash!r}") from exc
        if not amount.is_finite():
            raise CommandError(f"payload field 'cash' must be finite, got {cash!r}")
        account = self.state.account(require_account(command))
        record = account.record
        if record.command_offset >= applied.offset:
            return
        before = self.equity(account)
        account.set_cash(currency or account.base, amount)
        record.command_offset = applied.offset
        # A deposit is not P&L: the equity marks move with the cash (risk.valuation.fund).
        marks = valuation.fund(
            valuation.EquityMarks(record.equity_high, record.day_start_equity, record.day),
            before,
            self.equity(account),
        )
        record.equity_high, record.day_start_equity = marks.high_water, marks.day_start
        self.stage_account(applied, account.name)

    def equity(self, account: AccountAggregate) -> float:
        """Return the account's equity in its base currency (what its equity marks track)."""
        return value_account(self.state, account).equity

    def set_trading_state(self, applied: Applied, state: TradingState) -> None:
        """Set one account's trading state, or the firm's when the account is ``*``."""
        command = applied.command
        if command_owner(command) == ALL_ACCOUNTS:
            value = self.state.config.firm_state_entry(state)
            self.stage_global(applied, self.state.tables.limits, FIRM_STATE_KEY, value)
            self.state.config.limit_overrides.apply(FIRM_STATE_KEY, value)
            return
        account = self.state.account(require_account(command))
        account.record.trading_state = state
        self.stage_account(applied, account.name)

    def stage_account(self, applied: Applied, name: str) -> None:
        account = self.state.account(name)
        applied.uow.stage(
            self.state.tables.accounts, account.partition, name, account.account_value
        )

    # ------------------------------------------------------------ config

    def set_limits(self, applied: Applied) -> None:
        """Override limits for one account, or the default when the account is ``*``."""
        command = applied.command
        if not command.payload:
            raise CommandError("SET_LIMITS needs payload {limit: value, ...}")
        changes = dict(command.payload)
        validate_changes(changes)
        key = command_owner(command)
        value = self.state.config.limit_entry(key, changes)
        self.stage_global(applied, self.state.tables.limits, key, value)
        self.state.config.limit_overrides.apply(key, value)

    def add_rule(self, applied: Applied) -> None:
        payload = dict(applied.command.payload)
        rule = rule_from_payload(payload)
        rules = self.state.config.rules
        value = rules.entry(rule.rule_id, payload)
        self.stage_global(applied, self.state.tables.rules, rule.rule_id, value)
        rules.entries.apply(rule.rule_id, value)

    def remove_rule(self, applied: Applied) -> None:
        rule_id = payload_text(applied.command, "rule_id")
        rules = self.state.config.rules
        if rule_id not in rules.all():
            raise CommandError(f"no rule {rule_id!r}; active rules: {sorted(rules.all())}")
        value = rules.removal(rule_id)
        self.stage_global(applied, self.state.tables.rules, rule_id, value)
        rules.entries.apply(rule_id, value)

    def add_scenario(self, applied: Applied) -> None:
        payload = dict(applied.command.payload)
        scenario = scenario_from_payload(payload)
        scenarios = self.state.config.scenarios
        value = scenarios.entry(scenario.scenario_id, payload)
        self.stage_global(applied, self.state.tables.scenarios, scenario.scenario_id, value)
        scenarios.entries.apply(scenario.scenario_id, value)

    def stage_global(self, applied: Applied, table: Any, key: str, value: dict[str, Any]) -> None:
        """Stage a global-table entry on the command's own partition.

        Writing on a partition this worker owns keeps transactional producers
        (exactly_once) valid; ``_version`` orders entries of one key written
        from different partitions.
        """
        applied.uow.stage(table, applied.partition, key, lambda: value)

    # ---------------------------------------------------------- emergency

    async def flatten(self, applied: Applied) -> None:
        """FLATTEN one account, or (``*``) every account: the whole emergency stop."""
        command = applied.command
        reason = command.payload.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise CommandError(f"payload field 'reason' must be text, got {reason!r}")
        trigger = f"FLATTEN {command.command_id}" + (f": {reason}" if reason else "")
        cause = StopCause(command.command_id, trigger, command.ts)
        if command_owner(command) != ALL_ACCOUNTS:
            account = self.state.account(require_account(command))
            await self.emergency.flatten(account, cause, applied.uow)
            return
        if FANOUT_PARTITION in command.payload:
            target = fanout_partition(command, self.partitions)
            if target != applied.partition:
                raise CommandError(
                    f"a FLATTEN '*' copy for partition {command.payload[FANOUT_PARTITION]!r} "
                    f"arrived on partition {applied.partition}"
                )
        else:
            self.set_trading_state(applied, HALTED)
            await self.fan_out(applied)
        for account in self.state.accounts_on(applied.partition):
            await self.emergency.flatten(account, cause, applied.uow)

    async def fan_out(self, applied: Applied) -> None:
        """Send a copy of a FLATTEN ``*`` to every other partition, for its accounts."""
        command = applied.command
        for partition in range(self.partitions):
            if partition == applied.partition:
                continue
            copy = RiskCommand(
                command.command_id,
                FLATTEN,
                command.ts,
                ALL_ACCOUNTS,
                {**command.payload, FANOUT_PARTITION: partition},
            )
            await applied.uow.emit(
                self.ctx.names.risk_commands,
                partition_key(partition, self.partitions).encode(),
                self.ctx.encode(copy, "risk_command"),
                partition,
            )

    # ------------------------------------------------------------ stress

    async def run_stress(self, applied: Applied) -> None:
        """RUN_STRESS for one account: one scenario (payload ``scenario_id``) or all."""
        command = applied.command
        name = require_account(command)
        scenarios = self.state.config.scenarios.all()
        wanted = command.payload.get("scenario_id")
        if wanted is not None and (not isinstance(wanted, str) or wanted not in scenarios):
            raise CommandError(f"unknown scenario {wanted!r}; known: {sorted(scenarios)}")
        ids = [wanted] if isinstance(wanted, str) else sorted(scenarios)
        account = self.state.account(name)
        ts = command.ts or self.ctx.clock()
        for scenario_id in ids:
            result = stress_account(account, self.state.market, scenarios[scenario_id], ts)
            await applied.uow.emit(
                self.ctx.names.stress_results,
                name.encode(),
                self.ctx.encode(result, "stress_result"),
                account.partition,
            )


def require_account(command: RiskCommand) -> str:
    if command.account is None or command.account == ALL_ACCOUNTS:
        raise CommandError(f"{command.command} needs an account, not {command.account!r}")
    return command.account


def payload_text(command: RiskCommand, name: str) -> str:
    value = command.payload.get(name)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{command.command} needs payload field {name!r} (text), got {value!r}")
    return value

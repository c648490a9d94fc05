"""Check a ``risk_commands`` record before anything is applied: pure, no state.

``check_command`` returns ``None`` when the command can be applied as given, or a
``CommandRefusal`` whose ``error`` names the field, the bad value and what would be valid.
The command agent then publishes the original record to ``dead_letters`` with
``reason = "invalid_command"`` (``REFUSAL_REASON``), counts it and logs it, and applies
nothing: a rule, limit, scenario or cash figure that cannot work is never stored.

What needs state (a ``REMOVE_RULE`` of an id that does not exist, a ``RUN_STRESS`` of an
unknown scenario) is the agent's to refuse, with the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from redfire.risk.fx import check_currency
from redfire.risk.limits import validate_changes
from redfire.risk.rules import rule_from_payload
from redfire.risk.stress import scenario_from_payload
from redfire.risk.validation import (
    InvalidField,
    finite_number,
    non_empty_text,
    require_known_fields,
)
from redfire.risk.vocabulary import ALL_ACCOUNTS

REFUSAL_REASON: Final = "invalid_command"
NEEDS_ONE_ACCOUNT = frozenset({"SET_CASH", "RUN_STRESS"})
TRADING_STATE_COMMANDS = frozenset({"HALT", "RESUME", "REDUCE_ONLY"})


@dataclass(frozen=True, slots=True)
class CommandRefusal:
    """Why a command is not applied; ``error`` names the field, the value and the choices."""

    command: str
    field: str
    error: str
    reason: str = REFUSAL_REASON


def check_command(
    command: str, account: str | None, payload: Mapping[str, Any]
) -> CommandRefusal | None:
    """Return why ``command`` for ``account`` with ``payload`` cannot be applied, or None."""
    check = _CHECKS.get(command)
    if check is None:
        return CommandRefusal(command, "command", f"command={command!r}: not a known command")
    try:
        if command in NEEDS_ONE_ACCOUNT and account in (None, ALL_ACCOUNTS):
            raise InvalidField("account", account, f"{command} needs one account, not all")
        check(payload)
    except InvalidField as error:
        return CommandRefusal(command, error.field, f"{command} refused: {error}")
    except ValueError as error:
        return CommandRefusal(command, "payload", f"{command} refused: {error}")
    return None


def check_set_cash(payload: Mapping[str, Any]) -> None:
    """Require ``{cash: finite number}`` (numbers or numeric text, never true/false).

    ``currency`` (optional) names the balance set; the account's base currency otherwise.
    """
    require_known_fields("SET_CASH", list(payload), ("cash", "currency"), ("cash",))
    finite_number("cash", payload["cash"])
    if "currency" in payload:
        currency = non_empty_text("currency", payload["currency"])
        try:
            check_currency(currency)
        except ValueError as error:
            raise InvalidField("currency", currency, str(error)) from error


def check_set_limits(payload: Mapping[str, Any]) -> None:
    """Require at least one known limit, each with a value of its kind."""
    if not payload:
        raise InvalidField("payload", dict(payload), "SET_LIMITS needs {limit: value, ...}")
    validate_changes(payload)


def check_add_rule(payload: Mapping[str, Any]) -> None:
    """Require a complete, valid monitoring rule (metric from the catalogue)."""
    rule_from_payload(payload)


def check_remove_rule(payload: Mapping[str, Any]) -> None:
    """Require ``{rule_id: text}``."""
    require_known_fields("REMOVE_RULE", list(payload), ("rule_id",), ("rule_id",))
    non_empty_text("rule_id", payload["rule_id"])


def check_add_scenario(payload: Mapping[str, Any]) -> None:
    """Require a complete, valid stress scenario."""
    scenario_from_payload(payload)


def check_run_stress(payload: Mapping[str, Any]) -> None:
    """Allow ``{scenario_id: text}`` or nothing (all scenarios)."""
    require_known_fields("RUN_STRESS", list(payload), ("scenario_id",))
    if "scenario_id" in payload:
        non_empty_text("scenario_id", payload["scenario_id"])


def check_flatten(payload: Mapping[str, Any]) -> None:
    """Allow ``{reason: text}`` and, on a ``*`` fan-out copy, ``partition``.

    Whether that partition is one this copy can be for needs the topic's partition count:
    the command agent checks it.
    """
    require_known_fields("FLATTEN", list(payload), ("reason", "partition"))
    if "reason" in payload:
        non_empty_text("reason", payload["reason"])


def check_no_payload(payload: Mapping[str, Any]) -> None:
    """Refuse any payload field: HALT, RESUME and REDUCE_ONLY take none."""
    require_known_fields("a trading-state command", list(payload), ())


_CHECKS: Mapping[str, Callable[[Mapping[str, Any]], None]] = MappingProxyType(
    {
        "SET_CASH": check_set_cash,
        "SET_LIMITS": check_set_limits,
        "ADD_RULE": check_add_rule,
        "REMOVE_RULE": check_remove_rule,
        "ADD_SCENARIO": check_add_scenario,
        "RUN_STRESS": check_run_stress,
        "FLATTEN": check_flatten,
        **{name: check_no_payload for name in TRADING_STATE_COMMANDS},
    }
)

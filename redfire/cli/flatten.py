"""`redfire flatten ACCOUNT|*`: the emergency stop that closes every position.

Sends a FLATTEN RiskCommand to ``risk_commands`` the way ``redfire halt`` sends HALT. The
owning worker halts the account, cancels its live orders, publishes one closing MARKET
order per open position to ``emergency_orders`` and an emergency-stop event to
``risk_alerts``. With ``*`` every account is flattened, each by the worker that owns it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from redfire.cli.feed import AccountArgument, BrokerOption, send_command
from redfire.feed import command_record
from redfire.schemas.records import PayloadValue


def flatten(
    account: AccountArgument,
    reason: Annotated[str | None, typer.Option(help="Why, kept in the command and event.")] = None,
    broker: BrokerOption = None,
) -> None:
    """HALT, cancel every live order and close every position of an account (or all: '*')."""
    payload: dict[str, PayloadValue] = {} if reason is None else {"reason": reason}
    send_command(command_record("FLATTEN", account, payload), broker, Console())


def register(app: typer.Typer) -> None:
    """Add the ``flatten`` command to the ``redfire`` CLI."""
    app.command("flatten")(flatten)

"""Mutating admin routes: an ``admin`` role (a JWT, or REDFIRE_ADMIN_TOKEN) is required.

Each route publishes a RiskCommand to ``risk_commands``: the change then takes
the same idempotent, logged path as a command from any other producer, and
reaches the worker that owns the account.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from faust import web

from redfire.risk.limits import validate_changes
from redfire.risk.vocabulary import ALL_ACCOUNTS
from redfire.schemas.records import CommandType, PayloadValue, RiskCommand
from redfire.web.auth import Role, require

if TYPE_CHECKING:
    from redfire.app import Engine

STATE_COMMANDS: dict[str, CommandType] = {
    "halt": "HALT",
    "resume": "RESUME",
    "reduce-only": "REDUCE_ONLY",
}


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def register(engine: Engine) -> None:
    """Register the admin routes."""
    app, ctx = engine.app, engine.context

    async def publish(
        command: CommandType, account: str | None, payload: dict[str, PayloadValue]
    ) -> RiskCommand:
        """Send one RiskCommand, wait until it is delivered, and return it."""
        record = RiskCommand(uuid.uuid4().hex, command, ctx.clock(), account, payload)
        key = account or ALL_ACCOUNTS
        delivery = await ctx.producer.send(
            ctx.names.risk_commands,
            key.encode(),
            ctx.encode(record, "risk_command"),
            ctx.state.partition_of(key),
        )
        await delivery
        return record

    @app.page("/admin/accounts/{account}/{action}")
    class AccountAction(web.View):
        """POST halt | resume | reduce-only | cash ({"cash": n}) | flatten ({"reason"?: text})
        for one account (or ``*``)."""

        async def post(self, request: web.Request, account: str, action: str) -> web.Response:
            if (refused := require(request, Role.ADMIN)) is not None:
                return refused
            target = None if account == ALL_ACCOUNTS else account
            if action == "cash":
                cash = (await json_body(request)).get("cash")
                if isinstance(cash, bool) or not isinstance(cash, int | float):
                    return self.json({"error": 'body must be {"cash": number}'}, status=400)
                record = await publish("SET_CASH", target, {"cash": cash})
            elif action == "flatten":
                reason = (await json_body(request)).get("reason")
                if reason is not None and not isinstance(reason, str):
                    error = 'body must be {"reason": text} or empty'
                    return self.json({"error": error}, status=400)
                payload: dict[str, PayloadValue] = {} if reason is None else {"reason": reason}
                record = await publish("FLATTEN", target, payload)
            elif action in STATE_COMMANDS:
                record = await publish(STATE_COMMANDS[action], target, {})
            else:
                return self.json({"error": f"unknown action {action}"}, status=404)
            return self.json({"command_id": record.command_id, "command": record.command})

    @app.page("/admin/limits")
    class SetLimits(web.View):
        """POST {"account": a | "*", "limits": {name: value}} to change limits live."""

        async def post(self, request: web.Request) -> web.Response:
            if (refused := require(request, Role.ADMIN)) is not None:
                return refused
            body = await json_body(request)
            changes = body.get("limits")
            if not isinstance(changes, dict) or not changes:
                return self.json(
                    {"error": 'body must be {"account": a, "limits": {...}}'}, status=400
                )
            try:
                validate_changes(changes)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            account = body.get("account")
            target = None if account in (None, ALL_ACCOUNTS) else str(account)
            record = await publish("SET_LIMITS", target, changes)
            return self.json({"command_id": record.command_id, "command": record.command})

    del AccountAction, SetLimits

"""What-if: run the pre-trade checks on a hypothetical order, reserving nothing."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from faust import web

from redfire.schemas import codec
from redfire.schemas.records import OrderRequest
from redfire.web.auth import Role, guarded
from redfire.web.views import account_or_blank

if TYPE_CHECKING:
    from redfire.app import Engine


def hypothetical_order(account: str, body: dict[str, Any], now_ms: int) -> OrderRequest | str:
    """Return the order a what-if body describes, or the reason it is invalid."""
    fields: dict[str, Any] = {
        "order_id": f"what-if-{uuid.uuid4().hex[:12]}",
        "account": account,
        "ts": now_ms,
        "order_type": "LIMIT" if body.get("price") is not None else "MARKET",
        **{k: body[k] for k in ("symbol", "side", "qty", "price") if k in body},
    }
    decoded = codec.decode(json.dumps(fields).encode(), codec.ORDER)
    if isinstance(decoded, codec.DecodeFailure):
        return decoded.error
    return decoded


def register(engine: Engine) -> None:
    """Register POST /accounts/{a}/what-if."""
    app, state = engine.app, engine.state
    pretrade = engine.desks.orders.pretrade

    @app.page("/accounts/{account}/what-if")
    class WhatIf(web.View):
        """POST {symbol, side, qty, price?} → {decision, reasons, var_before, var_after, notes}."""

        @guarded(Role.VIEWER)
        @app.table_route(table=app.tables["accounts"], match_info="account")  # type: ignore[arg-type]
        async def post(self, request: web.Request, account: str) -> web.Response:
            """Run every pre-trade check on the hypothetical order; reserve nothing."""
            try:
                body = await request.json()
            except ValueError:
                return self.json({"error": "body is not JSON"}, status=400)
            if not isinstance(body, dict):
                return self.json({"error": "body must be a JSON object"}, status=400)
            order = hypothetical_order(account, body, engine.context.clock())
            if isinstance(order, str):
                return self.json({"error": order}, status=400)
            verdict = pretrade.evaluate(account_or_blank(state, account), order, duplicate=False)
            return self.json(
                {
                    "decision": "REJECTED" if verdict.reasons else "APPROVED",
                    "reasons": [codec.to_jsonable(reason) for reason in verdict.reasons],
                    "var_before": verdict.var_before,
                    "var_after": verdict.var_after,
                    "notes": list(verdict.notes),
                }
            )

    del WhatIf

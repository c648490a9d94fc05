"""What-if: run the pre-trade checks on a hypothetical order, reserving nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

from faust import web

from redfire.agents.intake import now_ms
from redfire.agents.pretrade import evaluate
from redfire.app import app
from redfire.schemas import codec
from redfire.schemas.records import OrderRequest
from redfire.tables import definitions as tables
from redfire.tables.limit_store import limit_store


def hypothetical_order(account: str, body: dict[str, Any]) -> OrderRequest | str:
    """Return the order a what-if body describes, or the reason it is invalid."""
    fields: dict[str, Any] = {
        "order_id": f"what-if-{uuid.uuid4().hex[:12]}",
        "account": account,
        "ts": now_ms(),
        "order_type": "LIMIT" if body.get("price") is not None else "MARKET",
        **{k: body[k] for k in ("symbol", "side", "qty", "price") if k in body},
    }
    decoded = codec.decode(json.dumps(fields).encode(), codec.ORDER)
    if isinstance(decoded, codec.DecodeFailure):
        return decoded.error
    return decoded


@app.page("/accounts/{account}/what-if")
class WhatIf(web.View):
    """POST {symbol, side, qty, price?} → {decision, reasons, var_before, var_after}."""

    @app.table_route(table=tables.accounts, match_info="account")  # type: ignore[arg-type]
    async def post(self, request: web.Request, account: str) -> web.Response:
        """Run every pre-trade check on the hypothetical order; reserve nothing."""
        return await answer_what_if(self, request, account)


async def answer_what_if(view: web.View, request: web.Request, account: str) -> web.Response:
    """Decide a what-if body for ``account``."""
    try:
        body = await request.json()
    except ValueError:
        return view.json({"error": "body is not JSON"}, status=400)
    if not isinstance(body, dict):
        return view.json({"error": "body must be a JSON object"}, status=400)
    order = hypothetical_order(account, body)
    if isinstance(order, str):
        return view.json({"error": order}, status=400)
    verdict = evaluate(order, limit_store.for_account(account), duplicate=False)
    return view.json(
        {
            "decision": "REJECTED" if verdict.reasons else "APPROVED",
            "reasons": [codec.to_jsonable(reason) for reason in verdict.reasons],
            "var_before": verdict.var_before,
            "var_after": verdict.var_after,
        }
    )

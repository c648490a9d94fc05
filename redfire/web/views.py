"""HTTP views: health and the account routes (DESIGN §9).

Account routes are answered by the worker that owns the account's partition
(``table_route`` forwards the request there).
"""

from __future__ import annotations

from typing import Any

from faust import web

from redfire.agents.intake import now_ms
from redfire.agents.stress import result_body, stress_account
from redfire.app import app
from redfire.tables import definitions as tables
from redfire.tables.config_store import scenario_set
from redfire.tables.portfolio import AccountView, account_view
from redfire.tables.store import effective_trading_state


@app.page("/health")
async def health(self: web.View, request: web.Request) -> web.Response:
    """Answer 200 when the worker serves, 503 while its tables are still recovering."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    recovering = not recovery.completed.is_set()
    body = {"status": "recovering" if recovering else "ok", "app_id": app.conf.id}
    return self.json(body, status=503 if recovering else 200)


def positions_body(view: AccountView) -> dict[str, Any]:
    """Return the body of GET /accounts/{a}/positions."""
    return {
        "account": view.state.account,
        "cash": float(view.cash),
        "positions": [
            {
                "symbol": h.symbol,
                "qty": float(h.position.qty),
                "avg_cost": float(h.position.avg_cost),
                "realized_pnl": float(h.position.realized_pnl),
                "market_value": float(h.market_value),
            }
            for h in view.holdings
        ],
    }


def risk_body(view: AccountView) -> dict[str, Any]:
    """Return the body of GET /accounts/{a}/risk."""
    body = positions_body(view)
    body.update(
        equity=float(view.equity),
        reserved=float(view.state.reserved),
        gross_exposure=float(view.gross_exposure),
        net_exposure=float(view.net_exposure),
        realized_pnl=float(view.realized_pnl),
        unrealized_pnl=float(view.unrealized_pnl),
        fees=float(view.fees),
        trading_state=effective_trading_state(view.state),
    )
    return body


@app.page("/accounts/{account}/positions")
@app.table_route(table=tables.accounts, match_info="account")
async def account_positions(self: web.View, request: web.Request, account: str) -> web.Response:
    """Return cash and every position of the account."""
    return self.json(positions_body(account_view(account)))


@app.page("/accounts/{account}/risk")
@app.table_route(table=tables.accounts, match_info="account")
async def account_risk(self: web.View, request: web.Request, account: str) -> web.Response:
    """Return the account's positions, cash, equity and PnL so far."""
    return self.json(risk_body(account_view(account)))


@app.page("/market/{symbol}")
async def market_state(self: web.View, request: web.Request, symbol: str) -> web.Response:
    """Return the symbol's last price and return window (global tables: any worker)."""
    price = tables.prices.get(symbol)
    window = tables.returns.get(symbol)
    if price is None and window is None:
        return self.json({"error": f"unknown symbol {symbol}"}, status=404)
    return self.json({"symbol": symbol, "price": price, "window": window})


@app.page("/stress/{scenario}")
@app.table_route(table=tables.accounts, query_param="account")
async def stress_view(self: web.View, request: web.Request, scenario: str) -> web.Response:
    """Run one stress scenario on ?account= now and return its P&L per position."""
    account = request.query.get("account")
    found = scenario_set.get(scenario)
    if account is None:
        return self.json({"error": "give ?account="}, status=400)
    if found is None:
        return self.json({"error": f"unknown scenario {scenario}"}, status=404)
    return self.json(result_body(stress_account(account, found, now_ms())))

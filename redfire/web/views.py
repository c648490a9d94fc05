"""HTTP views: health, the account routes and reference data (DESIGN §9).

Account routes are answered by the worker that owns the account's partition
(``table_route`` forwards the request there), from its in-memory aggregate.
``GET /accounts/{a}/risk`` is completed by ``redfire.web.reports.RiskReader``
(VaR, component VaR, limits with utilisation, live orders, recent alerts).
Amounts are in the account's base currency (``base_currency``) at the rates of
the moment; prices and average costs stay in each instrument's currency.
``/instruments/{symbol}`` answers from any worker (the master is global).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faust import web

from redfire.agents.snapshots import cash_value, holdings, unvalued
from redfire.agents.stress import result_body, stress_account
from redfire.risk.instruments import instrument_fields
from redfire.risk.positions import to_decimal
from redfire.risk.vocabulary import stricter
from redfire.state.account import AccountAggregate
from redfire.state.records import AccountRecord
from redfire.state.worker import WorkerState
from redfire.web.auth import Role, guarded
from redfire.web.reports import RiskReader, finite

if TYPE_CHECKING:
    from redfire.app import Engine


def account_or_blank(state: WorkerState, name: str) -> AccountAggregate:
    """Return the account's aggregate, or a blank one (default cash) for an unknown account.

    A blank aggregate is not kept: reading an account never creates state.
    """
    known = state.known_account(name)
    if known is not None:
        return known
    blank = AccountRecord(cash=to_decimal(state.default_cash))
    return AccountAggregate(name, state.partition_of(name), blank, state.base_currency_of(name))


def positions_body(state: WorkerState, account: AccountAggregate) -> dict[str, Any]:
    """Return the body of GET /accounts/{a}/positions (amounts in the base currency)."""
    held = holdings(state, account)
    cash = cash_value(state, account)
    return {
        "account": account.name,
        "base_currency": account.base,
        "cash": cash.total,
        "cash_by_currency": account.cash_by_currency(),
        "positions": [
            {
                "symbol": h.symbol,
                "qty": h.qty,
                "avg_cost": h.avg_cost,
                "realized_pnl": h.realized_pnl,
                "market_value": h.market_value,
                "currency": h.currency,
                "price": h.price,
                "fx_rate": h.fx_rate,
            }
            for h in held
        ],
        "unvalued": list(unvalued(held, cash)),
    }


def risk_body(state: WorkerState, account: AccountAggregate) -> dict[str, Any]:
    """Return the body of GET /accounts/{a}/risk."""
    body = positions_body(state, account)
    held = holdings(state, account)
    net = sum(h.market_value for h in held)
    fees = sum(float(e.position.fees) for e in account.positions.values())
    body.update(
        equity=body["cash"] + net,
        reserved=float(account.reserved),
        gross_exposure=sum(abs(h.market_value) for h in held),
        net_exposure=net,
        realized_pnl=sum(h.realized_pnl for h in held),
        unrealized_pnl=sum(h.unrealized_pnl for h in held),
        fees=fees,
        trading_state=stricter(account.trading_state, state.config.firm_trading_state()),
    )
    return body


def instrument_body(state: WorkerState, symbol: str) -> dict[str, Any]:
    """Return the body of GET /instruments/{symbol}: the entry, or the suffix-rule fallback."""
    resolution = state.market.resolve(symbol)
    return {
        **instrument_fields(resolution.instrument),
        "source": str(resolution.source),
        "in_master": resolution.known,
        "note": resolution.note(),
    }


def register(engine: Engine, reader: RiskReader) -> None:
    """Register health, account, market, instrument and stress routes."""
    app, state = engine.app, engine.state
    accounts_table = app.tables["accounts"]

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        """Answer 200 when the worker serves, 503 while its tables are still recovering."""
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        recovering = not recovery.completed.is_set()
        body = {"status": "recovering" if recovering else "ok", "app_id": app.conf.id}
        return self.json(body, status=503 if recovering else 200)

    @app.page("/accounts/{account}/positions")
    @guarded(Role.VIEWER)
    @app.table_route(table=accounts_table, match_info="account")
    async def account_positions(self: web.View, request: web.Request, account: str) -> web.Response:
        """Return cash and every position of the account."""
        return self.json(positions_body(state, account_or_blank(state, account)))

    @app.page("/accounts/{account}/risk")
    @guarded(Role.VIEWER)
    @app.table_route(table=accounts_table, match_info="account")
    async def account_risk(self: web.View, request: web.Request, account: str) -> web.Response:
        """Return the account's positions with component VaR, cash, equity, PnL, VaR,
        limits with utilisation, live orders, recent alerts and trading state."""
        aggregate = account_or_blank(state, account)
        body = reader.complete_risk_body(
            risk_body(state, aggregate), aggregate, engine.context.clock()
        )
        return self.json(finite(body))

    @app.page("/market/{symbol}")
    @guarded(Role.VIEWER)
    async def market_state(self: web.View, request: web.Request, symbol: str) -> web.Response:
        """Return the symbol's last price and return window (global: any worker)."""
        price = state.market.price(symbol)
        window = state.market.window(symbol)
        if price is None and window is None:
            return self.json({"error": f"unknown symbol {symbol}"}, status=404)
        return self.json(
            {
                "symbol": symbol,
                "price": None if price is None else price.to_dict(),
                "window": None if window is None else window.window.to_dict(),
            }
        )

    @app.page("/instruments/{symbol}")
    @guarded(Role.VIEWER)
    async def instrument(self: web.View, request: web.Request, symbol: str) -> web.Response:
        """Return the symbol's instrument master entry, or the fallback it would get."""
        return self.json(instrument_body(state, symbol))

    @app.page("/stress/{scenario}")
    @guarded(Role.VIEWER)
    @app.table_route(table=accounts_table, query_param="account")
    async def stress_view(self: web.View, request: web.Request, scenario: str) -> web.Response:
        """Run one stress scenario on ?account= now and return its P&L per position."""
        account = request.query.get("account")
        found = state.config.scenarios.get(scenario)
        if account is None:
            return self.json({"error": "give ?account="}, status=400)
        if found is None:
            return self.json({"error": f"unknown scenario {scenario}"}, status=404)
        aggregate = account_or_blank(state, account)
        now = engine.context.clock()
        return self.json(result_body(stress_account(aggregate, state.market, found, now)))

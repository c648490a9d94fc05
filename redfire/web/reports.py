"""The risk desk's read models: the complete account risk body and seed 002's real-time reports.

* ``GET /accounts/{a}/risk`` — :meth:`RiskReader.complete_risk_body` adds to the route's
  positions, cash and PnL: VaR 95/99 and ES 97.5 of the account's cached VaR book (the
  book the next snapshot and every pre-trade check use), each position's Euler
  ``component_var`` from the same book (so the components sum to ``var_99``), the limits
  in force with their utilisation (``redfire.risk.utilisation``), the live orders and the
  account's last 10 alerts (kept in memory by the monitor: a restart or a rebalance starts
  that list empty).
* ``GET /accounts/{a}/report`` — :meth:`RiskReader.account_report`: ``realtime_report`` of
  the account as it stands, answered on the worker that owns it.
* ``GET /report`` — :meth:`RiskReader.firm_report`: the firm's report, answered on the
  worker that runs the FIRM stage (the owner of the ``firm_parts`` partition of key
  ``FIRM``; any other worker forwards the request there, as account routes are
  forwarded). It is built from the latest part of every account partition — summed
  exposures, net quantities, live-order counts and buying power as of each account's
  last snapshot — and the FIRM rules and alerts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faust import web

from redfire.agents.firm import MARKS, FirmDesk, firm_snapshot
from redfire.agents.snapshots import (
    COMPONENT_CONFIDENCE,
    Holding,
    rule_metrics,
    snapshot_metrics,
    value_account,
    var_figures,
)
from redfire.risk import valuation
from redfire.risk.measures import InsufficientHistory
from redfire.risk.report import AccountPicture, OrderView, PositionView, realtime_report
from redfire.risk.utilisation import HeldSymbol, Usage, limit_usage
from redfire.risk.vocabulary import FIRM, stricter
from redfire.schemas import codec
from redfire.schemas.records import RiskAlert
from redfire.settings import Settings
from redfire.state.account import AccountAggregate
from redfire.state.books import Book
from redfire.state.worker import WorkerState
from redfire.web.auth import Role, guarded

if TYPE_CHECKING:
    from redfire.app import Engine


@dataclass(frozen=True, slots=True)
class Valued:
    """One account valued now: its holdings, totals and VaR book."""

    held: list[Holding]
    equity: float
    gross: float
    net: float
    book: Book
    # Cash in every currency, in the base currency (what the pre-trade checks count).
    cash: float = 0.0

    @property
    def open(self) -> list[Holding]:
        return [h for h in self.held if h.qty != 0]


def component_map(book: Book) -> dict[str, float] | None:
    """Return symbol → Euler component of VaR(99%), or None without a VaR."""
    if isinstance(book, InsufficientHistory):
        return None
    allocation = book.components(COMPONENT_CONFIDENCE)
    return dict(zip(allocation.symbols, allocation.component.tolist(), strict=True))


def alert_rows(alerts: Iterable[RiskAlert]) -> list[dict[str, Any]]:
    """Return alerts as their record fields, newest first."""
    return [codec.to_jsonable(alert) for alert in reversed(list(alerts))]


def order_rows(account: AccountAggregate) -> list[dict[str, Any]]:
    """Return the account's live orders, oldest first."""
    orders = [r.order for r in account.live.values() if r.order is not None]
    return [
        {
            "order_id": o.order_id,
            "symbol": o.symbol,
            "side": o.side,
            "qty": float(o.qty),
            "filled_qty": float(o.filled_qty),
            "price": None if o.price is None else float(o.price),
            "order_type": o.order_type.value,
            "state": o.status.value,
            "reserved": float(o.reserved),
            "ts": o.ts_created,
        }
        for o in sorted(orders, key=lambda o: (o.ts_created, o.order_id))
    ]


class RiskReader:
    """Answer the risk and report routes from one worker's in-memory state."""

    def __init__(
        self,
        settings: Settings,
        state: WorkerState,
        firm: FirmDesk,
    ) -> None:
        self.settings = settings
        self.state = state
        self.firm = firm

    # ---------------------------------------------------------------- accounts

    def value(self, account: AccountAggregate, now: int) -> Valued:
        value = value_account(self.state, account)
        book = self.state.books.book(account, now)
        return Valued(value.held, value.equity, value.gross, value.net, book, value.cash.total)

    def usage(self, account: AccountAggregate, valued: Valued, now: int) -> Usage:
        """Return the account's figures as the pre-trade checks see them now."""
        record, flow = account.record, account.flow
        limits = self.state.config.limits_for(account.name)
        day_start = record.day_start_equity
        book = valued.book
        return Usage(
            gross_exposure=valued.gross,
            net_exposure=valued.net,
            equity=valued.equity,
            cash=valued.cash,
            reserved=float(account.reserved),
            daily_pnl=None if day_start is None else valued.equity - day_start,
            drawdown=valuation.drawdown(valued.equity, record.equity_high) or 0.0,
            var=None if isinstance(book, InsufficientHistory) else book.var(),
            active_orders=len(account.live),
            recent_orders=flow.orders.count(now, limits.order_rate_window_ms),
            recent_cancels=flow.cancels.count(now, limits.cancel_rate_window_ms),
            positions={h.symbol: HeldSymbol(h.qty, h.market_value) for h in valued.open},
        )

    def complete_risk_body(
        self, body: dict[str, Any], account: AccountAggregate, now: int
    ) -> dict[str, Any]:
        """Add VaR, component VaR, limits, live orders and recent alerts to a risk body."""
        valued = self.value(account, now)
        figures = var_figures(valued.book)
        components = component_map(valued.book)
        for position in body.get("positions", ()):
            symbol = position["symbol"]
            if components is None:
                position["component_var"] = None
            else:
                position["component_var"] = components.get(symbol, 0.0)
        snapshot = account.last_snapshot
        body.update(
            var_95=figures.var_95,
            var_99=figures.var_99,
            es_975=figures.es_975,
            var_method=self.settings.var_method.value,
            var_confidence=self.settings.var_confidence,
            snapshot_ts=None if snapshot is None else snapshot.ts,
            limits=limit_usage(
                self.state.config.limits_for(account.name), self.usage(account, valued, now)
            ),
            orders=order_rows(account),
            alerts=alert_rows(account.recent_alerts),
        )
        return body

    def account_metrics(
        self, account: AccountAggregate, valued: Valued, usage: Usage
    ) -> dict[str, float | None]:
        """Return the rule metrics: the last snapshot's, the live figures taking precedence."""
        snapshot = account.last_snapshot
        metrics: dict[str, float | None] = {}
        if snapshot is not None:
            inputs = snapshot_metrics(snapshot, len(account.live), account.flow.orders_per_s())
            metrics.update(rule_metrics(inputs, account.stress_loss))
        figures = var_figures(valued.book)
        largest = max((abs(h.market_value) for h in valued.open), default=0.0)
        metrics.update(
            equity=valued.equity,
            cash=usage.cash,
            gross_exposure=valued.gross,
            net_exposure=valued.net,
            leverage=valuation.leverage(valued.gross, valued.equity),
            drawdown=usage.drawdown,
            concentration=0.0 if valued.gross == 0 else largest / valued.gross,
            var_95=figures.var_95,
            var_99=figures.var_99,
            es_975=figures.es_975,
            orders_per_s=account.flow.orders_per_s(),
            reject_ratio=account.flow.reject_ratio(),
        )
        if usage.daily_pnl is not None:
            metrics["daily_pnl"] = usage.daily_pnl
        if figures.var_95 is not None and valued.equity > 0:
            metrics["var_equity_ratio"] = figures.var_95 / valued.equity
        return metrics

    def account_report(self, account: AccountAggregate, now: int) -> dict[str, Any]:
        """Return seed 002's real-time report of one account, as it stands now."""
        valued = self.value(account, now)
        usage = self.usage(account, valued, now)
        limits = self.state.config.limits_for(account.name)
        picture = AccountPicture(
            account=account.name,
            ts=now,
            cash=usage.cash,
            reserved=usage.reserved,
            max_leverage=limits.max_leverage,
            trading_state=stricter(account.trading_state, self.state.config.firm_trading_state()),
            metrics=self.account_metrics(account, valued, usage),
            positions=[PositionView(h.symbol, h.qty, h.market_value) for h in valued.open],
            orders=[
                OrderView(
                    o["order_id"], o["symbol"], o["side"], o["qty"], o["filled_qty"], o["state"]
                )
                for o in order_rows(account)
            ],
            alerts=alert_rows(account.recent_alerts),
        )
        report = realtime_report(picture, self.state.config.rules.all().values())
        report["risk"] = self.risk_figures(valued.book)
        return report

    def risk_figures(self, book: Book) -> dict[str, Any]:
        figures = var_figures(book)
        return {
            "var_95": figures.var_95,
            "var_99": figures.var_99,
            "es_975": figures.es_975,
            "var_method": self.settings.var_method.value,
        }

    # -------------------------------------------------------------------- firm

    def firm_parts(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Return the latest part of every account partition and the firm's marks.

        Read from the FIRM stage's memory, or from its table before its first batch.
        """
        desk = self.firm
        if desk.parts is not None:
            return list(desk.parts.values()), desk.marks
        parts, marks = [], {}
        for key, value in self.state.tables.firm_parts.items(self.state.partition_of(FIRM)):
            if key == MARKS:
                marks = value
            else:
                parts.append(value)
        return parts, marks

    def firm_report(self, now: int) -> dict[str, Any]:
        """Return seed 002's real-time report of the firm, from the FIRM stage's parts."""
        parts, marks = self.firm_parts()
        snapshot = firm_snapshot(self.firm, parts, now)
        high = marks.get("equity_high")
        firm_drawdown = valuation.drawdown(snapshot.equity, None if high is None else float(high))
        quantities = summed(part.get("quantities", {}) for part in parts)
        orders = summed(part.get("orders", {}) for part in parts)
        metrics: dict[str, float | None] = dict(rule_metrics(snapshot_metrics(snapshot), None))
        metrics["drawdown"] = firm_drawdown
        picture = AccountPicture(
            account=FIRM,
            ts=now,
            # The firm's buying power is the sum of its accounts' (each with its own
            # leverage): handed over as cash, with nothing reserved and leverage 1.
            cash=orders.get("buying_power", 0.0),
            reserved=0.0,
            max_leverage=1.0,
            trading_state=self.state.config.firm_trading_state(),
            metrics=metrics,
            positions=[
                PositionView(p.symbol, quantities.get(p.symbol, 0.0), p.market_value)
                for p in snapshot.positions
            ],
            alerts=alert_rows(self.firm.rules.recent),
        )
        report = realtime_report(picture, self.state.config.rules.all().values())
        report["orders"] = firm_orders(orders)
        report["risk"] = {
            "var_95": snapshot.var_95,
            "var_99": snapshot.var_99,
            "es_975": snapshot.es_975,
            "var_method": snapshot.var_method,
        }
        report["accounts"] = sum(int(part.get("accounts", 0)) for part in parts)
        report["partitions"] = len(parts)
        return report


def summed(values: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Return the key-wise sum of several mappings of numbers."""
    total: dict[str, float] = {}
    for mapping in values:
        for key, value in mapping.items():
            total[key] = total.get(key, 0.0) + float(value)
    return total


def firm_orders(orders: Mapping[str, float]) -> dict[str, Any]:
    """Return the orders analysis of the whole firm from the summed partition counts."""
    ordered = orders.get("ordered_qty", 0.0)
    return {
        "total_active_orders": int(orders.get("active_orders", 0)),
        "pending_orders": int(orders.get("pending_orders", 0)),
        "partially_filled_orders": int(orders.get("partially_filled_orders", 0)),
        "average_fill_rate": orders.get("filled_qty", 0.0) / ordered if ordered else None,
    }


def finite(value: Any) -> Any:
    """Return ``value`` with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def register(engine: Engine) -> RiskReader:
    """Register GET /accounts/{a}/report and GET /report; return the reader."""
    app, state, clock = engine.app, engine.state, engine.context.clock
    reader = RiskReader(engine.settings, state, engine.desks.firm)
    from redfire.web.views import account_or_blank

    @app.page("/accounts/{account}/report")
    @guarded(Role.VIEWER)
    @app.table_route(table=app.tables["accounts"], match_info="account")
    async def account_report(self: web.View, request: web.Request, account: str) -> web.Response:
        """Return the account's real-time risk report (seed 002)."""
        report = reader.account_report(account_or_blank(state, account), clock())
        return self.json(finite(report))

    @app.page("/report")
    @guarded(Role.VIEWER)
    @app.table_route(table=app.tables["firm_parts"], exact_key=FIRM)
    async def firm_report(self: web.View, request: web.Request) -> web.Response:
        """Return the firm's real-time risk report (seed 002), from the FIRM stage."""
        return self.json(finite(reader.firm_report(clock())))

    return reader

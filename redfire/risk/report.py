"""Risk reports (seed 002 §5.2) as pure functions over plain records: no Kafka, no clock.

Two reports: the daily one below, and the real-time one (:func:`realtime_report`, at the
end) for ``GET /accounts/{a}/report`` and ``GET /report``.

The daily report is computed from what RedFire published (``order_decisions``,
``risk_alerts``, ``risk_metrics``) and the gateway's ``fills``, as JSON-ready dicts with
the record field names of DESIGN §4. Definitions, so that anyone can recompute a figure:

* the day is ``[00:00, 24:00)`` UTC of the date, by each record's ``ts``;
* **orders** are decisions (one per NEW/REPLACE request); **rejects by check** count each
  failed check of each rejected decision once;
* **fills** are distinct ``(account, fill_id)``; **fill rate** is the share of approved
  orders that received at least one fill that day (None without approvals);
* **PnL** comes from the account's snapshots of the day: equity at the first and the last,
  and the last ``daily_pnl``, ``realized_pnl`` and ``unrealized_pnl``;
* a **VaR exception** is a day whose loss (``-daily_pnl`` at the last snapshot) exceeds the
  VaR99 of the first snapshot with a VaR; the live backtest's own count and Basel zone are
  the last snapshot's ``var_exceptions`` and ``traffic_light``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from redfire.risk.rules import MonitoringRule, applies_to, condition_holds

JsonRecord = Mapping[str, Any]
FIRM: Final = "FIRM"
DAY_MS: Final = 86_400_000

# Recommendation thresholds (seed 002: "reduce size when VaR breaches", "check parameters
# when the hit rate is low"); the shipped monitoring rules use the same 3% VaR/equity.
VAR_EQUITY_LIMIT: Final = 0.03
REJECT_RATE_LIMIT: Final = 0.20
FILL_RATE_FLOOR: Final = 0.50
MIN_ORDERS_FOR_RATES: Final = 5


@dataclass(frozen=True)
class DayRecords:
    """One day's records of the four topics, already filtered."""

    decisions: Sequence[JsonRecord] = ()
    alerts: Sequence[JsonRecord] = ()
    snapshots: Sequence[JsonRecord] = ()
    fills: Sequence[JsonRecord] = ()


@dataclass(frozen=True)
class TradingStats:
    """Orders, rejections and fills of one account or of all of them."""

    orders: int
    approved: int
    rejected: int
    reject_rate: float | None
    rejects_by_check: dict[str, int]
    fills: int
    filled_orders: int
    fill_rate: float | None
    filled_qty: float
    traded_notional: float
    fees: float
    latency_p50_us: float | None
    latency_p99_us: float | None


@dataclass(frozen=True)
class PnLFigures:
    """An account's day from its snapshots."""

    start_equity: float
    end_equity: float
    daily_pnl: float
    realized_pnl: float
    unrealized_pnl: float


@dataclass(frozen=True)
class VaRFigures:
    """How much VaR an account used through the day, and whether the day broke it."""

    start_var_99: float
    end_var_99: float
    peak_var_99: float
    mean_var_99: float
    peak_var_equity: float | None
    loss: float
    exception: bool
    backtest_exceptions: int | None
    traffic_light: str | None
    var_method: str


@dataclass(frozen=True)
class AlertStats:
    """Alert transitions of the day."""

    firing: int
    resolved: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]


@dataclass(frozen=True)
class AccountDay:
    """Everything the daily report says about one account (or FIRM)."""

    account: str
    trading: TradingStats
    pnl: PnLFigures | None
    var: VaRFigures | None


@dataclass(frozen=True)
class DailyReport:
    """Seed 002's daily report: PnL, risk, trading analysis and recommendations."""

    date: str
    account: str | None
    accounts: list[AccountDay]
    trading: TradingStats
    alerts: AlertStats
    recommendations: list[str]
    records: dict[str, int] = field(default_factory=dict)


def day_bounds(day: date) -> tuple[int, int]:
    """Return the UTC day as ``[start, end)`` epoch milliseconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def select_day(
    decisions: Iterable[JsonRecord],
    alerts: Iterable[JsonRecord],
    snapshots: Iterable[JsonRecord],
    fills: Iterable[JsonRecord],
    day: date,
    account: str | None = None,
) -> DayRecords:
    """Return the records of ``day`` (and of ``account`` when given)."""
    start, end = day_bounds(day)

    def keep(records: Iterable[JsonRecord]) -> list[JsonRecord]:
        return [
            r
            for r in records
            if start <= _ts(r) < end and (account is None or r.get("account") == account)
        ]

    return DayRecords(keep(decisions), keep(alerts), keep(snapshots), keep(fills))


def _ts(record: JsonRecord) -> int:
    value = record.get("ts")
    return int(value) if isinstance(value, int | float) else -1


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """Return the nearest-rank ``q`` quantile (0 < q <= 1), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def trading_stats(decisions: Sequence[JsonRecord], fills: Sequence[JsonRecord]) -> TradingStats:
    """Return order, reject and fill figures of these decisions and fills."""
    approved_ids = {
        (d.get("account"), d.get("order_id")) for d in decisions if d.get("decision") == "APPROVED"
    }
    rejected = [d for d in decisions if d.get("decision") == "REJECTED"]
    checks: Counter[str] = Counter()
    for decision in rejected:
        checks.update({str(reason.get("check")) for reason in decision.get("reasons") or ()})
    unique_fills = list({(f.get("account"), f.get("fill_id")): f for f in fills}.values())
    filled_ids = {(f.get("account"), f.get("order_id")) for f in unique_fills}
    filled_orders = len(approved_ids & filled_ids)
    approved = sum(1 for d in decisions if d.get("decision") == "APPROVED")
    latencies = [float(d["latency_us"]) for d in decisions if d.get("latency_us") is not None]
    return TradingStats(
        orders=len(decisions),
        approved=approved,
        rejected=len(rejected),
        reject_rate=len(rejected) / len(decisions) if decisions else None,
        rejects_by_check=dict(checks.most_common()),
        fills=len(unique_fills),
        filled_orders=filled_orders,
        fill_rate=filled_orders / len(approved_ids) if approved_ids else None,
        filled_qty=sum(float(f.get("qty") or 0.0) for f in unique_fills),
        traded_notional=sum(
            float(f.get("qty") or 0.0) * float(f.get("price") or 0.0) for f in unique_fills
        ),
        fees=sum(float(f.get("fee") or 0.0) for f in unique_fills),
        latency_p50_us=nearest_rank(latencies, 0.50),
        latency_p99_us=nearest_rank(latencies, 0.99),
    )


def pnl_figures(snapshots: Sequence[JsonRecord]) -> PnLFigures | None:
    """Return the account's day from its snapshots (sorted by ts), or None without any."""
    if not snapshots:
        return None
    first, last = snapshots[0], snapshots[-1]
    return PnLFigures(
        start_equity=float(first.get("equity") or 0.0),
        end_equity=float(last.get("equity") or 0.0),
        daily_pnl=float(last.get("daily_pnl") or 0.0),
        realized_pnl=float(last.get("realized_pnl") or 0.0),
        unrealized_pnl=float(last.get("unrealized_pnl") or 0.0),
    )


def var_figures(snapshots: Sequence[JsonRecord]) -> VaRFigures | None:
    """Return VaR usage through the day and the exception test, or None without VaR."""
    with_var = [s for s in snapshots if isinstance(s.get("var_99"), int | float)]
    if not with_var:
        return None
    values = [float(s["var_99"]) for s in with_var]
    ratios = [
        float(s["var_99"]) / float(s["equity"])
        for s in with_var
        if isinstance(s.get("equity"), int | float) and s["equity"] > 0
    ]
    last = snapshots[-1]
    loss = -float(last.get("daily_pnl") or 0.0)
    start_var = values[0]
    exceptions = last.get("var_exceptions")
    return VaRFigures(
        start_var_99=start_var,
        end_var_99=values[-1],
        peak_var_99=max(values),
        mean_var_99=sum(values) / len(values),
        peak_var_equity=max(ratios) if ratios else None,
        loss=loss,
        exception=loss > start_var,
        backtest_exceptions=int(exceptions) if isinstance(exceptions, int | float) else None,
        traffic_light=last.get("traffic_light"),
        var_method=str(last.get("var_method") or ""),
    )


def alert_stats(alerts: Sequence[JsonRecord]) -> AlertStats:
    """Return counts of the day's alert transitions."""
    firing = [a for a in alerts if a.get("state") == "FIRING"]
    return AlertStats(
        firing=len(firing),
        resolved=sum(1 for a in alerts if a.get("state") == "RESOLVED"),
        by_severity=dict(Counter(str(a.get("severity")) for a in firing).most_common()),
        by_rule=dict(Counter(str(a.get("rule_id")) for a in firing).most_common()),
    )


def daily_report(records: DayRecords, day: date, account: str | None = None) -> DailyReport:
    """Return the daily report of one day's records."""
    names = sorted(
        {str(r.get("account")) for group in _groups(records) for r in group} - {"None"},
        key=lambda name: (name == FIRM, name),
    )
    accounts = [_account_day(records, name) for name in names]
    trading = trading_stats(
        [d for d in records.decisions if d.get("account") != FIRM], records.fills
    )
    alerts = alert_stats(records.alerts)
    report = DailyReport(
        date=day.isoformat(),
        account=account,
        accounts=accounts,
        trading=trading,
        alerts=alerts,
        recommendations=[],
        records={
            "order_decisions": len(records.decisions),
            "risk_alerts": len(records.alerts),
            "risk_metrics": len(records.snapshots),
            "fills": len(records.fills),
        },
    )
    report.recommendations.extend(recommendations(report, records.alerts))
    return report


def _groups(records: DayRecords) -> tuple[Sequence[JsonRecord], ...]:
    return records.decisions, records.alerts, records.snapshots, records.fills


def _account_day(records: DayRecords, account: str) -> AccountDay:
    snapshots = sorted((s for s in records.snapshots if s.get("account") == account), key=_ts)
    return AccountDay(
        account=account,
        trading=trading_stats(
            [d for d in records.decisions if d.get("account") == account],
            [f for f in records.fills if f.get("account") == account],
        ),
        pnl=pnl_figures(snapshots),
        var=var_figures(snapshots),
    )


def recommendations(report: DailyReport, alerts: Sequence[JsonRecord]) -> list[str]:
    """Return rule-based advice from the report's figures (seed 002's recommendations)."""
    advice: list[str] = []
    for day in report.accounts:
        advice.extend(_var_advice(day))
        advice.extend(_trading_advice(day.account, day.trading))
    critical = sorted(
        {
            str(a.get("rule_id"))
            for a in alerts
            if a.get("severity") == "CRITICAL" and a.get("state") == "FIRING"
        }
    )
    if critical:
        advice.append(
            f"CRITICAL alerts fired ({', '.join(critical)}): confirm each halt was handled "
            "and that RESUME was a deliberate decision."
        )
    return advice or ["No action: every figure is within its threshold."]


def _var_advice(day: AccountDay) -> list[str]:
    var = day.var
    if var is None:
        return []
    advice = []
    if var.exception:
        advice.append(
            f"{day.account}: the day's loss {var.loss:,.0f} exceeded the start-of-day VaR99 "
            f"{var.start_var_99:,.0f}: reduce position size and check the VaR window "
            f"({var.var_method}) against recent volatility."
        )
    if var.traffic_light in ("yellow", "red"):
        advice.append(
            f"{day.account}: the VaR backtest is in the {var.traffic_light} zone "
            f"({var.backtest_exceptions} exceptions): the model understates risk; "
            "recalibrate or switch method."
        )
    if var.peak_var_equity is not None and var.peak_var_equity > VAR_EQUITY_LIMIT:
        advice.append(
            f"{day.account}: VaR99 reached {var.peak_var_equity:.1%} of equity "
            f"(> {VAR_EQUITY_LIMIT:.0%}): reduce position size to lower VaR."
        )
    return advice


def _trading_advice(account: str, trading: TradingStats) -> list[str]:
    advice = []
    rate = trading.reject_rate
    if rate is not None and trading.orders >= MIN_ORDERS_FOR_RATES and rate > REJECT_RATE_LIMIT:
        top = next(iter(trading.rejects_by_check.items()), ("?", 0))
        advice.append(
            f"{account}: {rate:.0%} of orders were rejected (most by {top[0]}, {top[1]}): "
            "check the strategy's parameters against its limits."
        )
    fill = trading.fill_rate
    if fill is not None and trading.approved >= MIN_ORDERS_FOR_RATES and fill < FILL_RATE_FLOOR:
        advice.append(
            f"{account}: only {fill:.0%} of approved orders filled: check limit prices and "
            "order types."
        )
    return advice


# --- the real-time report (GET /accounts/{a}/report, GET /report) ------------------------

STATUS_OK: Final = "OK"
STATUS_RANK: Final[Mapping[str, int]] = {STATUS_OK: 0, "INFO": 1, "WARNING": 2, "CRITICAL": 3}
LIVE_ORDER_STATES: Final = frozenset({"APPROVED", "OPEN", "PARTIALLY_FILLED"})
RECENT_ALERTS: Final = 10


@dataclass(frozen=True, slots=True)
class PositionView:
    """An open position as the report sees it: signed qty and its market value."""

    symbol: str
    qty: float
    market_value: float


@dataclass(frozen=True, slots=True)
class OrderView:
    """A live order: its size, what has filled and its lifecycle state."""

    order_id: str
    symbol: str
    side: str
    qty: float
    filled_qty: float
    state: str


@dataclass(frozen=True, slots=True)
class AccountPicture:
    """What the engine knows of one account (or FIRM) now, in plain values."""

    account: str
    ts: int
    cash: float
    reserved: float
    max_leverage: float
    trading_state: str
    metrics: Mapping[str, float | None]
    positions: Sequence[PositionView] = ()
    orders: Sequence[OrderView] = ()
    alerts: Sequence[JsonRecord] = ()


def rule_metrics(
    account: str, metrics: Mapping[str, float | None], rules: Iterable[MonitoringRule]
) -> list[dict[str, Any]]:
    """Return every enabled rule for ``account`` with its metric value, threshold and status."""
    table = []
    for rule in rules:
        if not rule.enabled or not applies_to(rule, account):
            continue
        value = metrics.get(rule.metric)
        breached = value is not None and condition_holds(rule, value)
        table.append(
            {
                "rule_id": rule.rule_id,
                "name": rule.name,
                "metric": rule.metric,
                "value": value,
                "comparison": rule.comparison,
                "threshold": rule.threshold,
                "status": rule.severity if breached else STATUS_OK,
                "description": rule.description,
            }
        )
    return table


def positions_analysis(positions: Sequence[PositionView]) -> dict[str, Any]:
    """Return seed 002's positions analysis: counts, the largest, concentration."""
    held = [p for p in positions if p.qty != 0]
    gross = sum(abs(p.market_value) for p in held)
    largest = max(held, key=lambda p: (abs(p.market_value), p.symbol), default=None)
    return {
        "total_positions": len(held),
        "long_positions": sum(1 for p in held if p.qty > 0),
        "short_positions": sum(1 for p in held if p.qty < 0),
        "total_position_value": gross,
        "net_position_value": sum(p.market_value for p in held),
        "largest_position": None
        if largest is None
        else {"symbol": largest.symbol, "qty": largest.qty, "market_value": largest.market_value},
        "concentration_risk": abs(largest.market_value) / gross if largest and gross else 0.0,
    }


def orders_analysis(orders: Sequence[OrderView]) -> dict[str, Any]:
    """Return seed 002's orders analysis of the live orders; the fill rate is filled / qty."""
    live = [o for o in orders if o.state in LIVE_ORDER_STATES]
    ordered = sum(o.qty for o in live)
    return {
        "total_active_orders": len(live),
        "pending_orders": sum(1 for o in live if o.state in ("APPROVED", "OPEN")),
        "partially_filled_orders": sum(1 for o in live if o.state == "PARTIALLY_FILLED"),
        "average_fill_rate": sum(o.filled_qty for o in live) / ordered if ordered else None,
    }


def overall_status(metric_table: Sequence[Mapping[str, Any]], trading_state: str) -> str:
    """Return the worst rule status; a HALTED account is CRITICAL, REDUCE_ONLY a WARNING."""
    statuses = [str(row["status"]) for row in metric_table]
    statuses.append({"HALTED": "CRITICAL", "REDUCE_ONLY": "WARNING"}.get(trading_state, STATUS_OK))
    return max(statuses, key=lambda status: STATUS_RANK.get(status, 0))


def realtime_report(picture: AccountPicture, rules: Iterable[MonitoringRule]) -> dict[str, Any]:
    """Return seed 002's real-time report of one account (or FIRM) as JSON-ready data."""
    metric_table = rule_metrics(picture.account, picture.metrics, rules)
    positions = positions_analysis(picture.positions)
    buying_power = max(0.0, picture.cash - picture.reserved) * picture.max_leverage
    recent = sorted(picture.alerts, key=_ts)[-RECENT_ALERTS:]
    return {
        "account": picture.account,
        "timestamp": picture.ts,
        "report_type": "real_time",
        "summary": {
            "overall_risk_status": overall_status(metric_table, picture.trading_state),
            "trading_state": picture.trading_state,
            "active_alerts": sum(1 for row in metric_table if row["status"] != STATUS_OK),
            "total_position_value": positions["total_position_value"],
            "available_buying_power": buying_power,
        },
        "metrics": metric_table,
        "positions": positions,
        "orders": orders_analysis(picture.orders),
        "alerts": list(reversed(recent)),
    }

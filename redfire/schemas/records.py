"""The wire records as immutable dataclasses; field names follow the .avsc files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from redfire.risk.vocabulary import (
    AlertState,
    DecisionValue,
    OrderAction,
    OrderType,
    Severity,
    Side,
    TimeInForce,
    TradingState,
)

__all__ = [
    "AlertState",
    "DecisionValue",
    "OrderAction",
    "OrderType",
    "Severity",
    "Side",
    "TimeInForce",
    "TradingState",
]

CommandType: TypeAlias = Literal[
    "SET_CASH",
    "SET_LIMITS",
    "HALT",
    "RESUME",
    "REDUCE_ONLY",
    "ADD_RULE",
    "REMOVE_RULE",
    "ADD_SCENARIO",
    "RUN_STRESS",
    "FLATTEN",
]
PayloadValue: TypeAlias = (
    bool | int | float | str | dict[str, float | str | None] | list[str] | None
)


@dataclass(frozen=True, slots=True)
class Tick:
    symbol: str
    ts: int
    price: float
    bid: float | None = None
    ask: float | None = None
    volume: float | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    order_id: str
    account: str
    symbol: str
    side: Side
    qty: float
    ts: int
    price: float | None = None
    order_type: OrderType = "LIMIT"
    action: OrderAction = "NEW"
    strategy: str | None = None
    time_in_force: TimeInForce = "DAY"


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    order_id: str
    account: str
    symbol: str
    side: Side
    qty: float
    price: float
    ts: int
    fee: float = 0.0


@dataclass(frozen=True, slots=True)
class Reason:
    check: str
    message: str
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class OrderDecision:
    order_id: str
    account: str
    symbol: str
    decision: DecisionValue
    latency_us: int
    ts: int
    reasons: tuple[Reason, ...] = ()
    var_before: float | None = None
    var_after: float | None = None
    # What the decision used that the operator should know: a symbol missing from the
    # instrument master and decided by the suffix rules.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskAlert:
    alert_id: str
    rule_id: str
    account: str
    metric: str
    value: float
    threshold: float
    comparison: str
    severity: Severity
    state: AlertState
    message: str
    ts: int
    # Set on emergency-stop events only (rule_id "emergency_stop"); empty on rule alerts.
    trigger: str | None = None
    actions: tuple[str, ...] = ()
    order_ids: tuple[str, ...] = ()
    cancelled_order_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SnapshotPosition:
    symbol: str
    qty: float
    avg_cost: float
    realized_pnl: float
    market_value: float


@dataclass(frozen=True, slots=True)
class SnapshotComponent:
    symbol: str
    component_var: float


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    account: str
    ts: int
    equity: float
    cash: float
    gross_exposure: float
    net_exposure: float
    leverage: float
    realized_pnl: float
    unrealized_pnl: float
    daily_pnl: float
    drawdown: float
    var_method: str
    concentration: float
    trading_state: TradingState
    var_95: float | None = None
    var_99: float | None = None
    es_975: float | None = None
    positions: tuple[SnapshotPosition, ...] = ()
    var_exceptions: int | None = None
    backtest_bars: int = 0
    traffic_light: str | None = None
    reject_ratio: float = 0.0
    es_backtest_z2: float | None = None
    es_backtest_bars: int = 0
    es_traffic_light: str | None = None
    components: tuple[SnapshotComponent, ...] = ()
    base_currency: str | None = None
    unvalued: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RiskCommand:
    command_id: str
    command: CommandType
    ts: int
    account: str | None = None
    payload: dict[str, PayloadValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PositionImpact:
    symbol: str
    qty: float
    price: float
    shock: float
    market_value: float
    pnl: float


@dataclass(frozen=True, slots=True)
class StressResult:
    scenario_id: str
    account: str
    pnl: float
    ts: int
    impacts: tuple[PositionImpact, ...] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    error: str
    payload: bytes
    ts: int
    key: str | None = None
    reason: str = "invalid"


@dataclass(frozen=True, slots=True)
class TickBand:
    tick: float
    bound: float | None = None
    inclusive: bool = True


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    market: str
    currency: str
    lot_size: int | None = None
    min_order_qty: float | None = None
    tick_rule: str | None = None
    tick_table: tuple[TickBand, ...] = ()
    board: str | None = None
    is_st: bool = False
    previous_close: float | None = None
    daily_limit_pct: float | None = None
    no_daily_limit: bool = False
    t_plus_one: bool | None = None
    sector: str | None = None
    tradable: bool = True
    fx_base: str | None = None
    name: str | None = None
    ts: int = 0

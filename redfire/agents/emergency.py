"""The emergency stop (seed 002 §5.1), all of it: FLATTEN, as a command or a rule action.

For one account, in the caller's unit of work:

1. HALT: the account's trading state becomes HALTED, so no new order passes;
2. a CANCEL request on ``orders`` for every live order (as the ``halt`` action sends);
3. one closing MARKET order request per non-flat position on ``emergency_orders`` (keyed
   by account, on the account's partition): RedFire decides, the gateway executes, and
   the fills come back on ``fills`` like any other;
4. the emergency-stop event on ``risk_alerts``: a RiskAlert with rule_id
   ``emergency_stop``, severity CRITICAL, state FIRING, and the optional fields
   ``trigger``, ``actions``, ``order_ids`` (the closing orders) and
   ``cancelled_order_ids``.

The closing orders' ids derive from the stop's id (the FLATTEN command id, or
``rule-{rule_id}-{ts}`` for a rule action), the account and the symbol
(``redfire.risk.flatten``): a stop sent again after a crash repeats the very same
requests, which the gateway deduplicates by order id, and an identical FLATTEN command
is applied once (``seen_commands``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass

from redfire.agents.alerts import publish_alert
from redfire.agents.context import AgentContext
from redfire.risk.flatten import HeldPosition, closing_orders
from redfire.risk.vocabulary import HALTED
from redfire.schemas.records import OrderRequest, RiskAlert
from redfire.state.account import AccountAggregate
from redfire.state.unit import UnitOfWork
from redfire.streams.specs import EMERGENCY_ORDERS

log = logging.getLogger(__name__)
EMERGENCY_RULE_ID = "emergency_stop"
CANCEL_STRATEGY = "redfire-emergency-stop"
MAX_ALERT_ID = 256


@dataclass(frozen=True, slots=True)
class StopCause:
    """Why and under which id an account is being stopped."""

    stop_id: str
    trigger: str
    ts: int


class EmergencyStop:
    """Halt an account, cancel its live orders, and (FLATTEN) close its positions."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.state = ctx.state
        self.emergency_orders = ctx.settings.topic(EMERGENCY_ORDERS.name)

    async def flatten(
        self, account: AccountAggregate, cause: StopCause, uow: UnitOfWork
    ) -> RiskAlert:
        """Run the whole emergency stop on one account; return the event it published."""
        self.halt(account, uow)
        cancelled = await self.cancel_all(account, cause.ts, uow)
        held = [HeldPosition(symbol, qty) for symbol, qty in account.quantities.items()]
        closing = closing_orders(cause.stop_id, account.name, held, cause.ts)
        for order in closing:
            await uow.emit(
                self.emergency_orders,
                account.name.encode(),
                self.ctx.encode(OrderRequest(**asdict(order)), "order_request"),
                account.partition,
            )
        alert = stop_event(account.name, cause, cancelled, [o.order_id for o in closing])
        await publish_alert(self.ctx, alert, uow)
        account.touch()
        log.warning("%s: %s", account.name, alert.message)
        return alert

    def halt(self, account: AccountAggregate, uow: UnitOfWork) -> None:
        """Set the account HALTED and stage its record."""
        account.record.trading_state = HALTED
        tables = self.state.tables
        uow.stage(tables.accounts, account.partition, account.name, account.account_value)

    async def cancel_all(self, account: AccountAggregate, ts: int, uow: UnitOfWork) -> list[str]:
        """Send a CANCEL request for every live order of the account; return their ids."""
        cancelled = []
        for order_id in sorted(account.live):
            order = account.live[order_id].order
            if order is None:
                continue
            cancel = OrderRequest(
                order_id=order_id,
                account=account.name,
                symbol=order.symbol,
                side=order.side,  # type: ignore[arg-type]
                qty=float(order.qty),
                ts=ts,
                action="CANCEL",
                strategy=CANCEL_STRATEGY,
            )
            await uow.emit(
                self.ctx.names.orders,
                account.name.encode(),
                self.ctx.encode(cancel, "order_request"),
                account.partition,
            )
            cancelled.append(order_id)
        return cancelled


def stop_event(
    account: str, cause: StopCause, cancelled: list[str], closing: list[str]
) -> RiskAlert:
    """Return the emergency-stop event of one account (seed 002's stop_event)."""
    actions = (
        "stopped_new_orders",
        f"cancelled_{len(cancelled)}_orders",
        f"closing_{len(closing)}_positions",
    )
    message = (
        f"emergency stop ({cause.trigger}): {account} HALTED, CANCEL sent for "
        f"{len(cancelled)} live orders, {len(closing)} closing MARKET orders sent to "
        f"{EMERGENCY_ORDERS.name}"
    )
    return RiskAlert(
        alert_id=event_id(cause.stop_id, account),
        rule_id=EMERGENCY_RULE_ID,
        account=account,
        metric="positions_to_close",
        value=float(len(closing)),
        threshold=0.0,
        comparison=">=",
        severity="CRITICAL",
        state="FIRING",
        message=message,
        ts=cause.ts,
        trigger=cause.trigger,
        actions=actions,
        order_ids=tuple(closing),
        cancelled_order_ids=tuple(cancelled),
    )


def event_id(stop_id: str, account: str) -> str:
    """Return the event's id: the same for the same stop of the same account."""
    plain = f"emergency-{stop_id}-{account}"
    if len(plain) <= MAX_ALERT_ID:
        return plain
    return "emergency-" + hashlib.sha256(plain.encode()).hexdigest()[:32]

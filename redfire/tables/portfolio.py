"""An account's holdings valued at the last prices: the figures every view needs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from redfire.risk.positions import MONEY_CONTEXT, ZERO, Position, market_value, unrealized_pnl
from redfire.tables import store
from redfire.tables.accounts import AccountState


@dataclass(frozen=True, slots=True)
class Holding:
    symbol: str
    position: Position
    price: float | None

    @property
    def market_value(self) -> Decimal:
        """Return qty × last price (zero when the symbol has no price yet)."""
        return ZERO if self.price is None else market_value(self.position, self.price)

    @property
    def unrealized_pnl(self) -> Decimal:
        return ZERO if self.price is None else unrealized_pnl(self.position, self.price)


@dataclass(frozen=True, slots=True)
class AccountView:
    """The valued state of one account at one moment."""

    state: AccountState
    holdings: tuple[Holding, ...]

    @property
    def cash(self) -> Decimal:
        return self.state.cash

    @property
    def equity(self) -> Decimal:
        return MONEY_CONTEXT.add(self.cash, self.net_exposure)

    @property
    def net_exposure(self) -> Decimal:
        return sum((h.market_value for h in self.holdings), ZERO)

    @property
    def gross_exposure(self) -> Decimal:
        return sum((abs(h.market_value) for h in self.holdings), ZERO)

    @property
    def realized_pnl(self) -> Decimal:
        return sum((h.position.realized_pnl for h in self.holdings), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((h.position.fees for h in self.holdings), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((h.unrealized_pnl for h in self.holdings), ZERO)

    def exposures(self) -> dict[str, float]:
        """Return symbol → market value of every open position."""
        return {h.symbol: float(h.market_value) for h in self.holdings if not h.position.is_flat}


def account_view(account: str) -> AccountView:
    """Value the account's positions at the last prices."""
    holdings = []
    for symbol, position in sorted(store.positions_of(account).items()):
        price = store.last_price(symbol)
        holdings.append(Holding(symbol, position, None if price is None else price.price))
    return AccountView(store.get_account(account), tuple(holdings))

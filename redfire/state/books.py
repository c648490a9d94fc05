"""One incremental VaR book per account, cached in the account aggregate.

A book marks the account's positions at the prices of the moment it is built
and keeps the scenario P&L vector, so each order costs one O(T) update
(``RiskBook.incremental``), never a full recompute. A book is rebuilt when the
account's positions change (a fill drops it), when a held symbol's return
window changes (a new bar), or when it is older than REDFIRE_SNAPSHOT_INTERVAL
(to re-mark prices).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redfire.risk.incremental import RiskBook
from redfire.risk.measures import FloatArray, InsufficientHistory, VaRConfig
from redfire.risk.portfolio import HistoryPolicy, assemble_portfolio, resolve_window
from redfire.risk.var import portfolio_book
from redfire.state.account import AccountAggregate
from redfire.state.market import MarketState

Book = RiskBook | InsufficientHistory


@dataclass(slots=True)
class CachedBook:
    book: Book
    built_ms: int
    versions: dict[str, int]
    # The market's window generation when last found fresh: unchanged means no
    # window changed since, so the per-symbol comparison can be skipped.
    generation: int


class AccountBooks:
    """Build and cache each account's book from its positions and the market."""

    def __init__(
        self, market: MarketState, config: VaRConfig, policy: HistoryPolicy, max_age_ms: int
    ) -> None:
        self.market = market
        self.config = config
        self.policy = policy
        self.max_age_ms = max_age_ms

    def book(self, account: AccountAggregate, now_ms: int) -> Book:
        """Return the account's current book, rebuilding it only when stale."""
        cached = account.book
        if not isinstance(cached, CachedBook) or not self._fresh(cached, account, now_ms):
            cached = self._build(account.quantities, now_ms)
            account.book = cached
        return cached.book

    def window(self, symbol: str) -> FloatArray | None:
        """Return the return window (or proxy window) a new symbol is priced with."""
        window, _proxy = resolve_window(symbol, self._windows([symbol]), self.policy)
        return window

    def _fresh(self, cached: CachedBook, account: AccountAggregate, now_ms: int) -> bool:
        # A book stamped later than this order (e.g. built for a what-if at wall-clock
        # time during a replay) is as stale as an old one.
        if not 0 <= now_ms - cached.built_ms <= self.max_age_ms:
            return False
        if cached.versions.keys() != account.quantities.keys():
            return False
        generation = self.market.generation
        if cached.generation == generation:
            return True
        version = self.market.window_version
        if all(version(s) == v for s, v in cached.versions.items()):
            cached.generation = generation
            return True
        return False

    def _build(self, quantities: dict[str, float], now_ms: int) -> CachedBook:
        exposures: dict[str, float] = {}
        unpriced: list[str] = []
        for symbol, qty in quantities.items():
            price = self.market.last_price(symbol)
            if price is None:
                unpriced.append(symbol)
            else:
                exposures[symbol] = qty * price
        versions = {s: self.market.window_version(s) for s in quantities}
        generation = self.market.generation
        if unpriced:
            shortfall = InsufficientHistory((), self.policy.min_window, {}, tuple(unpriced))
            return CachedBook(shortfall, now_ms, versions, generation)
        portfolio = assemble_portfolio(exposures, self._windows(exposures), self.policy)
        return CachedBook(portfolio_book(portfolio, self.config), now_ms, versions, generation)

    def _windows(self, symbols: Iterable[str]) -> dict[str, FloatArray]:
        names = [*symbols, *(p for p in (self.policy.default_proxy,) if p)]
        found = {}
        for name in names:
            returns = self.market.returns(name)
            if returns is not None:
                found[name] = returns
        return found

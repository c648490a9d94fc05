"""One incremental VaR book per account, cached between orders.

A book marks the account's positions at the prices of the moment it is built
and keeps the scenario P&L vector, so each order costs one O(T) update
(``RiskBook.incremental``), never a full recompute. A book is rebuilt when the
account trades (a fill), when a held symbol's return window changes (a new
bar), or when it is older than REDFIRE_SNAPSHOT_INTERVAL (to re-mark prices).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redfire.app import settings
from redfire.risk.incremental import RiskBook
from redfire.risk.measures import FloatArray, InsufficientHistory, VaRConfig, VaRMethod
from redfire.risk.portfolio import HistoryPolicy, assemble_portfolio, resolve_window
from redfire.risk.var import portfolio_book
from redfire.tables import mirrors
from redfire.tables.store import position_index


@dataclass
class CachedBook:
    book: RiskBook | InsufficientHistory
    built_ms: int
    versions: dict[str, int]


def var_config() -> VaRConfig:
    """Return the VaR engine configuration from the settings."""
    method = VaRMethod(settings.var_method.value)
    return VaRConfig(method=method, confidence=settings.var_confidence)


class AccountBooks:
    def __init__(self, config: VaRConfig, policy: HistoryPolicy, max_age_ms: int) -> None:
        self.config = config
        self.policy = policy
        self.max_age_ms = max_age_ms
        self._cache: dict[str, CachedBook] = {}

    def invalidate(self, account: str) -> None:
        """Forget the account's book; the next order rebuilds it."""
        self._cache.pop(account, None)

    def book(self, account: str, now_ms: int) -> RiskBook | InsufficientHistory:
        """Return the account's current book, rebuilding it only when stale."""
        cached = self._cache.get(account)
        symbols = position_index.quantities(account)
        if cached is None or not self._fresh(cached, symbols, now_ms):
            cached = self._build(symbols, now_ms)
            self._cache[account] = cached
        return cached.book

    def window(self, symbol: str) -> FloatArray | None:
        """Return the return window (or proxy window) a new symbol is priced with."""
        windows = self._windows([symbol])
        window, _proxy = resolve_window(symbol, windows, self.policy)
        return window

    def _fresh(self, cached: CachedBook, quantities: dict[str, float], now_ms: int) -> bool:
        # A book stamped later than this order (e.g. built for a what-if at wall-clock
        # time during a replay) is as stale as an old one.
        if not 0 <= now_ms - cached.built_ms <= self.max_age_ms:
            return False
        if cached.versions.keys() != quantities.keys():
            return False
        return all(mirrors.windows.version(s) == v for s, v in cached.versions.items())

    def _build(self, quantities: dict[str, float], now_ms: int) -> CachedBook:
        exposures: dict[str, float] = {}
        unpriced: list[str] = []
        for symbol, qty in quantities.items():
            mark = mirrors.prices.get(symbol)
            if mark is None:
                unpriced.append(symbol)
            else:
                exposures[symbol] = qty * mark.price
        versions = {s: mirrors.windows.version(s) for s in quantities}
        if unpriced:
            shortfall = InsufficientHistory((), self.policy.min_window, {}, tuple(unpriced))
            return CachedBook(shortfall, now_ms, versions)
        portfolio = assemble_portfolio(exposures, self._windows(exposures), self.policy)
        return CachedBook(portfolio_book(portfolio, self.config), now_ms, versions)

    def _windows(self, symbols: Iterable[str]) -> dict[str, FloatArray]:
        names = [*symbols, *(p for p in (self.policy.default_proxy,) if p)]
        found = {}
        for name in names:
            mark = mirrors.windows.get(name)
            if mark is not None:
                found[name] = mark.returns
        return found


books = AccountBooks(
    var_config(),
    HistoryPolicy(window=settings.var_window, min_window=min(20, settings.var_window)),
    int(settings.snapshot_interval * 1000),
)

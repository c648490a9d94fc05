"""One incremental VaR book per account, in its base currency, cached in the account aggregate.

A book marks the account's positions (and its cash in foreign currencies) at the prices and
FX rates of the moment it is built, in the account's base currency, and keeps the scenario
P&L vector, so each order costs one O(T) update (``RiskBook.incremental``), never a full
recompute. A foreign holding's scenario column is its base-currency return
(1 + r_asset)(1 + r_fx) − 1 and foreign cash is a column of the rate's own returns
(``risk.fx_portfolio``), so the FX risk is in every figure.

A fill that moves a position the book holds (without closing it) is applied to the book as
the same O(T) update an order's incremental VaR makes, at the mark the book holds the symbol
at; one that opens a position adds the symbol's column at its last price, as a rebuild would
(only in the base currency, and not under Monte Carlo); a fill that closes a position, or
moves foreign cash, drops the book, so it is rebuilt at its next use. It is rebuilt too
when a held symbol's return window or that of an FX pair it converts through changes (a new
bar), when the instrument master changes, when a rate the book lacked arrives, or when its
stamp is more than REDFIRE_SNAPSHOT_INTERVAL from the caller's time: older, to re-mark prices
and rates; later, as a wall-clock stamp is against a replayed order (a stamp a little later,
the monitor's against an order under way, marks at newer prices and serves).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from redfire.risk.fx import Conversion, conversion_returns
from redfire.risk.fx_portfolio import (
    BaseValuation,
    Holding,
    assemble_base_portfolio,
    base_return_window,
    value_in_base,
)
from redfire.risk.incremental import RiskBook
from redfire.risk.measures import FloatArray, InsufficientHistory, VaRConfig, VaRMethod
from redfire.risk.portfolio import HistoryPolicy, Portfolio, resolve_window
from redfire.risk.var import portfolio_book, scenario_book
from redfire.state.account import AccountAggregate
from redfire.state.filters import FilterBank
from redfire.state.market import MarketState

Book = RiskBook | InsufficientHistory
# The key of an order's column when it is paid in a foreign currency (see ``order_column``).
FUNDED = "{symbol}|funded-in-{currency}"


@dataclass(slots=True)
class CachedBook:
    book: Book
    built_ms: int
    versions: dict[str, int]
    # The market's window generation when last found fresh: unchanged means no
    # window changed since, so the per-symbol comparison can be skipped.
    generation: int
    # Window versions of the FX pairs the book's conversions use.
    pair_versions: dict[str, int] = field(default_factory=dict)
    reference_generation: int = 0
    fx_generation: int = 0
    complete: bool = True
    # The filter bank's generation (fhs): a refit installed since means rebuild.
    filters_generation: int = 0
    # symbol → (column key, column) of an order in a foreign currency (built once per book).
    order_columns: dict[str, tuple[str, FloatArray | None]] = field(default_factory=dict)
    # Each held symbol's quantity as the book holds it (built, then moved by fills).
    quantities: dict[str, float] = field(default_factory=dict)


class AccountBooks:
    """Build and cache each account's book from its positions, cash and the market."""

    def __init__(
        self,
        market: MarketState,
        config: VaRConfig,
        policy: HistoryPolicy,
        max_age_ms: int,
        filters: FilterBank | None = None,
    ) -> None:
        self.market = market
        self.config = config
        self.policy = policy
        self.max_age_ms = max_age_ms
        # REDFIRE_VAR_METHOD=fhs with a fitted filter: books take each symbol's filtered
        # scenario column where they would take its return window.
        self.filters = filters

    def book(self, account: AccountAggregate, now_ms: int) -> Book:
        """Return the account's current book, rebuilding it only when stale."""
        return self.cached(account, now_ms).book

    def cached(self, account: AccountAggregate, now_ms: int) -> CachedBook:
        """Return the account's cached book and what it was built from."""
        cached = account.book
        if isinstance(cached, CachedBook) and account.book_moves:
            if not self._move(cached, account, account.book_moves):
                cached = None
            account.book_moves.clear()
        if not isinstance(cached, CachedBook) or not self._fresh(cached, account, now_ms):
            cached = self._build(account, now_ms)
            account.book = cached
        return cached

    def _move(
        self, cached: CachedBook, account: AccountAggregate, moves: list[tuple[str, float]]
    ) -> bool:
        """Apply fills' quantity moves to the book at its marks; False when it cannot be."""
        book = cached.book
        if isinstance(book, InsufficientHistory):
            return False
        for symbol, delta_qty in moves:
            if symbol in cached.order_columns:
                return False  # not held as one column at a mark: rebuild
            held = cached.quantities.get(symbol, 0.0)
            if held == 0.0:
                if not self._open(cached, book, account, symbol, delta_qty):
                    return False
                continue
            mark = book.exposure(symbol) / held  # price (in base currency) it is held at
            if book.apply(symbol, delta_qty * mark) is not None:
                return False
            cached.quantities[symbol] = held + delta_qty
        return True

    def _open(
        self,
        cached: CachedBook,
        book: RiskBook,
        account: AccountAggregate,
        symbol: str,
        qty: float,
    ) -> bool:
        """Add a newly held symbol to the book as a rebuild would hold it; False when it cannot.

        At the last price, with the window (or proxy) that a rebuild, and the pre-trade
        check of the order, give it. Only a symbol priced in the account's base currency
        and a deterministic method: a foreign column needs its rate's returns, and Monte
        Carlo draws its scenarios anew at each build.
        """
        market = self.market
        price = market.last_price(symbol)
        if (
            self.config.method is VaRMethod.MONTECARLO
            or price is None
            or market.currency_of(symbol) != account.base
        ):
            return False
        window = self.window(symbol)
        if window is None or book.apply(symbol, qty * price, window) is not None:
            return False
        cached.quantities[symbol] = qty
        cached.versions[symbol] = market.window_version(symbol)
        return True

    def window(self, symbol: str) -> FloatArray | None:
        """Return the return window (or proxy window) a new symbol is priced with."""
        window, _proxy = resolve_window(symbol, self.windows([symbol]), self.policy)
        return window

    def order_column(
        self, cached: CachedBook, symbol: str, conversion: Conversion
    ) -> tuple[str, FloatArray | None]:
        """Return the column key and window of an order in ``symbol`` paid in a foreign currency.

        Filled, the order adds δv of the asset (base-currency returns) and takes δv of cash
        in the instrument's currency (the rate's returns), so its scenario P&L is
        δv·(R_asset_base − R_fx): one column, exact, that a full rebuild after the fill gives.
        """
        found = cached.order_columns.get(symbol)
        if found is None:
            key = FUNDED.format(symbol=symbol, currency=conversion.source)
            found = key, self._funded_window(symbol, conversion)
            cached.order_columns[symbol] = found
        return found

    def _funded_window(self, symbol: str, conversion: Conversion) -> FloatArray | None:
        windows = self.windows([symbol, *conversion.symbols()])
        asset, _proxy = base_return_window(symbol, conversion, windows, self.policy)
        fx = conversion_returns(conversion, windows)
        if asset is None or fx is None or isinstance(fx, tuple):
            return None
        rows = min(asset.size, fx.size)
        funded: FloatArray = np.asarray(asset[-rows:] - fx[-rows:], dtype=np.float64)
        return funded

    def _fresh(self, cached: CachedBook, account: AccountAggregate, now_ms: int) -> bool:
        # A book stamped a little later than this order (the monitor builds at the wall
        # clock; an order already under way carries its own, earlier, time) marks at
        # newer prices than the order's: it serves. One stamped more than the maximum
        # age later (e.g. at wall-clock time during a replay of old orders) is as stale
        # as one that old.
        if abs(now_ms - cached.built_ms) > self.max_age_ms:
            return False
        if cached.versions.keys() != account.quantities.keys():
            return False
        market = self.market
        if cached.reference_generation != market.reference_generation:
            return False
        if not cached.complete and cached.fx_generation != market.fx_generation:
            return False
        filters = self.filters
        if filters is not None and cached.filters_generation != filters.generation:
            return False
        generation = market.generation
        if cached.generation == generation:
            return True
        version = market.window_version
        if all(version(s) == v for s, v in cached.versions.items()) and all(
            version(s) == v for s, v in cached.pair_versions.items()
        ):
            cached.generation = generation
            return True
        return False

    def valuation(self, account: AccountAggregate) -> BaseValuation:
        """Return the account valued in its base currency at the prices and rates of now."""
        market = self.market
        holdings = [
            Holding(symbol, qty, market.last_price(symbol), market.currency_of(symbol))
            for symbol, qty in account.quantities.items()
        ]
        return value_in_base(account.cash_by_currency(), holdings, account.base, market.fx)

    def _build(self, account: AccountAggregate, now_ms: int) -> CachedBook:
        market = self.market
        valuation = self.valuation(account)
        versions = {s: market.window_version(s) for s in account.quantities}
        pairs = {p for c in valuation.conversions.values() for p in c.symbols()}
        cached = CachedBook(
            book=InsufficientHistory((), self.policy.min_window),
            built_ms=now_ms,
            versions=versions,
            generation=market.generation,
            pair_versions={p: market.window_version(p) for p in pairs},
            reference_generation=market.reference_generation,
            fx_generation=market.fx_generation,
            complete=valuation.complete,
            filters_generation=0 if self.filters is None else self.filters.generation,
            quantities=dict(account.quantities),
        )
        currencies = {s: market.currency_of(s) for s in valuation.exposures}
        windows = self.windows([*valuation.exposures, *pairs])
        portfolio = assemble_base_portfolio(valuation, currencies, windows, self.policy)
        cached.book = self.book_of(portfolio)
        return cached

    def book_of(self, portfolio: Portfolio | InsufficientHistory) -> Book:
        """Return the incremental book of an assembled portfolio (its columns from ``_windows``)."""
        if isinstance(portfolio, InsufficientHistory) or self.filters is None:
            return portfolio_book(portfolio, self.config)
        # Filtered columns are ready scenarios: held as historical returns would be.
        return scenario_book(portfolio.symbols, portfolio.exposures, portfolio.returns, self.config)

    def windows(self, symbols: Iterable[str]) -> dict[str, FloatArray]:
        """Return the column each symbol (and the default proxy) is priced with.

        The symbol's return window; under fhs with fitted filters, its filtered scenarios.
        """
        names = [*symbols, *(p for p in (self.policy.default_proxy,) if p)]
        column = self.market.returns if self.filters is None else self.filters.column
        found = {}
        for name in names:
            returns = column(name)
            if returns is not None:
                found[name] = returns
        return found

"""The fitted volatility filters of REDFIRE_VAR_METHOD=fhs, one per symbol, and their refits.

Filtered historical simulation holds, per symbol, the filtered scenario column
z_t·σ_{T+1} (``risk.fhs.SymbolFilter``). A scenario book takes those columns as it
would take historical returns, so an order still costs one O(T) update; the
filtering happens here, once per bar, never per order or per book.

* **Per bar.** A symbol's filter follows its return window: when the window's version
  changes (a bar closed here, or another worker's window arrived through the changelog)
  the filter reruns its variance path over the window with the parameters it has. That
  is a vectorised O(T) pass (about 30 µs for 1,000 returns), done on the first read
  after the bar, so a symbol nobody holds costs nothing.
* **Refits** are the expensive part (a GJR-GARCH-t likelihood fit, 15–30 ms). A filter
  asks for one when it first has enough history and then every
  REDFIRE_VAR_FHS_REFIT_BARS bars, staggered by symbol so that bars closing together do
  not refit together. The worker runs them on one background thread
  (``refit_due``), never inside an agent's batch, and installs the parameters on the
  event loop; ``generation`` then moves and the books built on the old fit rebuild.
  Until its first fit a filter runs RiskMetrics' λ = 0.94 recursion.
* **History.** A fit wants REDFIRE_VAR_FHS_FIT_WINDOW returns, more than
  REDFIRE_VAR_WINDOW, so under ``fhs`` the ``returns`` windows keep
  ``FilterSpec.history`` returns (``window_capacity``). Fitted parameters are not
  stored: after a restart each symbol refits once (from the same stored history, so to
  the same parameters, give or take the optimiser's tolerance).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from redfire import metrics
from redfire.risk.fhs import FilterSpec, SymbolFilter, filter_spec
from redfire.risk.measures import FloatArray, VaRConfig, VaRMethod
from redfire.risk.volatility import RISKMETRICS, VolatilityParams, fit_volatility
from redfire.state.market import MarketState

log = logging.getLogger(__name__)


def fitted_spec(config: VaRConfig) -> FilterSpec | None:
    """Return the spec of the per-symbol fitted filters, or None when VaR does not use them.

    Only ``fhs`` with a fitted model (``gjr_t``, ``ewma_mle``) keeps filters; the older
    ``ewma`` and ``garch`` filters stay stateless (``risk.incremental.FilteredColumns``).
    """
    if config.method is not VaRMethod.FHS:
        return None
    return filter_spec(config)


def window_capacity(var_window: int, spec: FilterSpec | None) -> int:
    """Return how many returns each ``returns`` window keeps (enough for a fit under fhs)."""
    return var_window if spec is None else max(var_window, spec.history)


@dataclass(slots=True)
class Followed:
    """One symbol's filter and the window version it was last run over."""

    filter: SymbolFilter
    version: int


class FilterBank:
    """Each symbol's fitted filter, kept in step with its return window."""

    def __init__(self, market: MarketState, spec: FilterSpec, inline_refits: bool = False) -> None:
        self.market = market
        self.spec = spec
        # In-process tests refit at once, so their figures do not depend on a thread.
        self.inline_refits = inline_refits
        self.followed: dict[str, Followed] = {}
        # Symbols due a refit, oldest first (a dict keeps insertion order, once each).
        self.due: dict[str, None] = {}
        # Moves when a fit is installed: books built on older parameters rebuild.
        self.generation = 0
        self.refits = 0
        self._executor: Executor | None = None

    def column(self, symbol: str) -> FloatArray | None:
        """Return the symbol's filtered scenario column, or None without a return window."""
        market = self.market
        returns = market.returns(symbol)
        if returns is None or returns.size == 0:
            return None
        version = market.window_version(symbol)
        followed = self.followed.get(symbol)
        if followed is None or followed.version != version:
            followed = self._follow(symbol, returns, version, followed)
        if followed.filter.needs_refit:
            if self.inline_refits:
                followed.filter.refit()
                self.refits += 1
            else:
                self.due.setdefault(symbol)
        return followed.filter.scenario_column()

    def params(self, symbol: str) -> VolatilityParams | None:
        """Return the symbol's fitted parameters (None before its first fit)."""
        followed = self.followed.get(symbol)
        return None if followed is None else followed.filter.params

    def _follow(
        self, symbol: str, returns: FloatArray, version: int, before: Followed | None
    ) -> Followed:
        """Rerun the symbol's filter over its current window, keeping its fit."""
        record: dict[str, Any] = {"returns": returns, "params": None}
        if before is None:
            record["since_fit"] = self._phase(symbol)
        else:
            old = before.filter
            record["params"] = None if old.params is None else old.params.as_dict()
            record["since_fit"] = old.bars_since_fit + 1
        followed = Followed(SymbolFilter.from_record(self.spec, record), version)
        self.followed[symbol] = followed
        return followed

    def _phase(self, symbol: str) -> int:
        """Return a stable per-symbol offset into the refit cycle (staggers the refits)."""
        return zlib.crc32(symbol.encode()) % self.spec.refit_every

    # ------------------------------------------------------------------ refits

    async def refit_due(self, limit: int = 8) -> int:
        """Fit up to ``limit`` due filters on the refit thread; return how many were installed."""
        installed = 0
        for symbol in self._take(limit):
            followed = self.followed.get(symbol)
            if followed is None or not followed.filter.needs_refit:
                continue
            history = followed.filter.fit_history()
            fit = self._fit_call(history, followed.filter.params)
            try:
                params = await asyncio.get_running_loop().run_in_executor(self._pool(), fit)
            except Exception:  # a failed fit keeps the old parameters; logged, retried later
                log.exception("fhs refit of %s failed; keeping its current filter", symbol)
                continue
            if params is RISKMETRICS or params is followed.filter.params:
                log.warning(
                    "fhs fit of %s did not converge on %d returns; it keeps %s",
                    symbol,
                    history.size,
                    "its last fit" if followed.filter.params is not None else "RiskMetrics",
                )
            if self._install(symbol, params):
                installed += 1
        return installed

    def _take(self, limit: int) -> list[str]:
        taken = list(self.due)[:limit]
        for symbol in taken:
            del self.due[symbol]
        return taken

    def _fit_call(
        self, history: FloatArray, previous: VolatilityParams | None
    ) -> Callable[[], VolatilityParams]:
        volatility = self.spec.volatility

        def fit() -> VolatilityParams:
            with metrics.FHS_REFIT_SECONDS.time():
                return fit_volatility(history, volatility, previous)

        return fit

    def _install(self, symbol: str, params: VolatilityParams) -> bool:
        """Adopt a fit on the loop; a window that moved meanwhile keeps it too."""
        followed = self.followed.get(symbol)
        if followed is None:
            return False
        followed.filter.install(params)
        self.refits += 1
        self.generation += 1
        return True

    def _pool(self) -> Executor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fhs-refit")
        return self._executor

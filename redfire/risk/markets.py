"""Market conventions: which venue a symbol trades on, its lot size, tick size and price limits.

Symbols carry their venue as a suffix: ``600000.SH`` / ``600000.SS`` / ``600000.XSHG`` (Shanghai),
``000001.SZ`` / ``000001.XSHE`` (Shenzhen), ``0700.HK`` / ``0700.XHKG`` (Hong Kong). Anything
else is treated as US. An explicit mapping (symbol → market) wins over the suffix.

Lot rules
  * XSHG / XSHE: BUY orders in multiples of 100 shares. A SELL may be any quantity up to the
    long position held (so an odd-lot remainder can always be closed); a larger SELL must be a
    multiple of 100. (The exchange rule is "an odd lot only to sell the whole odd remainder";
    allowing any sell up to the position is the simpler, slightly looser form.)
  * XHKG: both sides in multiples of the symbol's board lot (odd lots trade on a separate
    odd-lot market, not through this route). Board lots come from a table; unknown symbols
    default to 100.
  * US: whole shares.

Tick sizes (price must be an exact multiple, checked in ``Decimal`` to avoid float error)
  * XSHG / XSHE: 0.01 for shares, 0.001 for funds and bonds (Shanghai codes starting with 5,
    Shenzhen codes starting with 1).
  * US: 0.01 at or above $1, 0.0001 below.
  * XHKG: the HKEX spread table (see ``HK_SPREAD_TABLE``).

A-share daily price limits are ±10% of the previous close on the main boards, ±20% on the STAR
(688/689) and ChiNext (300/301) boards and ±5% for ST shares on the main boards; the limit
prices are rounded half-up to the tick.

Tick tables (``TickTable``) state the same tick rules as data, so that an instrument master entry
can name one (``TICK_RULES``) or bring its own; ``tick_size`` reads them. ``FX`` is the market of
currency pairs (``USDCNY``): whole units, 0.00001 ticks, no lots or limits; no suffix maps to it,
only the instrument master or ``risk.fx.split_pair``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise
from types import MappingProxyType


class Market(StrEnum):
    """Venues with their own lot and tick rules."""

    XSHG = "XSHG"
    XSHE = "XSHE"
    XHKG = "XHKG"
    US = "US"
    FX = "FX"


class Board(StrEnum):
    """A-share boards with their own daily limits and lot rules."""

    MAIN = "MAIN"
    STAR = "STAR"  # Shanghai 688/689: ±20%, orders of at least 200 shares in steps of 1
    CHINEXT = "CHINEXT"  # Shenzhen 300/301: ±20%, 100-share lots


A_SHARE_MARKETS = frozenset({Market.XSHG, Market.XSHE})

_SUFFIX_MARKETS: Mapping[str, Market] = MappingProxyType(
    {
        "SH": Market.XSHG,
        "SS": Market.XSHG,
        "XSHG": Market.XSHG,
        "SZ": Market.XSHE,
        "XSHE": Market.XSHE,
        "HK": Market.XHKG,
        "XHKG": Market.XHKG,
    }
)

A_SHARE_LOT = 100
DEFAULT_HK_BOARD_LOT = 100

# Reference board lots for a few liquid names; feed the full table from the venue's instrument
# file in production. Keys are codes without leading zeros (see ``hk_code``).
DEFAULT_HK_BOARD_LOTS: Mapping[str, int] = MappingProxyType(
    {
        "700": 100,  # Tencent
        "5": 400,  # HSBC
        "941": 500,  # China Mobile
        "388": 100,  # HKEX
        "1299": 200,  # AIA
        "9988": 100,  # Alibaba
        "2318": 500,  # Ping An
        "939": 1000,  # CCB
        "1398": 1000,  # ICBC
        "3690": 100,  # Meituan
        "1810": 200,  # Xiaomi
    }
)

# (upper bound of the price band, inclusive; tick inside the band). Above the last bound: 5.
HK_SPREAD_TABLE: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("0.25"), Decimal("0.001")),
    (Decimal("0.5"), Decimal("0.005")),
    (Decimal("10"), Decimal("0.01")),
    (Decimal("20"), Decimal("0.02")),
    (Decimal("100"), Decimal("0.05")),
    (Decimal("200"), Decimal("0.1")),
    (Decimal("500"), Decimal("0.2")),
    (Decimal("1000"), Decimal("0.5")),
    (Decimal("2000"), Decimal("1")),
    (Decimal("5000"), Decimal("2")),
)
HK_TOP_TICK = Decimal("5")

CENT = Decimal("0.01")
A_SHARE_FUND_TICK = Decimal("0.001")
US_SUB_DOLLAR_TICK = Decimal("0.0001")
FX_TICK = Decimal("0.00001")
STAR_MIN_ORDER_QTY = 200


@dataclass(frozen=True, slots=True)
class TickBand:
    """Prices up to ``bound`` (inclusive, or below it when not ``inclusive``) trade in ``tick``.

    ``bound`` None is the open top band.
    """

    bound: Decimal | None
    tick: Decimal
    inclusive: bool = True

    def __post_init__(self) -> None:
        if not self.tick.is_finite() or self.tick <= 0:
            raise ValueError(f"tick must be > 0, got {self.tick}")
        if self.bound is not None and (not self.bound.is_finite() or self.bound <= 0):
            raise ValueError(f"band bound must be > 0, got {self.bound}")

    def holds(self, price: Decimal) -> bool:
        """Tell whether ``price`` falls in this band (given it is above the previous one)."""
        if self.bound is None:
            return True
        return price <= self.bound if self.inclusive else price < self.bound


# (bound, inclusive, tick) of a TickBand with its bound as a float.
FloatBand = tuple[float | None, bool, Decimal]


def _float_bands(bands: tuple[TickBand, ...]) -> tuple[FloatBand, ...] | None:
    """Return ``bands`` with float bounds, or None when a bound is not exactly a float.

    A bound that a float holds exactly compares with a float price as the decimal shortest
    repr of that price would (rounding to the nearest float keeps the order), so the
    band lookup needs no ``Decimal`` conversion of the price.
    """
    converted = []
    for band in bands:
        bound = None if band.bound is None else float(band.bound)
        if bound is not None and Decimal(bound) != band.bound:
            return None
        converted.append((bound, band.inclusive, band.tick))
    return tuple(converted)


@dataclass(frozen=True, slots=True)
class TickTable:
    """Price bands in increasing order, the last one open: the tick of any price."""

    bands: tuple[TickBand, ...]
    # The bands with float bounds, for float prices (None: a bound no float holds exactly).
    float_bands: tuple[FloatBand, ...] | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        if not self.bands:
            raise ValueError("a tick table needs at least one band")
        if self.bands[-1].bound is not None:
            raise ValueError("the last band of a tick table must be open (no bound)")
        bounds = [band.bound for band in self.bands[:-1]]
        if any(bound is None for bound in bounds):
            raise ValueError("only the last band of a tick table may be open")
        if any(a is not None and b is not None and a >= b for a, b in pairwise(bounds)):
            raise ValueError("tick table bounds must increase")
        object.__setattr__(self, "float_bands", _float_bands(self.bands))

    @classmethod
    def fixed(cls, tick: Decimal) -> TickTable:
        """Return a table with one tick for every price."""
        return cls((TickBand(None, tick),))

    def tick_for(self, price: float | Decimal) -> Decimal:
        """Return the tick of ``price``."""
        if len(self.bands) == 1:
            return self.bands[0].tick
        if type(price) is float and self.float_bands is not None:
            for bound, inclusive, tick in self.float_bands:
                if bound is None or (price <= bound if inclusive else price < bound):
                    return tick
        value = price if isinstance(price, Decimal) else Decimal(repr(float(price)))
        for band in self.bands:
            if band.holds(value):
                return band.tick
        return self.bands[-1].tick


class TickRule(StrEnum):
    """The built-in tick tables an instrument master entry can name."""

    A_SHARE = "A_SHARE"
    A_SHARE_FUND = "A_SHARE_FUND"
    HKEX = "HKEX"
    US = "US"
    FX = "FX"


TICK_TABLES: Mapping[TickRule, TickTable] = MappingProxyType(
    {
        TickRule.A_SHARE: TickTable.fixed(CENT),
        TickRule.A_SHARE_FUND: TickTable.fixed(A_SHARE_FUND_TICK),
        TickRule.HKEX: TickTable(
            (
                *(TickBand(upper, tick) for upper, tick in HK_SPREAD_TABLE),
                TickBand(None, HK_TOP_TICK),
            )
        ),
        # SEC Rule 612: sub-penny ticks only below $1.00.
        TickRule.US: TickTable(
            (TickBand(Decimal(1), US_SUB_DOLLAR_TICK, inclusive=False), TickBand(None, CENT))
        ),
        TickRule.FX: TickTable.fixed(FX_TICK),
    }
)


def split_symbol(symbol: str) -> tuple[str, str]:
    """Split ``CODE.SUFFIX`` into (code, upper-case suffix); the suffix is empty when absent."""
    code, dot, suffix = symbol.rpartition(".")
    if not dot:
        return symbol, ""
    return code, suffix.upper()


def symbol_code(symbol: str) -> str:
    """Return the symbol without its venue suffix (``600000.SH`` → ``600000``)."""
    code, suffix = split_symbol(symbol)
    return code if suffix in _SUFFIX_MARKETS else symbol


def market_of(symbol: str, mapping: Mapping[str, str] | None = None) -> Market:
    """Return the market of ``symbol``: the explicit mapping first, then the suffix, else US."""
    if mapping is not None and symbol in mapping:
        return Market(mapping[symbol])
    return _market_by_suffix(symbol)


@lru_cache(maxsize=65536)
def _market_by_suffix(symbol: str) -> Market:
    _, suffix = split_symbol(symbol)
    return _SUFFIX_MARKETS.get(suffix, Market.US)


def hk_code(symbol: str) -> str:
    """Return a Hong Kong code without suffix and leading zeros (``0700.HK`` → ``700``)."""
    code = symbol_code(symbol)
    stripped = code.lstrip("0")
    return stripped or code


def board_lot(
    symbol: str,
    market: Market,
    hk_board_lots: Mapping[str, int] = DEFAULT_HK_BOARD_LOTS,
) -> int:
    """Return the trading lot of ``symbol``: 100 for A-shares, the board lot for XHKG, else 1.

    ``hk_board_lots`` keys may be written either way (``0700.HK``, ``0700`` or ``700``).
    """
    if market in A_SHARE_MARKETS:
        return A_SHARE_LOT
    if market is Market.XHKG:
        wanted = hk_code(symbol)
        for key, lot in hk_board_lots.items():
            if hk_code(key) == wanted:
                return lot
        return DEFAULT_HK_BOARD_LOT
    return 1


def is_multiple(value: float, step: Decimal | int) -> bool:
    """Tell whether ``value`` is an exact multiple of ``step``, compared in decimal."""
    step_decimal = Decimal(step)
    if step_decimal <= 0:
        raise ValueError(f"step must be positive, got {step}")
    return Decimal(repr(float(value))) % step_decimal == 0


def lot_ok(market: Market, side: str, qty: float, position_qty: float, lot: int) -> bool:
    """Tell whether ``qty`` respects the lot rule of ``market`` (see the module docstring)."""
    if is_multiple(qty, lot):
        return True
    return market in A_SHARE_MARKETS and side == "SELL" and 0 < qty <= position_qty


def is_a_share_fund(symbol: str, market: Market) -> bool:
    """Tell whether an A-share code is a fund or bond (ticks of 0.001)."""
    code = symbol_code(symbol)
    if market is Market.XSHG:
        return code.startswith("5")
    return market is Market.XSHE and code.startswith("1")


def tick_rule(market: Market, symbol: str = "") -> TickRule:
    """Return the built-in tick table of ``symbol`` on ``market``."""
    if market in A_SHARE_MARKETS:
        return TickRule.A_SHARE_FUND if is_a_share_fund(symbol, market) else TickRule.A_SHARE
    if market is Market.XHKG:
        return TickRule.HKEX
    if market is Market.FX:
        return TickRule.FX
    return TickRule.US


def tick_size(market: Market, price: float, symbol: str = "") -> Decimal:
    """Return the minimum price increment for ``price`` on ``market``."""
    return TICK_TABLES[tick_rule(market, symbol)].tick_for(price)


def hk_tick_size(price: float) -> Decimal:
    """Return the HKEX spread-table tick for ``price``."""
    price_decimal = Decimal(repr(float(price)))
    for upper, tick in HK_SPREAD_TABLE:
        if price_decimal <= upper:
            return tick
    return HK_TOP_TICK


def on_tick(price: float, tick: Decimal) -> bool:
    """Tell whether ``price`` is an exact multiple of ``tick``.

    The answer of ``is_multiple`` (the shortest decimal repr of the price, divided in
    ``Decimal``) without its cost, a microsecond an order: with ``tick`` = digits × 10^-places
    and a price well inside float precision, at most one decimal of ``places`` places
    rounds to the price, so the price is on the grid exactly when that decimal (``n``
    below) gives the price back and ``digits`` divides it.
    """
    step = _decimal_step(tick)
    if step is None or type(price) is not float or not -step.bound < price < step.bound:
        return is_multiple(price, tick)
    n = round(price * step.scale)
    return n / step.scale == price and n % step.digits == 0


@dataclass(frozen=True, slots=True)
class DecimalStep:
    """A tick ``digits`` × 10^-places, with ``scale`` = 10^places and the price ``bound``
    below which one float spacing is far finer than the tick."""

    digits: int
    scale: float
    bound: float


@lru_cache(maxsize=256)
def _decimal_step(step: Decimal) -> DecimalStep | None:
    """Return ``step`` as a ``DecimalStep``; None for a step that is not a positive decimal
    fraction of at most 15 places (``is_multiple`` handles those)."""
    sign, digit_tuple, exponent = step.as_tuple()
    if sign or not isinstance(exponent, int) or not -15 <= exponent <= 0 or not any(digit_tuple):
        return None
    scale = 10.0**-exponent
    # Below 2^40 / scale the float spacing is under 2^-12 of a tick, and n stays exact.
    return DecimalStep(int("".join(map(str, digit_tuple))), scale, 2.0**40 / scale)


def is_growth_board(symbol: str) -> bool:
    """Tell whether an A-share code is on the STAR (688/689) or ChiNext (300/301) board."""
    return symbol_code(symbol).startswith(("688", "689", "300", "301"))


def board_of(symbol: str, market: Market) -> Board | None:
    """Return the A-share board of ``symbol`` by its code (None off XSHG/XSHE)."""
    if market not in A_SHARE_MARKETS:
        return None
    code = symbol_code(symbol)
    if market is Market.XSHG and code.startswith(("688", "689")):
        return Board.STAR
    if market is Market.XSHE and code.startswith(("300", "301")):
        return Board.CHINEXT
    return Board.MAIN


def board_daily_limit_pct(
    board: Board, is_st: bool, main_pct: float, growth_pct: float, st_pct: float
) -> float:
    """Return the daily price-limit fraction of a board: growth boards ignore the ST flag."""
    if board is not Board.MAIN:
        return growth_pct
    return st_pct if is_st else main_pct


def daily_limit_pct(
    symbol: str,
    is_st: bool,
    main_pct: float,
    growth_pct: float,
    st_pct: float,
) -> float:
    """Return the daily price-limit fraction for an A-share symbol.

    Growth boards use ``growth_pct`` whether or not the share is ST; main-board ST shares use
    ``st_pct``; everything else ``main_pct``.
    """
    if is_growth_board(symbol):
        return growth_pct
    if is_st:
        return st_pct
    return main_pct


def daily_limit_band(previous_close: float, pct: float, tick: Decimal) -> tuple[Decimal, Decimal]:
    """Return the (lower, upper) limit prices: close × (1 ∓ pct), rounded half-up to the tick."""
    close = Decimal(repr(float(previous_close)))
    fraction = Decimal(repr(float(pct)))
    lower = (close * (1 - fraction)).quantize(tick, rounding=ROUND_HALF_UP)
    upper = (close * (1 + fraction)).quantize(tick, rounding=ROUND_HALF_UP)
    return lower, upper

"""The instrument master: what RedFire knows about each symbol, and the fallback for the rest.

An ``Instrument`` says where a symbol trades (``market``), in which ``currency`` it is priced, how
orders must be sized (``lot_size``, ``min_order_qty``) and priced (``ticks``), the A-share facts
behind the daily price limit (``board``, ``is_st``, ``previous_close``, ``daily_limit_pct``,
``no_daily_limit``), whether shares bought today may be sold today (``t_plus_one``), its
``sector`` (the group stress scenarios shock), whether it may be traded at all (``tradable``),
and for a currency pair the currency it prices (``fx_base``: USD in ``USDCNY``).

Every value is checked on construction (``instrument_from_fields``); an invalid one raises
``InstrumentError`` naming the symbol and the field. The same builder serves the YAML file
(``parse_instruments_yaml``), the ``instruments`` topic (the codec) and the CLI, so a record is
accepted or refused with the same words everywhere.

``InstrumentBook`` maps symbols to instruments. A symbol the master does not list *falls back*
to the suffix rules of ``markets`` (``fallback_instrument``) and the resolution says so
(``Resolution.source``), so that a decision can tell the operator which rules it used.

Defaults when an entry leaves a field out: lot 100 on XSHG/XSHE (STAR: lot 1 with a 200-share
minimum), 1 on US and FX; an XHKG entry must give its board lot (wrong board lots are why the
master exists). Ticks follow the market (``markets.tick_rule``). ``t_plus_one`` is true on
XSHG/XSHE and false elsewhere. ``previous_close`` None means "from bars".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import yaml

from redfire.risk.fx import CURRENCY_PATTERN, split_pair
from redfire.risk.markets import (
    A_SHARE_LOT,
    A_SHARE_MARKETS,
    DEFAULT_HK_BOARD_LOTS,
    STAR_MIN_ORDER_QTY,
    TICK_TABLES,
    Board,
    Market,
    TickBand,
    TickRule,
    TickTable,
    board_lot,
    board_of,
    market_of,
    tick_rule,
)

MARKET_CURRENCIES: Mapping[Market, str] = {
    Market.XSHG: "CNY",
    Market.XSHE: "CNY",
    Market.XHKG: "HKD",
    Market.US: "USD",
}
FROM_BARS = frozenset({"from_bars", "bars"})
MAX_SYMBOL_LENGTH = 64


class InstrumentError(ValueError):
    """An instrument entry that cannot be used: ``symbol``, ``field`` and what is wrong."""

    def __init__(self, symbol: str, field: str, problem: str) -> None:
        super().__init__(f"symbol {symbol}: field {field}: {problem}")
        self.symbol = symbol
        self.field = field
        self.problem = problem


class InstrumentSource(StrEnum):
    """Where a resolved instrument came from."""

    MASTER = "master"
    SUFFIX_RULES = "suffix_rules"


@dataclass(frozen=True, slots=True)
class Instrument:
    """Reference data of one symbol; build it with ``instrument_from_fields`` (it validates)."""

    symbol: str
    market: Market
    currency: str
    lot_size: int
    ticks: TickTable
    tick_rule: TickRule | None = None
    min_order_qty: float | None = None
    board: Board | None = None
    is_st: bool = False
    previous_close: float | None = None
    daily_limit_pct: float | None = None
    no_daily_limit: bool = False
    t_plus_one: bool = False
    sector: str | None = None
    tradable: bool = True
    fx_base: str | None = None
    name: str | None = None

    @property
    def is_fx_pair(self) -> bool:
        """Tell whether this is a currency pair (its price is the rate fx_base → currency)."""
        return self.fx_base is not None

    def tick_for(self, price: float) -> Decimal:
        """Return the tick of ``price``."""
        return self.ticks.tick_for(price)


@dataclass(frozen=True, slots=True)
class Resolution:
    """An instrument and where it came from: the master, or the suffix rules as a fallback."""

    instrument: Instrument
    source: InstrumentSource

    @property
    def known(self) -> bool:
        """Tell whether the master lists the symbol."""
        return self.source is InstrumentSource.MASTER

    def note(self) -> str | None:
        """Return what a decision should say about a fallback (None for a master entry)."""
        if self.known:
            return None
        inst = self.instrument
        return (
            f"{inst.symbol} is not in the instrument master: suffix rules used "
            f"({inst.market}, {inst.currency}, lot {inst.lot_size})"
        )


# --- building and validating --------------------------------------------------------------


def instrument_from_fields(symbol: object, fields: Mapping[str, Any]) -> Instrument:
    """Return the instrument ``fields`` describe; raise InstrumentError naming the bad field.

    ``fields`` uses the names of ``Instrument`` and of the wire record: ``tick_rule`` (a
    ``TickRule`` name) or ``tick_table`` (bands ``{bound, tick, inclusive}``; the YAML sugar
    ``up_to``/``below`` and a bare ``tick`` are accepted too); ``None`` values mean "not given".
    """
    name = _symbol(symbol)
    unknown = set(fields) - _KNOWN_FIELDS
    if unknown:
        raise InstrumentError(
            name,
            sorted(unknown)[0],
            f"unknown field; valid fields: {', '.join(sorted(_KNOWN_FIELDS))}",
        )
    reader = _Fields(name, fields)
    market = reader.enum("market", Market, required=True)
    assert market is not None
    fx_base = reader.currency("fx_base")
    currency = reader.currency("currency", required=True)
    assert currency is not None
    _check_pair(name, market, fx_base, currency)
    board = _board(reader, name, market)
    is_st = reader.flag("is_st", False)
    daily_limit_pct = reader.fraction("daily_limit_pct")
    no_daily_limit = reader.flag("no_daily_limit", False)
    _check_a_share_only(name, market, is_st, daily_limit_pct, no_daily_limit)
    lot_size, min_order_qty = _lots(reader, name, market, board)
    rule, ticks = _ticks(reader, name, market)
    return Instrument(
        symbol=name,
        market=market,
        currency=currency,
        lot_size=lot_size,
        ticks=ticks,
        tick_rule=rule,
        min_order_qty=min_order_qty,
        board=board,
        is_st=is_st,
        previous_close=reader.previous_close(),
        daily_limit_pct=daily_limit_pct,
        no_daily_limit=no_daily_limit,
        t_plus_one=reader.flag("t_plus_one", market in A_SHARE_MARKETS),
        sector=reader.text("sector"),
        tradable=reader.flag("tradable", True),
        fx_base=fx_base,
        name=reader.text("name"),
    )


_KNOWN_FIELDS = frozenset(
    {
        "symbol",
        "market",
        "currency",
        "lot_size",
        "min_order_qty",
        "tick_rule",
        "tick_table",
        "tick",
        "board",
        "is_st",
        "previous_close",
        "daily_limit_pct",
        "no_daily_limit",
        "t_plus_one",
        "sector",
        "tradable",
        "fx_base",
        "name",
        "ts",
    }
)


def _symbol(symbol: object) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise InstrumentError(
            repr(symbol), "symbol", "must be a non-empty string (quote codes such as '0700')"
        )
    if symbol != symbol.strip() or len(symbol) > MAX_SYMBOL_LENGTH:
        raise InstrumentError(
            symbol, "symbol", f"no surrounding spaces, at most {MAX_SYMBOL_LENGTH} characters"
        )
    return symbol


class _Fields:
    """Read and check one entry's fields, raising InstrumentError with the field's name."""

    def __init__(self, symbol: str, fields: Mapping[str, Any]) -> None:
        self.symbol = symbol
        self.fields = fields

    def fail(self, field: str, problem: str) -> InstrumentError:
        return InstrumentError(self.symbol, field, problem)

    def get(self, field: str) -> Any:
        return self.fields.get(field)

    def enum(self, field: str, kind: type[StrEnum], required: bool = False) -> Any:
        value = self.get(field)
        if value is None:
            if required:
                raise self.fail(field, f"missing; one of {', '.join(kind)}")
            return None
        text = value.strip().upper() if isinstance(value, str) else None
        if text not in set(kind):
            raise self.fail(field, f"{value!r} is not one of {', '.join(kind)}")
        return kind(text)

    def currency(self, field: str, required: bool = False) -> str | None:
        value = self.get(field)
        if value is None:
            if required:
                raise self.fail(field, "missing; an ISO 4217 code such as CNY, HKD or USD")
            return None
        if not isinstance(value, str) or not CURRENCY_PATTERN.fullmatch(value):
            raise self.fail(field, f"{value!r} is not a 3-letter upper-case currency code")
        return value

    def flag(self, field: str, default: bool) -> bool:
        value = self.get(field)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, got {value!r}")
        return value

    def number(self, field: str) -> float | None:
        value = self.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(field, f"expected a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(field, f"expected a finite number, got {value!r}")
        return number

    def positive(self, field: str) -> float | None:
        number = self.number(field)
        if number is not None and number <= 0:
            raise self.fail(field, f"must be > 0, got {number:g}")
        return number

    def whole(self, field: str) -> int | None:
        number = self.number(field)
        if number is None:
            return None
        if number < 1 or number != int(number):
            raise self.fail(field, f"must be a whole number >= 1, got {self.get(field)!r}")
        return int(number)

    def fraction(self, field: str) -> float | None:
        number = self.number(field)
        if number is not None and not 0 < number <= 1:
            raise self.fail(field, f"must be a fraction in (0, 1], got {number:g} (5% is 0.05)")
        return number

    def text(self, field: str) -> str | None:
        value = self.get(field)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"expected a non-empty string, got {value!r}")
        return value

    def previous_close(self) -> float | None:
        value = self.get("previous_close")
        if isinstance(value, str) and value.strip().lower() in FROM_BARS:
            return None
        return self.positive("previous_close")

    def decimal(self, field: str, value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise self.fail(field, f"expected a number, got {value!r}")
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            raise self.fail(field, f"expected a number, got {value!r}") from None
        if not number.is_finite() or number <= 0:
            raise self.fail(field, f"must be a finite number > 0, got {value!r}")
        return number


def _check_pair(symbol: str, market: Market, fx_base: str | None, currency: str) -> None:
    if market is Market.FX and fx_base is None:
        raise InstrumentError(symbol, "fx_base", "an FX pair needs fx_base (USD in USDCNY)")
    if market is not Market.FX and fx_base is not None:
        raise InstrumentError(symbol, "fx_base", "only market FX instruments have fx_base")
    if fx_base is not None and fx_base == currency:
        raise InstrumentError(symbol, "fx_base", f"must differ from currency {currency}")


def _board(reader: _Fields, symbol: str, market: Market) -> Board | None:
    board = reader.enum("board", Board)
    if board is None:
        return board_of(symbol, market)
    if market not in A_SHARE_MARKETS:
        raise reader.fail("board", "boards apply to XSHG/XSHE only")
    return board  # type: ignore[no-any-return]


def _check_a_share_only(
    symbol: str, market: Market, is_st: bool, pct: float | None, no_limit: bool
) -> None:
    if market in A_SHARE_MARKETS:
        return
    for field, given in (("is_st", is_st), ("daily_limit_pct", pct is not None)):
        if given:
            problem = f"daily limits apply to XSHG/XSHE only, not {market}"
            raise InstrumentError(symbol, field, problem)
    if no_limit:
        raise InstrumentError(symbol, "no_daily_limit", "daily limits apply to XSHG/XSHE only")


def _lots(
    reader: _Fields, symbol: str, market: Market, board: Board | None
) -> tuple[int, float | None]:
    lot = reader.whole("lot_size")
    minimum = reader.positive("min_order_qty")
    if lot is None:
        if market is Market.XHKG:
            raise reader.fail("lot_size", "missing; an XHKG entry must give its board lot")
        if board is Board.STAR:
            lot, minimum = 1, minimum if minimum is not None else float(STAR_MIN_ORDER_QTY)
        else:
            lot = A_SHARE_LOT if market in A_SHARE_MARKETS else 1
    return lot, minimum


def _ticks(reader: _Fields, symbol: str, market: Market) -> tuple[TickRule | None, TickTable]:
    choices = ("tick_rule", "tick_table", "tick")
    given = [field for field in choices if reader.get(field) is not None]
    if len(given) > 1:
        raise reader.fail(given[1], f"give one of tick_rule, tick_table or tick, not {given}")
    if reader.get("tick") is not None:
        return None, TickTable.fixed(reader.decimal("tick", reader.get("tick")))
    if reader.get("tick_table") is not None:
        return None, _tick_table(reader, reader.get("tick_table"))
    rule = reader.enum("tick_rule", TickRule) or tick_rule(market, symbol)
    return rule, TICK_TABLES[rule]


def _tick_table(reader: _Fields, bands: Any) -> TickTable:
    if not isinstance(bands, list | tuple) or not bands:
        raise reader.fail("tick_table", "expected a list of bands {up_to|below, tick}")
    parsed = [_tick_band(reader, band) for band in bands]
    try:
        return TickTable(tuple(parsed))
    except ValueError as exc:
        raise reader.fail("tick_table", str(exc)) from None


def _tick_band(reader: _Fields, band: Any) -> TickBand:
    if not isinstance(band, Mapping) or band.get("tick") is None:
        raise reader.fail("tick_table", f"each band needs a tick, got {band!r}")
    unknown = set(band) - {"bound", "inclusive", "up_to", "below", "tick"}
    if unknown:
        raise reader.fail("tick_table", f"unknown band keys {sorted(unknown)}")
    inclusive = band.get("inclusive", True)
    bound = band.get("bound")
    if band.get("up_to") is not None:
        bound = band["up_to"]
    if band.get("below") is not None:
        bound, inclusive = band["below"], False
    if not isinstance(inclusive, bool):
        raise reader.fail("tick_table", f"inclusive must be true or false, got {inclusive!r}")
    upper = None if bound is None else reader.decimal("tick_table", bound)
    return TickBand(upper, reader.decimal("tick_table", band["tick"]), inclusive)


# --- the wire and the file ----------------------------------------------------------------


def instrument_fields(instrument: Instrument) -> dict[str, Any]:
    """Return the instrument as the wire record's fields (the inverse of the builder)."""
    table: list[dict[str, Any]] | None = None
    if instrument.tick_rule is None:
        table = [
            {
                "bound": None if band.bound is None else float(band.bound),
                "tick": float(band.tick),
                "inclusive": band.inclusive,
            }
            for band in instrument.ticks.bands
        ]
    return {
        "symbol": instrument.symbol,
        "market": str(instrument.market),
        "currency": instrument.currency,
        "lot_size": instrument.lot_size,
        "min_order_qty": instrument.min_order_qty,
        "tick_rule": None if instrument.tick_rule is None else str(instrument.tick_rule),
        "tick_table": table,
        "board": None if instrument.board is None else str(instrument.board),
        "is_st": instrument.is_st,
        "previous_close": instrument.previous_close,
        "daily_limit_pct": instrument.daily_limit_pct,
        "no_daily_limit": instrument.no_daily_limit,
        "t_plus_one": instrument.t_plus_one,
        "sector": instrument.sector,
        "tradable": instrument.tradable,
        "fx_base": instrument.fx_base,
        "name": instrument.name,
    }


class InstrumentFileError(ValueError):
    """An instruments file that cannot be used; the message names the file, symbol and field."""


def parse_instruments_yaml(text: str, source: str = "<instruments>") -> dict[str, Instrument]:
    """Return the instruments of a YAML document ``{instruments: {SYMBOL: {field: value}}}``.

    Raise InstrumentFileError naming ``source``, the symbol and the field on the first bad
    entry, and on a symbol listed twice (YAML itself would keep the last one silently).
    """
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise InstrumentFileError(f"{source}: not readable as YAML: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping) or set(document) - {"instruments"}:
        raise InstrumentFileError(f"{source}: expected one top-level key, 'instruments'")
    entries = document.get("instruments") or {}
    if not isinstance(entries, Mapping):
        raise InstrumentFileError(f"{source}: 'instruments' must map symbols to their fields")
    instruments: dict[str, Instrument] = {}
    for symbol, fields in entries.items():
        if not isinstance(symbol, str):
            raise InstrumentFileError(
                f"{source}: symbol {symbol!r}: field symbol: not text; quote symbols made of "
                f"digits (YAML reads an unquoted 0700 as the octal number 448)"
            )
        if not isinstance(fields, Mapping):
            raise InstrumentFileError(f"{source}: symbol {symbol}: expected a mapping of fields")
        if fields.get("symbol", symbol) != symbol:
            raise InstrumentFileError(
                f"{source}: symbol {symbol}: field symbol: says {fields['symbol']!r}"
            )
        try:
            instruments[str(symbol)] = instrument_from_fields(symbol, fields)
        except InstrumentError as exc:
            raise InstrumentFileError(f"{source}: {exc}") from None
    return instruments


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping key given twice."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# --- the fallback and the book ------------------------------------------------------------


def fallback_instrument(
    symbol: str, hk_board_lots: Mapping[str, int] = DEFAULT_HK_BOARD_LOTS
) -> Instrument:
    """Return the instrument the suffix rules give ``symbol`` (``markets``), never failing.

    A bare pair of ISO currencies (``USDCNY``) is an FX pair; anything else follows
    ``markets.market_of``. Previous close comes from bars; nothing is flagged ST.
    """
    pair = split_pair(symbol)
    if pair is not None:
        base, quote = pair
        rule = TickRule.FX
        return Instrument(
            symbol, Market.FX, quote, 1, TICK_TABLES[rule], rule, tradable=True, fx_base=base
        )
    market = market_of(symbol)
    board = board_of(symbol, market)
    rule = tick_rule(market, symbol)
    lot, minimum = board_lot(symbol, market, hk_board_lots), None
    if board is Board.STAR:
        lot, minimum = 1, float(STAR_MIN_ORDER_QTY)
    return Instrument(
        symbol=symbol,
        market=market,
        currency=MARKET_CURRENCIES[market],
        lot_size=lot,
        ticks=TICK_TABLES[rule],
        tick_rule=rule,
        min_order_qty=minimum,
        board=board,
        t_plus_one=market in A_SHARE_MARKETS,
    )


class InstrumentBook:
    """Symbol → instrument from the master, with the suffix-rule fallback for the rest.

    Mutable (``put``/``remove`` follow the compacted ``instruments`` topic); resolutions are
    cached per symbol, so resolving on every order costs one dict lookup.
    """

    def __init__(
        self,
        instruments: Iterable[Instrument] = (),
        hk_board_lots: Mapping[str, int] = DEFAULT_HK_BOARD_LOTS,
    ) -> None:
        self._instruments: dict[str, Instrument] = {}
        self._resolved: dict[str, Resolution] = {}
        self._hk_board_lots = hk_board_lots
        for instrument in instruments:
            self.put(instrument)

    def __len__(self) -> int:
        return len(self._instruments)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._instruments

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._instruments.values())

    def get(self, symbol: str) -> Instrument | None:
        """Return the master's instrument for ``symbol``, or None when it is not listed."""
        return self._instruments.get(symbol)

    def put(self, instrument: Instrument) -> None:
        """Add or replace one instrument (a record on the ``instruments`` topic)."""
        self._instruments[instrument.symbol] = instrument
        self._resolved[instrument.symbol] = Resolution(instrument, InstrumentSource.MASTER)

    def remove(self, symbol: str) -> bool:
        """Drop a symbol (a tombstone on the topic); tell whether it was listed."""
        self._resolved.pop(symbol, None)
        return self._instruments.pop(symbol, None) is not None

    def resolve(self, symbol: str) -> Resolution:
        """Return the symbol's instrument and its source; unknown symbols fall back."""
        resolved = self._resolved.get(symbol)
        if resolved is None:
            fallback = fallback_instrument(symbol, self._hk_board_lots)
            resolved = Resolution(fallback, InstrumentSource.SUFFIX_RULES)
            self._resolved[symbol] = resolved
        return resolved

    def currency_of(self, symbol: str) -> str:
        """Return the currency ``symbol`` is priced in (master, else the suffix rules)."""
        return self.resolve(symbol).instrument.currency

    def fx_pair(self, symbol: str) -> tuple[str, str] | None:
        """Return (base, quote) when ``symbol`` is a currency pair: its ticks are FX rates."""
        instrument = self.resolve(symbol).instrument
        if instrument.fx_base is None:
            return None
        return instrument.fx_base, instrument.currency

    def reference_rates(self) -> list[tuple[str, str, str, float]]:
        """Return (symbol, base, quote, rate) for every FX pair the master gives a close for."""
        return [
            (inst.symbol, inst.fx_base, inst.currency, inst.previous_close)
            for inst in self._instruments.values()
            if inst.fx_base is not None and inst.previous_close is not None
        ]

    def sectors(self) -> dict[str, str]:
        """Return symbol → sector, the ``symbol_groups`` a stress scenario shocks by group."""
        return {s: i.sector for s, i in self._instruments.items() if i.sector is not None}


def previous_close(instrument: Instrument, bars_close: float | None) -> float | None:
    """Return the close the daily limit is measured from: the master's, else the bars'."""
    return instrument.previous_close if instrument.previous_close is not None else bars_close

"""Market rules through the engine in-process: T+1, daily limits and board lots from the
master, self-trade prevention, FX rates and the fallback note, table-driven."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from redfire.web.views import instrument_body
from tests.support.engine import Engine, build_engine

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2024, 6, 4, tzinfo=SHANGHAI)  # a Tuesday
# Price limits, staleness and VaR/equity are beside the point here: off, so reasons are exact.
QUIET_LIMITS = {"price_collar_pct": None, "max_price_age_ms": None, "max_var_pct": None}


def at(day: int, clock: str) -> int:
    """Return epoch ms of Shanghai local ``clock`` (HH:MM) on DAY + ``day``."""
    hours, minutes = (int(part) for part in clock.split(":"))
    when = DAY + timedelta(days=day, hours=hours, minutes=minutes)
    return int(when.timestamp() * 1000)


class Desk:
    """One in-process engine and the account it trades, with a counter for ids."""

    def __init__(self, engine: Engine, account: str, cash: float = 1e9) -> None:
        self.engine = engine
        self.account = account
        self.ids = 0
        self.command("SET_LIMITS", "*", QUIET_LIMITS, at(-10, "09:00"))
        self.command("SET_CASH", account, {"cash": cash}, at(-10, "09:00"))

    def next_id(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}{self.ids}"

    def command(self, command: str, account: str, payload: dict[str, Any], ts: int) -> None:
        self.engine.commands(
            {
                "command_id": self.next_id("c"),
                "command": command,
                "account": account,
                "payload": payload,
                "ts": ts,
            }
        )

    def tick(self, symbol: str, price: float, ts: int) -> None:
        self.engine.ticks({"symbol": symbol, "price": price, "ts": ts})

    def fill(self, symbol: str, side: str, qty: float, price: float, ts: int) -> None:
        fill_id = self.next_id("f")
        self.engine.fills(
            {
                "fill_id": fill_id,
                "order_id": f"gw-{fill_id}",
                "account": self.account,
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "price": price,
                "ts": ts,
            }
        )

    def order(
        self,
        symbol: str,
        side: str,
        qty: float,
        price: float | None,
        ts: int,
        account: str | None = None,
        order_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Send one NEW order (a LIMIT, or a MARKET without price); return its decision."""
        body = {
            "order_id": order_id or self.next_id("o"),
            "account": account or self.account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": price,
            "order_type": "LIMIT" if price is not None else "MARKET",
            "ts": ts,
            **fields,
        }
        self.engine.orders(body)
        decision: dict[str, Any] = self.engine.decisions()[-1]
        assert decision["order_id"] == body["order_id"]
        return decision


def failed_checks(decision: dict[str, Any]) -> set[str]:
    return {reason["check"] for reason in decision["reasons"]}


def reason(decision: dict[str, Any], check: str) -> dict[str, Any]:
    (found,) = (r for r in decision["reasons"] if r["check"] == check)
    return found


# --- T+1 ---------------------------------------------------------------------------------

A_SHARE = "600000.SH"
PRICE = 10.0


@dataclass(frozen=True)
class Step:
    """A gateway fill (``fill``) or an order left open (not ``fill``) before the SELL."""

    side: str
    qty: float
    day: int
    clock: str
    fill: bool = True


@dataclass(frozen=True)
class TPlusOne:
    name: str
    before: tuple[Step, ...]
    sell_qty: float
    day: int
    clock: str
    sellable: float | None  # None: approved
    sessions: dict[str, str] | None = None

    def __str__(self) -> str:
        return self.name


T_PLUS_ONE = [
    TPlusOne("bought today, sold today", (Step("BUY", 300, 0, "10:00"),), 300, 0, "14:00", 0),
    TPlusOne("bought today, sold next day", (Step("BUY", 300, 0, "10:00"),), 300, 1, "10:00", None),
    TPlusOne("sold before the day ends", (Step("BUY", 300, 0, "10:00"),), 300, 0, "15:59", 0),
    TPlusOne("sold after the day ends", (Step("BUY", 300, 0, "10:00"),), 300, 0, "16:01", None),
    TPlusOne(
        "the day end is a setting",
        (Step("BUY", 300, 0, "10:00"),),
        300,
        0,
        "16:01",
        0,
        sessions={"XSHG": "Asia/Shanghai 23:00"},
    ),
    TPlusOne(
        "yesterday's shares, today's buy held back",
        (Step("BUY", 300, -1, "10:00"), Step("BUY", 200, 0, "10:00")),
        300,
        0,
        "14:00",
        None,
    ),
    TPlusOne(
        "one share more than yesterday's",
        (Step("BUY", 300, -1, "10:00"), Step("BUY", 200, 0, "10:00")),
        301,
        0,
        "14:00",
        300,
    ),
    TPlusOne(
        "today's sells count",
        (Step("BUY", 300, -1, "10:00"), Step("BUY", 200, 0, "9:40"), Step("SELL", 100, 0, "10:00")),
        300,
        0,
        "14:00",
        200,
    ),
    TPlusOne(
        "the rest after today's sells",
        (Step("BUY", 300, -1, "10:00"), Step("BUY", 200, 0, "9:40"), Step("SELL", 100, 0, "10:00")),
        200,
        0,
        "14:00",
        None,
    ),
    TPlusOne(
        "open sell orders count",
        (Step("BUY", 300, -1, "10:00"), Step("SELL", 200, 0, "10:00", fill=False)),
        200,
        0,
        "14:00",
        100,
    ),
    TPlusOne(
        "an odd lot of yesterday's shares",
        (Step("BUY", 300, -1, "10:00"),),
        50,
        0,
        "14:00",
        None,
    ),
    TPlusOne(
        "over a weekend",
        (Step("BUY", 300, 3, "10:00"),),  # Friday
        300,
        6,  # Monday
        "09:31",
        None,
    ),
]


@pytest.mark.parametrize("case", T_PLUS_ONE, ids=str)
def test_t_plus_one(case: TPlusOne) -> None:
    sessions = {"market_sessions": case.sessions} if case.sessions else {}
    desk = Desk(build_engine(account_base_currencies={"CN1": "CNY"}, **sessions), "CN1")
    for step in case.before:
        ts = at(step.day, step.clock)
        desk.tick(A_SHARE, PRICE, ts)
        if step.fill:
            desk.fill(A_SHARE, step.side, step.qty, PRICE, ts)
        else:
            opened = desk.order(A_SHARE, step.side, step.qty, PRICE, ts)
            assert opened["decision"] == "APPROVED", opened["reasons"]
    ts = at(case.day, case.clock)
    desk.tick(A_SHARE, PRICE, ts)

    decision = desk.order(A_SHARE, "SELL", case.sell_qty, PRICE, ts)

    if case.sellable is None:
        assert decision["decision"] == "APPROVED", decision["reasons"]
        return
    assert failed_checks(decision) == {"t_plus_one"}
    rejected = reason(decision, "t_plus_one")
    assert (rejected["value"], rejected["limit"]) == (case.sell_qty, case.sellable)
    assert "shares bought today sell from the next trading day" in rejected["message"]


def test_t_plus_one_state_survives_a_restart() -> None:
    engine = build_engine(account_base_currencies={"CN1": "CNY"})
    desk = Desk(engine, "CN1")
    desk.tick(A_SHARE, PRICE, at(0, "10:00"))
    desk.fill(A_SHARE, "BUY", 300, PRICE, at(-1, "10:00"))
    desk.fill(A_SHARE, "BUY", 200, PRICE, at(0, "10:00"))
    restarted = Desk(build_engine(tables=engine.state.tables, **_cn_base()), "CN1")
    restarted.ids = 100
    restarted.tick(A_SHARE, PRICE, at(0, "14:00"))

    decision = restarted.order(A_SHARE, "SELL", 400, PRICE, at(0, "14:00"))

    assert reason(decision, "t_plus_one")["limit"] == 300


def test_instrument_the_master_marks_t_plus_zero_sells_the_same_day() -> None:
    desk = Desk(build_engine(**_cn_base()), "CN1")
    etf = "513100.SH"
    desk.engine.instruments(
        {"symbol": etf, "market": "XSHG", "currency": "CNY", "t_plus_one": False, "ts": 0}
    )
    desk.tick(etf, 1.5, at(0, "10:00"))
    desk.fill(etf, "BUY", 1000, 1.5, at(0, "10:00"))

    decision = desk.order(etf, "SELL", 1000, 1.5, at(0, "10:00"))

    assert decision["decision"] == "APPROVED", decision["reasons"]


def _cn_base() -> dict[str, Any]:
    return {"account_base_currencies": {"CN1": "CNY"}}


# --- daily limits from the master --------------------------------------------------------


@dataclass(frozen=True)
class Band:
    symbol: str
    entry: dict[str, Any]
    price: float
    limit: float | None  # the band edge the order breaks; None: within the band
    qty: float = 100

    def __str__(self) -> str:
        return f"{self.symbol}@{self.price}"


MAIN = {"market": "XSHG", "previous_close": 10.0}
BANDS = [
    Band("600000.SH", MAIN, 11.00, None),
    Band("600000.SH", MAIN, 11.01, 11.00),
    Band("600000.SH", MAIN, 9.00, None),
    Band("600000.SH", MAIN, 8.99, 9.00),
    Band("600001.SH", {**MAIN, "is_st": True, "previous_close": 4.0}, 4.20, None),
    Band("600001.SH", {**MAIN, "is_st": True, "previous_close": 4.0}, 4.21, 4.20),
    Band("600001.SH", {**MAIN, "is_st": True, "previous_close": 4.0}, 3.80, None),
    Band("600001.SH", {**MAIN, "is_st": True, "previous_close": 4.0}, 3.79, 3.80),
    Band("688981.SH", {**MAIN, "previous_close": 50.0}, 60.00, None, 200),  # STAR ±20%
    Band("688981.SH", {**MAIN, "previous_close": 50.0}, 60.01, 60.00, 200),
    Band("300750.SZ", {"market": "XSHE", "previous_close": 200.0}, 240.00, None),  # ChiNext
    Band("300750.SZ", {"market": "XSHE", "previous_close": 200.0}, 240.01, 240.00),
    Band("300001.SZ", {"market": "XSHE", "previous_close": 10.0, "is_st": True}, 12.00, None),
    Band("300001.SZ", {"market": "XSHE", "previous_close": 10.0, "is_st": True}, 12.01, 12.00),
    Band("600002.SH", {**MAIN, "daily_limit_pct": 0.44}, 14.40, None),  # the entry's own
    Band("600002.SH", {**MAIN, "daily_limit_pct": 0.44}, 14.41, 14.40),
    Band("600003.SH", {**MAIN, "no_daily_limit": True}, 30.00, None),  # e.g. listing days
]


@pytest.mark.parametrize("case", BANDS, ids=str)
def test_daily_limit_from_the_master(case: Band) -> None:
    desk = Desk(build_engine(**_cn_base()), "CN1")
    desk.engine.instruments({"symbol": case.symbol, "currency": "CNY", **case.entry, "ts": 0})
    ts = at(0, "10:00")
    desk.tick(case.symbol, case.price, ts)

    decision = desk.order(case.symbol, "BUY", case.qty, case.price, ts)

    if case.limit is None:
        assert decision["decision"] == "APPROVED", decision["reasons"]
        assert decision["notes"] == []
        return
    assert failed_checks(decision) == {"daily_limit"}
    assert reason(decision, "daily_limit")["limit"] == case.limit


def test_master_previous_close_wins_over_the_bars() -> None:
    desk = Desk(build_engine(**_cn_base()), "CN1")
    desk.tick(A_SHARE, 20.0, at(-1, "10:00"))
    desk.tick(A_SHARE, 20.0, at(0, "10:00"))  # the bars' previous close: 20
    ts = at(0, "10:01")

    from_bars = desk.order(A_SHARE, "BUY", 100, 21.99, ts)
    desk.engine.instruments({"symbol": A_SHARE, **MAIN, "currency": "CNY", "ts": 0})
    from_master = desk.order(A_SHARE, "BUY", 100, 21.99, ts)

    assert from_bars["decision"] == "APPROVED", from_bars["reasons"]
    assert reason(from_master, "daily_limit")["limit"] == 11.00


# --- Hong Kong board lots from the topic --------------------------------------------------

HK = "0002.HK"  # not in the suffix rules' table: they give it 100


@dataclass(frozen=True)
class Lot:
    stage: str  # fallback | master | tombstone
    side: str
    qty: float
    lot: int | None  # the lot the order breaks; None: approved

    def __str__(self) -> str:
        return f"{self.stage}-{self.side}-{self.qty:g}"


LOTS = [
    Lot("fallback", "BUY", 100, None),
    Lot("master", "BUY", 100, 500),
    Lot("master", "BUY", 500, None),
    Lot("master", "BUY", 1500, None),
    Lot("master", "SELL", 100, 500),  # odd lots go to the odd-lot market, not this route
    Lot("master", "SELL", 500, None),
    Lot("tombstone", "BUY", 100, None),
]


@pytest.mark.parametrize("case", LOTS, ids=str)
def test_hk_board_lots_from_the_instruments_topic(case: Lot) -> None:
    desk = Desk(build_engine(account_base_currencies={"HK1": "HKD"}), "HK1")
    ts = at(0, "10:00")
    desk.tick(HK, 60.0, ts)
    desk.fill(HK, "BUY", 1000, 60.0, at(-1, "10:00"))
    if case.stage in ("master", "tombstone"):
        entry = {"symbol": HK, "market": "XHKG", "currency": "HKD", "lot_size": 500, "ts": 0}
        desk.engine.instruments(entry)
    if case.stage == "tombstone":
        desk.engine.remove_instrument(HK)

    decision = desk.order(HK, case.side, case.qty, 60.0, ts)

    fell_back = case.stage != "master"
    assert bool(decision["notes"]) is fell_back
    if fell_back:
        assert decision["notes"] == [
            f"{HK} is not in the instrument master: suffix rules used (XHKG, HKD, lot 100)"
        ]
    if case.lot is None:
        assert decision["decision"] == "APPROVED", decision["reasons"]
        return
    assert failed_checks(decision) == {"lot_size"}
    assert reason(decision, "lot_size")["limit"] == case.lot
    assert f"lot {case.lot}" in reason(decision, "lot_size")["message"]


def test_the_master_survives_a_restart_from_its_table() -> None:
    engine = build_engine(account_base_currencies={"HK1": "HKD"})
    engine.instruments({"symbol": HK, "market": "XHKG", "currency": "HKD", "lot_size": 500})

    restarted = build_engine(tables=engine.state.tables)

    assert restarted.state.market.resolve(HK).instrument.lot_size == 500


def test_bad_instrument_record_is_dead_lettered_and_the_master_kept() -> None:
    engine = build_engine()
    engine.instruments(
        {"symbol": HK, "market": "XHKG", "currency": "HKD", "lot_size": 500},
        {"symbol": "0003.HK", "market": "XHKG", "currency": "HKD"},  # no board lot
        {"symbol": "0004.HK", "market": "MARS", "currency": "HKD", "lot_size": 100},
    )

    letters = engine.dead_letters()
    assert [letter["reason"] for letter in letters] == ["bad_value", "bad_enum"]
    assert "0003.HK: field lot_size: missing" in letters[0]["error"]
    assert engine.state.market.resolve(HK).instrument.lot_size == 500
    assert not engine.state.market.resolve("0003.HK").known


# --- self-trade prevention ----------------------------------------------------------------


@dataclass(frozen=True)
class Cross:
    name: str
    resting_side: str
    resting_price: float | None
    side: str
    price: float | None
    crosses: bool
    resting_account: str = "A1"
    after: str | None = None  # what happens to the resting order first: cancel | fill
    groups: tuple[str | None, str | None] = (None, None)

    def __str__(self) -> str:
        return self.name


CROSSES = [
    Cross("buy at the resting sell", "SELL", 101.0, "BUY", 101.0, True),
    Cross("buy through the resting sell", "SELL", 101.0, "BUY", 101.5, True),
    Cross("buy below the resting sell", "SELL", 101.0, "BUY", 100.99, False),
    Cross("market buy vs a resting sell", "SELL", 101.0, "BUY", None, True),
    Cross("buy vs a resting market sell", "SELL", None, "BUY", 99.0, True),
    Cross("sell at the resting buy", "BUY", 100.0, "SELL", 100.0, True),
    Cross("sell above the resting buy", "BUY", 100.0, "SELL", 100.01, False),
    Cross("same side never crosses", "BUY", 100.0, "BUY", 101.0, False),
    Cross("cancelled resting sell", "SELL", 101.0, "BUY", 102.0, False, after="cancel"),
    Cross("filled resting sell", "SELL", 101.0, "BUY", 102.0, False, after="fill"),
    Cross(
        "another account of the group",
        "SELL",
        101.0,
        "BUY",
        101.0,
        True,
        resting_account="A2",
        groups=("DESK", "DESK"),
    ),
    Cross(
        "another account of another group",
        "SELL",
        101.0,
        "BUY",
        101.0,
        False,
        resting_account="A2",
        groups=("DESK", "OTHER"),
    ),
    Cross("another account without a group", "SELL", 101.0, "BUY", 101.0, False, "A2"),
]


@pytest.mark.parametrize("case", CROSSES, ids=str)
def test_self_trade(case: Cross) -> None:
    desk = Desk(build_engine(), "A1")
    ts = at(0, "10:00")
    desk.command("SET_CASH", "A2", {"cash": 1e9}, ts)
    for account, group in zip(("A1", "A2"), case.groups, strict=True):
        if group is not None:
            desk.command("SET_LIMITS", account, {"self_trade_group": group}, ts)
    desk.tick("AAPL", 100.5, ts)
    resting = desk.order(
        "AAPL", case.resting_side, 100, case.resting_price, ts, case.resting_account
    )
    assert resting["decision"] == "APPROVED", resting["reasons"]
    if case.after == "cancel":
        desk.engine.orders({**_cancel_of(resting), "ts": ts + 1})
    elif case.after == "fill":
        desk.engine.fills(
            {
                "fill_id": "f-rest",
                "order_id": resting["order_id"],
                "account": case.resting_account,
                "symbol": "AAPL",
                "side": case.resting_side,
                "qty": 100,
                "price": case.resting_price or 100.5,
                "ts": ts + 1,
            }
        )

    decision = desk.order("AAPL", case.side, 100, case.price, ts + 2)

    if not case.crosses:
        assert decision["decision"] == "APPROVED", decision["reasons"]
        return
    assert failed_checks(decision) == {"self_trade"}
    message = reason(decision, "self_trade")["message"]
    assert resting["order_id"] in message
    if case.resting_account != "A1":
        assert f"account {case.resting_account} (self-trade group DESK)" in message


def test_self_trade_prevention_is_a_switch() -> None:
    desk = Desk(build_engine(), "A1")
    ts = at(0, "10:00")
    desk.tick("AAPL", 100.0, ts)
    desk.command("SET_LIMITS", "A1", {"check_self_trade": False}, ts)
    desk.order("AAPL", "SELL", 100, 100.0, ts)

    decision = desk.order("AAPL", "BUY", 100, 100.0, ts + 1)

    assert decision["decision"] == "APPROVED", decision["reasons"]


def _cancel_of(decision: dict[str, Any]) -> dict[str, Any]:
    return {
        "order_id": decision["order_id"],
        "account": decision["account"],
        "symbol": decision["symbol"],
        "side": "BUY",
        "qty": 1,
        "action": "CANCEL",
    }


# --- FX rates and the fallback note -------------------------------------------------------


def test_an_account_trading_its_base_currency_needs_no_fx() -> None:
    desk = Desk(build_engine(**_cn_base()), "CN1")
    desk.tick(A_SHARE, PRICE, at(0, "10:00"))

    decision = desk.order(A_SHARE, "BUY", 100, PRICE, at(0, "10:00"))

    assert decision["decision"] == "APPROVED", decision["reasons"]


def test_a_missing_rate_rejects_the_order_and_a_tick_of_the_pair_fixes_it() -> None:
    desk = Desk(build_engine(), "US1")  # base currency USD (the default)
    ts = at(0, "10:00")
    desk.tick(A_SHARE, PRICE, ts)

    missing = desk.order(A_SHARE, "BUY", 100, PRICE, ts)
    desk.tick("USDCNY", 7.25, ts)
    priced = desk.order(A_SHARE, "BUY", 100, PRICE, ts + 1)

    assert failed_checks(missing) == {"fx_rate"}
    assert reason(missing, "fx_rate")["message"] == (
        "600000.SH is priced in CNY: no CNY→USD FX rate: no tick or master rate for CNYUSD, USDCNY"
    )
    assert priced["decision"] == "APPROVED", priced["reasons"]


def test_limits_are_in_the_base_currency() -> None:
    desk = Desk(build_engine(), "US1")
    ts = at(0, "10:00")
    desk.tick("USDCNY", 8.0, ts)
    desk.tick(A_SHARE, PRICE, ts)
    desk.command("SET_LIMITS", "US1", {"max_order_notional": 1000.0}, ts)

    within = desk.order(A_SHARE, "BUY", 800, PRICE, ts)  # 8,000 CNY = 1,000 USD
    past = desk.order(A_SHARE, "BUY", 900, PRICE, ts)  # 9,000 CNY = 1,125 USD

    assert within["decision"] == "APPROVED", within["reasons"]
    assert failed_checks(past) == {"max_order_notional"}
    assert reason(past, "max_order_notional")["value"] == pytest.approx(1125.0)


def test_foreign_order_reserves_buying_power_in_the_base_currency() -> None:
    desk = Desk(build_engine(), "US1", cash=2000.0)
    ts = at(0, "10:00")
    desk.tick("USDCNY", 8.0, ts)
    desk.tick(A_SHARE, PRICE, ts)

    first = desk.order(A_SHARE, "BUY", 1200, PRICE, ts)  # 1,500 USD of 2,000
    second = desk.order(A_SHARE, "BUY", 500, PRICE, ts)  # 625 USD more: 2,125

    assert first["decision"] == "APPROVED", first["reasons"]
    assert float(desk.engine.state.account("US1").reserved) == pytest.approx(1500.0)
    assert failed_checks(second) == {"buying_power"}


def test_decision_notes_a_symbol_missing_from_the_master() -> None:
    desk = Desk(build_engine(instruments_file=None), "US1")
    ts = at(0, "10:00")
    desk.tick("AAPL", 100.0, ts)
    desk.tick("MSFT", 400.0, ts)
    desk.engine.instruments({"symbol": "MSFT", "market": "US", "currency": "USD"})

    unknown = desk.order("AAPL", "BUY", 1, 100.0, ts)
    known = desk.order("MSFT", "BUY", 1, 400.0, ts)

    assert unknown["notes"] == [
        "AAPL is not in the instrument master: suffix rules used (US, USD, lot 1)"
    ]
    assert known["notes"] == []


def test_unknown_instruments_can_be_refused() -> None:
    desk = Desk(build_engine(), "US1")
    ts = at(0, "10:00")
    desk.tick("AAPL", 100.0, ts)
    desk.command("SET_LIMITS", "US1", {"reject_unknown_instruments": True}, ts)

    decision = desk.order("AAPL", "BUY", 1, 100.0, ts)

    assert failed_checks(decision) == {"instrument"}


def test_set_cash_in_a_currency_and_fills_move_the_instrument_currency() -> None:
    desk = Desk(build_engine(**_cn_base()), "CN1", cash=1_000_000.0)
    ts = at(0, "10:00")
    desk.command("SET_CASH", "CN1", {"cash": 50_000, "currency": "USD"}, ts)
    desk.fill("MSFT", "BUY", 10, 400.0, ts)

    account = desk.engine.state.account("CN1")
    assert account.cash_by_currency() == {"CNY": 1_000_000.0, "USD": 46_000.0}


def test_set_cash_refuses_a_bad_currency() -> None:
    desk = Desk(build_engine(), "US1")
    desk.command("SET_CASH", "US1", {"cash": 5, "currency": "usd"}, at(0, "10:00"))

    (letter,) = desk.engine.dead_letters()
    assert letter["reason"] == "invalid_command"
    assert "'usd' is not a 3-letter upper-case currency code" in letter["error"]


# --- GET /instruments/{symbol} and account currencies ---------------------------------------


def test_instrument_route_body_says_where_the_entry_comes_from() -> None:
    engine = build_engine()
    engine.instruments({"symbol": "0700.HK", "market": "XHKG", "currency": "HKD", "lot_size": 100})

    listed = instrument_body(engine.state, "0700.HK")
    unknown = instrument_body(engine.state, "9999.HK")

    assert (listed["in_master"], listed["source"], listed["note"]) == (True, "master", None)
    assert (listed["lot_size"], listed["currency"], listed["market"]) == (100, "HKD", "XHKG")
    assert (unknown["in_master"], unknown["source"]) == (False, "suffix_rules")
    assert unknown["note"] == (
        "9999.HK is not in the instrument master: suffix rules used (XHKG, HKD, lot 100)"
    )


def test_a_new_base_currency_keeps_the_old_base_cash_in_its_currency() -> None:
    engine = build_engine()
    Desk(engine, "ACC", cash=1000.0)

    restarted = build_engine(tables=engine.state.tables, account_base_currencies={"ACC": "CNY"})

    account = restarted.state.account("ACC")
    assert account.cash_by_currency() == {"CNY": 0.0, "USD": 1000.0}

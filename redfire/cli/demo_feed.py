"""The demo's market and desk: a deterministic (seeded) story told in records.

Three accounts, each with a habit, so that the first minute shows what RedFire is for:

* ``ACC-1`` trades all four symbols in small lots and is mostly approved; it fills about
  half of its orders and sells only what it holds.
* ``ACC-2`` has fat fingers: now and then a limit price far from the market (``price_collar``)
  or a size far above ``max_order_notional``, and an order for a symbol nobody quotes.
* ``ACC-3`` piles into one stock, 600519.SH: the concentration rule fires on its first fill
  and the pre-trade concentration check soon stops it growing. ``SHOCK_AFTER_S`` into the
  live feed that stock falls 8% in four ticks; the loss passes the shipped 50,000 daily-loss
  rule, which puts the account in REDUCE_ONLY, and from then on ACC-3 sells down.

ACC-1 keeps its books in CNY (``BASE_CURRENCIES``): its US and Hong Kong holdings are valued
at the USDCNY and HKDCNY rates the feed ticks with the stocks. Shanghai shares settle T+1, so an
account cannot sell 600519.SH bought the same trading day: such a sell is rejected
(``t_plus_one``), and ACC-3, stopped to REDUCE_ONLY, then sits out instead of retrying.

Every 11th order is malformed on purpose: it lands in ``dead_letters`` and the stream goes on.
No Kafka and no clock here: time comes in as ``ts`` and elapsed seconds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from redfire.risk.markets import market_of, tick_size

SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0, "600519.SH": 1700.0, "0700.HK": 300.0}
ACCOUNTS = ("ACC-1", "ACC-2", "ACC-3")
BASE_CURRENCIES = {"ACC-1": "CNY"}
FX_RATES = {"USDCNY": 7.10, "HKDCNY": 0.91, "USDHKD": 7.80}
OPENING_CASH = 5_000_000
HISTORY_DAYS = 60
DAY_MS = 24 * 3600 * 1000
ROTATION = ("ACC-1", "ACC-3", "ACC-2")
CONCENTRATED = "ACC-3"
CONCENTRATED_SYMBOL = "600519.SH"
SHOCK_AFTER_S = 20.0
SHOCK_STEPS = 4
SHOCK_PER_STEP = -0.02
LOT = {"AAPL": 10, "MSFT": 10, "600519.SH": 100, "0700.HK": 100}
MALFORMED_EVERY = 11
OVERSIZED_NOTIONAL = 1_500_000

Record = tuple[str, dict[str, Any] | bytes]


def on_tick_grid(symbol: str, price: float) -> float:
    """Round a price to its market's tick, as a real strategy would."""
    tick = float(tick_size(market_of(symbol), price, symbol))
    return round(round(price / tick) * tick, 4)


def key_of(topic: str, value: dict[str, Any] | bytes) -> bytes:
    """Return the key a well-behaved producer uses for ``value``."""
    if isinstance(value, bytes):
        return ACCOUNTS[0].encode()
    return str(value["symbol" if topic == "ticks" else "account"]).encode()


@dataclass
class DemoFeed:
    """Ticks, orders and fills for the demo, the same for the same seed."""

    seed: int = 7
    prices: dict[str, float] = field(default_factory=lambda: dict(SYMBOLS))
    rates: dict[str, float] = field(default_factory=lambda: dict(FX_RATES))
    order_no: int = 0
    shock_steps_done: int = 0
    held: dict[tuple[str, str], float] = field(default_factory=dict)
    reducing: set[str] = field(default_factory=set)
    # Accounts whose sells were refused for T+1: nothing left they may sell today.
    unsettled: set[str] = field(default_factory=set)
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def cash_commands(self, ts: int) -> Iterator[Record]:
        """Yield each account's SET_CASH."""
        for account in ACCOUNTS:
            yield (
                "risk_commands",
                {
                    "command_id": f"demo-cash-{account}-{ts}",
                    "command": "SET_CASH",
                    "account": account,
                    "payload": {"cash": OPENING_CASH},
                    "ts": ts,
                },
            )

    def history(self, ts: int, days: int = HISTORY_DAYS) -> Iterator[Record]:
        """Yield ``days`` of daily closes before ``ts``, so that VaR has history."""
        for day in range(days, 0, -1):
            yield from self.ticks(ts - day * DAY_MS, vol=0.015)

    def ticks(self, ts: int, vol: float = 0.0015) -> Iterator[Record]:
        """Yield one tick per symbol and FX pair: a small random walk (rates move less)."""
        for symbol in self.prices:
            self.prices[symbol] *= 1 + self.rng.gauss(0, vol)
            yield "ticks", self._tick(symbol, ts)
        for pair in self.rates:
            self.rates[pair] *= 1 + self.rng.gauss(0, vol / 4)
            yield "ticks", {"symbol": pair, "ts": ts, "price": round(self.rates[pair], 4)}

    def live_ticks(self, ts: int, elapsed_s: float) -> Iterator[Record]:
        """Yield this step's ticks; past ``SHOCK_AFTER_S`` the shocked stock falls."""
        if elapsed_s >= SHOCK_AFTER_S and self.shock_steps_done < SHOCK_STEPS:
            self.shock_steps_done += 1
            self.prices[CONCENTRATED_SYMBOL] *= 1 + SHOCK_PER_STEP
        yield from self.ticks(ts)

    def _tick(self, symbol: str, ts: int) -> dict[str, Any]:
        price = on_tick_grid(symbol, self.prices[symbol])
        return {"symbol": symbol, "ts": ts, "price": price, "volume": 100}

    def order(self, ts: int) -> Record:
        """Return the next order request; every 11th is malformed on purpose."""
        self.order_no += 1
        if self.order_no % MALFORMED_EVERY == 0:
            return "orders", b'{"order_id": "broken", "qty": "lots"'
        account = ROTATION[self.order_no % len(ROTATION)]
        sold_down = self.held.get((account, CONCENTRATED_SYMBOL), 0) <= 0
        if account in self.reducing and (sold_down or account in self.unsettled):
            account = ROTATION[0]  # nothing it may sell: it sits out, the others trade
        habit = {"ACC-1": self._diversified, "ACC-2": self._fat_fingers}
        symbol, side, qty, price = habit.get(account, self._concentrated)(account)
        order = {
            "order_id": f"demo-{self.order_no}",
            "account": account,
            "symbol": symbol,
            "side": side,
            "qty": qty,
            "price": on_tick_grid(symbol, price),
            "order_type": "LIMIT",
            "ts": ts,
        }
        self.sent[str(order["order_id"])] = order
        return "orders", order

    def _near(self, symbol: str, spread: float = 0.003) -> float:
        return self.prices.get(symbol, 10.0) * (1 + self.rng.uniform(-spread, spread))

    def _diversified(self, account: str) -> tuple[str, str, float, float]:
        symbol = self.rng.choice(list(SYMBOLS))
        holding = self.held.get((account, symbol), 0.0)
        side = "SELL" if holding > 0 and self.rng.random() < 0.4 else "BUY"
        qty: float = LOT[symbol] * self.rng.choice([1, 2, 5])
        if side == "SELL":
            qty = min(qty, holding)
        return symbol, side, qty, self._near(symbol)

    def _fat_fingers(self, account: str) -> tuple[str, str, float, float]:
        roll = self.rng.random()
        if roll < 0.15:
            return "UNKNOWN", "BUY", 100, 10.0
        symbol = self.rng.choice(["AAPL", "MSFT", "0700.HK"])
        if roll < 0.4:  # a limit price 8% away from the market
            return symbol, "BUY", LOT[symbol], self.prices[symbol] * 1.08
        if roll < 0.6:  # a size far too big: over max_order_notional (1,000,000)
            lots = round(OVERSIZED_NOTIONAL / (LOT[symbol] * self.prices[symbol]))
            return symbol, "BUY", LOT[symbol] * lots, self._near(symbol)
        return symbol, "BUY", LOT[symbol], self._near(symbol)

    def _concentrated(self, account: str) -> tuple[str, str, float, float]:
        symbol = CONCENTRATED_SYMBOL
        holding = self.held.get((account, symbol), 0.0)
        if account in self.reducing and holding > 0:
            return symbol, "SELL", min(LOT[symbol], holding), self._near(symbol)
        return symbol, "BUY", LOT[symbol], self._near(symbol)

    def observe(self, decision: dict[str, Any]) -> None:
        """Learn from a decision: an account stopped to reduce-only starts selling down."""
        checks = {reason.get("check") for reason in decision.get("reasons") or []}
        if "trading_state" in checks:
            self.reducing.add(str(decision["account"]))
        if "t_plus_one" in checks:
            self.unsettled.add(str(decision["account"]))

    def fill_for(self, decision: dict[str, Any], ts: int) -> dict[str, Any] | None:
        """Return the gateway's fill for an approved order (ACC-3 always, others about half)."""
        order = self.sent.get(str(decision["order_id"]))
        if decision["decision"] != "APPROVED" or order is None:
            return None
        if order["account"] != CONCENTRATED and self.rng.random() < 0.5:
            return None
        signed = order["qty"] if order["side"] == "BUY" else -order["qty"]
        key = (order["account"], order["symbol"])
        self.held[key] = self.held.get(key, 0.0) + signed
        return {
            "fill_id": f"fill-{order['order_id']}",
            "order_id": order["order_id"],
            "account": order["account"],
            "symbol": order["symbol"],
            "side": order["side"],
            "qty": order["qty"],
            "price": order["price"],
            "fee": round(order["qty"] * order["price"] * 0.0003, 2),
            "ts": ts,
        }

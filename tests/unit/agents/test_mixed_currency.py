"""A CNY account holding US and Hong Kong names, through the engine in-process.

Equity, exposures, VaR and ES of the snapshot and the risk route, and the pre-trade VaR of a
foreign order, must equal the independent computation of ``tests.support.fx_model`` (numpy
only): each foreign position earns (1 + asset return)(1 + FX return) − 1 per bar and foreign
cash earns the FX return.
"""

from __future__ import annotations

import pytest

from redfire.agents.pretrade import PreTrade
from redfire.web.views import risk_body
from tests.support.engine import Engine, build_engine
from tests.support.fx_model import CNY_ACCOUNT, independent
from tests.support.trading import reader, risk

T0 = 1_700_000_000_000
DAY = 86_400_000
BOOK = CNY_ACCOUNT
History = dict[str, list[float]]


@pytest.fixture
def account() -> tuple[Engine, History]:
    engine = build_engine(account_base_currencies={"CN1": "CNY"})
    history = BOOK.closes()
    for day in range(BOOK.days):
        ts = T0 + day * DAY
        engine.ticks(*({"symbol": s, "price": history[s][day], "ts": ts} for s in history))
    now = T0 + (BOOK.days - 1) * DAY + 60_000
    engine.now_ms = now
    off = {"price_collar_pct": None, "max_var_pct": None, "max_concentration": None}
    commands = [("SET_LIMITS", "*", off)]
    for currency, amount in BOOK.cash.items():
        commands.append(("SET_CASH", "CN1", {"cash": amount, "currency": currency}))
    engine.commands(
        *(
            {"command_id": f"c{i}", "command": c, "account": a, "payload": p, "ts": now}
            for i, (c, a, p) in enumerate(commands)
        )
    )
    engine.fills(
        *(
            {
                "fill_id": f"f-{symbol}",
                "order_id": f"o-{symbol}",
                "account": "CN1",
                "symbol": symbol,
                "side": "BUY",
                "qty": qty,
                "price": price,
                "fee": fee,
                "ts": now,
            }
            for symbol, qty, price, fee in BOOK.fills
        )
    )
    return engine, history


def test_snapshot_equals_the_independent_base_currency_computation(
    account: tuple[Engine, History],
) -> None:
    engine, history = account
    expected = independent(BOOK, history)

    engine.monitor()

    (snapshot,) = engine.producer.on(engine.names.risk_metrics)
    assert snapshot["base_currency"] == "CNY"
    assert snapshot["unvalued"] == []
    for name in ("equity", "cash", "gross_exposure", "net_exposure"):
        assert snapshot[name] == pytest.approx(expected[name], rel=1e-12), name
    for name in ("var_95", "var_99", "es_975"):
        assert snapshot[name] == pytest.approx(expected[name], rel=1e-9), name
    values = {p["symbol"]: p["market_value"] for p in snapshot["positions"]}
    assert values == pytest.approx(expected["market_values"], rel=1e-12)


def test_the_fx_term_moves_the_var(account: tuple[Engine, History]) -> None:
    engine, history = account
    with_fx, without_fx = independent(BOOK, history), independent(BOOK, history, with_fx=False)

    engine.monitor()

    (snapshot,) = engine.producer.on(engine.names.risk_metrics)
    assert abs(with_fx["var_99"] - without_fx["var_99"]) > 0.01 * with_fx["var_99"]
    assert snapshot["var_99"] == pytest.approx(with_fx["var_99"], rel=1e-9)


def test_risk_route_equals_the_independent_computation(account: tuple[Engine, History]) -> None:
    engine, history = account
    expected = independent(BOOK, history)

    body = risk_body(engine.state, engine.state.account("CN1"))

    assert body["base_currency"] == "CNY"
    assert body["cash_by_currency"] == expected["cash_by_currency"]
    for name in ("equity", "cash", "gross_exposure", "net_exposure"):
        assert body[name] == pytest.approx(expected[name], rel=1e-12), name


def test_foreign_order_var_after_equals_the_book_after_its_fill(
    account: tuple[Engine, History],
) -> None:
    engine, history = account
    before, after = independent(BOOK, history), independent(BOOK, history, {"MSFT": 50})

    engine.orders(
        {
            "order_id": "o-more",
            "account": "CN1",
            "symbol": "MSFT",
            "side": "BUY",
            "qty": 50,
            "price": BOOK.live["MSFT"],
            "ts": engine.now_ms,
        }
    )

    (decision,) = engine.decisions()
    assert decision["decision"] == "APPROVED", decision["reasons"]
    assert decision["var_before"] == pytest.approx(before["var_99"], rel=1e-9)
    assert decision["var_after"] == pytest.approx(after["var_99"], rel=1e-9)


def test_complete_risk_route_counts_cash_in_every_currency(
    account: tuple[Engine, History],
) -> None:
    engine, history = account
    expected = independent(BOOK, history)

    body = risk(engine, "CN1")
    report = reader(engine).account_report(engine.state.account("CN1"), engine.now_ms)

    assert body["equity"] == pytest.approx(expected["equity"], rel=1e-12)
    assert body["cash"] == pytest.approx(expected["cash"], rel=1e-12)
    assert body["var_99"] == pytest.approx(expected["var_99"], rel=1e-9)
    limits = {row["name"]: row for row in body["limits"]}
    leverage = engine.state.config.limits_for("CN1").max_leverage
    assert limits["buying_power"]["limit"] == pytest.approx(expected["cash"] * leverage)
    assert report["risk"]["var_99"] == pytest.approx(expected["var_99"], rel=1e-9)


def test_valuation_follows_fills_that_move_close_and_open_foreign_holdings(
    account: tuple[Engine, History],
) -> None:
    """The pre-trade valuation caches which holdings are foreign; fills must keep it true."""
    engine, _history = account
    cn1 = engine.state.account("CN1")
    pretrade = PreTrade(engine.state, daily_bars=True)
    live = BOOK.live
    rate = {"USD": live["USDCNY"], "HKD": live["HKDCNY"]}

    def gross() -> float:
        fx = engine.state.market.convert("USD", "CNY")
        return pretrade.valuation(cn1, "MSFT", fx).gross

    def fill(n: int, symbol: str, side: str, qty: float) -> None:
        engine.fills(
            {
                "fill_id": f"f-more-{n}",
                "order_id": f"o-more-{n}",
                "account": "CN1",
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "price": live[symbol],
                "fee": 0.0,
                "ts": engine.now_ms,
            }
        )

    fill(1, "0700.HK", "SELL", 1000)  # closes one: what is cached now holds MSFT only
    assert gross() == pytest.approx(100 * live["MSFT"] * rate["USD"], rel=1e-12)
    fill(2, "MSFT", "BUY", 50)  # moves a holding
    msft = 150 * live["MSFT"] * rate["USD"]
    assert gross() == pytest.approx(msft, rel=1e-12)
    fill(3, "0700.HK", "BUY", 500)  # opens it again: valued in HKD, converted
    assert gross() == pytest.approx(msft + 500 * live["0700.HK"] * rate["HKD"], rel=1e-12)

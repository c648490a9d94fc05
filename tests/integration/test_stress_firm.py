"""Issue 6 on a real Kafka: stress results against hand computations, and firm-wide VaR.

* A shock scenario (symbol shocks, a group, a default) added with ADD_SCENARIO and run with
  RUN_STRESS gives exactly Σ qty × price × shock, position by position, on stress_results and
  on GET /stress/{id}.
* A historical scenario built by ``redfire scenario-from-history --send`` from real index
  closes (S&P 500 and NASDAQ Composite, shipped with ``arch``) carries the cumulative returns
  pandas computes over the range, and stresses an account by Σ value × shock.
* The FIRM snapshot's VaR is the historical VaR of the merged exposures of every account on
  both partitions, recomputed here with numpy from the return windows the worker serves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from arch.data import nasdaq, sp500
from typer.testing import CliRunner

from redfire.cli import scenario as cli_scenario
from redfire.streams.partitioning import partition_for
from tests.support.desk import (
    Desk,
    http_json,
    monitor_env,
    now_ms,
    wait_price,
    wait_record,
)
from tests.support.eventually import eventually
from tests.support.kafka_io import JsonRecord
from tests.support.worker import RedFireWorker

pytestmark = pytest.mark.integration

PARTITIONS = 2
DAY_MS = 86_400_000


def expected_impacts(
    positions: dict[str, float], prices: dict[str, float], shocks: dict[str, float]
) -> list[dict[str, float | str]]:
    """Return the per-position stress impacts by hand: value = qty × price, pnl = value × shock."""
    return [
        {
            "symbol": symbol,
            "qty": positions[symbol],
            "price": prices[symbol],
            "shock": shocks[symbol],
            "market_value": positions[symbol] * prices[symbol],
            "pnl": positions[symbol] * prices[symbol] * shocks[symbol],
        }
        for symbol in sorted(positions)
    ]


def assert_same_impacts(actual: list[JsonRecord], expected: list[dict[str, Any]]) -> None:
    assert [i["symbol"] for i in actual] == [e["symbol"] for e in expected], actual
    for got, want in zip(actual, expected, strict=True):
        for name in ("qty", "price", "shock", "market_value", "pnl"):
            assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-9), (name, got, want)


def build_positions(
    worker: RedFireWorker, desk: Desk, account: str, holdings: dict[str, float]
) -> None:
    """Fill the account into ``holdings`` (at off-market prices) and wait until applied."""
    for symbol, qty in holdings.items():
        side = "BUY" if qty > 0 else "SELL"
        desk.fill(account, symbol, side, abs(qty), 1.0)
    eventually(
        lambda: (
            {
                p["symbol"]: p["qty"]
                for p in http_json(worker, f"/accounts/{account}/positions")["positions"]
            }
            == holdings
        ),
        timeout=30,
        message=f"positions of {account} applied",
    )


def stress_view(worker: RedFireWorker, scenario_id: str, account: str, count: int) -> JsonRecord:
    """Return GET /stress/{id}?account= once the scenario exists and sees ``count`` positions."""

    def answer() -> JsonRecord:
        body: JsonRecord = http_json(worker, f"/stress/{scenario_id}?account={account}")
        return body if len(body["impacts"]) == count else {}

    return eventually(answer, timeout=30, message=f"scenario {scenario_id} known to the worker")


def run_stress(desk: Desk, account: str, scenario_id: str) -> int:
    """Send RUN_STRESS for one scenario; return the command ts its result carries."""
    ts = now_ms()
    desk.send(
        "risk_commands",
        account,
        {
            "command_id": desk.next_id("run"),
            "command": "RUN_STRESS",
            "account": account,
            "payload": {"scenario_id": scenario_id},
            "ts": ts,
        },
    )
    return ts


def test_shock_scenario_pnl_equals_the_hand_computation(
    redfire_worker: Any, tmp_path: Path
) -> None:
    account = "STRESS-1"
    prices = {"AAPL": 190.25, "MSFT": 410.5, "NVDA": 880.75, "XOM": 110.4}
    holdings = {"AAPL": 100.0, "MSFT": 50.0, "NVDA": -20.0, "XOM": 30.0}
    scenario = {
        "scenario_id": "tech_rout",
        "name": "Tech rout",
        "shocks": {"AAPL": -0.2},
        "groups": {"tech": -0.3},
        "symbol_groups": {"AAPL": "tech", "MSFT": "tech", "NVDA": "tech"},
        "default_shock": -0.05,
    }
    # AAPL: its own shock wins over its group; MSFT, NVDA: the group; XOM: the default.
    shocks = {"AAPL": -0.2, "MSFT": -0.3, "NVDA": -0.3, "XOM": -0.05}
    worker: RedFireWorker = redfire_worker(partitions=PARTITIONS, **monitor_env(tmp_path, []))
    desk = Desk(worker)
    results = desk.reader("stress_results")
    try:
        for symbol, price in prices.items():
            desk.tick(symbol, price)
        for symbol, price in prices.items():
            wait_price(worker, symbol, price)
        build_positions(worker, desk, account, holdings)
        desk.command("ADD_SCENARIO", "*", scenario)
        stress_view(worker, "tech_rout", account, len(holdings))

        ts = run_stress(desk, account, "tech_rout")
        result = wait_record(
            results,
            lambda r: r["account"] == account and r["scenario_id"] == "tech_rout" and r["ts"] == ts,
        )

        expected = expected_impacts(holdings, prices, shocks)
        assert_same_impacts(result["impacts"], expected)
        hand_pnl = (
            100 * 190.25 * -0.2 + 50 * 410.5 * -0.3 + -20 * 880.75 * -0.3 + 30 * 110.4 * -0.05
        )
        assert result["pnl"] == pytest.approx(hand_pnl, rel=1e-12)
        assert result["pnl"] == pytest.approx(math.fsum(float(e["pnl"]) for e in expected))
        viewed = stress_view(worker, "tech_rout", account, len(holdings))
        assert viewed["pnl"] == pytest.approx(result["pnl"], rel=1e-12)
        assert viewed["impacts"] == result["impacts"]
        assert viewed["scenario_id"] == "tech_rout" and viewed["account"] == account
    except AssertionError:
        print(worker.log_tail(80))
        raise
    finally:
        desk.close()


def index_closes() -> pd.DataFrame:
    """Return the S&P 500 and NASDAQ Composite daily closes shipped with ``arch``."""
    frame = pd.DataFrame({"SPX": sp500.load()["Close"], "COMP": nasdaq.load()["Close"]})
    frame.index = pd.DatetimeIndex(frame.index, name="date")
    return frame


def cumulative_return(closes: pd.Series, start: str, end: str) -> tuple[float, pd.Timestamp]:
    """Return close(last date ≤ end) / close(first date ≥ start) − 1 and that first date."""
    inside = closes.dropna().loc[lambda s: (s.index >= start) & (s.index <= end)]
    return float(inside.iloc[-1] / inside.iloc[0] - 1), pd.Timestamp(inside.index[0])


def test_historical_scenario_from_index_closes_via_the_cli(
    redfire_worker: Any, tmp_path: Path
) -> None:
    account = "HIST-1"
    start, end = "2008-09-01", "2008-10-31"
    frame = index_closes()
    path = tmp_path / "index_closes.csv"
    frame.to_csv(path)
    expected = {}
    for symbol in frame.columns:
        expected[symbol], first_day = cumulative_return(frame[symbol], start, end)
        assert first_day == pd.Timestamp("2008-09-02")  # 09-01 was Labor Day: no close
    assert -0.35 < expected["SPX"] < -0.15 and -0.35 < expected["COMP"] < -0.15  # autumn 2008
    prices = {"SPX": 5_012.25, "COMP": 15_990.5}
    holdings = {"SPX": 40.0, "COMP": -10.0}
    worker: RedFireWorker = redfire_worker(partitions=PARTITIONS, **monitor_env(tmp_path, []))
    desk = Desk(worker)
    results = desk.reader("stress_results")
    cli = typer.Typer()
    cli_scenario.register(cli)
    cli.command("noop")(lambda: None)  # two commands, so the command name is required
    env = {
        "REDFIRE_BROKER": f"kafka://{worker.bootstrap}",
        "REDFIRE_APP_ID": worker.app_id,
        "REDFIRE_TOPIC_PREFIX": worker.topic_prefix,
        "REDFIRE_PARTITIONS": str(PARTITIONS),
    }
    try:
        for symbol, price in prices.items():
            desk.tick(symbol, price)
        for symbol, price in prices.items():
            wait_price(worker, symbol, price)
        build_positions(worker, desk, account, holdings)

        sent = CliRunner().invoke(
            cli,
            [
                "scenario-from-history",
                str(path),
                "--id",
                "gfc_autumn_2008",
                "--start",
                start,
                "--end",
                end,
                "--name",
                "Autumn 2008",
                "--send",
            ],
            env=env,
        )
        assert sent.exit_code == 0, sent.output + repr(sent.exception)
        assert "ADD_SCENARIO *: command_id" in sent.output
        assert "2008-09-02" in sent.output and "2008-10-31" in sent.output

        viewed = stress_view(worker, "gfc_autumn_2008", account, len(holdings))
        applied = {i["symbol"]: i["shock"] for i in viewed["impacts"]}
        assert applied == pytest.approx(expected, rel=1e-12)

        ts = run_stress(desk, account, "gfc_autumn_2008")
        result = wait_record(
            results,
            lambda r: (
                r["account"] == account and r["scenario_id"] == "gfc_autumn_2008" and r["ts"] == ts
            ),
        )
        assert_same_impacts(result["impacts"], expected_impacts(holdings, prices, expected))
        by_hand = math.fsum(holdings[s] * prices[s] * expected[s] for s in holdings)
        assert result["pnl"] == pytest.approx(by_hand, rel=1e-12)
    except AssertionError:
        print(worker.log_tail(80))
        raise
    finally:
        desk.close()


def accounts_on_both_partitions(count: int) -> list[str]:
    """Return ``count`` account ids that land on both partitions (Kafka's murmur2)."""
    names = [f"FIRM-ACC-{i}" for i in range(count)]
    i = count
    while {partition_for(n, PARTITIONS) for n in names} != set(range(PARTITIONS)):
        names[-1] = f"FIRM-ACC-{i}"
        i += 1
    return names


def random_walk(rng: np.random.Generator, days: int, start: float) -> list[float]:
    """Return daily closes in cents, so qty × price is exact money."""
    steps = np.exp(np.cumsum(rng.normal(0.0, 0.02, days)))
    return [round(float(start * s), 2) for s in steps]


def wait_windows(worker: RedFireWorker, closes: dict[str, list[float]]) -> dict[str, list[float]]:
    """Return each symbol's return window from GET /market once every tick is applied."""
    served: dict[str, Any] = {}

    def complete() -> dict[str, list[float]]:
        served.update({symbol: http_json(worker, f"/market/{symbol}") for symbol in closes})
        windows = {s: (m.get("window") or {}).get("returns") or [] for s, m in served.items()}
        done = all(
            (served[s].get("price") or {}).get("price") == series[-1]
            # one return per closed bar after the first; the last day's bar is still open
            and len(windows[s]) == len(series) - 2
            for s, series in closes.items()
        )
        return windows if done else {}

    try:
        return eventually(complete, timeout=60)
    except AssertionError:
        shown = {
            s: (m.get("price"), len((m.get("window") or {}).get("returns") or []))
            for s, m in served.items()
        }
        raise AssertionError(f"return windows not built: {shown}") from None


def tail_rule(pnl: np.ndarray, confidence: float) -> tuple[float, float]:
    """Return (VaR, ES): minus the k-th smallest P&L and minus the mean of the k smallest,
    k = ceil(T·(1−c)) (at least 1), as redfire/risk/quantile.py documents."""
    k = max(1, math.ceil(round(pnl.size * (1 - confidence), 9)))
    ordered = np.sort(pnl)
    return -float(ordered[k - 1]), -float(ordered[:k].mean())


def test_firm_var_is_the_var_of_merged_exposures_across_partitions(
    redfire_worker: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(20240606)
    history_days = {"AAA": 130, "BBB": 120, "CCC": 110}  # unequal: the tail is aligned
    closes = {
        symbol: random_walk(rng, days, start)
        for (symbol, days), start in zip(history_days.items(), (50.0, 120.0, 75.0), strict=True)
    }
    accounts = accounts_on_both_partitions(3)
    holdings = {
        accounts[0]: {"AAA": 100.0, "BBB": 50.0},
        accounts[1]: {"BBB": 80.0, "CCC": -40.0},
        accounts[2]: {"AAA": -30.0, "BBB": 10.0, "CCC": 70.0},
    }
    today = now_ms() // DAY_MS * DAY_MS
    worker: RedFireWorker = redfire_worker(
        partitions=PARTITIONS, REDFIRE_BAR_INTERVAL="1d", **monitor_env(tmp_path, [])
    )
    desk = Desk(worker)
    snapshots = desk.reader("risk_metrics")
    try:
        for symbol, series in closes.items():
            first_day = today - len(series) * DAY_MS
            for day, close in enumerate(series):
                desk.send(
                    "ticks",
                    symbol,
                    {"symbol": symbol, "ts": first_day + day * DAY_MS + 3_600_000, "price": close},
                )

        windows = wait_windows(worker, closes)
        for symbol, series in closes.items():
            own = np.asarray(series[1:-1]) / np.asarray(series[:-2]) - 1
            assert np.allclose(windows[symbol], own, rtol=1e-12, atol=0), symbol

        for account, held in holdings.items():
            for symbol, qty in held.items():
                desk.fill(account, symbol, "BUY" if qty > 0 else "SELL", abs(qty), 1.0)

        last = {symbol: series[-1] for symbol, series in closes.items()}
        merged = {
            symbol: math.fsum(held.get(symbol, 0.0) * last[symbol] for held in holdings.values())
            for symbol in sorted(closes)
        }

        def reflects_all_fills(snapshot: JsonRecord) -> bool:
            if snapshot["account"] != "FIRM" or snapshot["var_99"] is None:
                return False
            values = {p["symbol"]: p["market_value"] for p in snapshot["positions"]}
            return values.keys() == merged.keys() and all(
                math.isclose(values[s], merged[s], rel_tol=1e-12) for s in merged
            )

        firm = wait_record(snapshots, reflects_all_fills, timeout=60)

        symbols = sorted(merged)
        rows = min(len(windows[s]) for s in symbols)
        returns = np.column_stack([np.asarray(windows[s][-rows:]) for s in symbols])
        exposures = np.asarray([merged[s] for s in symbols])
        pnl = returns @ exposures
        assert rows == 108 and pnl.shape == (108,)  # CCC's window: 110 closes, 108 returns
        var_99, _ = tail_rule(pnl, 0.99)
        var_95, _ = tail_rule(pnl, 0.95)
        _, es_975 = tail_rule(pnl, 0.975)
        assert firm["var_99"] == pytest.approx(var_99, rel=1e-9)
        assert firm["var_95"] == pytest.approx(var_95, rel=1e-9)
        assert firm["es_975"] == pytest.approx(es_975, rel=1e-9)
        assert firm["gross_exposure"] == pytest.approx(sum(abs(v) for v in merged.values()))
        assert firm["net_exposure"] == pytest.approx(sum(merged.values()))
    except AssertionError:
        print(worker.log_tail(80))
        raise
    finally:
        desk.close()

"""`redfire backtest` on real S&P 500 daily prices (the sample that ships with arch)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from arch.data import sp500
from typer.testing import CliRunner

from redfire.cli.backtest import register
from redfire.risk.backtest import traffic_light

JSON_FIELDS = {
    "observations",
    "exceptions",
    "exception_rate",
    "kupiec_lr",
    "kupiec_p",
    "christoffersen_lr",
    "christoffersen_p",
    "cc_lr",
    "cc_p",
    "traffic_light",
    "es_z1",
    "es_z1_p",
    "es_z2",
    "es_p",
    "es_mcneil_frey_t",
    "es_mcneil_frey_p",
    "es_mcneil_frey_t_p",
}


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:
        """Keep `backtest` a named subcommand, as in the real CLI."""

    return app


@pytest.fixture(scope="module")
def sp500_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the S&P 500 adjusted closes, 1999–2018, as a wide CSV."""
    closes = sp500.load()["Adj Close"].rename("SPX")
    path = tmp_path_factory.mktemp("prices") / "spx.csv"
    closes.to_frame().to_csv(path, index_label="date")
    return path


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), ["backtest", *args])
    return result.exit_code, result.output


def _independent_exception_count(path: Path, window: int, confidence: float) -> tuple[int, int]:
    """Count historical-VaR exceptions with a plain sort, for comparison."""
    closes = pd.read_csv(path, index_col=0)["SPX"].to_numpy()
    pnl = 1e6 * (closes[1:] / closes[:-1] - 1)
    k = math.ceil(round(window * (1 - confidence), 9))
    count = 0
    for t in range(window, pnl.size):
        var = -np.sort(pnl[t - window : t])[k - 1]
        count += bool(pnl[t] < -var)
    return count, pnl.size - window


def test_historical_backtest_on_sp500_reports_exceptions_and_zone(sp500_csv: Path) -> None:
    code, output = _run(
        str(sp500_csv),
        "--weights",
        "SPX=1000000",
        "--confidence",
        "0.99",
        "--window",
        "250",
        "--method",
        "historical",
        "--json",
    )
    assert code == 0, output
    report = json.loads(output)
    assert set(report) >= JSON_FIELDS
    exceptions, observations = _independent_exception_count(sp500_csv, 250, 0.99)
    assert (report["exceptions"], report["observations"]) == (exceptions, observations)
    assert report["exception_rate"] == pytest.approx(exceptions / observations)
    assert report["traffic_light"] == traffic_light(exceptions, observations, 0.99).value
    # 1999–2018 includes 2008: a 250-day historical VaR reacts late, misses about
    # 1.4% of days (67 of 4780 with arch 8's sample) and fails unconditional and
    # conditional coverage at 5%.
    assert 0.01 < report["exception_rate"] < 0.02
    assert report["kupiec_p"] < 0.05
    assert report["cc_p"] < 0.05
    assert all(math.isfinite(report[f]) for f in JSON_FIELDS - {"traffic_light"})
    # Its expected shortfall fails too: Z2 well below zero, rejected under its own
    # scenarios.
    assert report["es_z2"] < -0.3
    assert report["es_p"] < 0.01


def test_shipped_fhs_passes_its_own_backtests_on_sp500(sp500_csv: Path) -> None:
    # The goal on a long real history (1999–2018, 4780 forecasts): the
    # shipped filter (GJR-GARCH-t, 1000 scenarios, refit every 20 bars) passes
    # Kupiec, Christoffersen's conditional coverage and Acerbi–Szekely Z2 at 97.5%.
    code, output = _run(
        str(sp500_csv), "--confidence", "0.975", "--method", "fhs", "--es-draws", "500", "--json"
    )
    assert code == 0, output
    report = json.loads(output)
    assert report["fhs_volatility"] == "gjr_t"
    assert report["observations"] == 4780
    assert report["kupiec_p"] > 0.05
    assert report["cc_p"] > 0.05
    assert report["es_p"] > 0.05
    assert abs(report["es_z2"]) < 0.2


def test_table_output_names_every_statistic(tmp_path: Path, sp500_csv: Path) -> None:
    recent = pd.read_csv(sp500_csv, index_col=0).iloc[-1300:]
    path = tmp_path / "recent.csv"
    recent.to_csv(path)
    code, output = _run(str(path), "--confidence", "0.95", "--method", "fhs")
    assert code == 0, output
    for label in (
        "observations",
        "exceptions",
        "Kupiec",
        "Christoffersen",
        "traffic light",
        "Acerbi–Szekely Z2",
        "McNeil–Frey",
    ):
        assert label in output


@pytest.mark.parametrize("method", ["parametric", "ewma", "montecarlo"])
def test_every_method_runs_on_a_recent_slice(tmp_path: Path, sp500_csv: Path, method: str) -> None:
    recent = pd.read_csv(sp500_csv, index_col=0).iloc[-400:]
    path = tmp_path / "recent.csv"
    recent.to_csv(path)
    code, output = _run(
        str(path), "--window", "250", "--method", method, "--scenarios", "2000", "--json"
    )
    assert code == 0, output
    assert json.loads(output)["observations"] == 400 - 1 - 250


def test_compare_backtests_methods_side_by_side(tmp_path: Path, sp500_csv: Path) -> None:
    recent = pd.read_csv(sp500_csv, index_col=0).iloc[-700:]
    path = tmp_path / "recent.csv"
    recent.to_csv(path)
    png = tmp_path / "compare.png"
    args = ["--compare", "--methods", "historical,fhs_ewma,parametric", "--es-draws", "200"]
    code, output = _run(str(path), *args, "--plot", str(png), "--json")
    assert code == 0, output
    records = json.loads(output)
    assert [(r["method"], r["confidence"]) for r in records] == [
        (method, level)
        for method in ("historical", "fhs_ewma", "parametric")
        for level in (0.95, 0.975, 0.99)
    ]
    assert all(r["observations"] == 700 - 1 - 250 for r in records)
    assert all(set(r) >= JSON_FIELDS for r in records)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, output = _run(str(path), *args)
    assert code == 0, output
    for label in ("historical", "fhs_ewma", "Kupiec", "Z2 p", "97.5%"):
        assert label in output


def test_compare_refuses_an_unknown_method(sp500_csv: Path) -> None:
    code, output = _run(str(sp500_csv), "--compare", "--methods", "historical,magic")
    assert code == 2
    assert "magic" in output


def test_plot_writes_a_png(tmp_path: Path, sp500_csv: Path) -> None:
    recent = pd.read_csv(sp500_csv, index_col=0).iloc[-600:]
    path = tmp_path / "recent.csv"
    recent.to_csv(path)
    png = tmp_path / "backtest.png"
    code, output = _run(str(path), "--confidence", "0.99", "--plot", str(png))
    assert code == 0, output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_several_symbols_with_weights(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2020-01-01", periods=320)
    prices = pd.DataFrame(
        100 * np.cumprod(1 + rng.normal(0, 0.01, size=(320, 3)), axis=0),
        index=dates,
        columns=["AAA", "BBB", "CCC"],
    )
    path = tmp_path / "wide.csv"
    prices.to_csv(path)
    code, output = _run(str(path), "--weights", "AAA=1e6,BBB=-5e5", "--window", "100", "--json")
    assert code == 0, output
    assert json.loads(output)["observations"] == 319 - 100


@pytest.mark.parametrize(
    ("weights", "message"),
    [("SPX", "SYM=VALUE"), ("SPX=lots", "not a number"), ("XYZ=1", "not columns")],
)
def test_bad_weights_are_refused_with_a_reason(sp500_csv: Path, weights: str, message: str) -> None:
    code, output = _run(str(sp500_csv), "--weights", weights)
    assert code == 2
    assert message in output


def test_window_longer_than_the_history_is_refused(tmp_path: Path, sp500_csv: Path) -> None:
    path = tmp_path / "short.csv"
    pd.read_csv(sp500_csv, index_col=0).iloc[-100:].to_csv(path)
    code, output = _run(str(path), "--window", "250")
    assert code == 2
    assert "need more than" in output

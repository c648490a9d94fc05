"""`redfire backtest`: roll VaR forecasts over a price file and test them against the P&L.

The lead's CLI calls `register(app)` to add the command. The math lives in
`redfire.risk.backtest`; this module only reads the CSV, prints and plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from redfire.risk.backtest import (
    BacktestReport,
    BacktestSeries,
    evaluate_backtest,
    rolling_backtest,
)
from redfire.risk.measures import Distribution, VaRConfig, VaRMethod, Volatility

# Used when --weights is left out: this market value in every column.
DEFAULT_VALUE = 1_000_000.0
_ZONE_STYLE = {"green": "bold green", "yellow": "bold yellow", "red": "bold red"}


def parse_weights(text: str) -> dict[str, float]:
    """Return {symbol: market value} from 'SYM=VALUE,SYM=VALUE'."""
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        symbol, sep, value = item.partition("=")
        if not sep or not symbol.strip():
            raise typer.BadParameter(f"expected SYM=VALUE, got {item!r}", param_hint="--weights")
        try:
            weights[symbol.strip()] = float(value)
        except ValueError as error:
            raise typer.BadParameter(
                f"value of {symbol.strip()!r} is not a number: {value!r}", param_hint="--weights"
            ) from error
    if not weights:
        raise typer.BadParameter("give at least one SYM=VALUE", param_hint="--weights")
    return weights


def load_prices(path: Path, symbols: list[str] | None) -> pd.DataFrame:
    """Return the wide price frame (date index, one column per symbol), gaps dropped.

    A date with a missing price for any chosen symbol is dropped: a return across
    it would mix two bars into one.
    """
    frame = pd.read_csv(path, index_col=0, parse_dates=True).sort_index()
    if symbols is not None:
        missing = [s for s in symbols if s not in frame.columns]
        if missing:
            raise typer.BadParameter(
                f"not columns of {path.name}: {', '.join(missing)}", param_hint="--weights"
            )
        frame = frame[symbols]
    numeric: pd.DataFrame = frame.apply(pd.to_numeric, errors="coerce")
    return numeric.dropna()


def report_table(report: BacktestReport, title: str) -> Table:
    """Return the readable summary table of a backtest."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("p-value", justify="right")
    table.add_row("observations", str(report.observations), "")
    table.add_row(
        "exceptions",
        f"{report.exceptions} (expected {report.expected_exceptions:.1f})",
        "",
    )
    table.add_row("exception rate", f"{report.exception_rate:.4f}", "")
    table.add_row("Kupiec POF LR", f"{report.kupiec.lr:.4f}", f"{report.kupiec.p_value:.4f}")
    table.add_row(
        "Christoffersen independence LR",
        f"{report.christoffersen.lr:.4f}",
        f"{report.christoffersen.p_value:.4f}",
    )
    table.add_row(
        "conditional coverage LR",
        f"{report.conditional_coverage.lr:.4f}",
        f"{report.conditional_coverage.p_value:.4f}",
    )
    zone = report.traffic_light.value
    table.add_row("traffic light", f"[{_ZONE_STYLE[zone]}]{zone}[/]", "")
    return table


def plot_backtest(series: BacktestSeries, dates: pd.Index, path: Path, title: str) -> None:
    """Write a PNG of daily P&L against −VaR with the exceptions marked."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg: no GUI, no pyplot

    when = dates[series.positions]
    flags = series.exceptions
    figure = Figure(figsize=(11, 5), layout="constrained")
    axes = figure.subplots()
    axes.bar(when, series.pnl, width=1.0, color="0.6", label="P&L")
    axes.plot(when, -series.var, color="tab:red", linewidth=1.0, label="−VaR")
    axes.scatter(when[flags], series.pnl[flags], color="black", s=12, zorder=3, label="exception")
    axes.set_title(title)
    axes.set_ylabel("P&L")
    axes.legend(loc="lower left")
    figure.savefig(path, dpi=110)


def backtest(
    prices: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="Wide CSV: date column, then one column per symbol."
        ),
    ],
    weights: Annotated[
        str | None,
        typer.Option(
            help="Market value per symbol, SYM=VALUE,...; default 1,000,000 in every column."
        ),
    ] = None,
    confidence: Annotated[
        float, typer.Option(min=0.5, max=0.9999, help="VaR confidence level.")
    ] = 0.95,
    window: Annotated[int, typer.Option(min=2, help="Return bars behind each forecast.")] = 250,
    method: Annotated[VaRMethod, typer.Option(help="VaR engine.")] = VaRMethod.HISTORICAL,
    distribution: Annotated[
        Distribution,
        typer.Option(help="Parametric / Monte Carlo distribution: normal or student_t."),
    ] = Distribution.NORMAL,
    dof: Annotated[float, typer.Option(help="Student-t degrees of freedom (> 2).")] = 5.0,
    ewma_lambda: Annotated[
        float, typer.Option("--lambda", help="EWMA decay (ewma method, FHS).")
    ] = 0.94,
    fhs_volatility: Annotated[
        Volatility,
        typer.Option(help="FHS volatility model; garch refits every bar, so it is slow."),
    ] = Volatility.EWMA,
    scenarios: Annotated[
        int, typer.Option(min=100, help="Monte Carlo scenarios per forecast.")
    ] = 10_000,
    seed: Annotated[
        int, typer.Option(help="Monte Carlo seed (the bar index is added per forecast).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of P&L vs −VaR here.")] = None,
) -> None:
    """Backtest rolling out-of-sample VaR on a price file: exceptions, Kupiec, traffic light."""
    values_by_symbol = parse_weights(weights) if weights else None
    frame = load_prices(prices, list(values_by_symbol) if values_by_symbol else None)
    values = (
        np.array(list(values_by_symbol.values()))
        if values_by_symbol
        else np.full(frame.shape[1], DEFAULT_VALUE)
    )
    if frame.shape[0] <= window + 1:
        raise typer.BadParameter(
            f"{frame.shape[0]} complete price rows; need more than {window + 1}",
            param_hint="--window",
        )
    try:
        config = VaRConfig(
            method=method,
            confidence=confidence,
            distribution=distribution,
            dof=dof,
            ewma_lambda=ewma_lambda,
            fhs_volatility=fhs_volatility,
            scenarios=scenarios,
            seed=seed,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    series = rolling_backtest(frame.to_numpy(dtype=np.float64), values, window, config)
    report = evaluate_backtest(series.pnl, series.var, confidence)
    title = f"VaR backtest: {method.value}, {confidence:.1%}, window {window}"
    if plot is not None:
        plot_backtest(series, frame.index, plot, title)
    if as_json:
        record = {**report.as_dict(), "method": method.value, "window": window}
        typer.echo(json.dumps(record))
        return
    console = Console()
    first, last = frame.index[series.positions[0]], frame.index[series.positions[-1]]
    console.print(report_table(report, f"{title} ({first:%Y-%m-%d} to {last:%Y-%m-%d})"))
    if plot is not None:
        console.print(f"plot written to {plot}")


def register(app: typer.Typer) -> None:
    """Add the `backtest` command to the RedFire CLI."""
    app.command("backtest")(backtest)

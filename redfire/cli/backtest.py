"""`redfire backtest`: roll VaR forecasts over a price file and test them against the P&L.

The lead's CLI calls `register(app)` to add the command. The math lives in
`redfire.risk.backtest` and `redfire.risk.es_backtest`; this module only reads
the CSV, prints and plots. `--compare` runs every named method (`COMPARED`)
over the same bars at 95%, 97.5% and 99% and prints one table (and one plot).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from redfire.risk.backtest import (
    BacktestReport,
    BacktestSeries,
    MethodComparison,
    compare_method,
    evaluate_backtest,
    evaluate_es,
    rolling_backtest,
)
from redfire.risk.es_backtest import EsBacktestReport
from redfire.risk.measures import Distribution, VaRConfig, VaRMethod, Volatility

# Used when --weights is left out: this market value in every column.
DEFAULT_VALUE = 1_000_000.0
_ZONE_STYLE = {"green": "bold green", "yellow": "bold yellow", "red": "bold red"}
COMPARE_CONFIDENCES = (0.95, 0.975, 0.99)
COMPARE_WIDTH = 100
# Test level of the table's reject marks.
SIGNIFICANCE = 0.05

# Every method `--compare` knows, by name: the shipped fhs and the old settings.
COMPARED: dict[str, dict[str, Any]] = {
    "historical": {"method": VaRMethod.HISTORICAL},
    "parametric": {"method": VaRMethod.PARAMETRIC, "distribution": Distribution.NORMAL},
    "parametric_t": {"method": VaRMethod.PARAMETRIC, "distribution": Distribution.STUDENT_T},
    "ewma": {"method": VaRMethod.EWMA, "distribution": Distribution.NORMAL},
    "montecarlo": {"method": VaRMethod.MONTECARLO, "distribution": Distribution.NORMAL},
    "fhs": {"method": VaRMethod.FHS, "fhs_volatility": Volatility.GJR_T},
    "fhs_evt": {"method": VaRMethod.FHS, "fhs_volatility": Volatility.GJR_T, "fhs_evt_tail": 0.1},
    "fhs_ewma_mle": {"method": VaRMethod.FHS, "fhs_volatility": Volatility.EWMA_MLE},
    "fhs_ewma": {"method": VaRMethod.FHS, "fhs_volatility": Volatility.EWMA, "ewma_lambda": 0.94},
    "fhs_garch": {"method": VaRMethod.FHS, "fhs_volatility": Volatility.GARCH},
}
# fhs_garch refits arch on every bar (minutes over 20 years): only on request.
DEFAULT_COMPARED = tuple(name for name in COMPARED if name != "fhs_garch")


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


def report_table(
    report: BacktestReport, title: str, es_report: EsBacktestReport | None = None
) -> Table:
    """Return the readable summary table of a backtest (VaR, then ES when given)."""
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
    if es_report is not None:
        _add_es_rows(table, es_report)
    return table


def _add_es_rows(table: Table, es_report: EsBacktestReport) -> None:
    """Add the Acerbi–Szekely and McNeil–Frey rows to a summary table."""
    z1, z2, residuals = es_report.z1, es_report.z2, es_report.mcneil_frey
    table.add_row("ES Acerbi–Szekely Z1", f"{z1.statistic:.4f}", f"{z1.p_value:.4f}")
    table.add_row("ES Acerbi–Szekely Z2", f"{z2.statistic:.4f}", f"{z2.p_value:.4f}")
    table.add_row(
        "ES McNeil–Frey residual t",
        f"{residuals.t_statistic:.4f} (n={residuals.exceedances})",
        f"{residuals.p_value:.4f}",
    )


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


def _p_cell(p_value: float) -> str:
    """Return a p-value, in red when the test rejects at SIGNIFICANCE."""
    text = f"{p_value:.3f}"
    return f"[bold red]{text}[/]" if p_value < SIGNIFICANCE else text


def compare_table(results: list[MethodComparison], title: str) -> Table:
    """Return one table of every method at every confidence: VaR tests, zone, ES tests.

    Compact (no vertical rules, short headings) so it fits a 100-column terminal.
    """
    table = Table(
        title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold"
    )
    table.add_column("method", no_wrap=True)
    for heading in ("c", "exc/exp", "Kupiec", "Chr.", "CC", "zone", "Z2", "Z2 p", "Z1 p", "MF p"):
        table.add_column(heading, justify="right", no_wrap=True)
    for result in results:
        for var_report, es_report in zip(result.var_reports, result.es_reports, strict=True):
            zone = var_report.traffic_light.value
            table.add_row(
                result.name,
                f"{var_report.confidence:.1%}",
                f"{var_report.exceptions}/{var_report.expected_exceptions:.0f}",
                _p_cell(var_report.kupiec.p_value),
                _p_cell(var_report.christoffersen.p_value),
                _p_cell(var_report.conditional_coverage.p_value),
                f"[{_ZONE_STYLE[zone]}]{zone}[/]",
                f"{es_report.z2.statistic:.3f}",
                _p_cell(es_report.z2.p_value),
                _p_cell(es_report.z1.p_value),
                _p_cell(es_report.mcneil_frey.p_value),
            )
        table.add_section()
    return table


def plot_comparison(
    results: list[MethodComparison], dates: pd.Index, path: Path, title: str
) -> None:
    """Write a PNG: P&L against each method's −VaR(99%), and exceptions per expected."""
    from matplotlib.figure import Figure  # a bare Figure renders with Agg: no GUI, no pyplot

    figure = Figure(figsize=(12, 8), layout="constrained")
    top, bottom = figure.subplots(2, 1, height_ratios=(3, 2))
    first = results[0]
    when = dates[first.positions]
    top.bar(when, first.pnl, width=1.0, color="0.7", label="P&L")
    level = max(first.confidences)
    for result in results:
        row = result.confidences.index(level)
        top.plot(when, -result.var[row], linewidth=0.8, label=f"−VaR {level:.0%} {result.name}")
    top.set_title(title)
    top.set_ylabel("P&L")
    top.legend(loc="lower left", fontsize="small", ncols=2)
    width = 0.8 / len(first.confidences)
    for i, confidence in enumerate(first.confidences):
        ratios = [
            r.var_reports[i].exceptions / r.var_reports[i].expected_exceptions for r in results
        ]
        positions = np.arange(len(results)) + (i - (len(first.confidences) - 1) / 2) * width
        bottom.bar(positions, ratios, width=width, label=f"{confidence:.1%}")
    bottom.axhline(1.0, color="black", linewidth=0.8)
    bottom.set_xticks(np.arange(len(results)), [r.name for r in results], rotation=20)
    bottom.set_ylabel("exceptions / expected")
    bottom.legend(loc="upper right", fontsize="small")
    figure.savefig(path, dpi=110)


def parse_methods(text: str | None) -> tuple[str, ...]:
    """Return the compared method names from 'a,b,c' (default: DEFAULT_COMPARED)."""
    if text is None:
        return DEFAULT_COMPARED
    names = tuple(filter(None, (part.strip() for part in text.split(","))))
    unknown = [name for name in names if name not in COMPARED]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(COMPARED)}",
            param_hint="--methods",
        )
    return names


def compared_configs(base: VaRConfig, names: tuple[str, ...]) -> dict[str, VaRConfig]:
    """Return each named method's configuration, the rest taken from `base`."""
    configs: dict[str, VaRConfig] = {}
    for name in names:
        configs[name] = replace(base, **COMPARED[name])
    return configs


def _run_comparison(
    frame: pd.DataFrame,
    values: np.ndarray,
    window: int,
    configs: dict[str, VaRConfig],
    draws: int,
    seed: int,
    console: Console | None,
) -> list[MethodComparison]:
    """Backtest every configured method over the same bars, reporting progress."""
    prices = frame.to_numpy(dtype=np.float64)
    results = []
    for name, config in configs.items():
        started = time.perf_counter()
        results.append(
            compare_method(name, prices, values, window, config, COMPARE_CONFIDENCES, draws, seed)
        )
        if console is not None:
            console.print(f"{name}: {time.perf_counter() - started:.1f} s", style="dim")
    return results


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
        typer.Option(
            help="FHS volatility model: gjr_t (shipped), ewma_mle, ewma (λ fixed, the old "
            "default) or garch (refits every bar, slow)."
        ),
    ] = Volatility.GJR_T,
    fhs_fit_window: Annotated[
        int, typer.Option(min=100, help="Returns each gjr_t/ewma_mle fit sees.")
    ] = 1000,
    fhs_scenarios: Annotated[
        int, typer.Option(min=2, help="Filtered scenarios per symbol (gjr_t/ewma_mle).")
    ] = 1000,
    fhs_refit_every: Annotated[
        int, typer.Option(min=1, help="Bars between refits of the gjr_t/ewma_mle filter.")
    ] = 20,
    fhs_evt_tail: Annotated[
        float,
        typer.Option(min=0.0, max=0.49, help="Share of worst residuals given a GPD tail; 0: none."),
    ] = 0.0,
    scenarios: Annotated[
        int, typer.Option(min=100, help="Monte Carlo scenarios per forecast.")
    ] = 10_000,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of Monte Carlo (plus the bar index per forecast) and of the ES tests."
        ),
    ] = 0,
    es_draws: Annotated[
        int, typer.Option(min=100, help="Simulated paths behind the ES tests' p-values.")
    ] = 1000,
    compare: Annotated[
        bool,
        typer.Option("--compare", help="Backtest every method side by side at 95%, 97.5% and 99%."),
    ] = False,
    methods: Annotated[
        str | None,
        typer.Option(help=f"With --compare: methods to run, from {', '.join(COMPARED)}."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of P&L vs −VaR here.")] = None,
) -> None:
    """Backtest rolling out-of-sample VaR and ES on a price file, or --compare every method."""
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
            fhs_fit_window=fhs_fit_window,
            fhs_scenarios=fhs_scenarios,
            fhs_refit_every=fhs_refit_every,
            fhs_evt_tail=fhs_evt_tail,
            scenarios=scenarios,
            seed=seed,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if compare:
        names = parse_methods(methods)
        _compare(frame, values, window, compared_configs(config, names), es_draws, as_json, plot)
        return
    _single(frame, values, window, config, es_draws, as_json, plot)


def _single(
    frame: pd.DataFrame,
    values: np.ndarray,
    window: int,
    config: VaRConfig,
    draws: int,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Backtest one method at its confidence and print (or plot) the result."""
    confidence = config.confidence
    series = rolling_backtest(frame.to_numpy(dtype=np.float64), values, window, config)
    report = evaluate_backtest(series.pnl, series.var, confidence)
    es_report = evaluate_es(series, confidence, draws, config.seed)
    title = f"VaR/ES backtest: {_label(config)}, {confidence:.1%}, window {window}"
    if plot is not None:
        plot_backtest(series, frame.index, plot, title)
    if as_json:
        record = {
            **report.as_dict(),
            **es_report.as_dict(),
            "method": config.method.value,
            "window": window,
        }
        if config.method is VaRMethod.FHS:
            record["fhs_volatility"] = config.fhs_volatility.value
        typer.echo(json.dumps(record))
        return
    console = Console()
    first, last = frame.index[series.positions[0]], frame.index[series.positions[-1]]
    console.print(report_table(report, f"{title} ({first:%Y-%m-%d} to {last:%Y-%m-%d})", es_report))
    if plot is not None:
        console.print(f"plot written to {plot}")


def _label(config: VaRConfig) -> str:
    """Return the method's name, with the FHS filter."""
    if config.method is VaRMethod.FHS:
        return f"fhs ({config.fhs_volatility.value})"
    return config.method.value


def _compare(
    frame: pd.DataFrame,
    values: np.ndarray,
    window: int,
    configs: dict[str, VaRConfig],
    draws: int,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Backtest every method over the same bars and print one table (or JSON list)."""
    seed = next(iter(configs.values())).seed
    # The table needs about 90 columns; below that rich would cut the p-values.
    console = None if as_json else Console(width=max(Console().width, COMPARE_WIDTH))
    results = _run_comparison(frame, values, window, configs, draws, seed, console)
    first = frame.index[results[0].positions[0]]
    last = frame.index[results[0].positions[-1]]
    title = f"VaR/ES backtests, window {window}, {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    if plot is not None:
        plot_comparison(results, frame.index, plot, title)
    if as_json:
        records = [record for result in results for record in result.records()]
        typer.echo(json.dumps(records))
        return
    assert console is not None
    console.print(compare_table(results, title))
    console.print(
        f"exc/exp: exceptions / expected. Kupiec, Chr. (Christoffersen independence), CC "
        f"(conditional coverage): VaR tests. Z2, Z1: Acerbi–Szekely, p-values from {draws} "
        "paths simulated under each method's own forecast distribution; MF p: McNeil–Frey "
        f"exceedance residuals (bootstrap). Red p-values reject at {SIGNIFICANCE:.0%}."
    )
    if plot is not None:
        console.print(f"plot written to {plot}")


def register(app: typer.Typer) -> None:
    """Add the `backtest` command to the RedFire CLI."""
    app.command("backtest")(backtest)

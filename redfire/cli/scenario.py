"""`redfire scenario-from-history`: a historical stress scenario from daily closes.

The lead's CLI calls ``register(app)`` to add the command. The closes are read by
``redfire.feed`` (pandas; wide or long form), the shocks are computed by
``redfire.risk.stress.historical_scenario`` (close on the last date <= end / close on the
first date >= start - 1), and ``--send`` publishes the scenario as an ADD_SCENARIO command
with the same producer as the other operator commands (``redfire.cli.feed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Final

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from redfire import feed
from redfire.cli.feed import BrokerOption, send_command
from redfire.risk.stress import (
    HistoryPoint,
    StressScenario,
    historical_scenario,
    scenario_to_payload,
)
from redfire.risk.vocabulary import ALL_ACCOUNTS

DATE_FORMAT: Final = "%Y-%m-%d"
SymbolHistory = dict[str, list[HistoryPoint]]


def load_history(path: Path) -> SymbolHistory:
    """Return symbol → [(date, close), ...] from a closes file; exit on an unreadable one."""
    try:
        closes = feed.load_closes(path)
    except feed.FeedError as exc:
        raise typer.BadParameter(str(exc), param_hint="PRICES") from exc
    return {symbol: _points(series) for symbol, series in closes.items()}


def _points(series: pd.Series) -> list[HistoryPoint]:
    days = [pd.Timestamp(moment).date() for moment in series.index]
    return list(zip(days, (float(close) for close in series.to_numpy()), strict=True))


def closes_in_range(points: Sequence[HistoryPoint], start: date, end: date) -> list[HistoryPoint]:
    """Return the (date, close) points inside [start, end], oldest first (for the table)."""
    return sorted(point for point in points if start <= _day(point[0]) <= end)


def _day(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def shocks_table(scenario: StressScenario, history: Mapping[str, Sequence[HistoryPoint]]) -> Table:
    """Return one row per symbol: the closes the shock spans and the shock itself."""
    start = date.fromisoformat(scenario.history_start or "")
    end = date.fromisoformat(scenario.history_end or "")
    table = Table(title=f"{scenario.scenario_id}: {scenario.name}")
    for column in ("symbol", "from", "close", "to", "close", "shock"):
        table.add_column(column, justify="left" if column == "symbol" else "right")
    for symbol in sorted(history):
        inside = closes_in_range(history[symbol], start, end)
        shock = scenario.shocks.get(symbol)
        if shock is None or len(inside) < 2:
            fallback = "default" if scenario.default_shock is not None else "none"
            table.add_row(symbol, "-", "-", "-", "-", f"({fallback})")
            continue
        (first_day, first_close), (last_day, last_close) = inside[0], inside[-1]
        table.add_row(
            symbol,
            str(first_day),
            f"{first_close:,.4f}",
            str(last_day),
            f"{last_close:,.4f}",
            f"{shock:+.4%}",
        )
    return table


def scenario_from_history(
    prices: Annotated[
        Path,
        typer.Argument(
            dir_okay=False,
            help="Daily closes: wide CSV (date column, then one close column per symbol); "
            "long form (symbol, date, close) and .jsonl/.json are read too.",
        ),
    ],
    scenario_id: Annotated[str, typer.Option("--id", help="Scenario id (RUN_STRESS names it).")],
    start: Annotated[
        datetime, typer.Option(formats=[DATE_FORMAT], help="First day of the range (YYYY-MM-DD).")
    ],
    end: Annotated[
        datetime, typer.Option(formats=[DATE_FORMAT], help="Last day of the range (YYYY-MM-DD).")
    ],
    name: Annotated[
        str | None, typer.Option(help="Readable name; default 'historical START..END'.")
    ] = None,
    description: Annotated[str, typer.Option(help="What the range stands for.")] = "",
    default_shock: Annotated[
        float | None,
        typer.Option(help="Shock for symbols without closes in the range, e.g. -0.3."),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Publish the scenario as an ADD_SCENARIO command.")
    ] = False,
    broker: BrokerOption = None,
) -> None:
    """Build a historical stress scenario from daily closes; print its shocks; optionally send it.

    Each symbol's shock is its cumulative return over the range: close on the last date <= END
    divided by close on the first date >= START, minus 1.
    """
    console = Console()
    first, last = start.date(), end.date()
    if first > last:
        raise typer.BadParameter(f"start {first} is after end {last}", param_hint="--start")
    history = load_history(prices)
    try:
        scenario = historical_scenario(
            history,
            first,
            last,
            scenario_id=scenario_id,
            name=name,
            description=description,
            default_shock=default_shock,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(shocks_table(scenario, history))
    if not scenario.shocks:
        console.print(f"[bold red]error:[/] no symbol has two closes between {first} and {last}")
        raise typer.Exit(1)
    if scenario.default_shock is not None:
        console.print(f"default shock for other symbols: {scenario.default_shock:+.4%}")
    if not send:
        console.print("not sent: add --send to publish it as an ADD_SCENARIO command")
        return
    command = feed.command_record("ADD_SCENARIO", ALL_ACCOUNTS, scenario_to_payload(scenario))
    send_command(command, broker, console)


def register(app: typer.Typer) -> None:
    """Add the ``scenario-from-history`` command to the ``redfire`` CLI."""
    app.command("scenario-from-history")(scenario_from_history)

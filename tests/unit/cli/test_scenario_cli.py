"""`scenario-from-history` offline: shocks from closes, validation, and what --send sends."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from redfire.cli import scenario as cli_scenario
from redfire.risk.stress import scenario_from_payload
from redfire.schemas.codec import COMMAND, decode, encode_json
from redfire.schemas.records import RiskCommand

# Nothing listens here: a command that reached for Kafka would fail, not pass.
NO_KAFKA = {"REDFIRE_BROKER": "kafka://127.0.0.1:1"}
# 2024-03-01 is a Friday: the range below starts on a day without closes.
CLOSES_CSV = """date,AAA,BBB,CCC
2024-02-28,100.0,50.0,
2024-02-29,104.0,49.0,
2024-03-04,110.0,45.0,20.0
2024-03-05,99.0,,
2024-03-06,88.0,40.0,
2024-03-07,77.0,30.0,
"""


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_scenario.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps typer from collapsing to the only one
        """Do nothing."""

    return app


@pytest.fixture
def closes(tmp_path: Path) -> Path:
    path = tmp_path / "closes.csv"
    path.write_text(CLOSES_CSV)
    return path


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[RiskCommand]:
    """Capture what --send would publish instead of talking to Kafka."""
    commands: list[RiskCommand] = []

    def capture(command: RiskCommand, broker: str | None, console: Console) -> None:
        commands.append(command)

    monkeypatch.setattr(cli_scenario, "send_command", capture)
    return commands


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["scenario-from-history", *args], env=NO_KAFKA)
    # rich boxes wrap long messages (tmp paths); compare words, not line breaks
    words = result.output.replace("│", " ").split()
    return result.exit_code, " ".join(words)


def test_prints_cumulative_returns_over_the_range_and_sends_nothing(
    app: typer.Typer, closes: Path, sent: list[RiskCommand]
) -> None:
    code, output = invoke(
        app, str(closes), "--id", "march", "--start", "2024-03-01", "--end", "2024-03-06"
    )

    assert code == 0, output
    # AAA: first close on/after 03-01 is 110 (03-04), last on/before 03-06 is 88.
    assert "2024-03-04" in output and "2024-03-06" in output
    assert "-20.0000%" in output  # 88 / 110 - 1
    assert "-11.1111%" in output  # BBB 40 / 45 - 1
    assert "not sent" in output
    assert sent == []


def test_send_publishes_the_scenario_as_add_scenario(
    app: typer.Typer, closes: Path, sent: list[RiskCommand]
) -> None:
    code, output = invoke(
        app,
        str(closes),
        "--id",
        "march",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-07",
        "--name",
        "March slide",
        "--default-shock",
        "-0.25",
        "--send",
    )

    assert code == 0, output
    [command] = sent
    assert command.command == "ADD_SCENARIO"
    assert command.account == "*"
    scenario = scenario_from_payload(command.payload)
    assert scenario.scenario_id == "march"
    assert scenario.name == "March slide"
    assert dict(scenario.shocks) == {"AAA": 77.0 / 110.0 - 1, "BBB": 30.0 / 45.0 - 1}
    assert scenario.default_shock == -0.25
    assert (scenario.history_start, scenario.history_end) == ("2024-03-01", "2024-03-07")
    assert decode(encode_json(command), COMMAND) == command  # a worker reads it back as sent


def test_symbol_with_one_close_in_range_falls_back_to_the_default(
    app: typer.Typer, closes: Path, sent: list[RiskCommand]
) -> None:
    code, output = invoke(
        app,
        str(closes),
        "--id",
        "march",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-07",
        "--default-shock",
        "-0.3",
        "--send",
    )

    assert code == 0, output
    assert "(default)" in output  # CCC has a single close in the range
    assert "CCC" not in sent[0].payload["shocks"]  # type: ignore[operator]


def test_start_after_end_is_refused(app: typer.Typer, closes: Path) -> None:
    code, output = invoke(
        app, str(closes), "--id", "x", "--start", "2024-03-07", "--end", "2024-03-01"
    )

    assert code == 2
    assert "after end" in output


def test_bad_date_format_is_refused(app: typer.Typer, closes: Path) -> None:
    code, _ = invoke(app, str(closes), "--id", "x", "--start", "03/01/2024", "--end", "2024-03-07")

    assert code == 2


def test_missing_file_is_refused(app: typer.Typer, tmp_path: Path) -> None:
    code, output = invoke(
        app, str(tmp_path / "nope.csv"), "--id", "x", "--start", "2024-03-01", "--end", "2024-03-07"
    )

    assert code == 2
    assert "no such file" in output


def test_range_without_closes_fails_and_sends_nothing(
    app: typer.Typer, closes: Path, sent: list[RiskCommand]
) -> None:
    code, output = invoke(
        app, str(closes), "--id", "x", "--start", "2023-01-01", "--end", "2023-12-31", "--send"
    )

    assert code == 1
    assert "no symbol has two closes" in output
    assert sent == []


def test_default_shock_below_minus_one_is_refused(
    app: typer.Typer, closes: Path, sent: list[RiskCommand]
) -> None:
    code, output = invoke(
        app,
        str(closes),
        "--id",
        "x",
        "--start",
        "2024-03-01",
        "--end",
        "2024-03-07",
        "--default-shock",
        "-1.5",
        "--send",
    )

    assert code == 2
    assert "below -1" in output
    assert sent == []

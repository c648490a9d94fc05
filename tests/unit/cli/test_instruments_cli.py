"""`redfire instruments load` offline: validation and dry runs, no Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from redfire.cli import instruments as cli_instruments

EXAMPLE = Path(__file__).parents[3] / "redfire" / "config" / "instruments.example.yaml"
# Nothing listens here: a command that reached for Kafka would fail, not pass.
# A wide terminal, so that rich does not wrap the error text inside its box.
NO_KAFKA = {"REDFIRE_BROKER": "kafka://127.0.0.1:1", "COLUMNS": "1000"}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_instruments.register(app)
    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=NO_KAFKA)
    return result.exit_code, result.output


def test_dry_run_validates_the_example_and_sends_nothing(app: typer.Typer) -> None:
    code, output = invoke(app, "instruments", "load", str(EXAMPLE), "--dry-run")

    assert code == 0, output
    assert "688981.SH" in output and "1 min 200" in output
    assert "dry run: 15 instruments valid, none sent" in output


def test_a_bad_file_is_refused_before_anything_is_sent(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("instruments:\n  0005.HK: {market: XHKG, currency: HKD, lot_size: -400}\n")

    code, output = invoke(app, "instruments", "load", str(path))

    assert code == 2
    assert "bad.yaml: symbol 0005.HK: field lot_size: must be a whole number >= 1" in output

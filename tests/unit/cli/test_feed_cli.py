"""The feed commands' offline paths: dry runs, validation and `limits show`, no Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from redfire.cli import feed as cli_feed

# Nothing listens here: a command that reached for Kafka would fail, not pass.
NO_KAFKA = {"REDFIRE_BROKER": "kafka://127.0.0.1:1"}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    cli_feed.register(app)
    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=NO_KAFKA)
    return result.exit_code, result.output


def test_replay_dry_run_counts_valid_and_reports_invalid(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("symbol,ts,price\nAAPL,1,10\nAAPL,2,-1\nAAPL,3,11\n")

    code, output = invoke(app, "replay", str(path), "--topic", "ticks", "--dry-run")

    assert code == 0, output
    assert "1 of 3 rows invalid (not sent)" in output
    assert "line 3: non_positive: price must be > 0" in output
    assert "2 records would be sent, 1 invalid" in output


def test_replay_needs_a_known_topic(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    path.write_text("symbol,ts,price\nAAPL,1,10\n")

    code, _ = invoke(app, "replay", str(path), "--topic", "order_decisions", "--dry-run")

    assert code == 2


def test_replay_refuses_unknown_file_type(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "ticks.txt"
    path.write_text("")

    code, output = invoke(app, "replay", str(path), "--topic", "ticks", "--dry-run")

    assert code == 2
    assert "unknown file type" in output


def test_backfill_dry_run_prints_the_windows(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "closes.csv"
    path.write_text("date,AAPL,MSFT\n2024-01-02,100,370\n2024-01-03,101,\n2024-01-04,99,372\n")

    code, output = invoke(app, "backfill-returns", str(path), "--window", "5", "--dry-run")

    assert code == 0, output
    assert "would write 2 windows to redfire-returns-changelog" in output
    assert "2/5" in output and "1/5" in output
    assert "2024-01-04" in output


def test_backfill_refuses_a_bad_interval(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "closes.csv"
    path.write_text("date,X\n2024-01-02,1\n")

    code, output = invoke(app, "backfill-returns", str(path), "--interval", "1w", "--dry-run")

    assert code == 2
    assert "bad bar interval" in output


def test_limits_set_refuses_unknown_names_before_sending(app: typer.Typer) -> None:
    code, output = invoke(app, "limits", "set", "max_orderz=5")

    assert code == 2
    assert "unknown limit" in output


def test_set_cash_refuses_every_account(app: typer.Typer) -> None:
    code, output = invoke(app, "set-cash", "*", "100")

    assert code == 2
    assert "needs one account" in output


def test_limits_show_prints_defaults_and_account_overrides(
    app: typer.Typer, tmp_path: Path
) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text("default:\n  max_var_pct: 0.02\naccounts:\n  ACC1:\n    max_var_pct: 0.01\n")

    code, default = invoke(app, "limits", "show", "--file", str(path))
    code_acc, acc1 = invoke(app, "limits", "show", "--file", str(path), "--account", "ACC1")

    assert code == 0 and code_acc == 0, default + acc1
    assert "0.02" in default and "accounts with overrides: ACC1" in default
    assert "0.01 *" in acc1


def test_limits_show_reports_a_broken_file(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text("default:\n  max_var_pct: 7\n")

    code, output = invoke(app, "limits", "show", "--file", str(path))

    assert code == 2
    assert "fraction" in output


def test_set_cash_refuses_a_non_finite_amount(app: typer.Typer) -> None:
    code, output = invoke(app, "set-cash", "ACC1", "nan")

    assert code == 2
    assert "finite" in output

"""The ``redfire`` command line (``python -m redfire`` is the same)."""

from __future__ import annotations

import signal
import threading

import typer
from rich.console import Console

app = typer.Typer(help="RedFire: real-time trading risk on Kafka.", no_args_is_help=True)
console = Console()


@app.command()
def demo(
    seconds: float = typer.Option(60.0, help="Stop after this many seconds (Ctrl-C stops too)."),
    broker: str | None = typer.Option(
        None, help="Use this Kafka (kafka://host:port) instead of the embedded Tansu broker."
    ),
) -> None:
    """Run broker + worker + a seeded feed; show decisions, alerts and accounts as they change."""
    from redfire.cli.demo import run_demo

    run_demo(seconds, broker, console)


@app.command("broker")
def broker_command(
    port: int = typer.Option(9092, help="Port to listen on (127.0.0.1)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """Run the embedded Tansu broker (in memory, no transactions) until Ctrl-C."""
    from redfire.embedded import start_tansu

    broker = start_tansu(host, port)
    console.print(f"Tansu listening on {broker.bootstrap}; Ctrl-C stops it")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5) and broker.process.poll() is None:
            pass
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
        console.print("broker stopped")


def _register_commands() -> None:
    from redfire.cli import backtest, feed, flatten, instruments, report, scenario, token

    backtest.register(app)
    feed.register(app)
    flatten.register(app)
    instruments.register(app)
    scenario.register(app)
    token.register(app)
    report.register(app)


def main() -> None:
    """Run the CLI."""
    _register_commands()
    app()

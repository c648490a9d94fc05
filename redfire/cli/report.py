"""`redfire report daily`: the daily risk report (seed 002 §5.2) as one offline HTML file.

It reads ``order_decisions``, ``risk_alerts``, ``risk_metrics`` and ``fills`` from the
beginning up to their ends at the moment it starts (JSON or Avro), keeps the records of the
day by their ``ts`` (Kafka timestamps say when a record was written, not what day it is
about), computes the figures with ``redfire.risk.report`` and writes HTML with matplotlib
charts embedded as data URIs and the figures as JSON (``<script id="report-data">``).
``risk_metrics`` is compacted: once Kafka has compacted a day's segments only the latest
snapshot per account is left, so the VaR-through-the-day figures of old days thin out.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from rich.console import Console

from redfire.cli.feed import METADATA_TIMEOUT_S, BrokerOption, load_settings
from redfire.feed import decode_output
from redfire.risk.report import (
    FIRM,
    AccountDay,
    DailyReport,
    DayRecords,
    daily_report,
    day_bounds,
    select_day,
)
from redfire.settings import Settings
from redfire.streams.admin import client_config

SOURCES: Final[Mapping[str, str]] = {
    "order_decisions": "order_decision",
    "risk_alerts": "risk_alert",
    "risk_metrics": "risk_snapshot",
    "fills": "fill",
}
CHART_ACCOUNTS: Final = 6
READ_IDLE_S: Final = 10.0

report_app = typer.Typer(help="Risk reports from the output topics.", no_args_is_help=True)


# --- reading -------------------------------------------------------------------------------


def read_topic(settings: Settings, name: str, schema: str) -> list[dict[str, Any]]:
    """Return every record of a topic up to its end now, decoded; skip undecodable ones."""
    topic = settings.topic(name)
    consumer = Consumer(
        {
            **client_config(settings),
            "group.id": f"redfire-report-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return []
        ends = {}
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S
            )
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        return _read_until(consumer, ends, schema)
    finally:
        consumer.close()


def _read_until(consumer: Consumer, ends: dict[int, int], schema: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    left = dict(ends)
    last = time.monotonic()
    while left and time.monotonic() - last < READ_IDLE_S:
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                raise KafkaException(error)
            left.pop(message.partition() or 0, None)
            continue
        last = time.monotonic()
        partition, offset = message.partition() or 0, message.offset() or 0
        if offset + 1 >= left.get(partition, 0):
            left.pop(partition, None)
        try:
            value = decode_output(message.value(), schema)
        except (ValueError, EOFError, IndexError, KeyError):
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def read_sources(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Return the records of the four source topics."""
    return {name: read_topic(settings, name, schema) for name, schema in SOURCES.items()}


# --- charts --------------------------------------------------------------------------------


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(report: DailyReport, snapshots: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Return title → PNG data URI of the report's charts (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    made: dict[str, str] = {}
    ranked = sorted(
        (day for day in report.accounts if day.var is not None),
        key=lambda day: -(day.var.peak_var_99 if day.var else 0.0),
    )[:CHART_ACCOUNTS]
    if ranked:
        for title, metric in (("VaR 99% through the day", "var_99"), ("Day PnL", "daily_pnl")):
            figure, axes = pyplot.subplots(figsize=(9, 3.2))
            for day in ranked:
                points = sorted(
                    (s["ts"], s[metric])
                    for s in snapshots
                    if s.get("account") == day.account and isinstance(s.get(metric), int | float)
                )
                if points:
                    times: Any = [datetime.fromtimestamp(t / 1000, UTC) for t, _ in points]
                    axes.plot(times, [v for _, v in points], label=day.account, linewidth=1.5)
            axes.set_title(title)
            axes.grid(alpha=0.3)
            axes.legend(fontsize=8, loc="upper left")
            figure.autofmt_xdate()
            made[title] = _png(figure)
            pyplot.close(figure)
    checks = report.trading.rejects_by_check
    if checks:
        figure, axes = pyplot.subplots(figsize=(9, 0.5 + 0.35 * len(checks)))
        names = list(checks)[::-1]
        axes.barh(names, [checks[n] for n in names], color="#d9534f")
        axes.set_title("Rejections by check")
        axes.set_xlabel("rejected orders")
        made["Rejections by check"] = _png(figure)
        pyplot.close(figure)
    return made


# --- HTML ----------------------------------------------------------------------------------


def _cell(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        return f"{value:,.{digits}f}"
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pnl_rows(accounts: Sequence[AccountDay]) -> list[list[str]]:
    return [
        [
            html.escape(day.account),
            _cell(day.pnl.start_equity),
            _cell(day.pnl.end_equity),
            _cell(day.pnl.daily_pnl),
            _cell(day.pnl.realized_pnl),
            _cell(day.pnl.unrealized_pnl),
            _cell(day.trading.fees, 2),
        ]
        for day in accounts
        if day.pnl is not None
    ]


def _var_rows(accounts: Sequence[AccountDay]) -> list[list[str]]:
    rows = []
    for day in accounts:
        var = day.var
        if var is None:
            continue
        rows.append(
            [
                html.escape(day.account),
                _cell(var.start_var_99),
                _cell(var.peak_var_99),
                _cell(var.mean_var_99),
                _cell(var.end_var_99),
                _pct(var.peak_var_equity),
                _cell(var.loss),
                '<b class="bad">yes</b>' if var.exception else "no",
                _cell(var.backtest_exceptions),
                _cell(var.traffic_light),
            ]
        )
    return rows


def _trading_rows(accounts: Sequence[AccountDay], report: DailyReport) -> list[list[str]]:
    rows = []
    for name, stats in [(d.account, d.trading) for d in accounts if d.account != FIRM] + [
        ("all", report.trading)
    ]:
        rows.append(
            [
                html.escape(name),
                _cell(stats.orders),
                _cell(stats.approved),
                _cell(stats.rejected),
                _pct(stats.reject_rate),
                _cell(stats.fills),
                _cell(stats.filled_orders),
                _pct(stats.fill_rate),
                _cell(stats.traded_notional),
                _cell(stats.latency_p99_us),
            ]
        )
    return rows


STYLE: Final = """
body { font: 14px/1.45 "DejaVu Sans", Arial, sans-serif; margin: 24px 40px; color: #1d2630; }
h1 { color: #c8401a; margin-bottom: 0; } h2 { margin-top: 28px; border-bottom: 1px solid #ddd; }
.meta { color: #6a7681; } table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e6e9; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { color: #6a7681; font-weight: normal; }
.kpis { display: flex; gap: 32px; flex-wrap: wrap; } .kpis div { font-size: 20px; }
.kpis span { display: block; font-size: 12px; color: #6a7681; } .bad { color: #c9302c; }
li { margin: 4px 0; } img { max-width: 100%; display: block; margin: 8px 0 16px; }
"""


def render_html(report: DailyReport, images: Mapping[str, str]) -> str:
    """Return the report as a self-contained HTML page."""
    scope = html.escape(report.account) if report.account else "all accounts"
    start, end = day_bounds(datetime.fromisoformat(report.date).date())
    trading, alerts = report.trading, report.alerts
    exceptions = [d.account for d in report.accounts if d.var is not None and d.var.exception]
    kpis = [
        ("orders", _cell(trading.orders)),
        ("rejected", f"{_cell(trading.rejected)} ({_pct(trading.reject_rate)})"),
        ("fill rate", _pct(trading.fill_rate)),
        ("traded notional", _cell(trading.traded_notional)),
        ("alerts firing", _cell(alerts.firing)),
        ("VaR exceptions", _cell(len(exceptions))),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>RedFire daily risk report {report.date}</title><style>{STYLE}</style></head>",
        f"<body><h1>Daily risk report · {report.date}</h1>",
        f"<p class='meta'>{scope} · records with ts from {report.date} 00:00 to 24:00 UTC "
        f"([{start}, {end}) ms) · sources: "
        + ", ".join(f"{html.escape(k)} {v}" for k, v in report.records.items())
        + f" · generated {datetime.now(UTC).isoformat(timespec='seconds')}</p>",
        "<div class='kpis' id='kpis'>"
        + "".join(f"<div><span>{k}</span>{v}</div>" for k, v in kpis)
        + "</div>",
        "<h2>Recommendations</h2><ul id='recommendations'>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in report.recommendations)
        + "</ul>",
        "<h2>PnL</h2>",
        _table(
            ["account", "start equity", "end equity", "day PnL", "realized", "unrealized", "fees"],
            _pnl_rows(report.accounts),
            "pnl",
        ),
        "<h2>VaR usage and exceptions</h2>",
        _table(
            [
                "account",
                "VaR99 start",
                "peak",
                "mean",
                "end",
                "peak VaR/equity",
                "day loss",
                "exception",
                "backtest exceptions",
                "zone",
            ],
            _var_rows(report.accounts),
            "var",
        ),
        "<h2>Trading statistics</h2>",
        _table(
            [
                "account",
                "orders",
                "approved",
                "rejected",
                "reject rate",
                "fills",
                "filled orders",
                "fill rate",
                "notional",
                "p99 latency µs",
            ],
            _trading_rows(report.accounts, report),
            "trading",
        ),
        "<h3>Rejections by check</h3>",
        _table(
            ["check", "rejected orders"],
            [[html.escape(k), _cell(v)] for k, v in trading.rejects_by_check.items()],
            "rejects",
        ),
        "<h2>Alerts</h2>",
        _table(
            ["rule", "times fired"],
            [[html.escape(k), _cell(v)] for k, v in alerts.by_rule.items()],
            "alerts",
        ),
        f"<p>{alerts.firing} FIRING, {alerts.resolved} RESOLVED; by severity: "
        + html.escape(", ".join(f"{k} {v}" for k, v in alerts.by_severity.items()) or "none")
        + "</p>",
        "<h2>Charts</h2>",
        *(f"<img alt='{html.escape(t)}' src='{uri}'>" for t, uri in images.items()),
        "<script type='application/json' id='report-data'>",
        html.escape(json.dumps(asdict(report)), quote=False),
        "</script></body></html>",
    ]
    return "\n".join(parts)


# --- the command ---------------------------------------------------------------------------


@report_app.command("daily")
def daily(
    day: Annotated[
        datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="The UTC day (YYYY-MM-DD).")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")],
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
    broker: BrokerOption = None,
) -> None:
    """Write the day's risk report: PnL, VaR usage and exceptions, trading, recommendations."""
    console = Console(stderr=True)
    settings = load_settings(broker)
    try:
        sources = read_sources(settings)
    except KafkaException as exc:
        console.print(f"[bold red]error:[/] Kafka at {settings.bootstrap_servers}: {exc}")
        raise typer.Exit(1) from exc
    records: DayRecords = select_day(
        sources["order_decisions"],
        sources["risk_alerts"],
        sources["risk_metrics"],
        sources["fills"],
        day.date(),
        account,
    )
    report = daily_report(records, day.date(), account)
    out.write_text(render_html(report, charts(report, records.snapshots)))
    if json_out is not None:
        json_out.write_text(json.dumps(asdict(report), indent=2))
    console.print(
        f"{out}: {report.trading.orders} orders, {report.trading.fills} fills, "
        f"{report.alerts.firing} alerts, {len(report.recommendations)} recommendations"
    )


def register(app: typer.Typer) -> None:
    """Add ``report daily`` to the ``redfire`` CLI."""
    app.add_typer(report_app, name="report")

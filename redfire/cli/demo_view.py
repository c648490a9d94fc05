"""What the demo shows, in 80 columns: decisions, alerts, accounts and a closing summary.

``DemoView`` keeps what arrived on the output topics and renders it:

* one line per decision (result, order, account, symbol, side and qty, latency, the failed
  checks or the VaR change) and, for a rejection, a second line with the first reason;
* one line per alert transition (FIRING / RESOLVED), as it arrives;
* a table with one row per account (equity, VaR99, the limit closest to being reached,
  trading state) from its latest ``risk_metrics`` snapshot;
* a summary: decisions by result, top reject reasons, alerts fired, dead letters.

Every line is cut to ``WIDTH`` columns, so the demo reads in an 80-column terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from redfire.risk.limits import Limits
from redfire.risk.utilisation import HeldSymbol, Usage, largest_use

WIDTH = 80
TOP_REASONS = 5
JsonRecord = dict[str, Any]


def compact(value: float | None) -> str:
    """Return a number in a few characters: 950, 12.3k, 4.93M."""
    if value is None:
        return "-"
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.2f}M"
    if size >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:,.0f}"


def figure(value: object) -> str:
    """Return a rule value briefly: 0.714, 61.3k, -50.0k."""
    if not isinstance(value, int | float):
        return "n/a"
    return compact(value) if abs(value) >= 1000 else f"{value:.3g}"


def fit(text: str, width: int = WIDTH) -> str:
    """Cut ``text`` to ``width`` columns, marking the cut with an ellipsis."""
    return text if len(text) <= width else text[: width - 1] + "…"


def decision_lines(decision: JsonRecord) -> list[Text]:
    """Return a decision as one line, plus the first reason for a rejection."""
    approved = decision["decision"] == "APPROVED"
    reasons = decision.get("reasons") or []
    if approved:
        detail = (
            f"VaR99 {compact(decision.get('var_before'))}→{compact(decision.get('var_after'))}"
            if decision.get("var_after") is not None
            else ""
        )
    else:
        detail = ", ".join(str(r["check"]) for r in reasons)
    order = decision.get("_order") or {}
    side_qty = f"{str(order.get('side', '?'))[:1]} {order.get('qty', 0):>6g}" if order else ""
    head = (
        f"{decision['decision']:<8} {decision['order_id']:<9} {decision['account']:<5} "
        f"{decision['symbol']:<9} {side_qty:<8} {decision.get('latency_us', 0):>6}µs {detail}"
    )
    lines = [Text(fit(head.rstrip()), style="green" if approved else "red")]
    if reasons:
        lines.append(Text(fit(f"    ↳ {reasons[0]['message']}"), style="dim"))
    return lines


def alert_line(alert: JsonRecord, elapsed_s: float) -> Text:
    """Return an alert transition as one line."""
    firing = alert["state"] == "FIRING"
    mark = "▲ FIRING  " if firing else "▼ RESOLVED"
    text = (
        f"{mark} {elapsed_s:5.1f}s {alert['rule_id']:<20} {alert['account']:<5} "
        f"{alert['metric']} {figure(alert.get('value'))} {alert['comparison']} "
        f"{figure(alert.get('threshold'))} {alert['severity']}"
    )
    return Text(fit(text), style="bold magenta" if firing else "cyan")


def usage_of(snapshot: JsonRecord) -> Usage:
    """Return the limit-relevant figures of a RiskSnapshot (JSON)."""
    positions = snapshot.get("positions") or []
    return Usage(
        gross_exposure=float(snapshot["gross_exposure"]),
        net_exposure=float(snapshot["net_exposure"]),
        equity=float(snapshot["equity"]),
        cash=float(snapshot["cash"]),
        reserved=0.0,
        daily_pnl=snapshot.get("daily_pnl"),
        drawdown=snapshot.get("drawdown"),
        var=snapshot.get("var_99"),
        positions={
            str(p["symbol"]): HeldSymbol(float(p["qty"]), float(p["market_value"]))
            for p in positions
        },
    )


def limit_text(snapshot: JsonRecord, limits: Limits) -> str:
    """Return the limit closest to being reached, e.g. ``85% concentration``."""
    found = largest_use(limits, usage_of(snapshot))
    if found is None:
        return "-"
    name, use = found
    return f"{use:.0%} {name.removeprefix('max_')}"


def account_line(snapshot: JsonRecord, limits: Limits) -> Text:
    """Return one account's figures as a single line (for output that is not a terminal)."""
    text = (
        f"  {snapshot['account']:<6} equity {snapshot['equity']:>11,.0f}  "
        f"VaR99 {compact(snapshot.get('var_99')):>6}  {limit_text(snapshot, limits):<24} "
        f"{snapshot['trading_state']}"
    )
    return Text(fit(text))


@dataclass
class DemoView:
    """Everything the demo received, and how it is shown."""

    accounts: tuple[str, ...]
    limits: Limits = field(default_factory=Limits)
    decisions: list[JsonRecord] = field(default_factory=list)
    alerts: list[tuple[float, JsonRecord]] = field(default_factory=list)
    snapshots: dict[str, JsonRecord] = field(default_factory=dict)
    dead_letters: list[JsonRecord] = field(default_factory=list)

    def on_decision(self, decision: JsonRecord, order: JsonRecord | None) -> list[Text]:
        """Record a decision; return its lines."""
        self.decisions.append(decision)
        return decision_lines({**decision, "_order": order} if order else decision)

    def on_alert(self, alert: JsonRecord, elapsed_s: float) -> Text:
        """Record an alert transition; return its line."""
        self.alerts.append((elapsed_s, alert))
        return alert_line(alert, elapsed_s)

    def on_snapshot(self, snapshot: JsonRecord) -> None:
        if snapshot.get("account") in self.accounts:
            self.snapshots[snapshot["account"]] = snapshot

    def on_dead_letter(self, letter: JsonRecord) -> None:
        self.dead_letters.append(letter)

    def account_table(self) -> Table:
        """Return the per-account table (the live part of the screen)."""
        table = Table(box=box.SIMPLE_HEAD, width=WIDTH, pad_edge=False)
        table.add_column("account", width=7, no_wrap=True)
        table.add_column("equity", justify="right", width=13, no_wrap=True)
        table.add_column("VaR99", justify="right", width=8, no_wrap=True)
        table.add_column("largest limit use", width=26, no_wrap=True)
        table.add_column("state", width=11, no_wrap=True)
        for account in self.accounts:
            snapshot = self.snapshots.get(account)
            if snapshot is None:
                table.add_row(account, "-", "-", "-", "-")
                continue
            state = str(snapshot["trading_state"])
            table.add_row(
                account,
                f"{snapshot['equity']:,.0f}",
                compact(snapshot.get("var_99")),
                limit_text(snapshot, self.limits),
                Text(state, style="green" if state == "ACTIVE" else "bold red"),
            )
        return table

    def account_lines(self) -> list[Text]:
        """Return one line per account that has a snapshot."""
        return [
            account_line(self.snapshots[a], self.limits)
            for a in self.accounts
            if a in self.snapshots
        ]

    def summary(self, elapsed_s: float) -> list[Text]:
        """Return the closing summary lines."""
        results = Counter(str(d["decision"]) for d in self.decisions)
        rejected = Counter(str(r["check"]) for d in self.decisions for r in d.get("reasons") or [])
        fired = Counter(a["rule_id"] for _, a in self.alerts if a["state"] == "FIRING")
        resolved = Counter(a["rule_id"] for _, a in self.alerts if a["state"] == "RESOLVED")
        letters = Counter(str(letter.get("reason")) for letter in self.dead_letters)
        lines = [
            Text(f"Summary after {elapsed_s:.0f} s", style="bold"),
            Text(f"  decisions     {len(self.decisions)}: {_counts(results.most_common())}"),
            Text("  top reject reasons"),
            *[
                Text(f"    {check:<28} {count:>5}")
                for check, count in rejected.most_common(TOP_REASONS)
            ],
            Text(f"  alerts fired  {sum(fired.values())}, resolved {sum(resolved.values())}"),
            *[
                Text(f"    {rule:<28} {count:>5} fired, {resolved[rule]} resolved")
                for rule, count in fired.most_common()
            ],
            Text(f"  dead letters  {len(self.dead_letters)}: {_counts(letters.most_common())}"),
        ]
        for line in lines:
            line.truncate(WIDTH, overflow="ellipsis")
        return lines


def _counts(pairs: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{name} {count}" for name, count in pairs)

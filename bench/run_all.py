"""Run every benchmark in bench/ and rewrite the "## Pipeline" section of bench/results.md.

Run: .venv/bin/python bench/run_all.py [--only pipeline,latency] [--skip-risk-core]
     (``make bench`` runs it with no arguments)

Each ``bench/bench_*.py`` runs in its own process, one after the other. The
risk-core benchmarks print their own tables (their section of results.md is
theirs and is left as it is); the pipeline benchmarks (pipeline, latency,
restart, soak) hand back their figures as JSON, from which this script writes
the "## Pipeline" section: machine, date, commands, a summary of every target
with its same-run baseline and ratio, then each benchmark's table. Only that
section of results.md is replaced (or appended when it is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import exit_on_signals, log, machine_line

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results.md"
SECTION = "## Pipeline"
PIPELINE = ("pipeline", "latency", "restart", "soak")  # in this order, each with --json-out
TIMEOUT_S = 600


def benchmarks() -> list[str]:
    """Names of every bench/bench_*.py: risk-core ones first, then the pipeline ones."""
    found = sorted(p.stem.removeprefix("bench_") for p in BENCH.glob("bench_*.py"))
    return [n for n in found if n not in PIPELINE] + [n for n in PIPELINE if n in found]


def run(name: str, json_out: Path | None) -> tuple[int, str, float]:
    """Run one benchmark; stream its progress (stderr); return (rc, stdout, seconds)."""
    command = [sys.executable, str(BENCH / f"bench_{name}.py")]
    if json_out is not None:
        command += ["--json-out", str(json_out)]
    log(f"== {name}: {' '.join(command[1:])}")
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=TIMEOUT_S, check=False
        )
        rc, out = done.returncode, done.stdout
    except subprocess.TimeoutExpired as exc:
        rc, out = 124, exc.stdout if isinstance(exc.stdout, str) else ""
    seconds = time.monotonic() - started
    print(out, flush=True)
    log(f"== {name}: exit {rc} after {seconds:.0f}s")
    return rc, out, seconds


def load_average() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def section(
    reports: dict[str, dict[str, Any]],
    failures: dict[str, int],
    durations: dict[str, float],
    loads: tuple[str, str],
) -> str:
    """The markdown of the "## Pipeline" section."""
    lines = [
        SECTION,
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        "`.venv/bin/python bench/run_all.py` (`make bench`).",
        "",
        f"Machine: {machine_line()}.",
        "",
        f"Load average (1/5/15 min) at the start {loads[0]}, at the end {loads[1]}: the "
        "machine was shared with other jobs while these ran, so absolute figures are noisy; "
        "every ratio compares two measurements taken minutes apart in the same run, on the "
        "same broker.",
        "",
        "Commands (each starts its own Kafka on free loopback ports in a temp dir and its own "
        "`faust -A redfire worker -l info` processes, and stops them):",
        "",
    ]
    for name in PIPELINE:
        if name in reports:
            lines.append(f"- `{reports[name]['command']}` ({durations[name]:.0f} s)")
        elif name in failures:
            lines.append(f"- `bench/bench_{name}.py` **failed** (exit {failures[name]})")
    lines += [
        "",
        "| target (DESIGN.md §11) | RedFire | baseline, same run | ratio | status |",
        "|---|---|---|---|---|",
    ]
    for name in PIPELINE:
        for row in reports.get(name, {}).get("rows", []):
            lines.append(
                f"| {row['target']} | {row['measured']} | {row['baseline']} | {row['ratio']} "
                f"| {row['status']} |"
            )
    lines.append("")
    for name in PIPELINE:
        if name in reports:
            lines += [*reports[name]["markdown"], ""]
    return "\n".join(lines).rstrip() + "\n"


def replace_section(text: str, new: str) -> str:
    """Replace the "## Pipeline" section of ``text`` (up to the next "## "), or append it."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == SECTION), None)
    if start is None:
        head = text.rstrip()
        return (head + "\n\n" if head else "# RedFire benchmark results\n\n") + new
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + new + ("\n" + tail if tail else "")


def main() -> None:
    exit_on_signals()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated names (e.g. pipeline,soak)")
    parser.add_argument("--skip-risk-core", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="leave results.md alone")
    args = parser.parse_args()
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    names = [n for n in benchmarks() if not wanted or n in wanted]
    if args.skip_risk_core:
        names = [n for n in names if n in PIPELINE]
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    loads_start = load_average()
    reports: dict[str, dict[str, Any]] = {}
    failures: dict[str, int] = {}
    durations: dict[str, float] = {}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="redfire-bench-results-") as tmp:
        for name in names:
            json_out = Path(tmp) / f"{name}.json" if name in PIPELINE else None
            rc, _out, durations[name] = run(name, json_out)
            if rc != 0:
                failures[name] = rc
            elif json_out is not None and json_out.exists():
                reports[name] = json.loads(json_out.read_text())
    log(f"all benchmarks done in {time.monotonic() - began:.0f}s")
    if failures:
        log(f"failed: {failures}")
    if args.no_write or not any(n in PIPELINE for n in names):
        sys.exit(1 if failures else 0)
    text = RESULTS.read_text() if RESULTS.exists() else ""
    new = section(reports, failures, durations, (loads_start, load_average()))
    RESULTS.write_text(replace_section(text, new))
    log(f"wrote the {SECTION!r} section of {RESULTS.relative_to(REPO)}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""Benchmark pre-trade incremental VaR against a full recompute and a bare np.partition.

Run: .venv/bin/python bench/bench_incremental_var.py [--observations 500] [--symbols 200]

Baselines and candidates are measured in the same run on the same data, each
call on a rotating set of candidate orders; the figure is the best of seven
batches (the least disturbed by other processes), in microseconds per order.
Targets (DESIGN.md §11): the incremental check ≥ 50× faster than a full
recompute, and ≤ 2× a bare np.partition of the T scenario P&Ls.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from redfire.risk.historical import historical_var
from redfire.risk.incremental import ScenarioBook
from redfire.risk.measures import (
    FloatArray,
    IncrementalVaR,
    InsufficientHistory,
    VaRConfig,
    VaRMethod,
)
from redfire.risk.portfolio import HistoryPolicy, Portfolio, assemble_portfolio
from redfire.risk.quantile import tail_count
from redfire.risk.var import build_book

CONFIDENCE = 0.99
ORDERS = 256


def per_call_us(run: Callable[[int], object], calls: int, batches: int = 7) -> float:
    """Return the best over batches of the mean microseconds per call (as timeit advises)."""
    run(0)
    timings = []
    for _ in range(batches):
        start = time.perf_counter()
        for i in range(calls):
            run(i)
        timings.append((time.perf_counter() - start) / calls * 1e6)
    return min(timings)


def make_market(
    observations: int, symbols: int, seed: int = 0
) -> tuple[dict[str, FloatArray], dict[str, float]]:
    """Return ring-buffer-like return windows (longer than T) and exposures."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_t(4, size=(observations + 50, 5)) * 0.01
    loadings = rng.normal(size=(5, symbols))
    noise = rng.normal(size=(observations + 50, symbols)) * 0.008
    matrix = factors @ loadings + noise
    windows = {f"SYM{i:03d}": matrix[:, i].copy() for i in range(symbols)}
    values = {name: float(rng.uniform(-2e6, 2e6)) for name in windows}
    return windows, values


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=500)
    parser.add_argument("--symbols", type=int, default=200)
    args = parser.parse_args()
    t, n = args.observations, args.symbols
    windows, values = make_market(t, n)
    policy = HistoryPolicy(window=t, min_window=20)
    names = sorted(windows)
    rng = np.random.default_rng(1)
    order_symbols = [names[i] for i in rng.integers(0, n, ORDERS)]
    order_deltas = rng.uniform(-5e5, 5e5, ORDERS)
    k = tail_count(t, CONFIDENCE)

    portfolio = assemble_portfolio(values, windows, policy)
    assert isinstance(portfolio, Portfolio)
    config = VaRConfig(VaRMethod.HISTORICAL, confidence=CONFIDENCE)
    book = build_book(names, np.array([values[s] for s in names]), portfolio.returns, config)
    assert isinstance(book, ScenarioBook)
    pnl = book.pnl

    def full_recompute_lean(i: int) -> float:
        # Assemble R from the per-symbol windows, R·v', then the quantile.
        symbol, delta = order_symbols[i % ORDERS], order_deltas[i % ORDERS]
        matrix = np.column_stack([windows[s][-t:] for s in names])
        exposures = np.fromiter((values[s] for s in names), dtype=np.float64, count=n)
        exposures[names.index(symbol)] += delta
        scenario = matrix @ exposures
        return -float(np.partition(scenario, k - 1)[k - 1])

    def full_engine(i: int) -> float:
        # The same through the engine's own assembly and historical VaR.
        symbol, delta = order_symbols[i % ORDERS], order_deltas[i % ORDERS]
        after = dict(values)
        after[symbol] += delta
        assembled = assemble_portfolio(after, windows, policy)
        assert isinstance(assembled, Portfolio)
        return historical_var(assembled.returns, assembled.exposures, CONFIDENCE).var

    def incremental(i: int) -> IncrementalVaR | InsufficientHistory:
        return book.incremental(order_symbols[i % ORDERS], float(order_deltas[i % ORDERS]))

    new_window = windows[names[0]] * 1.3
    parametric = build_book(
        names,
        np.array([values[s] for s in names]),
        portfolio.returns,
        VaRConfig(VaRMethod.PARAMETRIC, confidence=CONFIDENCE),
    )

    def incremental_new_symbol(i: int) -> object:
        return book.incremental("NEWSYM", float(order_deltas[i % ORDERS]), new_window)

    def incremental_parametric(i: int) -> object:
        return parametric.incremental(order_symbols[i % ORDERS], float(order_deltas[i % ORDERS]))

    def bare_partition(i: int) -> float:
        return float(np.partition(pnl, k - 1)[k - 1])

    # Check the candidate against the baseline before timing it.
    for i in range(ORDERS):
        answer = incremental(i)
        assert isinstance(answer, IncrementalVaR)
        assert abs(answer.var_after - full_recompute_lean(i)) <= 1e-9 * abs(answer.var_after)

    rows = [
        ("full recompute, lean (column_stack + R·v + np.partition)", full_recompute_lean, 200),
        ("full recompute, engine (assemble_portfolio + historical_var)", full_engine, 100),
        ("bare np.partition of the T scenario P&Ls", bare_partition, 20_000),
        ("incremental, held symbol (ScenarioBook.incremental)", incremental, 20_000),
        ("incremental, new symbol with its window", incremental_new_symbol, 20_000),
        ("incremental, parametric held symbol (ParametricBook)", incremental_parametric, 20_000),
    ]
    timings = {label: per_call_us(run, calls) for label, run, calls in rows}
    held = timings[rows[3][0]]
    print(f"## Incremental VaR, T={t}, n={n}, {CONFIDENCE:.0%} historical, k={k}\n")
    print(f"machine: {machine()}\n")
    print("| operation | µs per order | ratio to incremental (held) |")
    print("|---|---:|---:|")
    for label, _, _ in rows:
        print(f"| {label} | {timings[label]:.2f} | {timings[label] / held:.2f}× |")
    lean, engine, floor = (timings[rows[i][0]] for i in (0, 1, 2))
    print()
    print(f"- speed-up vs lean full recompute: **{lean / held:.0f}×** (target ≥ 50×)")
    print(f"- speed-up vs engine full recompute: **{engine / held:.0f}×**")
    print(f"- incremental / bare np.partition: **{held / floor:.2f}×** (target ≤ 2×)")


def machine() -> str:
    """Describe the CPU, core count and torch threads."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{model}, nproc={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
        f"torch threads={torch.get_num_threads()}, "
        f"numpy {np.__version__}, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main()

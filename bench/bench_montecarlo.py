"""Benchmark torch Monte Carlo VaR against the same algorithm in numpy.

Run: .venv/bin/python bench/bench_montecarlo.py [--scenarios 100000] [--symbols 1000]
     [--chunk 10000] [--device cuda]

Both implementations do the same work in float64, chunk by chunk (10k scenarios
at a time, so 100k × 1,000 never needs 800 MB at once): Cholesky of Σ, standard
normal draws, Y = Z·Lᵀ, P&L = Y·v, then the shared tail function. Each is timed
three times, alternating, in the same run; the table shows the fastest of each.
Target (DESIGN.md §11): torch on CPU ≥ numpy; on a GPU ≥ 50× the CPU figure.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from redfire.risk.measures import FloatArray
from redfire.risk.montecarlo import montecarlo_var
from redfire.risk.quantile import scenario_pnl, tail_var_es

CONFIDENCE = 0.99
# Runs of each implementation, alternated; the best counts (least disturbed).
REPEATS = 3


def make_book(symbols: int, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    """Return a positive-definite factor-model covariance and exposures."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(size=(symbols, 10)) * 0.01
    cov = loadings @ loadings.T + np.diag(rng.uniform(1e-5, 9e-5, symbols))
    return cov, rng.uniform(-1e6, 1e6, symbols)


def numpy_var(
    cov: FloatArray, exposures: FloatArray, scenarios: int, chunk: int, seed: int
) -> float:
    """Return Monte Carlo VaR computed with numpy alone, chunked like the torch engine."""
    lower_t = np.linalg.cholesky(cov).T
    rng = np.random.default_rng(seed)
    pieces = []
    for start in range(0, scenarios, chunk):
        rows = min(chunk, scenarios - start)
        normals = rng.standard_normal((rows, cov.shape[0]))
        pieces.append(scenario_pnl(normals @ lower_t, exposures))
    return tail_var_es(np.concatenate(pieces), CONFIDENCE)[0]


def timed(run: Callable[[], float], device: str | None = None) -> tuple[float, float]:
    """Return (seconds, VaR) of one run, waiting for the GPU when there is one."""
    start = time.perf_counter()
    value = run()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, value


def stage_seconds(run: Callable[[], object], repeats: int = 3) -> float:
    """Return the best of a few timings of one stage."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def print_breakdown(cov: FloatArray, chunk: int) -> None:
    """Print where one chunk's time goes in each library: normal draws vs Z·Lᵀ."""
    size = cov.shape[0]
    lower_t = np.linalg.cholesky(cov).T
    lower_t_torch = torch.as_tensor(lower_t)
    rng = np.random.default_rng(0)
    generator = torch.Generator().manual_seed(0)
    normals = rng.standard_normal((chunk, size))
    normals_torch = torch.as_tensor(normals)
    stages = [
        (
            f"normal draws ({chunk:,} × {size:,})",
            lambda: rng.standard_normal((chunk, size)),
            lambda: torch.randn(chunk, size, generator=generator, dtype=torch.float64),
        ),
        ("Z·Lᵀ matrix product", lambda: normals @ lower_t, lambda: normals_torch @ lower_t_torch),
    ]
    print("\nOne chunk, stage by stage (best of 3, seconds):\n")
    print("| stage | numpy | torch CPU | torch / numpy |")
    print("|---|---:|---:|---:|")
    for label, with_numpy, with_torch in stages:
        numpy_time, torch_time = stage_seconds(with_numpy), stage_seconds(with_torch)
        print(f"| {label} | {numpy_time:.3f} | {torch_time:.3f} | {torch_time / numpy_time:.2f}× |")


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
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{model}, nproc={os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
        f"torch threads={torch.get_num_threads()}, {gpu}, "
        f"numpy {np.__version__}, torch {torch.__version__}"
    )


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=1_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    cov, exposures = make_book(args.symbols)
    s, c = args.scenarios, args.chunk

    def torch_cpu() -> float:
        return montecarlo_var(
            cov,
            exposures,
            CONFIDENCE,
            scenarios=s,
            seed=1,
            device="cpu",
            dtype=torch.float64,
            chunk=c,
        ).var

    def numpy_cpu() -> float:
        return numpy_var(cov, exposures, s, c, seed=1)

    numpy_label, torch_label = "numpy (CPU, float64)", "torch (CPU, float64)"
    runs: dict[str, list[tuple[float, float]]] = {numpy_label: [], torch_label: []}
    for _ in range(REPEATS):
        runs[numpy_label].append(timed(numpy_cpu))
        runs[torch_label].append(timed(torch_cpu))
    if args.device == "cuda" and torch.cuda.is_available():
        for dtype, label in ((torch.float64, "float64"), (torch.float32, "float32")):

            def torch_gpu(dtype: torch.dtype = dtype) -> float:
                return montecarlo_var(
                    cov,
                    exposures,
                    CONFIDENCE,
                    scenarios=s,
                    seed=1,
                    device="cuda",
                    dtype=dtype,
                    chunk=c,
                ).var

            timed(torch_gpu, "cuda")  # warm-up: CUDA context and kernels
            runs[f"torch (CUDA, {label})"] = [timed(torch_gpu, "cuda") for _ in range(REPEATS)]

    best = {label: min(result) for label, result in runs.items()}
    baseline, torch_cpu_seconds = best[numpy_label][0], best[torch_label][0]
    print(f"## Monte Carlo VaR, {s:,} scenarios × {args.symbols:,} instruments, chunk {c:,}\n")
    print(f"machine: {machine()}\n")
    print("| implementation | seconds | scenarios/s | speed-up vs numpy | vs torch CPU | 99% VaR |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (seconds, var) in best.items():
        print(
            f"| {label} | {seconds:.2f} | {s / seconds:,.0f} | {baseline / seconds:.2f}× "
            f"| {torch_cpu_seconds / seconds:.2f}× | {var:,.0f} |"
        )
    if args.device == "cuda" and not torch.cuda.is_available():
        print("\n(no CUDA device: GPU rows skipped)")
    print_breakdown(cov, c)


if __name__ == "__main__":
    main()

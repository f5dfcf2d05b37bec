"""CPU latency of one TFLite file in LiteRT, on 1 and 2 threads: the median and p95 after warm-up.

How it is measured, and why (ai-edge-litert 2.3.0, measured on the tests' CNN):

- ai-edge-litert 2.3.0 ships the `litert-benchmark` tool (`ai_edge_litert.tools.benchmark_litert_model`): a Python
  script that loads the file as a LiteRT `CompiledModel` (XNNPACK on the CPU), fills its inputs with random values and
  times `run_by_name` after warm-up. Where it is importable it is what we use, called in-process (`run_benchmark`),
  so a frozen app needs no console script. Measured against timed `Interpreter.invoke()` on the same files it
  agrees to about 0.01 ms (float32 1 thread: tool 0.07 / 0.09 ms median / p95, invoke 0.056 / 0.088 ms; int8:
  0.09 / 0.12 vs 0.076 / 0.107). It reports milliseconds rounded to 0.01, too coarse for a file that runs in
  under TOOL_MIN_MS (a 64x64 matmul: 0.00 ms): such a file is timed with invoke() instead.
- The tool feeds random values: fine for float (and quantized) inputs, not for integer ids or masks (a random
  token id can be out of an embedding's range). For a model with such inputs, when the tool is missing (older
  ai-edge-litert), or when it fails on a file, we time LiteRT `Interpreter` calls (the signature runner: set the
  inputs, `invoke()`, read the outputs) on the job's own comparison inputs instead. Every result says which
  (`method`).

A run count is chosen from a probe so that a large model does not take minutes: at least MIN_RUNS and at most
MAX_RUNS timed runs, about BUDGET_S seconds per thread count. SavedModels are not measured here (LiteRT runs
TFLite files only).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from pathlib import Path

import numpy as np

from studio.errors import StudioError

THREADS = (1, 2)
WARMUP_RUNS = 3
MIN_RUNS, MAX_RUNS = 5, 50
BUDGET_S = 2.0          # timed runs per thread count, roughly
TOOL_MIN_MS = 0.1       # the tool rounds to 0.01 ms: below this its median is off by more than 5%
TOOL_METHOD = "litert-benchmark (ai-edge-litert's benchmark tool: CompiledModel, random inputs)"
INVOKE_METHOD = "timed invoke() (LiteRT Interpreter on the comparison inputs)"


def benchmark_tool():
    """ai-edge-litert's `litert-benchmark` module, or None where this version does not ship it."""
    try:
        from ai_edge_litert.tools import benchmark_litert_model
    except ImportError:
        return None
    return benchmark_litert_model if hasattr(benchmark_litert_model, "run_benchmark") else None


def runs_for(seconds_per_run: float, budget: float = BUDGET_S) -> int:
    """How many timed runs fit the budget, between MIN_RUNS and MAX_RUNS."""
    if seconds_per_run <= 0:
        return MAX_RUNS
    return int(max(MIN_RUNS, min(MAX_RUNS, round(budget / seconds_per_run, 6) // 1)))


def percentile(values: list[float], p: float) -> float:
    """Linear-interpolated percentile (as the benchmark tool computes it)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), p))


def measure_latency(path: str | Path, feeds: dict[str, np.ndarray] | None = None, threads: tuple[int, ...] = THREADS,
                    budget: float = BUDGET_S) -> dict:
    """{"method", "threads": {"1": {"median_ms", "p95_ms", "runs", "warmup"}, ...}, "note"} for one TFLite file.

    feeds: the inputs in the file's own names and layout (what studio.inputs.adapt_feeds gives); without them
    the tool's random inputs are the only way. Raises StudioError when the file cannot be run at all.
    """
    path = Path(path)
    tool = benchmark_tool()
    note = None
    if tool is None:
        note = "this ai-edge-litert ships no litert-benchmark tool"
    elif feeds and _has_integer_ids(path):
        note = "integer inputs: the tool's random values are not valid ids, so the comparison inputs are timed"
    else:
        try:
            measured = _with_tool(tool, path, threads, budget)
        except Exception as exc:   # noqa: BLE001 - the tool's own failure; timed invoke() may still run the file
            note = f"litert-benchmark failed ({_first_line(exc)})"
            if not feeds:
                raise StudioError(f"{path.name}: latency not measured: {note}") from None
        else:
            if not feeds or min(t["median_ms"] for t in measured.values()) >= TOOL_MIN_MS:
                return {"method": TOOL_METHOD, "threads": measured, "note": None}
            note = f"under {TOOL_MIN_MS} ms a run, finer than litert-benchmark's 0.01 ms rounding: timed invoke()"
    if not feeds:
        raise StudioError(f"{path.name}: latency not measured: {note}, and no inputs were given")
    return {"method": INVOKE_METHOD, "threads": _with_invoke(path, feeds, threads, budget), "note": note}


def _has_integer_ids(path: Path) -> bool:
    """An integer input that is not quantized float (e.g. token ids, masks)."""
    from studio.runtimes.litert_rt import LiteRTRuntime

    runtime = LiteRTRuntime(path)
    return any(np.dtype(s.dtype).kind in "iub" for s in runtime.signature.inputs if s.name not in runtime.quantized)


def _with_tool(tool, path: Path, threads: tuple[int, ...], budget: float) -> dict[str, dict]:
    def run(num_threads: int, warmup: int, runs: int) -> dict:
        args = argparse.Namespace(model=str(path), signature="", use_cpu=True, no_cpu=False, use_gpu=False,
                                  use_npu=False, require_full_delegation=False, dispatch_library_path="",
                                  compiler_plugin_path="", runtime_path="", num_runs=runs, warmup_runs=warmup,
                                  num_threads=num_threads, result_json="", verbose=False)
        # It prints its results table, and exits the process on a bad file: neither may reach the caller.
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                return tool.run_benchmark(args)["latency"]
            except SystemExit as exc:
                raise StudioError(f"the tool exited with {exc.code}") from None

    probe = run(threads[0], 1, 2)
    runs = runs_for(max(probe["avg_ms"], 0.01) / 1000, budget)
    result = {}
    for n in threads:
        latency = run(n, WARMUP_RUNS, runs)
        result[str(n)] = {"median_ms": latency["median_ms"], "p95_ms": latency["p95_ms"],
                          "runs": latency["num_runs"], "warmup": latency["num_warmup_runs"]}
    return result


def _with_invoke(path: Path, feeds: dict[str, np.ndarray], threads: tuple[int, ...], budget: float) -> dict[str, dict]:
    from studio.runtimes.litert_rt import LiteRTRuntime

    result = {}
    for n in threads:
        runtime = LiteRTRuntime(path, num_threads=n)
        t0 = time.perf_counter()
        for _ in range(WARMUP_RUNS):
            runtime.run(feeds)
        runs = runs_for((time.perf_counter() - t0) / WARMUP_RUNS, budget)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            runtime.run(feeds)
            times.append((time.perf_counter() - t0) * 1000)
        result[str(n)] = {"median_ms": round(statistics.median(times), 4), "p95_ms": round(percentile(times, 95), 4),
                          "runs": runs, "warmup": WARMUP_RUNS}
        runtime = None
    return result


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

"""The variant matrix: LiteRT latency of real TFLite files, the matrix rows and page, and `studio matrix` end to end."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from studio.latency import (INVOKE_METHOD, MAX_RUNS, MIN_RUNS, TOOL_METHOD, TOOL_MIN_MS, benchmark_tool,
                            measure_latency, runs_for)
from studio.matrix import matrix_report_html, matrix_rows
from studio.options import ConvertOptions, MatrixOptions, add_arguments, from_args, to_argv
from studio_cli import run_studio


def _tflite(path: Path, fn, spec) -> Path:
    import tensorflow as tf

    concrete = tf.function(fn, input_signature=[spec]).get_concrete_function()
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([concrete]).convert())
    return path


@pytest.fixture(scope="module")
def conv_tflite(tmp_path_factory) -> Path:
    """A small float model that still takes a fraction of a millisecond: two 3x3 convolutions on [1, 64, 64, 16]."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    k1, k2 = (tf.constant(rng.standard_normal((3, 3, 16, 16)).astype(np.float32) * 0.1) for _ in range(2))

    def fn(x):
        return tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(x, k1, 1, "SAME")), k2, 1, "SAME")

    return _tflite(tmp_path_factory.mktemp("latency") / "conv.tflite", fn,
                   tf.TensorSpec([1, 64, 64, 16], tf.float32, name="x"))


def assert_timed(result: dict, method: str) -> None:
    assert result["method"] == method
    assert set(result["threads"]) == {"1", "2"}
    for timing in result["threads"].values():
        assert 0 < timing["median_ms"] <= timing["p95_ms"], timing
        assert MIN_RUNS <= timing["runs"] <= MAX_RUNS and timing["warmup"] >= 1


def test_latency_of_a_small_tflite_on_1_and_2_threads(conv_tflite):
    feeds = {"x": np.random.default_rng(1).random((1, 64, 64, 16), dtype=np.float32)}
    result = measure_latency(conv_tflite, feeds)
    # ai-edge-litert 2.3.0 ships litert-benchmark: it is the one used, and the result says so
    assert benchmark_tool() is not None
    assert_timed(result, TOOL_METHOD)
    assert result["note"] is None and result["threads"]["1"]["median_ms"] >= TOOL_MIN_MS


def test_a_file_faster_than_the_tools_rounding_is_timed_with_invoke(tmp_path):
    import tensorflow as tf

    weights = tf.constant(np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32))
    path = _tflite(tmp_path / "dense.tflite", lambda x: tf.tanh(tf.matmul(x, weights)),
                   tf.TensorSpec([1, 8], tf.float32, name="x"))
    result = measure_latency(path, {"x": np.ones((1, 8), np.float32)})
    assert_timed(result, INVOKE_METHOD)   # the tool says 0.00 ms for it
    assert "0.01 ms rounding" in result["note"]


def test_integer_ids_are_timed_with_invoke_on_the_given_inputs(tmp_path):
    import tensorflow as tf

    table = tf.constant(np.arange(40, dtype=np.float32).reshape(10, 4))
    path = _tflite(tmp_path / "ids.tflite", lambda ids: tf.gather(table, ids),
                   tf.TensorSpec([1, 6], tf.int32, name="ids"))
    result = measure_latency(path, {"ids": np.arange(6, dtype=np.int32).reshape(1, 6)})
    assert_timed(result, INVOKE_METHOD)
    assert "integer inputs" in result["note"]


def test_run_count_is_bounded_by_the_budget():
    assert runs_for(0.0001) == MAX_RUNS and runs_for(10.0) == MIN_RUNS and runs_for(0.1, budget=2.0) == 20


def test_matrix_options_make_every_variant_with_latency(tmp_path):
    calibration = tmp_path / "calibration.npz"
    calibration.write_bytes(b"")
    options = MatrixOptions(seed=3, calibration=str(calibration), keep_layout=True, opset=17)
    parser = argparse.ArgumentParser()
    add_arguments(parser, MatrixOptions)
    assert from_args(parser.parse_args(to_argv(options)), MatrixOptions) == options
    convert = options.convert_options()
    assert isinstance(convert, ConvertOptions) and convert.latency and convert.seed == 3
    assert convert.variants == ["float32", "float16", "dynamic_int8", "int8"]
    assert {"savedmodel", "tflite"} <= set(convert.targets) and convert.calibration == str(calibration)


def _report() -> dict:
    """A convert report as JobRecord.report() writes it (two outputs: the worst of each metric is the row's)."""
    def art(kind, variant, size):
        return {"kind": kind, "variant": variant, "path": f"/o/{kind}_{variant}", "bytes": size}

    def comp(kind, variant, cosines, passed=True):
        return {"candidate": f"/o/{kind}_{variant}", "variant": variant, "passed": passed, "reference": "m.pt2",
                "outputs": [{"name": f"y{i}", "cosine": c, "max_rel": 1 - c, "top1": 1.0, "passed": passed}
                            for i, c in enumerate(cosines)]}

    def lat(variant, ms):
        return {"artifact": f"/o/tflite_{variant}", "kind": "tflite", "variant": variant, "method": TOOL_METHOD,
                "note": None, "threads": {"1": {"median_ms": ms, "p95_ms": ms * 1.5, "runs": 50},
                                          "2": {"median_ms": ms / 2, "p95_ms": ms, "runs": 50}}}

    variants = [("int8", 30, 0.98), ("float32", 100, 1.0), ("float16", 50, 0.9999), ("dynamic_int8", 32, 0.995)]
    return {"source": {"path": "/m/model.pt2"}, "inputs": {"from": "seeded random (seed 0)"},
            "artifacts": [art("onnx", "float32", 99), art("savedmodel", "float32", 120)]
            + [art("tflite", v, size) for v, size, _ in variants],
            "comparisons": [comp("savedmodel", "float32", [1.0, 1.0])]
            + [comp("tflite", v, [c, 1.0], passed=v != "int8") for v, _, c in variants],
            "latency": [lat(v, size / 100) for v, size, _ in variants]}


def test_matrix_rows_and_page_from_a_report():
    rows = matrix_rows(_report())
    assert [r["name"] for r in rows] == ["SavedModel", "TFLite float32", "TFLite float16", "TFLite dynamic_int8",
                                         "TFLite int8"]
    int8 = rows[-1]
    assert int8["cosine"] == 0.98 and int8["max_rel"] == pytest.approx(0.02) and int8["passed"] is False
    assert int8["latency"]["2"]["median_ms"] == 0.15 and int8["method"] == TOOL_METHOD
    assert rows[0]["latency"] == {} and "TFLite files only" in rows[0]["latency_note"]
    page = matrix_report_html(_report(), rows)
    assert "Variant matrix: model.pt2" in page and "<svg" in page and page.count("<circle") == 4
    for row in rows:
        assert f"<td>{row['name']}</td>" in page
    assert "litert-benchmark" in page and "0.15" in page


def test_bad_sources_are_one_line(tmp_path):
    result = run_studio("matrix", tmp_path / "missing.pt2", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("studio: error:") and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_studio_matrix_on_a_tiny_torch_cnn(tmp_path):
    import torch

    from models import torch_cnn

    model, image = torch_cnn()
    source = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model, (image,)), source)
    out = tmp_path / "matrix"
    result = run_studio("matrix", source, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"

    report = json.loads((out / "report.json").read_text())
    rows = matrix_rows(report)
    assert [(r["kind"], r["variant"]) for r in rows] == [("savedmodel", "float32"), ("tflite", "float32"),
                                                         ("tflite", "float16"), ("tflite", "dynamic_int8"),
                                                         ("tflite", "int8")]
    size = {r["variant"] if r["kind"] == "tflite" else "savedmodel": r["bytes"] for r in rows}
    assert size["int8"] < size["float16"] < size["float32"] and size["dynamic_int8"] < size["float16"]
    for row in rows:
        assert row["passed"] and row["cosine"] > 0.98 and row["top1"] == 1.0, row
        if row["kind"] == "tflite":
            # this CNN runs in about 0.05 ms: finer than the tool's rounding, so it is timed with invoke()
            assert row["method"] in (TOOL_METHOD, INVOKE_METHOD), row
            assert row["method"] == TOOL_METHOD or "rounding" in row["latency_note"], row
            for threads in ("1", "2"):
                timing = row["latency"][threads]
                assert 0 < timing["median_ms"] <= timing["p95_ms"], row
        else:
            assert row["latency"] == {} and row["latency_note"]

    assert "Variant matrix" in result.stdout and "TFLite int8" in result.stdout and "latency: " in result.stdout
    page = (out / "report.html").read_text()
    assert "Variant matrix: cnn.pt2" in page and "<svg" in page and "TFLite dynamic_int8" in page
    assert not list(tmp_path.glob(".*studio-tmp*"))

"""`studio explain` and `studio convert --explain` through the real CLI: exit codes, the table, the report."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper

from studio_cli import run_studio

pytestmark = pytest.mark.slow


def scaled_initializer(onnx_path: Path, target: Path, consumer_op: str) -> str:
    """A copy of the ONNX with the weight of the first `consumer_op` node scaled by 1.5; returns that node's
    output name (the layer explain must name)."""
    model = onnx.load(str(onnx_path))
    initializers = {init.name: init for init in model.graph.initializer}
    node = next(n for n in model.graph.node if n.op_type == consumer_op and n.input[1] in initializers)
    weight = initializers[node.input[1]]
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * 1.5, weight.name))
    onnx.save(model, str(target))
    return node.output[0]


@pytest.fixture(scope="module")
def converted(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "cnn_converted"
    result = run_studio("convert", models["cnn_pt2"], "--out", out, "--to", "onnx,tflite", "--quantize", "float32",
                        cwd=out.parent)
    assert result.returncode == 0, result.stderr
    return out


def test_explain_a_correct_conversion_finds_no_divergent_layer(models, converted):
    result = run_studio("explain", models["cnn_pt2"], converted / "cnn_float32.tflite", cwd=converted.parent)
    assert result.returncode == 0, result.stderr
    assert "no divergent layer" in result.stdout and "Traceback" not in result.stderr


def test_explain_names_the_perturbed_layer_and_exits_1(models, converted, tmp_path):
    bad = tmp_path / "cnn.onnx"
    layer = scaled_initializer(converted / "cnn.onnx", bad, "Conv")
    result = run_studio("explain", models["cnn_pt2"], bad, "--json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [report] = json.loads(result.stdout)
    first = report["rows"][report["first_divergent"]]
    assert first["name"] == layer and not first["passed"]
    upstream = report["rows"][:report["first_divergent"]]
    assert all(row["passed"] for row in upstream)


def test_explain_with_no_artifact_makes_and_removes_its_own(models, tmp_path):
    temp = tmp_path / "tmp"   # the command's and its worker's temp folder: what they leave there is theirs
    temp.mkdir()
    before = set(tmp_path.iterdir())
    result = run_studio("explain", models["cnn_pt2"], "--top", "3", cwd=tmp_path, env={"TMPDIR": str(temp)})
    assert result.returncode == 0, result.stderr
    assert "cnn_float32.tflite" in result.stdout and "no divergent layer" in result.stdout
    assert set(tmp_path.iterdir()) == before and list(temp.iterdir()) == []


def test_explain_rejects_what_it_cannot_read_in_one_line(models, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    for args in ([models["cnn_pt2"], text], [models["cnn_pt2"], models["keras"]], [models["cnn_pt2"], "--top", "0"]):
        result = run_studio("explain", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("studio: error: "), result.stderr


def test_convert_explain_adds_layers_for_each_failing_artifact(models, tmp_path):
    out = tmp_path / "out"
    result = run_studio("convert", models["cnn_pt2"], "--out", out, "--to", "savedmodel,tflite", "--quantize",
                        "float32,float16", "--atol", "0", "--rtol", "0", "--explain", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads((out / "report.json").read_text())
    failed = {c["candidate"] for c in report["comparisons"] if not c["passed"]}
    savedmodel = str(out / "cnn_savedmodel")
    assert savedmodel in failed and (out / "cnn_savedmodel").is_dir(), "a SavedModel has no layers: it stays as is"
    assert {layers["candidate"] for layers in report["layers"]} == failed - {savedmodel}
    assert all(str(out) in layers["candidate"] for layers in report["layers"])
    assert "first divergent layer" in result.stdout

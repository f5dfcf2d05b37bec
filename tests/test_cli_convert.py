"""Real conversions through the CLI, asserted on the numbers in the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio_cli import run_studio

pytestmark = pytest.mark.slow
REPORT_KEYS = {"source", "artifacts", "stages", "comparisons"}


def convert(source, out: Path, *args) -> tuple[dict, object]:
    result = run_studio("convert", source, "--out", out, *args, cwd=out.parent)
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads((out / "report.json").read_text()), result


def by_kind(report: dict) -> dict[str, dict]:
    found = {}
    for comp in report["comparisons"]:
        art = next(a for a in report["artifacts"] if a["path"] == comp["candidate"])
        found[f"{art['kind']}:{art['variant']}"] = {**comp, "artifact": art}
    return found


def assert_float32_match(report: dict, atol: float = 1e-4) -> None:
    comps = by_kind(report)
    for key in ("savedmodel:float32", "tflite:float32"):
        assert key in comps, sorted(comps)
        assert comps[key]["passed"], comps[key]
        for out in comps[key]["outputs"]:
            assert out["max_abs"] <= atol, (key, out)
            assert out["cosine"] > 0.9999, (key, out)


def assert_schema(report: dict, source: Path) -> None:
    assert REPORT_KEYS <= set(report)
    assert report["source"]["path"] == str(source) and report["source"]["format"] and report["source"]["framework"]
    for art in report["artifacts"]:
        assert {"kind", "variant", "path", "bytes", "input_layout"} <= set(art)
        assert Path(art["path"]).exists() and art["bytes"] > 0
    for stage in report["stages"]:
        assert {"name", "seconds", "ok", "error"} <= set(stage) and stage["ok"]
    for comp in report["comparisons"]:
        assert {"reference", "candidate", "passed", "outputs"} <= set(comp)
        for out in comp["outputs"]:
            assert {"name", "shape", "max_abs", "mean_abs", "rmse", "max_rel", "cosine", "passed"} <= set(out)


def test_torch_cnn_pt2_to_everything(models, tmp_path):
    out = tmp_path / "cnn"
    report, result = convert(models["cnn_pt2"], out)
    assert_schema(report, models["cnn_pt2"])
    assert_float32_match(report)
    comps = by_kind(report)
    assert set(comps) == {"onnx:float32", "savedmodel:float32", "tflite:float32", "tflite:float16"}
    assert comps["onnx:float32"]["outputs"][0]["max_abs"] <= 1e-5
    assert comps["tflite:float16"]["passed"]
    tflite = comps["tflite:float32"]["artifact"]
    assert list(tflite["input_layout"].values()) == ["NHWC"]   # image inputs go mobile by default
    assert "PASS" in result.stdout and "tflite" in result.stdout   # the side-by-side table
    assert not list(tmp_path.glob(".*studio-tmp*"))


def test_transformer_block_keeps_token_layout_and_needs_no_flex(models, tmp_path):
    out = tmp_path / "block"
    report, _ = convert(models["transformer_pt2"], out, "--quantize", "float32")
    assert_float32_match(report)
    tflite = by_kind(report)["tflite:float32"]
    assert tflite["artifact"]["flex_ops"] == []
    assert list(tflite["artifact"]["input_layout"].values()) == ["other"]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=tflite["artifact"]["path"])
    assert [list(d["shape"]) for d in interpreter.get_input_details()] == [[1, 10, 32]]


def test_keras_cnn_stays_nhwc(models, tmp_path):
    out = tmp_path / "keras"
    report, _ = convert(models["keras"], out, "--quantize", "float32")
    assert_schema(report, models["keras"])
    assert_float32_match(report)
    from ai_edge_litert.interpreter import Interpreter

    path = by_kind(report)["tflite:float32"]["artifact"]["path"]
    assert [list(d["shape"]) for d in Interpreter(model_path=path).get_input_details()] == [[1, 32, 32, 3]]


def test_keras_two_inputs_two_outputs_h5(models, tmp_path):
    out = tmp_path / "two"
    report, _ = convert(models["h5"], out, "--quantize", "float32")
    assert_float32_match(report)
    for comp in report["comparisons"]:
        assert len(comp["outputs"]) == 2, comp


def test_savedmodel_source_to_tflite(models, tmp_path):
    out = tmp_path / "sm"
    report, _ = convert(models["savedmodel"], out, "--to", "tflite", "--quantize", "float32")
    comps = by_kind(report)
    assert set(comps) == {"tflite:float32"} and comps["tflite:float32"]["passed"]
    assert max(o["max_abs"] for o in comps["tflite:float32"]["outputs"]) <= 1e-4


def test_plain_onnx_with_quantized_variants(models, tmp_path):
    out = tmp_path / "plain"
    report, _ = convert(models["onnx"], out, "--to", "tflite", "--quantize", "float32,dynamic_int8,int8")
    comps = by_kind(report)
    assert set(comps) == {"tflite:float32", "tflite:dynamic_int8", "tflite:int8"}
    assert comps["tflite:float32"]["outputs"][0]["max_abs"] <= 1e-4
    for key in ("tflite:dynamic_int8", "tflite:int8"):
        assert comps[key]["outputs"][0]["cosine"] > 0.9, comps[key]
    from ai_edge_litert.interpreter import Interpreter

    def tensor_dtypes(key):
        details = Interpreter(model_path=comps[key]["artifact"]["path"]).get_tensor_details()
        return {str(d["dtype"].__name__) for d in details}

    assert "int8" in tensor_dtypes("tflite:int8") and "int8" not in tensor_dtypes("tflite:float32")


def test_torchscript_with_input_shape(models, tmp_path):
    out = tmp_path / "ts"
    report, _ = convert(models["torchscript"], out, "--to", "onnx,tflite", "--quantize", "float32",
                        "--input-shape", "1,3,32,32")
    comps = by_kind(report)
    assert set(comps) == {"onnx:float32", "tflite:float32"}
    assert comps["onnx:float32"]["outputs"][0]["max_abs"] <= 1e-5
    # the shape came from the user, yet the image input is still recognised and moved to NHWC
    assert comps["tflite:float32"]["passed"] and comps["tflite:float32"]["outputs"][0]["max_abs"] <= 1e-4
    assert list(comps["tflite:float32"]["artifact"]["input_layout"].values()) == ["NHWC"]


def test_onnx_only_target_writes_only_onnx(models, tmp_path):
    out = tmp_path / "only"
    report, _ = convert(models["cnn_pt2"], out, "--to", "onnx")
    assert [a["kind"] for a in report["artifacts"]] == ["onnx"]
    assert sorted(p.name for p in out.iterdir()) == ["cnn.onnx", "logs", "report.json"]
    assert [p.name for p in (out / "logs").iterdir()] == ["torch_onnx.log"]   # the exporter's own log, kept


def test_factory_with_weights_and_pickle_with_consent(models, tmp_path):
    out = tmp_path / "factory"
    report, _ = convert(f"{models['factory']}:build_model", out, "--weights", models["factory_weights"],
                        "--to", "onnx", "--input-shape", "image=1,3,16,16")
    assert report["comparisons"][0]["passed"]
    out = tmp_path / "pickle"
    report, _ = convert(models["pickle"], out, "--allow-pickle", "--to", "onnx", "--input-shape", "1,3,16,16")
    assert report["comparisons"][0]["passed"]


def test_report_flag_inputs_file_force_and_compare(models, tmp_path):
    out = tmp_path / "plain"
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.linspace(-1, 1, 8, dtype=np.float32).reshape(1, 8))
    report_path = tmp_path / "elsewhere" / "r.json"
    convert(models["onnx"], out, "--to", "tflite", "--quantize", "float32", "--inputs", inputs,
            "--report", report_path)
    report = json.loads(report_path.read_text())
    assert report["inputs"]["from"] == str(inputs)
    first = (out / "report.json").stat().st_mtime_ns
    convert(models["onnx"], out, "--to", "tflite", "--quantize", "float32", "--force")
    assert (out / "report.json").stat().st_mtime_ns != first
    tflite = next(out.glob("*float32.tflite"))
    result = run_studio("compare", models["onnx"], tflite, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)
    assert comparison["passed"] and comparison["outputs"][0]["max_abs"] <= 1e-4


def test_failing_tolerance_exits_1_but_writes_artifacts(models, tmp_path):
    out = tmp_path / "strict"
    result = run_studio("convert", models["cnn_pt2"], "--out", out, "--to", "tflite", "--quantize", "float16",
                        "--atol", "0", "--rtol", "0", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "FAIL" in result.stdout
    assert list(out.glob("*float16.tflite"))


def test_inspect_reports_signature_ops_and_size(models, tmp_path):
    result = run_studio("inspect", models["cnn_pt2"], "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["format"] == "exported_program" and info["framework"] == "pytorch"
    assert info["inputs"][0]["shape"] == [1, 3, 32, 32] and info["inputs"][0]["layout"] == "NCHW"
    assert info["parameters"] > 0 and info["bytes"] == models["cnn_pt2"].stat().st_size and info["ops"]
    text = run_studio("inspect", models["keras"], cwd=tmp_path)
    assert text.returncode == 0 and "image" in text.stdout

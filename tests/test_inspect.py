"""`studio inspect`: op histograms and parameter counts agree with each framework's own view of the model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.artifacts import path_bytes
from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.artifacts import human_bytes
from studio.inspect import format_summary, inspect_model
from studio.signature import NCHW, NHWC


def _runtime_fixtures():
    """Reuse the model builders of tests/runtimes (a conftest there is not visible from this folder)."""
    spec = importlib.util.spec_from_file_location("runtime_model_fixtures", Path(__file__).parent / "runtimes" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_fixtures = _runtime_fixtures()
torch_cnn, keras_cnn, flex_tflite = _fixtures.torch_cnn, _fixtures.keras_cnn, _fixtures.flex_tflite


def _specs(info: dict, key: str) -> list[tuple]:
    return [(t["name"], t["dtype"], tuple(t["shape"]), t["layout"]) for t in info[key]]


# ---------------------------------------------------------------- ONNX

def test_onnx(torch_cnn):
    import onnx
    from onnx import numpy_helper

    info = inspect_model(detect(torch_cnn.paths["onnx"]))
    assert (info["format"], info["framework"]) == ("onnx", "onnx")
    assert info["ops"]["Conv"] == 2 and "Gemm" in info["ops"]
    model = onnx.load(str(torch_cnn.paths["onnx"]))
    assert info["parameters"] == sum(numpy_helper.to_array(t).size for t in model.graph.initializer)
    assert _specs(info, "inputs") == [("image", "float32", (None, 3, 16, 16), NCHW)]
    assert _specs(info, "outputs") == [("logits", "float32", (None, 5), "other")]
    assert info["bytes"] == torch_cnn.paths["onnx"].stat().st_size
    json.dumps(info)  # the worker sends it as an event


def test_onnx_size_counts_external_data(torch_cnn, tmp_path):
    import onnx

    model = onnx.load(str(torch_cnn.paths["onnx"]))
    path = tmp_path / "external.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, location="external.onnx.data", size_threshold=0)
    info = inspect_model(detect(path))
    assert info["bytes"] == path.stat().st_size + (tmp_path / "external.onnx.data").stat().st_size
    assert info["parameters"] == inspect_model(detect(torch_cnn.paths["onnx"]))["parameters"]


def test_ops_are_sorted_by_count(torch_cnn):
    counts = list(inspect_model(detect(torch_cnn.paths["onnx"]))["ops"].values())
    assert counts[0] == 2 and counts == sorted(counts, reverse=True)


# ---------------------------------------------------------------- TFLite

def test_tflite_float32(keras_cnn):
    info = inspect_model(detect(keras_cnn.paths["tflite_float32"]))
    assert info["format"] == "tflite"
    assert {"CONV_2D", "FULLY_CONNECTED", "MEAN"} <= set(info["ops"])
    assert _specs(info, "inputs") == [("image", "float32", (None, 16, 16, 3), NHWC)]
    # batchnorm folds into the conv, so the constants are the conv and dense weights and a few shape constants
    assert 3 * 3 * 3 * 8 + 8 * 5 <= info["parameters"] <= keras_cnn.parameters


def test_tflite_int8_reports_the_files_own_dtypes(keras_cnn):
    info = inspect_model(detect(keras_cnn.paths["tflite_int8"]))
    assert info["inputs"][0]["dtype"] == "int8" and info["outputs"][0]["dtype"] == "int8"
    assert "CONV_2D" in info["ops"]


def test_tflite_float16_shows_its_dequantize_ops(keras_cnn):
    assert "DEQUANTIZE" in inspect_model(detect(keras_cnn.paths["tflite_float16"]))["ops"]


def test_tflite_flex_ops_are_named(flex_tflite):
    info = inspect_model(detect(flex_tflite))
    assert info["ops"].get("FlexErf") == 1


def test_truncated_tflite_is_one_line_error(keras_cnn, tmp_path):
    data = keras_cnn.paths["tflite_float32"].read_bytes()
    path = tmp_path / "half.tflite"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StudioError) as info:
        inspect_model(Source(path, Format.TFLITE))
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- TensorFlow

@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_keras_layers_and_count_params(kind, keras_cnn):
    info = inspect_model(detect(keras_cnn.paths[kind]))
    assert info["framework"] == "tensorflow"
    assert info["ops"] == {"BatchNormalization": 1, "Conv2D": 1, "Dense": 1, "GlobalAveragePooling2D": 1, "ReLU": 1}
    assert info["parameters"] == keras_cnn.parameters
    assert _specs(info, "inputs") == [("image", "float32", (None, 16, 16, 3), NHWC)]
    assert _specs(info, "outputs") == [("logits", "float32", (None, 5), "other")]


def test_saved_model_ops_variables_and_folder_size(keras_cnn):
    path = keras_cnn.paths["savedmodel"]
    info = inspect_model(detect(path))
    assert info["format"] == "savedmodel"
    assert {"Conv2D", "MatMul", "Relu"} <= set(info["ops"])
    assert "StatefulPartitionedCall" not in info["ops"]
    assert info["parameters"] == keras_cnn.parameters
    assert info["bytes"] == path_bytes(path) > path.joinpath("saved_model.pb").stat().st_size


# ---------------------------------------------------------------- PyTorch

def test_torchscript_graph_nodes(torch_cnn):
    info = inspect_model(detect(torch_cnn.paths["torchscript"]))
    assert info["ops"]["aten::_convolution"] == 2  # tracing records the low-level conv
    assert "aten::batch_norm" in info["ops"] and "prim::Constant" not in info["ops"]
    assert info["parameters"] == torch_cnn.parameters
    assert [t["name"] for t in info["inputs"]] == ["image"]
    assert info["inputs"][0]["shape"] == []  # TorchScript stores no shapes, and inspect does not guess


def test_exported_program_targets_and_shapes(torch_cnn):
    info = inspect_model(detect(torch_cnn.paths["pt2"]))
    assert info["ops"]["aten::conv2d"] == 2 and "aten::linear" in info["ops"]
    assert info["parameters"] == torch_cnn.parameters
    assert _specs(info, "inputs") == [("image", "float32", (1, 3, 16, 16), NCHW)]
    assert _specs(info, "outputs") == [("output_0", "float32", (1, 5), "other")]


def test_factory_leaf_modules_and_weights_size(torch_cnn):
    paths = torch_cnn.paths
    info = inspect_model(detect(f"{paths['factory']}:build_model", weights=paths["weights"]))
    assert info["ops"] == {"Conv2d": 2, "AdaptiveAvgPool2d": 1, "BatchNorm2d": 1, "Linear": 1}
    assert info["parameters"] == torch_cnn.parameters
    assert info["bytes"] == paths["factory"].stat().st_size + paths["weights"].stat().st_size


# ---------------------------------------------------------------- text

def test_format_summary_is_aligned_plain_text(torch_cnn):
    text = format_summary(inspect_model(detect(torch_cnn.paths["onnx"])))
    lines = text.splitlines()
    assert lines[0] == str(torch_cnn.paths["onnx"])
    assert any(line.split() == ["format", "onnx"] for line in lines)
    assert "image  float32  [?,3,16,16]  NCHW" in text
    op_lines = lines[lines.index(next(l for l in lines if l.startswith("ops:"))) + 1:]
    counts_at = {len(line.rstrip()) for line in op_lines}
    assert len(counts_at) == 1, op_lines  # single-digit counts end in one column


def test_format_summary_caps_long_op_lists():
    info = {"source": {"path": "m.onnx"}, "format": "onnx", "framework": "onnx", "inputs": [], "outputs": [],
            "ops": {f"Op{i}": 1 for i in range(40)}, "parameters": 0, "bytes": 0}
    text = format_summary(info, max_ops=5)
    assert "... and 35 more kinds" in text and "(none)" in text


def test_human_bytes():
    assert human_bytes(512) == "512 B" and human_bytes(2048) == "2.0 KB" and human_bytes(5 * 1024**3) == "5.0 GB"

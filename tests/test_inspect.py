"""`studio inspect`: op histograms and parameter counts agree with each framework's own view of the model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from studio.artifacts import human_bytes, path_bytes
from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.model_summary import format_summary, inspect_model
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


def test_human_bytes_counts_in_decimal_si_units():
    assert [human_bytes(n) for n in (0, 512, 999, 1000, 2048, 112_700, 999_960, 14_100_000, 5 * 10**9, 3 * 10**12)] == \
        ["0 B", "512 B", "999 B", "1.0 kB", "2.0 kB", "112.7 kB", "1.0 MB", "14.1 MB", "5.0 GB", "3.0 TB"]
    assert human_bytes(None) == "0 B"


def test_the_gui_and_the_cli_show_the_same_size_for_the_same_file(qtbot):
    """One byte formatter: `studio inspect`'s size line, the convert table, the summary panel and the sidebar."""
    from studio.gui.sidebar import human_size
    from studio.gui.summary_view import SummaryView

    size = 112_700    # "110.1 KB" in 1024s beside "112.7 KB" in 1000s, before there was one unit
    info = {"source": {"path": "m.onnx"}, "format": "onnx", "framework": "onnx", "inputs": [], "outputs": [],
            "ops": {}, "parameters": 0, "bytes": size}
    cli = next(line.split()[1:3] for line in format_summary(info).splitlines() if line.split()[:1] == ["size"])
    view = SummaryView()
    qtbot.addWidget(view)
    view.set_summary(info)
    assert " ".join(cli) == view.size_label.text() == human_size(size) == human_bytes(size) == "112.7 kB"


def test_no_studio_module_shadows_the_standard_library():
    """studio/inspect.py once did (as studio/model_summary.py it no longer does): on PyInstaller's analysis path,
    or with studio/ itself on sys.path, such a module replaces the standard library's for everything."""
    root = Path(__file__).resolve().parents[1] / "studio"
    names = {p.stem for p in root.rglob("*.py")} | {p.name for p in root.rglob("*") if (p / "__init__.py").is_file()}
    assert not names & set(sys.stdlib_module_names) - {"__init__", "__main__"}

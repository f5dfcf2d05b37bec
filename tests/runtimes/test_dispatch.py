"""open_runtime picks the runtime from the detected format, and importing the package stays cheap."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.runtimes import RUNTIME_FOR_FORMAT, open_runtime, runtime_name


@pytest.mark.parametrize("kind, expected", [("onnx", "onnxruntime"), ("torchscript", "torch"), ("pt2", "torch")])
def test_torch_side_dispatch(kind, expected, torch_cnn):
    runtime = open_runtime(torch_cnn.paths[kind])
    assert runtime.name == expected
    (out,) = runtime.run({"image": torch_cnn.x}).values()
    np.testing.assert_allclose(out, torch_cnn.y, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind, expected", [("keras", "tensorflow"), ("h5", "tensorflow"),
                                            ("savedmodel", "tensorflow"), ("tflite_float32", "litert")])
def test_tf_side_dispatch(kind, expected, keras_cnn):
    runtime = open_runtime(str(keras_cnn.paths[kind]))
    assert runtime.name == expected
    (out,) = runtime.run({"image": keras_cnn.x}).values()
    np.testing.assert_allclose(out, keras_cnn.y, atol=1e-5, rtol=0)


def test_a_source_with_factory_and_weights(torch_cnn):
    source = detect(f"{torch_cnn.paths['factory']}:build_model", weights=torch_cnn.paths["weights"])
    assert open_runtime(source).name == "torch"


def test_every_format_has_a_runtime():
    assert set(RUNTIME_FOR_FORMAT) == set(Format)
    assert runtime_name(Format.TFLITE) == "litert"


def test_unsupported_path_is_a_studio_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(StudioError):
        open_runtime(tmp_path / "notes.txt")


def test_mislabelled_source_fails_in_one_line(keras_cnn):
    with pytest.raises(StudioError) as info:
        open_runtime(Source(keras_cnn.paths["tflite_float32"], Format.TORCHSCRIPT))
    assert "\n" not in str(info.value)


def test_importing_runtimes_and_inspect_loads_no_framework():
    code = ("import sys, studio.runtimes, studio.runtimes.onnx_rt, studio.runtimes.litert_rt, "
            "studio.runtimes.torch_rt, studio.runtimes.tf_rt, studio.model_summary; "
            "heavy = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'keras', 'ai_edge_litert') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

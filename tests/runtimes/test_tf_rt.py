"""The TF runtime on Keras (.keras, .h5), SavedModel (model.export and onnx2tf's), against Keras itself."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.runtimes.tf_rt import TFRuntime, natural_key
from studio.signature import NHWC


@pytest.mark.parametrize("kind", ["keras", "h5", "savedmodel"])
def test_every_tf_format_matches_keras(kind, keras_cnn):
    runtime = TFRuntime(detect(keras_cnn.paths[kind]))
    (out,) = runtime.run({"image": keras_cnn.x}).values()
    np.testing.assert_allclose(out, keras_cnn.y, atol=1e-6, rtol=0)
    (inp,) = runtime.signature.inputs
    assert (inp.name, inp.shape, inp.layout) == ("image", (None, 16, 16, 3), NHWC)


def test_keras_output_keeps_its_layer_name(keras_cnn):
    runtime = TFRuntime(detect(keras_cnn.paths["keras"]))
    assert list(runtime.run({"image": keras_cnn.x})) == ["logits"]


def test_two_inputs_two_outputs_keras(keras_two_io):
    runtime = TFRuntime(detect(keras_two_io.paths["keras"]))
    assert [s.name for s in runtime.signature.inputs] == ["a", "b"]
    # feeds in the "wrong" order still land by name
    out = runtime.run({"b": keras_two_io.x["b"], "a": keras_two_io.x["a"]})
    assert list(out) == ["p", "q"]
    np.testing.assert_allclose(out["p"], keras_two_io.extra["p"], atol=1e-6)
    np.testing.assert_allclose(out["q"], keras_two_io.extra["q"], atol=1e-6)


def test_saved_model_outputs_come_in_signature_order(keras_two_io):
    runtime = TFRuntime(detect(keras_two_io.paths["savedmodel"]))
    assert [s.name for s in runtime.signature.outputs] == ["output_0", "output_1"]
    out = runtime.run(keras_two_io.x)
    assert list(out) == ["output_0", "output_1"]
    np.testing.assert_allclose(out["output_0"], keras_two_io.extra["p"], atol=1e-6)
    np.testing.assert_allclose(out["output_1"], keras_two_io.extra["q"], atol=1e-6)


def test_natural_order_puts_10_after_2():
    assert sorted(["output_10", "output_2", "output_1"], key=natural_key) == ["output_1", "output_2", "output_10"]


@pytest.fixture(scope="module")
def onnx2tf_out(torch_cnn, tmp_path_factory):
    import onnx2tf

    root = tmp_path_factory.mktemp("onnx2tf")
    onnx_copy = root / "cnn.onnx"  # onnx2tf rewrites its input file in place (measured), so give it a copy
    shutil.copy(torch_cnn.paths["onnx"], onnx_copy)
    onnx2tf.convert(input_onnx_file_path=str(onnx_copy), output_folder_path=str(root / "out"), non_verbose=True,
                    not_use_onnxsim=True, flatbuffer_direct_output_saved_model=True)   # 2.x: SavedModel on request
    return root / "out"


def test_onnx2tf_saved_model_runs_and_matches_torch(onnx2tf_out, torch_cnn):
    runtime = TFRuntime(detect(onnx2tf_out))
    (inp,) = runtime.signature.inputs
    assert inp.layout == NHWC and inp.shape == (None, 16, 16, 3)
    (out,) = runtime.run({inp.name: torch_cnn.x.transpose(0, 2, 3, 1)}).values()
    np.testing.assert_allclose(out, torch_cnn.y, atol=1e-4, rtol=0)


def test_onnx2tf_tflite_runs_on_litert_and_matches_torch(onnx2tf_out, torch_cnn):
    from studio.runtimes import open_runtime

    runtime = open_runtime(onnx2tf_out / "cnn_float32.tflite")
    (out,) = runtime.run({"image": torch_cnn.x.transpose(0, 2, 3, 1)}).values()
    np.testing.assert_allclose(out, torch_cnn.y, atol=1e-4, rtol=0)


def test_weights_only_h5_is_one_line_error(keras_cnn):
    with pytest.raises(StudioError) as info:
        TFRuntime(detect(keras_cnn.paths["weights_h5"]))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["bad.h5", "bad.keras"])
def test_random_bytes_behind_a_tf_extension(name, corrupt):
    path = corrupt(name)
    fmt = Format.H5 if name.endswith(".h5") else Format.KERAS
    with pytest.raises(StudioError):
        TFRuntime(Source(path, fmt))  # even when something upstream mislabels it


def test_folder_with_a_broken_saved_model(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"not a protobuf at all")
    with pytest.raises(StudioError) as info:
        TFRuntime(detect(tmp_path))
    assert "\n" not in str(info.value)

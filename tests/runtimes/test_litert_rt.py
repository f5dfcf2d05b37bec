"""LiteRT (ai_edge_litert) against Keras on TFLite files the TF converter wrote: float32, float16, int8 I/O."""

from __future__ import annotations

import numpy as np
import pytest

from studio.errors import StudioError
from studio.runtimes.litert_rt import LiteRTRuntime, NeedsFlexDelegate
from studio.signature import NHWC


def _only(out: dict) -> np.ndarray:
    assert len(out) == 1
    return next(iter(out.values()))


def test_float32_matches_keras(keras_cnn):
    runtime = LiteRTRuntime(keras_cnn.paths["tflite_float32"])
    np.testing.assert_allclose(_only(runtime.run({"image": keras_cnn.x})), keras_cnn.y, atol=1e-5, rtol=0)


def test_signature_names_survive_and_layout_is_channels_last(keras_cnn):
    runtime = LiteRTRuntime(keras_cnn.paths["tflite_float32"])
    assert runtime.signature_key == "serving_default"
    (inp,) = runtime.signature.inputs
    assert (inp.name, inp.dtype, inp.shape, inp.layout) == ("image", "float32", (None, 16, 16, 3), NHWC)
    assert runtime.signature.outputs[0].shape == (None, 5)


def test_float16_weights_run_with_float_io(keras_cnn):
    runtime = LiteRTRuntime(keras_cnn.paths["tflite_float16"])
    assert not runtime.quantized
    np.testing.assert_allclose(_only(runtime.run({"image": keras_cnn.x})), keras_cnn.y, atol=1e-2, rtol=0)


def test_int8_io_is_quantized_in_and_dequantized_out(keras_cnn):
    runtime = LiteRTRuntime(keras_cnn.paths["tflite_int8"])
    assert {q.dtype for q in runtime.quantized.values()} == {np.dtype("int8")}
    assert runtime.signature.inputs[0].dtype == "float32"  # the studio feeds it floats like any other model
    out = _only(runtime.run({"image": keras_cnn.x}))
    assert out.dtype == np.float32
    output_step = next(q.scale for name, q in runtime.quantized.items() if name != "image")
    error = np.abs(out - keras_cnn.y).max()
    assert error <= 8 * output_step, (error, output_step)
    cosine = float(np.dot(out.ravel(), keras_cnn.y.ravel()) / np.linalg.norm(out) / np.linalg.norm(keras_cnn.y))
    assert cosine > 0.99


def test_resizes_a_dynamic_batch(keras_cnn):
    runtime = LiteRTRuntime(keras_cnn.paths["tflite_float32"])
    batch = np.concatenate([keras_cnn.x] * 3)
    assert _only(runtime.run({"image": batch})).shape == (3, 5)
    np.testing.assert_allclose(_only(runtime.run({"image": keras_cnn.x})), keras_cnn.y, atol=1e-5, rtol=0)


def test_two_io_signature_comes_in_name_order_with_values_that_match(keras_two_io, tmp_path):
    import tensorflow as tf

    path = tmp_path / "two_io.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(keras_two_io.extra["model"]).convert())
    runtime = LiteRTRuntime(path)
    assert [s.name for s in runtime.signature.inputs] == ["a", "b"]  # the subgraph itself lists [b, a]
    out = runtime.run(keras_two_io.x)
    assert list(out) == ["output_0", "output_1"]
    np.testing.assert_allclose(out["output_0"], keras_two_io.extra["p"], atol=1e-5)
    np.testing.assert_allclose(out["output_1"], keras_two_io.extra["q"], atol=1e-5)


def test_model_without_signature_uses_tensor_details(tmp_path):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def double_relu(x):
        return tf.nn.relu(x) * 2.0

    path = tmp_path / "nosig.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([double_relu.get_concrete_function()]).convert())
    runtime = LiteRTRuntime(path)
    assert runtime.signature_key is None
    assert runtime.signature.inputs[0].shape == (None, 4)
    x = np.array([[1, -1, 2, 3], [0, 1, -2, 5]], np.float32)
    np.testing.assert_array_equal(_only(runtime.run({"x": x})), np.maximum(x, 0) * 2)
    np.testing.assert_array_equal(_only(runtime.run({"x": x[:1]})), np.maximum(x[:1], 0) * 2)


def test_flex_ops_need_the_flex_delegate(flex_tflite):
    with pytest.raises(NeedsFlexDelegate) as info:
        LiteRTRuntime(flex_tflite)
    assert isinstance(info.value, StudioError)
    assert info.value.ops == ["FlexErf"]
    assert "Flex delegate" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_bad_files_raise_studio_error(kind, corrupt, keras_cnn):
    path = {"random": lambda: corrupt("bad.tflite"),
            "truncated": lambda: corrupt("half.tflite", truncate_from=keras_cnn.paths["tflite_float32"]),
            "empty": lambda: corrupt("empty.tflite", b"")}[kind]()
    with pytest.raises(StudioError) as info:
        LiteRTRuntime(path)
    assert "\n" not in str(info.value)

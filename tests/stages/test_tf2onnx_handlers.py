"""The extra tf2onnx handlers (studio.stages.tf2onnx_handlers) on real conversions.

tf2onnx 1.17 has no handler for Erfc, the op behind Keras 3's exact GELU, so ConvNeXt-like models
failed in tf->onnx. The stage test comes first on purpose: handlers register process-wide, so it
must run before the direct tests import the module themselves, or it could not notice that the
stage stopped importing it.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from studio.formats import Format, Source
from studio.signature import NHWC, Signature, TensorSpec
from .conftest import Model, _keras_reference, run_stage
from .test_stage_to_onnx import run_onnx

pytestmark = pytest.mark.slow


def convnext_block():
    """A ConvNeXt-style channels-last block: depthwise conv, LayerNorm, Dense, exact GELU, Dense, residual."""
    import keras

    keras.utils.set_random_seed(3)
    image = keras.Input((8, 8, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 1)(image)
    y = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    y = keras.layers.LayerNormalization(epsilon=1e-6)(y)
    y = keras.layers.Dense(32)(y)
    y = keras.layers.Activation("gelu")(y)
    y = keras.layers.Dense(8)(y)
    return keras.Model(image, keras.layers.Add(name="features")([x, y]))


def op_types(path: str) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(path).graph.node}


def test_exact_gelu_goes_through_the_tf_stage_and_matches_keras(tmp_path, work_root):
    import keras

    # the premise: 'gelu' is the exact erf GELU (TF computes it with Erfc), not the tanh approximation
    assert inspect.signature(keras.activations.gelu).parameters["approximate"].default is False
    block = convnext_block()
    block.save(tmp_path / "convnext_block.keras")
    model = Model(Source(tmp_path / "convnext_block.keras", Format.KERAS),
                  Signature((TensorSpec("image", "float32", (1, 8, 8, 3), NHWC),),
                            (TensorSpec("features", "float32", (1, 8, 8, 8)),)),
                  _keras_reference(block))

    run = run_stage("tf->onnx", model, work_root / "convnext-block-onnx")

    path = run.one("onnx").path
    assert "Erfc" not in op_types(path) and "Erf" in op_types(path)
    feeds = model.feeds()
    _, _, (got,) = run_onnx(path, feeds)
    (ref,) = model.reference(feeds)
    assert got.shape == ref.shape == (1, 8, 8, 8)
    assert np.abs(got - ref).max() <= 1e-5


@pytest.mark.parametrize("op", ["Erfc", "Expm1", "Log1p", "TruncateMod"])
def test_each_handled_op_converts_and_matches_tensorflow(op):
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    import studio.stages.tf2onnx_handlers  # noqa: F401  the module under test registers on import

    functions = {"Erfc": tf.math.erfc, "Expm1": tf.math.expm1, "Log1p": lambda x: tf.math.log1p(tf.abs(x)),
                 "TruncateMod": lambda x: tf.truncatemod(x, 0.7)}
    spec = tf.TensorSpec([4, 50], tf.float32, name="x")
    function = tf.function(functions[op], input_signature=[spec], autograph=False)
    # up to Expm1(2) = 6.4, where float32 steps by 4.8e-7: 1e-6 allows two steps of difference
    x = np.linspace(-2, 2, 200, dtype=np.float32).reshape(4, 50)
    assert op in {n.type for n in function.get_concrete_function().graph.get_operations()}

    proto, _ = tf2onnx.convert.from_function(function, input_signature=[spec], opset=18)

    assert op not in {node.op_type for node in proto.graph.node}
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x})
    ref = function(x).numpy()
    assert got.dtype == ref.dtype == np.float32
    assert np.abs(got - ref).max() <= 1e-6

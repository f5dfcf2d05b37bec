"""Keras grouped convolutions through tf->onnx (studio.stages.keras_tracing).

Keras 3's TF backend computes Conv2D(groups > 1) inside a tf.function(jit_compile=True); tf2onnx does
not inline XLA-compiled functions, so such models (ConvNeXt, RegNet) failed with "could not translate
StatefulPartitionedCall". The stage now inlines them; the ONNX has a plain Conv with group=g.
"""

from __future__ import annotations

import numpy as np
import pytest

from studio.formats import Format, Source
from studio.signature import NHWC, Signature, TensorSpec
from .conftest import Model, _keras_reference, run_stage
from .test_stage_to_onnx import run_onnx

pytestmark = pytest.mark.slow


def grouped_conv_model():
    """Conv2D(groups=4) on 8 channels (the XLA path), then an ordinary Conv2D (stays a plain op)."""
    import keras

    keras.utils.set_random_seed(5)
    image = keras.Input((16, 16, 8), batch_size=1, name="image")
    x = keras.layers.Conv2D(12, 3, padding="same", groups=4, activation="relu")(image)
    return keras.Model(image, keras.layers.Conv2D(6, 1, name="features")(x))


@pytest.mark.parametrize("fmt", [Format.KERAS, Format.SAVEDMODEL])
def test_grouped_conv_goes_through_the_tf_stage_and_matches_keras(fmt, tmp_path, work_root):
    import onnx

    keras_model = grouped_conv_model()
    if fmt is Format.KERAS:
        path, output = tmp_path / "grouped.keras", "features"
        keras_model.save(path)
    else:  # Keras 3 export names the serving outputs output_0, ...
        path, output = tmp_path / "grouped_savedmodel", "output_0"
        keras_model.export(str(path), verbose=False)
    model = Model(Source(path, fmt), Signature((TensorSpec("image", "float32", (1, 16, 16, 8), NHWC),),
                                               (TensorSpec(output, "float32", (1, 16, 16, 6)),)),
                  _keras_reference(keras_model))

    run = run_stage("tf->onnx", model, work_root / f"grouped-conv-{fmt.value}")

    artifact = run.one("onnx")
    assert any("1 XLA-compiled functions" in line for line in run.logs)
    assert "XLA calls inlined" in artifact.notes[0]
    graph = onnx.load(artifact.path).graph
    groups = sorted(next((a.i for a in n.attribute if a.name == "group"), 1) for n in graph.node if n.op_type == "Conv")
    assert groups == [1, 4]
    assert not any(n.op_type.endswith("PartitionedCall") for n in graph.node)
    feeds = model.feeds()
    names, outputs, (got,) = run_onnx(artifact.path, feeds)
    assert names == ["image"] and outputs == [output]
    (ref,) = model.reference(feeds)
    assert got.shape == ref.shape == (1, 16, 16, 6)
    assert np.abs(got - ref).max() <= 1e-5

"""Known noise in worker output (studio.jobs.noise): TensorFlow/absl start-up notices go, real messages stay."""

from __future__ import annotations

import pytest

from studio.jobs.noise import is_noise

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "E0000 00:00:1733 4242 cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: "
    "UNKNOWN ERROR (303)",
    "I0000 00:00:1795854266.913503   26685 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    "not be used.",
    "E0000 00:00:1733 4242 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory for "
    "plugin cuDNN when one has already been registered",
    "E0000 cuda_blas.cc:1418] Unable to register cuBLAS factory: Attempting to register factory for plugin cuBLAS "
    "when one has already been registered",
    "W0000 py_utils.cc:38] TF-TRT Warning: Could not find TensorRT",
    "I tensorflow/core/util/port.cc:153] oneDNN custom operations are on. You may see slightly different numerical "
    "results due to floating-point round-off errors from different computation orders. To turn them off, set the "
    "environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "I cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use available CPU instructions in "
    "performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]
REAL = [
    "onnx2tf: Conv_3: unsupported auto_pad SAME_LOWER",
    "RuntimeError: CUDA error: out of memory",
    "ValueError: Input 0 of layer conv is incompatible with the layer",
    "E0000 00:00:1733 4242 tflite_converter.cc:77] error: 'tf.FlexConv' op is neither a custom op nor a flex op",
    "WARNING: the model has 3 dynamic dims",
    "",
]


@pytest.mark.parametrize("line", NOISE)
def test_known_noise_is_recognised(line):
    assert is_noise(line)


@pytest.mark.parametrize("line", REAL)
def test_real_messages_are_kept(line):
    assert not is_noise(line)

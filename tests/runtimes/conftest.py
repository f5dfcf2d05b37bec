"""Tiny real models, built once per session: a torch CNN in every torch format plus ONNX, a Keras CNN in every
TF format plus TFLite variants, a two-input/two-output Keras model, and a TFLite model that needs Flex ops."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

TORCH_CNN_SOURCE = '''
import torch
from torch import nn


class TinyCNN(nn.Module):
    """conv -> batchnorm -> relu, a residual conv, pooling, linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, image):
        y = torch.relu(self.bn(self.conv(image)))
        y = y + self.conv2(y)
        return self.fc(self.pool(y).flatten(1))


def build_model():
    return TinyCNN()
'''


@dataclass
class ModelFiles:
    """Paths of one model saved in several formats, with a reference input and the framework's own output."""

    paths: dict[str, Path]
    x: np.ndarray
    y: np.ndarray
    parameters: int
    extra: dict = field(default_factory=dict)


def _quiet_tf():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def torch_cnn(tmp_path_factory) -> ModelFiles:
    import torch

    root = tmp_path_factory.mktemp("torch_cnn")
    code = root / "tiny_cnn.py"
    code.write_text(TORCH_CNN_SOURCE)
    spec = importlib.util.spec_from_file_location("tiny_cnn_for_tests", code)
    module = importlib.util.module_from_spec(spec)
    sys.modules["tiny_cnn_for_tests"] = module  # so torch.save(model) can pickle the class
    spec.loader.exec_module(module)

    torch.manual_seed(0)
    model = module.build_model()
    with torch.no_grad():  # non-trivial batchnorm statistics, so a wrong BN shows in the outputs
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    example = torch.from_numpy(x)
    with torch.inference_mode():
        y = model(example).numpy()

    paths = {"factory": code, "weights": root / "weights.pt", "torchscript": root / "cnn.pt",
             "pt2": root / "cnn.pt2", "pickle": root / "cnn_pickle.pt", "onnx": root / "cnn.onnx"}
    torch.save(model.state_dict(), paths["weights"])
    torch.jit.save(torch.jit.trace(model, example), str(paths["torchscript"]))
    torch.export.save(torch.export.export(model, (example,)), str(paths["pt2"]))
    torch.save(model, paths["pickle"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (example,), str(paths["onnx"]), input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False)
    return ModelFiles(paths, x, y, sum(p.numel() for p in model.parameters()), {"model": model})


def _keras_cnn():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3), name="image")
    y = keras.layers.Conv2D(8, 3, padding="same")(inp)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    out = keras.layers.Dense(5, name="logits")(y)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(1)
    bn = model.layers[2]
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma, rng.uniform(-0.2, 0.2, beta.shape), rng.uniform(-0.5, 0.5, mean.shape),
                    rng.uniform(0.5, 2.0, var.shape)])
    dense = model.layers[-1]
    dense.set_weights([dense.get_weights()[0], rng.uniform(-0.3, 0.3, 5)])
    return model


def _tflite(model, path: Path, variant: str) -> Path:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        rng = np.random.default_rng(2)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([rng.random((1, 16, 16, 3), dtype=np.float32)] for _ in range(16))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="session")
def keras_cnn(tmp_path_factory) -> ModelFiles:
    _quiet_tf()
    root = tmp_path_factory.mktemp("keras_cnn")
    model = _keras_cnn()
    x = np.random.default_rng(3).random((1, 16, 16, 3), dtype=np.float32)
    y = np.asarray(model(x, training=False))
    paths = {"keras": root / "cnn.keras", "h5": root / "cnn.h5", "savedmodel": root / "cnn_savedmodel",
             "weights_h5": root / "cnn.weights.h5"}
    model.save(paths["keras"])
    model.save(paths["h5"])
    model.save_weights(paths["weights_h5"])
    model.export(str(paths["savedmodel"]), verbose=False)
    for variant in ("float32", "float16", "int8"):
        paths[f"tflite_{variant}"] = _tflite(model, root / f"cnn_{variant}.tflite", variant)
    return ModelFiles(paths, x, y, model.count_params(), {"model": model})


@pytest.fixture(scope="session")
def keras_two_io(tmp_path_factory) -> ModelFiles:
    """Two inputs, two outputs: names and order must survive every runtime."""
    import keras

    _quiet_tf()
    root = tmp_path_factory.mktemp("keras_two_io")
    keras.utils.set_random_seed(1)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(6, activation="relu", name="hidden")(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], [keras.layers.Dense(2, name="p")(h), keras.layers.Dense(1, name="q")(h)])
    paths = {"keras": root / "two_io.keras", "savedmodel": root / "two_io_savedmodel"}
    model.save(paths["keras"])
    model.export(str(paths["savedmodel"]), verbose=False)
    rng = np.random.default_rng(4)
    feeds = {"a": rng.random((2, 4), dtype=np.float32), "b": rng.random((2, 3), dtype=np.float32)}
    p, q = (np.asarray(t) for t in model(feeds, training=False))
    return ModelFiles(paths, feeds, np.concatenate([p, q], axis=1), model.count_params(), {"p": p, "q": q, "model": model})


@pytest.fixture(scope="session")
def flex_tflite(tmp_path_factory) -> Path:
    """erf is not a LiteRT builtin: with SELECT_TF_OPS it becomes FlexErf, as onnx2tf makes it for ConvNeXt."""
    import tensorflow as tf

    _quiet_tf()

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def gelu_like(x):
        return {"y": x * tf.math.erf(x)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([gelu_like.get_concrete_function()], gelu_like)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    path = tmp_path_factory.mktemp("flex") / "flex.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.fixture
def corrupt(tmp_path):
    """Write a damaged copy of a file (or random bytes) under a given name."""

    def make(name: str, content: bytes | None = None, truncate_from: Path | None = None) -> Path:
        path = tmp_path / name
        if truncate_from is not None:
            data = truncate_from.read_bytes()
            content = data[: len(data) // 2]
        path.write_bytes(content if content is not None else np.random.default_rng(5).bytes(4096))
        return path

    return make

"""Tiny models built in the test process and converted once per session by the studio's real convert job
(torch.onnx / tf2onnx, then onnx2tf), for the per-layer explain tests."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models import torch_transformer_block

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def torch_cnn():
    """Conv+BN+ReLU twice, max-pool, a residual conv, then two Linear layers, on a [1, 3, 16, 16] image."""
    import torch
    from torch import nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
            self.conv2, self.bn2 = nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.pool = nn.MaxPool2d(2)
            self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
            self.fc1 = nn.Linear(16 * 8 * 8, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, image):
            x = torch.relu(self.bn1(self.conv1(image)))
            x = self.pool(torch.relu(self.bn2(self.conv2(x))))
            x = torch.relu(self.conv3(x)) + x
            x = torch.relu(self.fc1(torch.flatten(x, 1)))
            return self.fc2(x)

    torch.manual_seed(0)
    model = CNN().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    return model, torch.rand(1, 3, 16, 16)


def keras_cnn():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(16, activation="relu", name="dense_a")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="scores")(x))


@dataclass
class Converted:
    """A source, converted by the studio's convert job, with the inputs every explain test feeds it."""

    source: Any                       # studio.formats.Source
    signature: Any                    # studio.signature.Signature, shapes resolved
    feeds: dict[str, np.ndarray]
    out: Path
    report: dict
    model: Any = None                 # the loaded source (what the job hands explain), loaded once
    artifacts: dict[str, Path] = field(default_factory=dict)   # "onnx", "tflite float32", "tflite int8"

    def explain(self, artifact: Path, variant: str = "float32", **kwargs):
        from studio.explain import explain_artifact

        return explain_artifact(self.source, artifact, onnx_path=self.onnx, feeds=self.feeds, signature=self.signature,
                                variant=variant, model=self.model, **kwargs)

    @property
    def onnx(self) -> Path:
        return self.artifacts["onnx"]

    def tflite(self, variant: str = "float32") -> Path:
        return self.artifacts[f"tflite {variant}"]


def convert(path: Path, out: Path, variants: list[str], **inputs: Any) -> Converted:
    """inputs: InputOptions fields (input_shapes and input_dtypes for a TorchScript source)."""
    from studio.formats import detect
    from studio.inputs import make_inputs
    from studio.jobs.handlers import run_request
    from studio.jobs.protocol import ConvertRequest
    from studio.jobs.record import JobRecord
    from studio.options import ConvertOptions, InputOptions
    from studio.pipeline import _resolved_signature
    from studio.runtimes import open_runtime

    source = detect(path)
    record = JobRecord()
    code = run_request(ConvertRequest(source=source.to_dict(), out_dir=str(out),
                                      options=ConvertOptions(targets=["onnx", "tflite"], variants=variants,
                                                             **inputs)),
                       record.apply)
    assert code == 0, record.error
    runtime = open_runtime(source)
    signature = _resolved_signature(source, runtime, InputOptions(**inputs))
    converted = Converted(source, signature, make_inputs(signature.inputs, seed=0), out, record.report(),
                          runtime.model)
    for artifact in record.artifacts:
        converted.artifacts[f"{artifact['kind']} {artifact['variant']}" if artifact["kind"] == "tflite"
                            else artifact["kind"]] = Path(artifact["path"])
    return converted


@pytest.fixture(scope="session")
def explain_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("explain")


@pytest.fixture(scope="session")
def cnn(explain_root) -> Converted:
    import torch

    model, image = torch_cnn()
    path = explain_root / "cnn.pt2"
    torch.export.save(torch.export.export(model, (image,)), path)
    return convert(path, explain_root / "cnn", ["float32", "int8"])


@pytest.fixture(scope="session")
def attention(explain_root) -> Converted:
    import torch

    model, tokens = torch_transformer_block(tokens=8)
    path = explain_root / "attention.pt2"
    torch.export.save(torch.export.export(model, (tokens,)), path)
    return convert(path, explain_root / "attention", ["float32"])


def torch_shuffle_unit():
    """ShuffleNetV2's unit on a [1, 3, 16, 16] image: chunk the channels in two, convolve one half, concatenate,
    and shuffle the channels (reshape, transpose, reshape)."""
    import torch
    from torch import nn

    class ShuffleUnit(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1, groups=4))
            self.head = nn.Linear(8, 10)

        def forward(self, image):
            x = torch.relu(self.stem(image))
            keep, work = x.chunk(2, dim=1)
            x = torch.cat([keep, self.branch(work)], dim=1)
            b, c, h, w = x.shape
            x = x.reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)
            return self.head(x.mean((2, 3)))

    torch.manual_seed(0)
    return ShuffleUnit().eval(), torch.rand(1, 3, 16, 16)


@pytest.fixture(scope="session")
def shuffle(explain_root) -> Converted:
    import torch

    model, image = torch_shuffle_unit()
    path = explain_root / "shuffle.pt2"
    torch.export.save(torch.export.export(model, (image,)), path)
    return convert(path, explain_root / "shuffle", ["float32"])


def torchscript_tokens(tokens: int = 8):
    """A traced TorchScript embedding model whose position ids come from the ids' length (`arange(ids.size(1))`):
    TorchScript keeps that as Shape ops, which a static-shape converter folds into a constant."""
    import torch
    from torch import nn

    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.words, self.positions = nn.Embedding(50, 16), nn.Embedding(tokens, 16)
            self.norm, self.head = nn.LayerNorm(16), nn.Linear(16, 5)

        def forward(self, input_ids):
            positions = torch.arange(input_ids.size(1)).unsqueeze(0)
            return self.head(torch.relu(self.norm(self.words(input_ids) + self.positions(positions))))

    torch.manual_seed(0)
    return torch.jit.trace(Tokens().eval(), torch.randint(0, 50, (1, tokens)))


@pytest.fixture(scope="session")
def ts_tokens(explain_root) -> Converted:
    path = explain_root / "tokens_ts.pt"
    torchscript_tokens().save(str(path))
    return convert(path, explain_root / "tokens_ts", ["float32"], input_shapes={"input_ids": [1, 8]},
                   input_dtypes={"input_ids": "int64"})


def keras_residual_block():
    """ResNet's bottleneck in small: Conv+BN+ReLU twice, a Conv+BN shortcut, an Add, and a depthwise conv + BN
    between. tf2onnx folds each Conv's BN into it under a name of no layer (`Conv__12`); the BN
    statistics are set so the outputs are not tiny."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="b_1_conv")(inputs)
    x = keras.layers.BatchNormalization(name="b_1_bn")(x)
    x = keras.layers.ReLU(name="b_1_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="b_dw")(x)   # EfficientNet's: tf2onnx keeps the BN
    x = keras.layers.BatchNormalization(name="b_dw_bn")(x)                # apart, onnx2tf folds it into the conv
    x = keras.layers.Conv2D(16, 1, name="b_2_conv")(x)
    x = keras.layers.BatchNormalization(name="b_2_bn")(x)
    shortcut = keras.layers.Conv2D(16, 1, name="b_0_conv")(inputs)
    shortcut = keras.layers.BatchNormalization(name="b_0_bn")(shortcut)
    x = keras.layers.Add(name="b_add")([shortcut, x])
    x = keras.layers.ReLU(name="b_out")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, name="scores")(x))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma * 1.5, beta + 0.1, mean + 0.05, var * 0.5])
    return model


@pytest.fixture(scope="session")
def kres(explain_root) -> Converted:
    path = explain_root / "kres.keras"
    keras_residual_block().save(path)
    return convert(path, explain_root / "kres", ["float32"])


@pytest.fixture(scope="session")
def kcnn(explain_root) -> Converted:
    path = explain_root / "kcnn.keras"
    keras_cnn().save(path)
    return convert(path, explain_root / "kcnn", ["float32"])

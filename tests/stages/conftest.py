"""Tiny real models for the stage tests, and their conversions, built once per session.

Every conversion runs for real (torch.onnx, tf2onnx, onnx2tf) under a guard that refuses and records
any network connection, so a test can prove nothing was fetched.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from models import keras_cnn, torch_cnn, torch_transformer_block
from studio.artifacts import Artifact
from studio.formats import Format, Source
from studio.signature import NCHW, NHWC, OTHER, Signature, TensorSpec
from studio.options import ConvertOptions
from studio.stages.base import StageContext

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NETWORK_ATTEMPTS: list[str] = []


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse (and record) DNS lookups and non-local socket connections while converters run."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family != getattr(socket, "AF_UNIX", None):
            NETWORK_ATTEMPTS.append(f"connect {address}")
            raise OSError("network access refused by the test")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("localhost", "127.0.0.1", "::1", None):
            NETWORK_ATTEMPTS.append(f"resolve {host}")
            raise socket.gaierror("network access refused by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo


# ---------------------------------------------------------------- tiny models

def keras_two():
    """Two inputs (an NHWC image and [8, 4] tokens) and two outputs."""
    import keras

    keras.utils.set_random_seed(1)
    image = keras.Input((16, 16, 3), name="image")
    tokens = keras.Input((8, 4), name="tokens")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image))
    t = keras.layers.Flatten()(keras.layers.Dense(3, activation="tanh")(tokens))
    joined = keras.layers.Concatenate()([x, t])
    logits = keras.layers.Dense(5, name="logits")(joined)
    value = keras.layers.Dense(1, name="value")(joined)
    return keras.Model([image, tokens], [logits, value])


@dataclass
class Model:
    """A saved source, its signature (shapes resolved, layouts set) and a reference function."""

    source: Source
    signature: Signature
    reference: Callable[[dict[str, np.ndarray]], list[np.ndarray]]

    def feeds(self, seed: int = 0) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {s.name: rng.random(s.shape, dtype=np.float32) for s in self.signature.inputs}


def _torch_reference(module):
    def run(feeds):
        import torch

        with torch.no_grad():
            out = module(*[torch.from_numpy(v) for v in feeds.values()])
        return [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]

    return run


def _keras_reference(model):
    def run(feeds):
        arrays = list(feeds.values())
        out = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]

    return run


@pytest.fixture(scope="session")
def sources(tmp_path_factory) -> dict[str, Model]:
    import torch

    root = tmp_path_factory.mktemp("stage_models")
    (cnn, _), (block, _) = torch_cnn(), torch_transformer_block()
    image, tokens = torch.rand(1, 3, 32, 32), torch.randn(1, 10, 32)
    torch.jit.save(torch.jit.trace(cnn, (image,)), root / "cnn.pt")
    torch.export.save(torch.export.export(block, (tokens,)), root / "block.pt2")
    kcnn, ktwo = keras_cnn(), keras_two()
    kcnn.save(root / "kcnn.keras")
    ktwo.save(root / "ktwo.h5")
    ktwo.export(str(root / "ktwo_savedmodel"), verbose=False)
    two_inputs = (TensorSpec("image", "float32", (1, 16, 16, 3), NHWC),
                  TensorSpec("tokens", "float32", (1, 8, 4), OTHER))
    two_outputs = (TensorSpec("logits", "float32", (1, 5)), TensorSpec("value", "float32", (1, 1)))
    return {
        "torch_cnn": Model(Source(root / "cnn.pt", Format.TORCHSCRIPT),
                           Signature((TensorSpec("image", "float32", (1, 3, 32, 32), NCHW),)), _torch_reference(cnn)),
        "torch_block": Model(Source(root / "block.pt2", Format.EXPORTED_PROGRAM),
                             Signature((TensorSpec("tokens", "float32", (1, 10, 32), OTHER),),
                                       (TensorSpec("output_0", "float32", (1, 10, 32)),)), _torch_reference(block)),
        "keras_cnn": Model(Source(root / "kcnn.keras", Format.KERAS),
                           Signature((TensorSpec("image", "float32", (1, 32, 32, 3), NHWC),),
                                     (TensorSpec("scores", "float32", (1, 10)),)), _keras_reference(kcnn)),
        "keras_two": Model(Source(root / "ktwo.h5", Format.H5), Signature(two_inputs, two_outputs),
                           _keras_reference(ktwo)),
        # Keras 3 export names a SavedModel's outputs output_0, output_1 (what loaders.tf_signature reads)
        "keras_two_savedmodel": Model(Source(root / "ktwo_savedmodel", Format.SAVEDMODEL),
                                      Signature(two_inputs, (TensorSpec("output_0", "float32", (1, 5)),
                                                             TensorSpec("output_1", "float32", (1, 1)))),
                                      _keras_reference(ktwo)),
    }


# ---------------------------------------------------------------- running stages

@dataclass
class StageRun:
    model: Model
    artifacts: list[Artifact]
    logs: list[str] = field(default_factory=list)
    progress: list[tuple[float, str]] = field(default_factory=list)
    seconds: float = 0.0

    def one(self, kind: str, variant: str = "float32") -> Artifact:
        return next(a for a in self.artifacts if a.kind == kind and a.variant == variant)


def run_stage(stage_name: str, model: Model, work: Path, input_path: Path | None = None, log_dir: Path | None = None,
              **options) -> StageRun:
    import time

    from studio.stages.registry import STAGES

    work.mkdir(parents=True, exist_ok=False)
    run = StageRun(model, [])
    ctx = StageContext(source=model.source, signature=model.signature, input_path=input_path or model.source.path,
                       work_dir=work, options=ConvertOptions(**options), log=run.logs.append, log_dir=log_dir,
                       progress=lambda f, m: run.progress.append((f, m)))
    t0 = time.perf_counter()
    with no_network():
        run.artifacts = STAGES[stage_name].run(ctx)
    run.seconds = time.perf_counter() - t0
    return run


@pytest.fixture(scope="session")
def work_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stage_runs")


@pytest.fixture(scope="session")
def onnx_runs(sources, work_root) -> dict[str, StageRun]:
    """Every source to ONNX once: the torch stage for torch models, the tf stage for TF models."""
    runs = {}
    for name, model in sources.items():
        stage = "torch->onnx" if model.source.framework == "pytorch" else "tf->onnx"
        runs[name] = run_stage(stage, model, work_root / f"{name}-onnx")
    return runs


TF_VARIANTS = {
    "torch_cnn": ("float32", "float16", "dynamic_int8", "int8"),
    "torch_block": ("float32", "float16", "int8"),
    "keras_cnn": ("float32",),
    "keras_two": ("float32", "dynamic_int8"),
}


@pytest.fixture(scope="session")
def tf_runs(sources, onnx_runs, work_root) -> dict[str, StageRun]:
    """The ONNX of four models through onnx->tf (onnx2tf), with the variants each test needs."""
    runs = {}
    for name, variants in TF_VARIANTS.items():
        onnx = Path(onnx_runs[name].one("onnx").path)
        runs[name] = run_stage("onnx->tf", sources[name], work_root / f"{name}-tf", input_path=onnx,
                               targets=("savedmodel", "tflite"), variants=variants)
    return runs

"""Runtimes: run one model format on numpy inputs. `open_runtime` picks the right one for a path or Source.

Import-light on purpose: the GUI imports this package; torch / tensorflow / onnxruntime load only when a
runtime is constructed (in the worker process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.runtimes.base import Runtime

RUNTIME_FOR_FORMAT = {
    Format.ONNX: "onnxruntime",
    Format.TFLITE: "litert",
    Format.SAVEDMODEL: "tensorflow", Format.KERAS: "tensorflow", Format.H5: "tensorflow",
    Format.TORCHSCRIPT: "torch", Format.EXPORTED_PROGRAM: "torch",
    Format.PYTHON_FACTORY: "torch", Format.TORCH_PICKLE: "torch",
    Format.TFJS: "tfjs",
}


def runtime_name(fmt: Format) -> str:
    """Which runtime runs a format, without loading anything (for plans and the GUI)."""
    return RUNTIME_FOR_FORMAT[fmt]


def open_runtime(target: str | Path | Source, model: Any = None) -> Runtime:
    """A Runtime for a path (format detected from content) or a Source; model: an already-loaded framework model.

    A TF.js graph model (a folder with model.json) runs in Node (studio.runtimes.tfjs)."""
    source = target if isinstance(target, Source) else detect(target)
    name = RUNTIME_FOR_FORMAT.get(source.format)
    if name == "tfjs":
        from studio.runtimes.tfjs import TfjsRuntime

        return TfjsRuntime(source.path)
    if name == "onnxruntime":
        from studio.runtimes.onnx_rt import OnnxRuntime

        return OnnxRuntime(source.path)
    if name == "litert":
        from studio.runtimes.litert_rt import LiteRTRuntime

        return LiteRTRuntime(source.path)
    if name == "tensorflow":
        from studio.runtimes.tf_rt import TFRuntime

        return TFRuntime(source, model)
    if name == "torch":
        from studio.runtimes.torch_rt import TorchRuntime

        return TorchRuntime(source, model)
    raise StudioError(f"{source.spec}: no runtime for {source.format.value}")


__all__ = ["Runtime", "open_runtime", "runtime_name", "RUNTIME_FOR_FORMAT"]

"""Run an ONNX model with onnxruntime on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from studio.runtimes.base import bind_feeds, check_rank, load_failed, run_failed
from studio.signature import Signature, TensorSpec, guess_layout

# onnxruntime reports element types as "tensor(float)"; everything else in the studio speaks numpy names.
ORT_DTYPES = {
    "float": "float32", "double": "float64", "float16": "float16", "bfloat16": "bfloat16",
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "bool": "bool", "string": "str",
}


def numpy_dtype(ort_type: str) -> str:
    inner = ort_type[len("tensor("):-1] if ort_type.startswith("tensor(") else ort_type
    return ORT_DTYPES.get(inner, inner)


def _spec(arg) -> TensorSpec:
    # Symbolic ("batch") and unknown dims both mean dynamic; ORT reports unknown rank as None too.
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
    return TensorSpec(arg.name, numpy_dtype(arg.type), shape, guess_layout(shape, channels_first=True))


class OnnxRuntime:
    """An onnxruntime InferenceSession (CPUExecutionProvider) behind the Runtime interface."""

    name = "onnxruntime"

    def __init__(self, path: str | Path):
        import onnxruntime as ort

        self.path = Path(path)
        options = ort.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are noise to the user
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise load_failed(self.path, "ONNX model", exc) from exc
        self.signature = Signature(tuple(_spec(i) for i in self.session.get_inputs()),
                                   tuple(_spec(o) for o in self.session.get_outputs()))

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        bound = bind_feeds(self.signature.inputs, feeds)
        for spec in self.signature.inputs:
            check_rank(spec, bound[spec.name])
        names = [o.name for o in self.signature.outputs]
        try:
            values = self.session.run(names, bound)
        except Exception as exc:
            raise run_failed(self.name, exc) from exc
        return {name: np.asarray(value) for name, value in zip(names, values)}

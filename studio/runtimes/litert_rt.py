"""Run a TFLite model with LiteRT (ai_edge_litert), the runtime phones actually use, not tf.lite."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.errors import StudioError
from studio.runtimes.base import bind_feeds, check_rank, load_failed, natural_key, run_failed
from studio.signature import Signature, TensorSpec, guess_layout

FLEX_ERROR_HINTS = ("Flex delegate", "Select TensorFlow op")


class NeedsFlexDelegate(StudioError):
    """The model uses Select-TF (Flex) ops, which LiteRT's builtin op set cannot run."""

    def __init__(self, path: Path, ops: list[str]):
        named = f" ({', '.join(ops)})" if ops else ""
        super().__init__(f"{path}: uses Select-TF ops{named}; it needs the Flex delegate, which LiteRT's builtin ops lack")
        self.ops = ops


@dataclass(frozen=True)
class Quantization:
    """Affine int I/O: real = scale * (q - zero_point). We feed and return floats so int8 models compare directly."""

    scale: float
    zero_point: int
    dtype: np.dtype

    def quantize(self, value: np.ndarray) -> np.ndarray:
        info = np.iinfo(self.dtype)
        q = np.round(np.asarray(value, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype)

    def dequantize(self, value: np.ndarray) -> np.ndarray:
        return ((value.astype(np.float32) - np.float32(self.zero_point)) * np.float32(self.scale)).astype(np.float32)


def _quantization(details: dict) -> Quantization | None:
    dtype = np.dtype(details["dtype"])
    scales = details.get("quantization_parameters", {}).get("scales", ())
    if dtype.kind not in "iu" or len(scales) == 0 or float(scales[0]) == 0.0:
        return None
    zero_points = details["quantization_parameters"]["zero_points"]
    return Quantization(float(scales[0]), int(zero_points[0]) if len(zero_points) else 0, dtype)


def _spec(name: str, details: dict, quant: Quantization | None) -> TensorSpec:
    dims = details.get("shape_signature")
    if dims is None or len(dims) != len(details["shape"]):
        dims = details["shape"]
    shape = tuple(None if int(d) < 0 else int(d) for d in dims)
    dtype = "float32" if quant else np.dtype(details["dtype"]).name
    return TensorSpec(name, dtype, shape, guess_layout(shape, channels_first=False))


class LiteRTRuntime:
    """ai_edge_litert's Interpreter; uses the signature runner when the model has one, so names survive."""

    name = "litert"

    def __init__(self, path: str | Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        try:
            self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        except Exception as exc:
            raise load_failed(self.path, "TFLite model", exc) from exc
        flex = self._flex_ops()
        if flex:
            raise NeedsFlexDelegate(self.path, flex)
        signatures = self.interpreter.get_signature_list()
        self.signature_key = ("serving_default" if "serving_default" in signatures
                              else next(iter(signatures), None))
        self.runner: Any = None
        try:
            if self.signature_key is not None:
                self.runner = self.interpreter.get_signature_runner(self.signature_key)
                inputs, outputs = self._signature_details()
            else:
                self.interpreter.allocate_tensors()
                inputs = [(d["name"], d) for d in self.interpreter.get_input_details()]
                outputs = [(d["name"], d) for d in self.interpreter.get_output_details()]
        except Exception as exc:
            raise self._explain(exc, loading=True) from exc
        self._input_details = dict(inputs)
        self._output_details = dict(outputs)
        self.quantized = {name: q for name, d in inputs + outputs if (q := _quantization(d))}
        self.signature = Signature(tuple(_spec(n, d, self.quantized.get(n)) for n, d in inputs),
                                   tuple(_spec(n, d, self.quantized.get(n)) for n, d in outputs))

    def _flex_ops(self) -> list[str]:
        try:
            ops = self.interpreter._get_ops_details()  # the only op list the interpreter exposes
        except Exception:
            return []  # a failure to list ops is not a Flex verdict; the allocation error text still is
        return sorted({op["op_name"] for op in ops if str(op.get("op_name", "")).startswith("Flex")})

    def _signature_details(self) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
        """In natural name order, like the SavedModel runtime: the TF converter scrambles the subgraph's own
        input and output order (measured: inputs [b, a], outputs [output_9, output_4, ...]), so names are all we have."""
        by_name = lambda item: natural_key(item[0])  # noqa: E731
        return (sorted(self.runner.get_input_details().items(), key=by_name),
                sorted(self.runner.get_output_details().items(), key=by_name))

    def _explain(self, exc: BaseException, loading: bool) -> StudioError:
        """Flex ops hidden in a subgraph we did not list still surface here, as the interpreter's own words."""
        if any(hint in str(exc) for hint in FLEX_ERROR_HINTS):
            return NeedsFlexDelegate(self.path, self._flex_ops())
        return load_failed(self.path, "TFLite model", exc) if loading else run_failed(self.name, exc)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        bound = bind_feeds(self.signature.inputs, feeds)
        for spec in self.signature.inputs:
            check_rank(spec, bound[spec.name])
            if spec.name in self.quantized:
                bound[spec.name] = self.quantized[spec.name].quantize(bound[spec.name])
        try:
            raw = self.runner(**bound) if self.runner is not None else self._invoke(bound)
        except StudioError:
            raise
        except Exception as exc:
            raise self._explain(exc, loading=False) from exc
        outputs = {}
        for spec in self.signature.outputs:
            value = np.array(raw[spec.name])
            quant = self.quantized.get(spec.name)
            outputs[spec.name] = quant.dequantize(value) if quant else value
        return outputs

    def _invoke(self, bound: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Without a signature: resize inputs whose shape changed, then the classic set/invoke/get."""
        it = self.interpreter
        resized = False
        for name, value in bound.items():
            details = self._input_details[name]
            if tuple(details["shape"]) != value.shape:
                it.resize_tensor_input(details["index"], list(value.shape))
                resized = True
        if resized:
            it.allocate_tensors()
            self._input_details = {d["name"]: d for d in it.get_input_details()}
        for name, value in bound.items():
            it.set_tensor(self._input_details[name]["index"], value)
        it.invoke()
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}

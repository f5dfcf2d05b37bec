"""The Runtime interface: run one model format on numpy inputs, plus helpers every runtime shares."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from studio.compare import pair_names
from studio.errors import StudioError, one_line, script_error_line
from studio.signature import Signature, TensorSpec, shape_text


class Runtime(Protocol):
    name: str              # "torch", "tensorflow", "onnxruntime", "litert"
    signature: Signature   # as this runtime sees the model: names, dtypes, shapes (None = dynamic), layouts

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once. feeds are keyed by this runtime's input names, already in its layout.
        Returns outputs keyed by output name, in the model's output order."""
        ...


def natural_key(name: str) -> list:
    """output_2 before output_10. Signature maps (SavedModel, TFLite) do not keep the model's I/O order, so
    runtimes that read one order by name this way."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def load_failed(path: str | Path, what: str, exc: BaseException) -> StudioError:
    """A user's file that will not load is bad input (exit 2), told in one line, never a traceback."""
    return StudioError(f"{path}: could not load {what}: {one_line(exc, 300)}")


def run_failed(runtime: str, exc: BaseException) -> StudioError:
    return StudioError(f"{runtime} could not run the model: {script_error_line(exc, 300)}")


def bind_feeds(inputs: tuple[TensorSpec, ...], feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Match feeds to the model's inputs (studio.compare.pair_names: by name, the rest by order); cast to each
    input's dtype. Order is the fallback because converters rename inputs (e.g. "x.1" -> "x_1") but keep their order.
    """
    if len(feeds) != len(inputs):
        raise StudioError(f"the model takes {len(inputs)} input(s) ({_names(inputs)}), got {len(feeds)} ({', '.join(feeds) or 'none'})")
    pairs = pair_names([spec.name for spec in inputs], list(feeds))
    return {spec.name: _cast(spec, np.asarray(feeds[pairs[spec.name]])) for spec in inputs}


def _cast(spec: TensorSpec, value: np.ndarray) -> np.ndarray:
    if not spec.dtype or spec.dtype == str(value.dtype):
        return value
    try:
        return value.astype(np.dtype(spec.dtype), copy=False)
    except TypeError:  # a dtype numpy does not know (e.g. bfloat16): hand the value over as is
        return value


def _names(specs: tuple[TensorSpec, ...]) -> str:
    return ", ".join(spec.name for spec in specs) or "none"


def check_rank(spec: TensorSpec, value: np.ndarray) -> None:
    """Fail early, naming the input, rather than deep inside a runtime with an opaque message."""
    if spec.shape and len(spec.shape) != value.ndim:
        raise StudioError(f"input {spec.name!r} expects {len(spec.shape)} dims {shape_text(spec.shape)}, got shape {list(value.shape)}")


def flatten_outputs(value: Any) -> list[tuple[str | None, Any]]:
    """Leaves of a nested model output, in order; dict keys name their leaves, sequence items stay unnamed."""
    if isinstance(value, dict):
        leaves: list[tuple[str | None, Any]] = []
        for key, item in value.items():
            inner = flatten_outputs(item)
            leaves += [(str(key) if len(inner) == 1 else f"{key}_{i}", leaf) for i, (_, leaf) in enumerate(inner)]
        return leaves
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in flatten_outputs(item)]
    return [(None, value)]

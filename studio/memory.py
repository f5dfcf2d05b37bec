"""How much memory a conversion job will need at its peak, so it can warn before it starts swapping.

The estimate is linear in the size of the model's weights, with factors measured on this stack (2-core
x86_64, peak RSS of the worker, scripts/bench_zoo.py): a ViT-B/16-sized .pt2 (346 MB of weights) to ONNX,
SavedModel and float32 + float16 TFLite peaked at 3.7-3.9 GB with onnx2tf's direct writer (7x the weights
on top of about 1.5 GB for the frameworks; Keras ResNet50, 103 MB: 2.4 GB, 9x) and at 21.6 GB on its
TF-converter path (58x). It is a warning, not a limit: the factors are rounded up.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from studio.artifacts import human_bytes, path_bytes
from studio.formats import Source

FRAMEWORKS_BYTES = 1_500_000_000
PER_WEIGHT_BYTE = {"onnx2tf": 10, "onnx2tf-plain-layernorm": 10, "auto": 10, "onnx2tf-tf-converter": 60, "onnx-tf": 60}
EXPORT_ONLY = 4   # to ONNX alone: the model, its exported graph and the ONNX proto


def weight_bytes(model: Any, source: Source) -> int:
    """The loaded model's parameters and buffers in bytes; the file size when the model says nothing."""
    try:
        if hasattr(model, "state_dict") and hasattr(model, "graph_signature"):   # torch ExportedProgram
            tensors = list(model.state_dict.values()) + list(getattr(model, "constants", {}).values())
            return sum(t.numel() * t.element_size() for t in tensors if hasattr(t, "numel"))
        if hasattr(model, "parameters") and hasattr(model, "buffers"):            # nn.Module, ScriptModule
            return sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
        if hasattr(model, "weights"):                                              # Keras
            return sum(int(w.numpy().nbytes) for w in model.weights)
    except Exception:
        pass
    return path_bytes(source.weights or source.path)


def estimate_peak_bytes(source: Source, stage_names: list[str], backend: str, model: Any = None) -> tuple[int, str]:
    """(bytes, how the figure was reached) for a job running these stages."""
    weights = weight_bytes(model, source)
    factor = PER_WEIGHT_BYTE.get(backend, 60) if "onnx->tf" in stage_names else EXPORT_ONLY
    basis = f"{factor} x {human_bytes(weights)} of weights + the frameworks"
    return FRAMEWORKS_BYTES + factor * weights, basis


def free_bytes() -> int:
    """Memory the job can have without swapping: what the OS calls available."""
    import psutil

    return int(psutil.virtual_memory().available)


def give_back_heap() -> None:
    """glibc's malloc_trim: give the heap's free pages back to the OS. The worker's malloc keeps them (blocks up to
    32 MB come from the heap and its free top stays: studio.jobs.launch), which saves page faults but holds the
    process's high-water mark; call this before a large allocation outside the heap, or when a job ends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)

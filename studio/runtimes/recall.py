"""A model file's outputs on given inputs, remembered until the job ends.

The ONNX -> TF stage runs the ONNX and every TFLite it writes on the job's inputs to choose a backend (its check),
and the job's comparison then runs the same files on the same inputs again. On ViT-B/16 the second runs cost 1.9 s
(LiteRT packs a model's weights on its first run). Both run their files through remembered(); nothing else
does (a latency measurement must run the file every time).

A file is known by its device, inode, size and modification time (moving it into the output folder keeps them; a
rewrite does not), the inputs by a digest of their names, dtypes, shapes and bytes, as the runtime gets them. At most
MAX_BYTES of outputs are kept, and everything is forgotten when a convert job starts, after its comparison, and when
a worker's job ends (studio.jobs.worker_reset).
"""

from __future__ import annotations

import hashlib
import os
from stat import S_ISREG

import numpy as np

from studio.runtimes.base import Runtime

MAX_BYTES = 256 << 20   # all outputs kept at most; a run whose outputs do not fit (big segmentation maps) runs again
_remembered: dict[tuple, dict[str, np.ndarray]] = {}


def remembered(runtime: Runtime, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """runtime.run(feeds), or the outputs of an earlier run of the same file in the same runtime on the same feeds."""
    key = _key(runtime, feeds)
    if key is None:
        return runtime.run(feeds)
    if key not in _remembered:
        outputs = runtime.run(feeds)
        if _bytes(outputs) + sum(map(_bytes, _remembered.values())) > MAX_BYTES:
            return outputs
        _remembered[key] = outputs
    return {name: np.array(value, copy=True) for name, value in _remembered[key].items()}


def forget() -> None:
    _remembered.clear()


def _bytes(outputs: dict[str, np.ndarray]) -> int:
    return sum(np.asarray(value).nbytes for value in outputs.values())


def _key(runtime: Runtime, feeds: dict[str, np.ndarray]) -> tuple | None:
    try:
        stat = os.stat(runtime.path)   # type: ignore[attr-defined]
    except (AttributeError, TypeError, OSError):
        return None
    if not S_ISREG(stat.st_mode):   # a folder (SavedModel) or an in-memory model: not remembered
        return None
    digest = hashlib.blake2b(digest_size=16)
    for name, value in feeds.items():
        value = np.ascontiguousarray(value)
        if value.dtype.hasobject:   # strings: no bytes to digest
            return None
        digest.update(f"{name}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.view(np.uint8).reshape(-1) if value.size else b"")
    return (type(runtime).__name__, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, digest.hexdigest())

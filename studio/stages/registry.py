"""The stage registry and the planner: conversions form a graph of formats, a plan is a path through it.

Adding a converter = one stage module + one line in STAGES. Importing this module imports no torch or
TensorFlow (the GUI reads it to show targets, variants and backends).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Iterable

from studio.artifacts import KINDS, VARIANTS, Artifact
from studio.errors import StudioError
from studio.formats import Format, Source
from studio.stages.backends import BACKENDS, DEFAULT_BACKEND, backend_status, require_backend
from studio.stages.base import Stage
from studio.stages.onnx_to_tf import OnnxToTf
from studio.stages.tf_to_onnx import TfToOnnx
from studio.stages.tfjs import SavedModelToTfjs
from studio.stages.torch_to_onnx import DEFAULT_OPSET, TorchToOnnx

STAGES: dict[str, Stage] = {stage.name: stage for stage in (
    TorchToOnnx(),
    TfToOnnx(),
    OnnxToTf(),
    SavedModelToTfjs(),
)}

TARGETS = KINDS                       # what a plan can produce: onnx, savedmodel, tflite, tfjs
__all__ = ["STAGES", "TARGETS", "VARIANTS", "BACKENDS", "DEFAULT_BACKEND", "DEFAULT_OPSET", "backend_status",
           "require_backend", "plan", "input_for"]


def plan(source_format: Format | str, targets: Iterable[str]) -> list[Stage]:
    """The shortest chain of stages from the source's format that produces every target.

    Each stage reads what the one before it wrote (the first reads the source). ONNX asked of an
    ONNX model needs no stage. Raises StudioError (one line) for a route the registry cannot make.
    """
    source = Format(source_format)
    wanted = _targets(targets)
    if not any(source.value in stage.consumes for stage in STAGES.values()):
        raise StudioError(f"{source.value} models are not converted here (inspect or compare them instead); "
                          f"{_what_converts()}")
    if source is Format.ONNX:
        wanted.discard("onnx")
    if not wanted:
        return []
    start = (source.value, frozenset())
    queue: deque[tuple[str, frozenset[str], list[Stage]]] = deque([(*start, [])])
    seen = {start}
    while queue:
        current, made, path = queue.popleft()
        for stage in STAGES.values():
            if current not in stage.consumes:
                continue
            produced = made | set(stage.produces)
            if wanted <= produced:
                return path + [stage]
            for kind in stage.produces:
                state = (kind, frozenset(produced))
                if state not in seen:
                    seen.add(state)
                    queue.append((kind, state[1], path + [stage]))
    raise StudioError(f"no conversion from {source.value} to {', '.join(sorted(wanted))}; "
                      f"{_what_converts()}")


def _targets(targets: Iterable[str]) -> set[str]:
    chosen = {t.strip() for t in targets if t and t.strip()}
    if not chosen:
        raise StudioError(f"no target given; choose from {', '.join(TARGETS)}")
    unknown = sorted(chosen - set(TARGETS))
    if unknown:
        raise StudioError(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGETS)}")
    return chosen


def _what_converts() -> str:
    sources = sorted({fmt for stage in STAGES.values() for fmt in stage.consumes})
    return f"sources that convert: {', '.join(sources)}"


def input_for(stage: Stage, source: Source, previous: list[Artifact]) -> Path:
    """What a stage reads: the newest earlier artifact of a kind it consumes (float32 first), else the source."""
    for artifact in sorted(reversed(previous), key=lambda a: a.variant != "float32"):
        if artifact.kind in stage.consumes:
            return Path(artifact.path)
    return source.path

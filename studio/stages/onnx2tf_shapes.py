"""onnx2tf's ONNX shape inference without the weights in the model it infers.

The direct writer starts its lowering with onnx.shape_inference.infer_shapes on the whole model: the weights go to
C++ as one serialized copy, are parsed there, and come back as a second serialized copy that is parsed again. On
ViT-B/16 (346 MB of weights) that took 3.9 s of the job, and its copies were alive during the lowering.

Shape inference needs a weight's type and dims, not its values: ONNX reads constant values only for shape-like
inputs (Reshape's shape, Slice's starts, Resize's scales, ...), which are integers or a handful of floats.
shapes_without_weights() hands onnx2tf's own function (fallbacks included) a copy of the model whose large
floating-point initializers have no data, and gives the model it returns the weights of the model onnx2tf holds,
which stays as it was. When that leaves a tensor's rank unknown (onnx2tf's fallback, onnxruntime's symbolic shape
inference, reads constants' values) or nothing could be inferred, onnx2tf's own way runs on the whole model. onnx2tf has
no switch for it, so this replaces its function in the lowering module and puts it back after; an onnx2tf whose
lowering moved is left as it is.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from studio.stages.onnx_files import without_weights


@contextlib.contextmanager
def shapes_without_weights() -> Iterator[None]:
    """Inside: the direct writer infers the ONNX model's shapes with its large float weights taken out."""
    try:
        from onnx2tf.tflite_builder import lower_from_onnx2tf as lowering
        from onnx2tf.tflite_builder.core.onnx_analysis import _graph_has_missing_rank_info as missing_ranks
        infer = lowering._infer_shapes_with_fallback
    except (ImportError, AttributeError):
        yield
        return

    def infer_without_weights(onnx_graph: Any) -> Any:
        try:
            light, left_out = without_weights(onnx_graph)   # 1024 elements and up: no shape-like input
        except Exception:   # noqa: BLE001 - a model protobuf will not copy field by field: onnx2tf's own way
            return infer(onnx_graph)
        if not left_out:
            return infer(onnx_graph)
        inferred = infer(light)
        # Nothing inferred, or ranks left unknown: onnx2tf then runs onnxruntime's symbolic shape inference, which
        # does read weights (it folds arithmetic on constants), so its own way, weights and all
        if inferred is light or missing_ranks(inferred):
            return infer(onnx_graph)
        weights = {t.name: t for t in onnx_graph.graph.initializer if t.name in left_out}
        for tensor in inferred.graph.initializer:
            if tensor.name in weights and not tensor.HasField("raw_data"):
                tensor.raw_data = weights[tensor.name].raw_data
        print(f"studio: shapes inferred without {len(left_out)} weights ({sum(left_out.values()) / 1e6:.1f} MB)",
              flush=True)
        return inferred

    lowering._infer_shapes_with_fallback = infer_without_weights
    try:
        yield
    finally:
        lowering._infer_shapes_with_fallback = infer

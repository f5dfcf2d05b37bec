"""Fault injection for the explain tests: change a known weight inside a TFLite flatbuffer or an ONNX file, or
make a TFLite whose intermediate tensors cannot be told apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

# How onnx2tf lays an ONNX weight out in the TFLite file: Conv OIHW -> OHWI, Gemm/FC [out, in] as is,
# MatMul [in, out] as is (BATCH_MATMUL), or transposed.
LAYOUTS = {4: [(0, 2, 3, 1), (0, 1, 2, 3)], 2: [(0, 1), (1, 0)], 1: [(0,)]}


def onnx_weight(onnx_path: Path, name: str) -> np.ndarray:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def scale_tflite_weight(source: Path, target: Path, weight: np.ndarray, factor: float) -> tuple[int, ...]:
    """Copy source to target with the bytes of `weight` (in the layout onnx2tf stores it) scaled in place.
    Returns the axis order it was found in; fails unless it is found exactly once."""
    data = bytearray(Path(source).read_bytes())
    for order in LAYOUTS[weight.ndim]:
        laid = np.ascontiguousarray(weight.transpose(order), dtype=np.float32)
        blob = laid.tobytes()
        if data.count(blob) == 1:
            at = data.find(blob)
            data[at:at + len(blob)] = (laid * np.float32(factor)).astype(np.float32).tobytes()
            Path(target).write_bytes(bytes(data))
            return order
    raise AssertionError(f"weight {list(weight.shape)} not found exactly once in {source}")


def scale_onnx_initializer(source: Path, target: Path, name: str, factor: float) -> None:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == name:
            scaled = (numpy_helper.to_array(tensor) * factor).astype(np.float32)
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(scaled, name))
            onnx.save(model, str(target))
            return
    raise AssertionError(f"no initializer {name} in {source}")


def without_tensor_names(source: Path, target: Path, report: Path | None = None) -> Path:
    """A copy of a TFLite whose tensors, inputs and outputs aside, have meaningless names (t0, t1, ...): its
    intermediates cannot be told apart. Its correspondence report, if given, goes beside it as its own."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(Path(source).read_bytes(), 0)
    graph = model.subgraphs[0]
    keep = {int(i) for i in graph.inputs} | {int(i) for i in graph.outputs}
    for index, tensor in enumerate(graph.tensors):
        if index not in keep:
            tensor.name = f"t{index}".encode()
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    Path(target).write_bytes(builder.Output())
    if report is not None:
        shutil.copy(report, Path(target).with_name(Path(target).stem + ".tensor_correspondence.json"))
    return Path(target)

"""The direct writer's TFLite files written without its extra copies of the weights.

onnx2tf 2.x serializes a model (model_writer.serialize_model) by copying every weight into a bytes object, copying
those into a flatbuffers.Builder that starts empty and doubles (while it grows, the old and the new buffer are both
alive: 256 MB and 512 MB for ViT-B/16's 346 MB), and copying the finished buffer once more (Builder.Output) before
writing it. Writing ViT-B/16's float32 TFLite was the peak of the whole job.

lean_serializer() makes the same bytes in the same order: the builder is sized for the weights from the start, each
weight goes into it from a view of the IR's own array (one weight copied at a time, as flatbuffers takes bytes), and
the file is written from the builder's own buffer. Before the builder is made, the heap's free pages go back to the
OS (malloc_trim): the worker's malloc keeps them (studio.jobs.launch), and the builder, too large for the heap, would
come on top of them (ViT-B/16's job: peak 3.97 -> 3.67 GB). onnx2tf
has no switch for it, so this replaces attributes of its writer and puts them back after; an onnx2tf whose writer
moved is left as it is, and any failure of the lean path is serialized again by onnx2tf's own code.

Before writing its float32 file, onnx2tf clones its IR with a copy of every weight, so that the file's last passes
cannot touch the IR its SavedModel is exported from next. Those passes replace tensors' data rather than write into
it, so float32_shares_weights() lets the clone share the weights as read-only views: a pass that did write into one
would raise, and the conversion runs again with onnx2tf's copies (wrote_shared_weights).
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any, Iterator

import numpy as np

from studio.memory import give_back_heap

# numpy's words for a write into a read-only array (an assignment, a ufunc's out=, the buffer protocol)
READ_ONLY = ("assignment destination is read-only", "output array is read-only", "buffer source array is read-only")

# Room for what the builder holds besides the weights (tensor and operator tables, names, signatures, alignment).
HEADROOM_BYTES = 8 << 20
HEADROOM_FRACTION = 1 / 64


@contextlib.contextmanager
def lean_serializer() -> Iterator[None]:
    """Inside: the direct writer's TFLite files are serialized without extra copies of their weights."""
    try:
        from onnx2tf.tflite_builder import model_writer as writer
        originals = (writer.serialize_model, writer._pack_buffer, writer.build_tensors_and_buffers)
        parts = (writer._sanitize_model_ir_for_serialization, writer._build_serialization_tables, writer._pack_model)
    except (ImportError, AttributeError):
        yield
        return
    serialize, pack_buffer, build_buffers = originals
    sanitize, build_tables, pack_model = parts

    def buffers_without_copies(*, schema_tflite: Any, tensors: dict) -> Any:
        return build_buffers(schema_tflite=schema_tflite, tensors={n: _bytes_view(t) for n, t in tensors.items()})

    def pack_and_let_go(*, schema_tflite: Any, builder: Any, buffer_obj: Any) -> int:
        offset = pack_buffer(schema_tflite=schema_tflite, builder=builder, buffer_obj=buffer_obj)
        buffer_obj.data = b""   # the table's view of the weight (or its own copy), now in the builder
        return offset

    def serialize_lean(*, schema_tflite: Any, model_ir: Any, timing: dict | None = None):
        try:
            start = time.perf_counter()
            model = sanitize(model_ir)
            writer.build_tensors_and_buffers, writer._pack_buffer = buffers_without_copies, pack_and_let_go
            try:
                tables = build_tables(schema_tflite=schema_tflite, model_ir=model, with_signature_defs=True)
                give_back_heap()   # the builder's fresh pages instead of on top of the heap's free ones
                builder = sized_builder(sum(len(getattr(b, "data", b"") or b"") for b in tables["buffers"]))
                offset = pack_model(schema_tflite=schema_tflite, builder=builder,
                                    model_description=model.description, operator_codes=tables["operator_codes"],
                                    subgraphs=tables["subgraphs"], buffers=tables["buffers"],
                                    signature_defs=tables["signature_defs"], metadata=tables["metadata"])
            finally:
                writer.build_tensors_and_buffers, writer._pack_buffer = build_buffers, pack_buffer
            builder.Finish(offset, file_identifier=b"TFL3")
            data = finished_bytes(builder)
        except Exception:   # noqa: BLE001 - onnx2tf's own serializer decides (it raises or falls back itself)
            return serialize(schema_tflite=schema_tflite, model_ir=model_ir, timing=timing)
        if timing is not None:
            timing.update(serializer_mode="studio_lean_builder", model_bytes=float(len(data)),
                          serialize_total_sec=time.perf_counter() - start)
        return data

    writer.serialize_model = serialize_lean
    try:
        yield
    finally:
        writer.serialize_model, writer._pack_buffer, writer.build_tensors_and_buffers = originals


class _BytesView(np.ndarray):
    """An array whose tobytes() is a view of its memory, not a copy: what the writer's tables hold for a weight."""

    def tobytes(self, order: str = "C") -> memoryview:   # type: ignore[override]
        return memoryview(np.ascontiguousarray(self.view(np.ndarray)).reshape(-1).view(np.uint8))


def _bytes_view(tensor: Any) -> Any:
    """The tensor with its weight as a _BytesView (a shallow copy: the IR's own tensor is left as it is)."""
    data = getattr(tensor, "data", None)
    if not isinstance(data, np.ndarray) or data.dtype.hasobject or str(tensor.dtype).upper() == "STRING":
        return tensor
    viewed = copy.copy(tensor)
    viewed.data = data.view(_BytesView)
    return viewed


def sized_builder(weight_bytes: int):
    """A flatbuffers.Builder that holds a model with this many bytes of weights without growing."""
    import flatbuffers

    size = weight_bytes + int(weight_bytes * HEADROOM_FRACTION) + HEADROOM_BYTES
    return flatbuffers.Builder(min(size, flatbuffers.Builder.MAX_BUFFER_SIZE))


def finished_bytes(builder) -> memoryview:
    """The finished buffer, without the copy Builder.Output() makes."""
    return memoryview(builder.Bytes)[builder.Head():]


@contextlib.contextmanager
def float32_shares_weights() -> Iterator[None]:
    """Inside: the IR the direct writer clones for its float32 file shares the weights, read-only."""
    try:
        from onnx2tf import tflite_builder as direct
        from onnx2tf.tflite_builder import ir
        clone, isolate = ir.clone_tensor_ir, direct.isolate_float32_model_ir_for_tflite_write
    except (ImportError, AttributeError):
        yield
        return

    def sharing_clone(tensor: Any, *, dtype: Any, data: Any, normalize_layouts: bool, copy_data: bool = True,
                      clone_quantization: bool = True) -> Any:
        if isinstance(data, np.ndarray) and data is tensor.data and data.size:
            data = data.view()
            data.flags.writeable = False
            copy_data = False
        return clone(tensor, dtype=dtype, data=data, normalize_layouts=normalize_layouts, copy_data=copy_data,
                     clone_quantization=clone_quantization)

    def isolate_sharing(model_ir: Any, **kwargs: Any) -> Any:
        ir.clone_tensor_ir = sharing_clone
        try:
            isolated = isolate(model_ir, **kwargs)
        finally:
            ir.clone_tensor_ir = clone
        shared = [t.data for t in isolated.tensors.values() if isinstance(t.data, np.ndarray) and t.data.base is not None
                  and not t.data.flags.writeable]
        if shared:
            print(f"studio: the float32 file's IR shares {len(shared)} weights "
                  f"({sum(a.nbytes for a in shared) / 1e6:.1f} MB) read-only", flush=True)
        return isolated

    direct.isolate_float32_model_ir_for_tflite_write = isolate_sharing
    try:
        yield
    finally:
        direct.isolate_float32_model_ir_for_tflite_write = isolate


def wrote_shared_weights(exc: BaseException | None, log: str = "") -> bool:
    """The conversion failed writing into a weight float32_shares_weights() shared read-only (the exception, or
    the log of a converter that printed it and exited)."""
    if any(words in log for words in READ_ONLY):
        return True
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (ValueError, BufferError)) and any(words in str(exc) for words in READ_ONLY):
            return True
        exc = exc.__cause__ or exc.__context__
    return False

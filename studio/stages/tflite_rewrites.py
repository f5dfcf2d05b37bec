"""Small rewrites of the TFLite files onnx2tf's direct writer makes, with LiteRT's flatbuffer object API.

float16 as mobile runtimes expect it (float16 weights, float32 inputs, outputs and arithmetic): onnx2tf's direct writer makes its float16 file by turning every tensor into float16, inputs and outputs
included; LiteRT's CPU kernels lack float16 for many ops (SIGN, MAX_POOL_2D, ... measured), so such a
file often cannot run at all. TF's converter (and the studio's float16 variant before it) stores the
weights in float16 and adds a DEQUANTIZE to float32 in front of each: half the size, float32 I/O, and
every kernel runs (XNNPACK folds the DEQUANTIZEs into its float16 weight support). This module rewrites
a float32 TFLite that way, with the flatbuffer object API that ships with LiteRT. A weight float16
cannot hold (beyond +/-65504, or not finite, e.g. a -inf attention mask) stays float32.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FLOAT16_MAX = float(np.finfo(np.float16).max)


def _schema():
    from studio.stages.flex import _schema as schema

    return schema()


def _dequantize_opcode(model, schema) -> int:
    """The index of DEQUANTIZE in the model's operator table, added if it is not there yet."""
    code = schema.BuiltinOperator.DEQUANTIZE
    for index, op in enumerate(model.operatorCodes):
        if max(op.builtinCode, op.deprecatedBuiltinCode) == code:
            return index
    entry = schema.OperatorCodeT()
    entry.builtinCode = code
    entry.deprecatedBuiltinCode = code
    entry.version = 3   # float16 -> float32
    model.operatorCodes.append(entry)
    return len(model.operatorCodes) - 1


def float16_weights(float32_tflite: Path, target: Path) -> int:
    """Write target: float32_tflite with its float32 constants stored as float16. Returns how many."""
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(Path(float32_tflite).read_bytes(), 0)
    dequantize = _dequantize_opcode(model, schema)
    if not model.buffers or model.buffers[0].data is not None and len(model.buffers[0].data):
        raise ValueError("buffer 0 is not the empty buffer every TFLite model starts with")
    converted = 0
    for subgraph in model.subgraphs:
        constant_inputs = {i for op in subgraph.operators for i in (op.inputs if op.inputs is not None else [])}
        added = []
        for index in range(len(subgraph.tensors)):
            tensor = subgraph.tensors[index]
            data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
            if tensor.type != schema.TensorType.FLOAT32 or data is None or len(data) == 0 \
                    or index not in constant_inputs or tensor.isVariable:
                continue
            values = np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=np.float32)
            if not np.all(np.isfinite(values)) or (values.size and np.abs(values).max() > FLOAT16_MAX):
                continue
            weights = schema.BufferT()
            weights.data = np.frombuffer(values.astype(np.float16).tobytes(), dtype=np.uint8)
            model.buffers.append(weights)
            half = schema.TensorT()
            half.shape, half.shapeSignature = tensor.shape, tensor.shapeSignature
            half.type = schema.TensorType.FLOAT16
            half.buffer = len(model.buffers) - 1
            half.name = (tensor.name or b"") + b"_float16"
            subgraph.tensors.append(half)
            tensor.buffer = 0   # now computed: the DEQUANTIZE writes it
            op = schema.OperatorT()
            op.opcodeIndex = dequantize
            op.inputs = np.array([len(subgraph.tensors) - 1], dtype=np.int32)
            op.outputs = np.array([index], dtype=np.int32)
            added.append(op)
            converted += 1
        subgraph.operators = added + list(subgraph.operators)
    used = {t.buffer for g in model.subgraphs for t in g.tensors}
    for index, buffer in enumerate(model.buffers):
        if index not in used:
            buffer.data = None   # the float32 copy nobody reads any more (indices stay as they are)
    _write(model, target)
    return converted


def copy_signature_names(reference: Path, target: Path) -> list[str]:
    """Give target's signature the input and output names of reference's, position by position.

    The direct writer's full-int8 file names its float outputs "<name>_dequantized_output"; the float32
    file of the same run keeps the source's names. Returns the names changed (nothing when the two
    signatures do not have the same number of inputs and outputs)."""
    schema = _schema()
    names = schema.ModelT.InitFromPackedBuf(Path(reference).read_bytes(), 0)
    model = schema.ModelT.InitFromPackedBuf(Path(target).read_bytes(), 0)
    changed = []
    for want, have in zip(names.signatureDefs or [], model.signatureDefs or []):
        for wanted, had in ((want.inputs or [], have.inputs or []), (want.outputs or [], have.outputs or [])):
            if len(wanted) != len(had):
                return []
            for w, h in zip(wanted, had):
                if w.name != h.name:
                    changed.append(h.name.decode() if isinstance(h.name, bytes) else str(h.name))
                    h.name = w.name
    if changed:
        _write(model, target)
    return changed


def _write(model, target: Path) -> None:
    """Pack the model and replace target with it in one step."""
    from studio.stages.onnx2tf_writer import finished_bytes, sized_builder

    builder = sized_builder(sum(len(b.data) for b in model.buffers if b.data is not None))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(finished_bytes(builder))
    os.replace(partial, target)

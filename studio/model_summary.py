"""`studio inspect`: what a model holds — signature, operator histogram, parameter count, size on disk.

Runs in the worker (it loads frameworks), but never runs the model: every number here comes from the file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable

from studio.artifacts import human_bytes, path_bytes
from studio.errors import StudioError, one_line
from studio.formats import Format, Source
from studio.runtimes.base import natural_key
from studio.signature import Signature, TensorSpec, guess_layout, shape_text

# Graph bookkeeping, not computation: listing it would bury the ops a user is looking for.
TF_PLUMBING = {"Placeholder", "NoOp", "Identity", "IdentityN", "StatefulPartitionedCall", "PartitionedCall",
               "ReadVariableOp", "Const", "_Arg", "_Retval"}
TORCHSCRIPT_PLUMBING = {"prim::Constant", "prim::GetAttr", "prim::ListConstruct", "prim::ListUnpack",
                        "prim::TupleConstruct", "prim::TupleUnpack", "prim::NumToTensor", "prim::device", "prim::dtype"}

# What each format's reader returns: signature, op histogram, parameter count, files beside the source to size too;
# a reader may add a fifth item, more keys for the summary (a SavedModel's "signatures").
Reading = tuple[Signature, Counter, int, list[Path]] | tuple[Signature, Counter, int, list[Path], dict]


def inspect_model(source: Source) -> dict:
    """Everything `studio inspect` shows, as a JSON-ready dict (see format_summary for the text form)."""
    reader = READERS.get(source.format)
    if reader is None:
        raise StudioError(f"{source.spec}: cannot inspect {source.format.value}")
    signature, ops, parameters, extra_files, *more = reader(source)
    return {
        "source": source.to_dict(),
        "format": source.format.value,
        "framework": source.framework,
        "inputs": [t.to_dict() for t in signature.inputs],
        "outputs": [t.to_dict() for t in signature.outputs],
        "ops": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "parameters": int(parameters),
        "bytes": path_bytes(source.path) + sum(path_bytes(p) for p in extra_files),
        **(more[0] if more else {}),
    }


# ---------------------------------------------------------------- ONNX

def _inspect_onnx(source: Source) -> Reading:
    import onnx

    from studio.runtimes.onnx_rt import numpy_dtype

    try:
        model = onnx.load(str(source.path), load_external_data=False)  # the weights' shapes are enough
    except Exception as exc:
        raise StudioError(f"{source.path}: could not read ONNX model: {one_line(exc, 300)}") from exc
    graph = model.graph
    initializers = {t.name for t in graph.initializer}

    def spec(value) -> TensorSpec:
        tensor_type = value.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim)
        dtype = numpy_dtype(onnx.TensorProto.DataType.Name(tensor_type.elem_type).lower())
        return TensorSpec(value.name, dtype, dims, guess_layout(dims, channels_first=True))

    signature = Signature(tuple(spec(v) for v in graph.input if v.name not in initializers),
                          tuple(spec(v) for v in graph.output))
    ops = Counter(_onnx_op_names(graph))
    parameters = sum(_numel(t.dims) for t in graph.initializer)
    external = {Path(source.path).parent / entry.value for t in graph.initializer
                for entry in t.external_data if entry.key == "location"}
    return signature, ops, parameters, sorted(external)


def _onnx_op_names(graph) -> list[str]:
    """Node op types, including those inside If/Loop/Scan bodies; custom domains keep their prefix."""
    names = []
    for node in graph.node:
        names.append(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}")
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else list(attr.graphs):
                names += _onnx_op_names(sub)
    return names


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


# ---------------------------------------------------------------- TFLite

def _inspect_tflite(source: Source) -> Reading:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_path=str(source.path))  # verifies the flatbuffer before we walk it by hand
    except Exception as exc:
        raise StudioError(f"{source.path}: could not read TFLite model: {one_line(exc, 300)}") from exc
    model = schema.Model.GetRootAs(Path(source.path).read_bytes(), 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}

    ops: Counter = Counter()
    counted_buffers: set[int] = set()
    parameters = 0
    for g in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(g)
        for i in range(subgraph.OperatorsLength()):
            ops[_tflite_op_name(model.OperatorCodes(subgraph.Operators(i).OpcodeIndex()), builtin_names)] += 1
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            index = tensor.Buffer()
            if index > 0 and index not in counted_buffers and _has_data(model.Buffers(index)):
                counted_buffers.add(index)
                parameters += _numel(tensor.ShapeAsNumpy()) if tensor.ShapeLength() else 1
    signature = _tflite_signature(model, type_names)
    return signature, ops, parameters, []


def _tflite_op_name(opcode, builtin_names: dict[int, str]) -> str:
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())  # old files only fill the deprecated one
    name = builtin_names.get(code, f"BUILTIN_{code}")
    if name == "CUSTOM":
        custom = opcode.CustomCode()
        return custom.decode() if custom else "CUSTOM"
    return name


def _has_data(buffer) -> bool:
    return buffer.DataLength() > 0 or buffer.Size() > 0  # Size/Offset: data stored after the flatbuffer (>2 GB)


def _tflite_signature(model, type_names: dict[int, str]) -> Signature:
    """The serving signature's names when there is one (what LiteRT's runner uses), else subgraph 0's tensors."""
    def spec(subgraph, index: int, name: str | None = None) -> TensorSpec:
        tensor = subgraph.Tensors(index)
        dims = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else tensor.ShapeAsNumpy()
        shape = tuple(None if int(d) < 0 else int(d) for d in (dims if tensor.ShapeLength() else ()))
        return TensorSpec(name or tensor.Name().decode(), type_names.get(tensor.Type(), "?"), shape, guess_layout(shape, channels_first=False))

    defs = [model.SignatureDefs(i) for i in range(model.SignatureDefsLength())]
    chosen = next((d for d in defs if d.SignatureKey() == b"serving_default"), defs[0] if defs else None)
    if chosen is not None:
        subgraph = model.Subgraphs(chosen.SubgraphIndex())
        by_name = lambda m: natural_key(m.Name().decode())  # noqa: E731  (the LiteRT runtime's order)
        ins = sorted((chosen.Inputs(i) for i in range(chosen.InputsLength())), key=by_name)
        outs = sorted((chosen.Outputs(i) for i in range(chosen.OutputsLength())), key=by_name)
        return Signature(tuple(spec(subgraph, m.TensorIndex(), m.Name().decode()) for m in ins),
                         tuple(spec(subgraph, m.TensorIndex(), m.Name().decode()) for m in outs))
    subgraph = model.Subgraphs(0)
    return Signature(tuple(spec(subgraph, int(i)) for i in subgraph.InputsAsNumpy()),
                     tuple(spec(subgraph, int(i)) for i in subgraph.OutputsAsNumpy()))


# ---------------------------------------------------------------- TensorFlow

def _inspect_keras(source: Source) -> Reading:
    from studio.loaders import load_tf, tf_signature

    model = load_tf(source)
    ops = Counter(type(layer).__name__ for layer in _leaf_layers(model) if type(layer).__name__ != "InputLayer")
    return tf_signature(source, model), ops, model.count_params(), []


def _leaf_layers(layer) -> list:
    """Nested models (a Sequential inside a functional model) contribute their own layers."""
    children = getattr(layer, "layers", None)
    if not children:
        return [layer]
    return [leaf for child in children for leaf in _leaf_layers(child)]


def _inspect_saved_model(source: Source) -> Reading:
    from studio.loaders import load_tf, saved_model_signatures, tf_signature

    obj = load_tf(source)
    function = obj.signatures["serving_default"]
    graph_def = function.graph.as_graph_def()
    # The serving graph only calls into library functions; the computation lives there.
    nodes = [n for f in graph_def.library.function for n in f.node_def] or list(graph_def.node)
    ops = Counter(n.op for n in nodes if n.op not in TF_PLUMBING)
    parameters = sum(_numel(v.shape) for v in function.variables)
    # Converters such as onnx2tf bake weights in as captured constants instead of variables.
    parameters += sum(_numel(t.shape) for t, _ in function.graph.captures if t.dtype.name != "resource")
    sig = tf_signature(source, obj)
    sig = Signature(tuple(sorted(sig.inputs, key=lambda s: natural_key(s.name))),
                    tuple(sorted(sig.outputs, key=lambda s: natural_key(s.name))))
    # What TF Serving serves: each signature key (signature_name) with the tensor names its requests use.
    signatures = {key: {side: [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)}
                               for t in sorted(getattr(found, side), key=lambda t: natural_key(t.name))]
                        for side in ("inputs", "outputs")}
                  for key, found in saved_model_signatures(obj).items()}
    return sig, ops, parameters, [], {"signatures": signatures}


# ---------------------------------------------------------------- PyTorch

def _inspect_torch(source: Source) -> Reading:
    import torch

    from studio.loaders import load_torch, torch_signature

    model = load_torch(source)
    signature = torch_signature(source, model)
    if isinstance(model, torch.export.ExportedProgram):
        ops = Counter(_fx_target_name(n.target) for n in model.graph.nodes if n.op == "call_function")
        parameters = sum(p.numel() for p in model.parameters())
    elif isinstance(model, torch.jit.ScriptModule):
        ops = Counter(n.kind() for n in _all_nodes(model.inlined_graph) if n.kind() not in TORCHSCRIPT_PLUMBING)
        parameters = sum(p.numel() for p in model.parameters())
    else:
        ops = Counter(type(m).__name__ for m in model.modules() if not any(True for _ in m.children()))
        parameters = sum(p.numel() for p in model.parameters())
    extra = [source.weights] if source.weights else []
    return signature, ops, parameters, extra


def _fx_target_name(target: Any) -> str:
    """aten ops as "aten::conv2d" (as TorchScript spells them); Python callables by their name."""
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return schema.name
    return getattr(target, "__name__", str(target))


def _all_nodes(graph) -> list:
    """TorchScript nodes, including those in the blocks of prim::If / prim::Loop."""
    nodes = []
    for node in graph.nodes():
        nodes.append(node)
        for block in node.blocks():
            nodes += _all_nodes(block)
    return nodes


# ---------------------------------------------------------------- TF.js

def _inspect_tfjs(source: Source) -> Reading:
    """model.json alone (no Node, no TF): the runtime's signature, the graph's ops, the weights' sizes."""
    import json

    from studio.runtimes.tfjs import TfjsRuntime

    signature = TfjsRuntime(source.path).signature
    model = json.loads((Path(source.path) / "model.json").read_text())
    topology = model["modelTopology"]
    nodes = list(topology.get("node", [])) + [n for f in topology.get("library", {}).get("function", [])
                                              for n in f.get("nodeDef", [])]
    ops = Counter(n["op"] for n in nodes if n.get("op") not in TF_PLUMBING | {"Const", "Placeholder"})
    parameters = sum(_numel(w.get("shape", [])) for group in model["weightsManifest"] for w in group["weights"])
    return signature, ops, parameters, []


READERS: dict[Format, Callable[[Source], Reading]] = {
    Format.ONNX: _inspect_onnx,
    Format.TFLITE: _inspect_tflite,
    Format.KERAS: _inspect_keras,
    Format.H5: _inspect_keras,
    Format.SAVEDMODEL: _inspect_saved_model,
    Format.TORCHSCRIPT: _inspect_torch,
    Format.EXPORTED_PROGRAM: _inspect_torch,
    Format.PYTHON_FACTORY: _inspect_torch,
    Format.TORCH_PICKLE: _inspect_torch,
    Format.TFJS: _inspect_tfjs,
}


# ---------------------------------------------------------------- text

def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return [indent + "(none)"]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def format_summary(info: dict, max_ops: int = 30) -> str:
    """Aligned plain text for `studio inspect`; the same facts as the dict, nothing more."""
    src = info["source"]
    name = f"{src['path']}:{src['factory']}" if src.get("factory") else src["path"]
    ops = info.get("ops", {})
    lines = [name]
    lines += _table([["format", info["format"]], ["framework", info["framework"]],
                     ["parameters", f"{info['parameters']:,}"],
                     ["size", f"{human_bytes(info['bytes'])} ({info['bytes']:,} bytes)"]])
    for title in ("inputs", "outputs"):
        lines.append(f"{title}:")
        lines += _table([[t["name"], t["dtype"], shape_text(t["shape"] or None, unknown="[unknown]"), t.get("layout", "")] for t in info[title]])
    for key, served in info.get("signatures", {}).items():   # a SavedModel's: what TF Serving serves
        lines.append(f"signature {key}:")
        lines += _table([[side[:-1], t["name"], t["dtype"],
                          shape_text(t["shape"] or None, unknown="[unknown]")]
                         for side in ("inputs", "outputs") for t in served[side]])
    lines.append(f"ops: {len(ops)} kinds, {sum(ops.values())} total")
    shown = list(ops.items())[:max_ops]
    lines += _table([[op, str(count)] for op, count in shown])
    if len(ops) > max_ops:
        lines.append(f"  ... and {len(ops) - max_ops} more kinds")
    return "\n".join(lines)

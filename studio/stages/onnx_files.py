"""ONNX file chores shared by the stages: size with external data, saving, checking, fixing shapes.

onnx is imported inside the functions, like every framework here, so the registry stays light.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from studio.signature import TensorSpec

# protobuf refuses messages of 2 GiB; leave headroom for the graph itself.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def external_data_files(onnx_path: Path) -> list[Path]:
    """The files an ONNX model's initializers point to (location is relative to the model's folder)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    found: list[Path] = []
    for tensor in _external_tensors(model):
        location = next((e.value for e in tensor.external_data if e.key == "location"), None)
        if location and (onnx_path.parent / location) not in found:
            found.append(onnx_path.parent / location)
    return found


def _external_tensors(model: Any) -> list:
    """The tensors whose data is in another file."""
    from onnx.external_data_helper import uses_external_data

    return [tensor for tensor in _all_tensors(model) if uses_external_data(tensor)]


def _all_tensors(model: Any):
    """Initializers and Constant-node tensors, subgraphs included (onnx's own walker when it has one)."""
    try:
        from onnx.external_data_helper import _get_all_tensors
    except ImportError:
        return list(model.graph.initializer)
    return _get_all_tensors(model)


def read_model(onnx_path: Path) -> tuple[Any, bool]:
    """The model with its weights, and whether the file held them all itself (no external data): then a copy of the
    file is a copy of the model."""
    import onnx
    from onnx.external_data_helper import load_external_data_for_model

    model = onnx.load(str(onnx_path), load_external_data=False)
    if not _external_tensors(model):
        return model, True
    load_external_data_for_model(model, str(onnx_path.parent))
    return model, False


# TensorProto's floating-point types and their sizes: FLOAT, FLOAT16, DOUBLE, BFLOAT16
FLOAT_ITEMSIZE = {1: 4, 10: 2, 11: 8, 16: 2}


def without_weights(model: Any, min_elements: int = 1024) -> tuple[Any, dict[str, int]]:
    """A copy of the model whose large floating-point initializers keep their name, type and dims but not their
    data, and the bytes left out by initializer name. Enough to read the graph (nodes, names, shapes) and to infer
    shapes; it is built field by field, since copying the whole model first would hold its weights twice."""
    light = type(model)()
    _copy_fields(model, light, skip="graph")
    _copy_fields(model.graph, light.graph, skip="initializer")
    left_out = {}
    for tensor in model.graph.initializer:
        if tensor.data_type in FLOAT_ITEMSIZE and tensor.HasField("raw_data") \
                and math.prod(tensor.dims) >= min_elements and tensor.name not in left_out:
            stub = light.graph.initializer.add()
            stub.name, stub.data_type = tensor.name, tensor.data_type
            stub.dims.extend(tensor.dims)
            left_out[tensor.name] = math.prod(tensor.dims) * FLOAT_ITEMSIZE[tensor.data_type]
        else:
            light.graph.initializer.add().CopyFrom(tensor)
    return light, left_out


def _copy_fields(source: Any, target: Any, skip: str) -> None:
    for field, value in source.ListFields():
        if field.name == skip:
            continue
        repeated = field.is_repeated if hasattr(field, "is_repeated") else field.label == field.LABEL_REPEATED
        if repeated:
            getattr(target, field.name).extend(value)
        elif field.type == field.TYPE_MESSAGE:
            getattr(target, field.name).CopyFrom(value)
        else:
            setattr(target, field.name, value)


def onnx_bytes(onnx_path: Path) -> int:
    """The model file plus its external data: what a user must copy to move the model."""
    return onnx_path.stat().st_size + sum(p.stat().st_size for p in external_data_files(onnx_path) if p.is_file())


def save_model(model: Any, path: Path) -> int:
    """One self-contained file when protobuf allows it, else the file plus <name>.data beside it. Returns the bytes
    written (onnx_bytes without reading the model back)."""
    import onnx

    if model.ByteSize() < EXTERNAL_DATA_THRESHOLD:
        onnx.save(model, str(path))
        return path.stat().st_size
    data = path.parent / f"{path.name}.data"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=data.name,
              size_threshold=1024)
    return path.stat().st_size + data.stat().st_size


def unknown_operators(model: Any) -> list[str]:
    """Nodes no ONNX opset defines (e.g. a TF op tf2onnx could not translate and left in place)."""
    from onnx import defs

    opsets = {imp.domain or "ai.onnx": imp.version for imp in model.opset_import}
    missing = []
    for node in model.graph.node:
        domain = node.domain or "ai.onnx"
        if domain not in ("ai.onnx", "ai.onnx.ml"):
            missing.append(f"{node.op_type} ({node.domain})")
            continue
        try:
            defs.get_schema(node.op_type, opsets.get(domain, 1), "" if domain == "ai.onnx" else domain)
        except Exception:
            missing.append(node.op_type)
    return sorted(set(missing))


def dynamic_inputs(model: Any) -> list[str]:
    """Names of graph inputs with a dim that is not a fixed positive number."""
    initializers = {t.name for t in model.graph.initializer}
    names = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        fixed = all(d.HasField("dim_value") and d.dim_value > 0 for d in dims)
        if not value.type.tensor_type.HasField("shape") or not fixed:
            names.append(value.name)
    return names


def fix_input_shapes(model: Any, shapes: dict[str, tuple[int, ...]]) -> Any:
    """Write static input shapes into the graph and re-infer every other shape from them.

    onnx2tf's own overwrite_input_shape only acts through onnxsim, which the pinned stack does not
    ship, so we make the graph static ourselves before handing it over.
    """
    import onnx

    for value in model.graph.input:
        shape = shapes.get(value.name)
        if shape is None:
            continue
        tensor_shape = value.type.tensor_type.shape
        del tensor_shape.dim[:]
        for d in shape:
            tensor_shape.dim.add().dim_value = int(d)
    del model.graph.value_info[:]
    for value in model.graph.output:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.Clear()
    try:
        return onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:
        return model  # onnx2tf infers again on its own; a failed inference here is not fatal


def fold_shape_arithmetic(model: Any) -> Any:
    """Fold what static input shapes make constant (Shape -> Gather -> Div -> Concat chains feeding Reshape).

    An exporter that traced with symbolic shapes (torch's TS2EP route does), or that left shapes unknown
    (the TorchScript exporter on a Swin block), leaves that arithmetic in the graph; with static inputs
    (fix_input_shapes makes them so) it is constant, and onnx2tf's direct writer
    cannot express it otherwise (it emitted custom ONNX_SPLIT / ONNX_LAYERNORMALIZATION ops LiteRT
    cannot run; its TF-converter path failed at the Shape node). onnxscript's optimizer is the constant
    folder torch's own exporter uses. A model it cannot fold is returned as it was.
    """
    if not any(node.op_type == "Shape" for node in model.graph.node):
        return model
    try:
        import onnx
        import onnxscript.optimizer

        return onnxscript.optimizer.optimize(onnx.shape_inference.infer_shapes(model, data_prop=True))
    except Exception:
        return model


def name_unnamed_nodes(model: Any) -> int:
    """Give every unnamed node (subgraphs included) a name of its own, "<OpType>_<n>"; returns how many.

    onnx2tf otherwise runs sng4onnx to name them, which loads, shape-infers and saves the whole model
    whether or not a name is missing (3.6 s of a 25.6 s ViT-B/16 run, the TFLite files the same op for op
    and the correspondence report identical without it), so the backends skip it on the stage's copy.
    """
    graphs = [model.graph]
    taken = set()
    for graph in graphs:   # grows while walking: every subgraph of If/Loop/Scan nodes
        for node in graph.node:
            taken.add(node.name)
            graphs.extend(attr.g for attr in node.attribute if attr.HasField("g"))
            graphs.extend(g for attr in node.attribute for g in attr.graphs)
    index = named = 0
    for graph in graphs:
        for node in graph.node:
            if node.name:
                continue
            while f"{node.op_type}_{index}" in taken:
                index += 1
            node.name = f"{node.op_type}_{index}"
            taken.add(node.name)
            named += 1
    return named


def input_specs_by_onnx_name(model: Any, specs: tuple[TensorSpec, ...]) -> dict[str, TensorSpec]:
    """Pair the ONNX graph inputs with the source's inputs: by name, then by position."""
    initializers = {t.name for t in model.graph.initializer}
    onnx_names = [v.name for v in model.graph.input if v.name not in initializers]
    by_name = {s.name: s for s in specs}
    paired: dict[str, TensorSpec] = {name: by_name[name] for name in onnx_names if name in by_name}
    rest = [s for s in specs if s not in paired.values()]
    for name in onnx_names:
        if name not in paired and rest:
            paired[name] = rest.pop(0)
    return paired



GELU_PREFIX = "studio_gelu_"


def canonical_gelu(model: Any) -> int:
    """Write every exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), in the one node order onnx2tf fuses into
    tf.nn.gelu (TFLite's builtin GELU, int8 included): Div(x, sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5).

    torch's dynamo exporter writes Mul(0.5, 1 + erf) before Mul(x, .), and tf2onnx scales by 1/sqrt(2)
    with a Mul; onnx2tf 1.28.8 matches neither and keeps a bare Erf, which TFLite runs only as the
    Select-TF op FlexErf and which int8 calibration cannot run at all. The constants are written with
    shape [1]: onnx2tf's match reads the divisor as a TF tensor, and a rank-0 divisor after any node but
    Gemm stays a numpy scalar there, so even the canonical order goes unmatched (measured: x of rank 2 to 4
    fuses, rank 1 does not). The function computed is the same. Changes the model in place; returns how
    many GELUs it wrote.
    """
    import copy

    import numpy as np
    from onnx import helper, numpy_helper

    graph = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    graph_outputs = {v.name for v in graph.output}
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*graph.input, *graph.value_info, *graph.output)
             if v.type.tensor_type.HasField("shape")}

    def near(name: str, target: float) -> bool:
        value = consts.get(name)
        return value is not None and value.size == 1 and abs(float(value.reshape(-1)[0]) - target) <= 1e-6

    def operand(node, op: str, const: float) -> str | None:
        """The other input of a two-input op when one input is the scalar const (the divisor, for Div)."""
        if node is None or node.op_type != op or len(node.input) != 2:
            return None
        a, b = node.input
        if near(b, const) and not near(a, const):
            return a
        return b if op != "Div" and near(a, const) and not near(b, const) else None

    written = 0
    while True:
        producers = {out: node for node in graph.node for out in node.output}
        consumers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                consumers.setdefault(name, []).append(node)

        def sole(name: str):
            users = consumers.get(name, [])
            return users[0] if len(users) == 1 and name not in graph_outputs else None

        def match(erf):
            """(x, the nodes of the GELU, its last node) or None."""
            if erf.name.startswith(GELU_PREFIX):
                return None
            scale = producers.get(erf.input[0])
            x = operand(scale, "Div", float(np.sqrt(2.0))) or operand(scale, "Mul", float(np.sqrt(0.5)))
            add = sole(erf.output[0])
            if x is None or ranks.get(x) == 0:   # a scalar x would come out as [1] with [1]-shaped constants
                return None
            if sole(erf.input[0]) != erf or operand(add, "Add", 1.0) != erf.output[0]:
                return None
            m1 = sole(add.output[0])
            if m1 is None or m1.op_type != "Mul" or len(m1.input) != 2:
                return None
            other = m1.input[1] if m1.input[0] == add.output[0] else m1.input[0]
            m2 = sole(m1.output[0])
            if near(other, 0.5):                                    # x * ((1 + erf) * 0.5)
                if m2 is not None and m2.op_type == "Mul" and sorted(m2.input) == sorted([x, m1.output[0]]):
                    return x, [scale, erf, add, m1, m2], m2
            elif other == x:                                        # (x * (1 + erf)) * 0.5
                if operand(m2, "Mul", 0.5) == m1.output[0]:
                    return x, [scale, erf, add, m1, m2], m2
            else:                                                   # (x * 0.5) * (1 + erf)
                half = producers.get(other)
                if operand(half, "Mul", 0.5) == x and sole(other) == m1:
                    return x, [scale, half, erf, add, m1], m1
            return None

        found = next((m for m in (match(n) for n in graph.node if n.op_type == "Erf") if m), None)
        if found is None:
            return written
        x, old, last = found
        add = next(n for n in old if n.op_type == "Add")
        dtype = consts[next(n for n in add.input if n in consts)].dtype
        p = f"{GELU_PREFIX}{written}"
        graph.initializer.extend(numpy_helper.from_array(np.full((1,), v, dtype=dtype), f"{p}_{k}")
                                 for k, v in (("sqrt2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5)))
        new = [helper.make_node("Div", [x, f"{p}_sqrt2"], [f"{p}_scaled"], name=f"{p}_Div"),
               helper.make_node("Erf", [f"{p}_scaled"], [f"{p}_erf"], name=f"{p}_Erf"),
               helper.make_node("Add", [f"{p}_erf", f"{p}_one"], [f"{p}_add"], name=f"{p}_Add"),
               helper.make_node("Mul", [x, f"{p}_add"], [f"{p}_mul"], name=f"{p}_Mul"),
               helper.make_node("Mul", [f"{p}_mul", f"{p}_half"], [last.output[0]], name=f"{p}_Mul_half")]
        old_inputs = {name for n in old for name in n.input}
        gone = {out for n in old for out in n.output} - {last.output[0]}
        nodes = list(graph.node)
        at = nodes.index(last)   # x and every input of the GELU exist before its last node
        order = [copy.deepcopy(n) for n in nodes[:at] if n not in old] + new + \
            [copy.deepcopy(n) for n in nodes[at:] if n not in old]
        del graph.node[:]
        graph.node.extend(order)
        for value in [v for v in graph.value_info if v.name in gone]:
            graph.value_info.remove(value)
        used = {name for n in graph.node for name in n.input} | graph_outputs
        for tensor in [t for t in graph.initializer if t.name in old_inputs and t.name not in used]:
            graph.initializer.remove(tensor)   # the old constants, when nothing else reads them
        written += 1

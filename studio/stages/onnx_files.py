"""ONNX file chores shared by the stages: size with external data, saving, checking, fixing shapes.

onnx is imported inside the functions, like every framework here, so the registry stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.signature import TensorSpec

# protobuf refuses messages of 2 GiB; leave headroom for the graph itself.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def external_data_files(onnx_path: Path) -> list[Path]:
    """The files an ONNX model's initializers point to (location is relative to the model's folder)."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    model = onnx.load(str(onnx_path), load_external_data=False)
    found: list[Path] = []
    for tensor in _all_tensors(model):
        if uses_external_data(tensor):
            location = next((e.value for e in tensor.external_data if e.key == "location"), None)
            if location and (onnx_path.parent / location) not in found:
                found.append(onnx_path.parent / location)
    return found


def _all_tensors(model: Any):
    """Initializers and Constant-node tensors, subgraphs included (onnx's own walker when it has one)."""
    try:
        from onnx.external_data_helper import _get_all_tensors
    except ImportError:
        return list(model.graph.initializer)
    return _get_all_tensors(model)


def onnx_bytes(onnx_path: Path) -> int:
    """The model file plus its external data: what a user must copy to move the model."""
    return onnx_path.stat().st_size + sum(p.stat().st_size for p in external_data_files(onnx_path) if p.is_file())


def save_model(model: Any, path: Path) -> None:
    """One self-contained file when protobuf allows it, else the file plus <name>.data beside it."""
    import onnx

    if model.ByteSize() < EXTERNAL_DATA_THRESHOLD:
        onnx.save(model, str(path))
    else:
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=f"{path.name}.data", size_threshold=1024)


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

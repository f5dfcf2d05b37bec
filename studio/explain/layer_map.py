"""Pairing: which tensor of the source and which tensor of the artifact hold each value of the ONNX hub.

The source's ONNX export (made by the studio's own to-ONNX stage) is the hub: every pairing goes through its
value names. One side of a pairing is a `SideMap` (ONNX value -> the partner tensor on that side):

- torch FX <-> ONNX: the dynamo exporter names ONNX values after the FX nodes of the program it exported (after
  its decompositions), and records the FX node of every ONNX node in `pkg.torch.onnx.fx_node`. Graph outputs
  are renamed (output_0) and pair with the FX graph's outputs, in order. ONNX values inside the decomposition of
  one FX node (linear -> MatMul + Add) have no source tensor: they are covered by that node's row.
- Keras <-> ONNX: tf2onnx keeps TF's op names, and a Keras layer's ops live under its name scope. A layer pairs
  with the last ONNX value inside its scope whose shape fits (modulo layout); the others inside are covered.
- ONNX <-> TFLite: onnx2tf's tensor correspondence report. ONNX values it resolves to the same TFLite tensor
  (conv + bias + activation, add + activation, a reshape it dropped) form a fused chain, compared only at the
  chain's last value; the others are listed as "fused into ...".
- ONNX <-> ONNX: by value name.

Every tensor without a partner is listed as `Unpaired` with the reason. `side` names the graph the tensor lives
in: "onnx" (an ONNX value of the hub with no partner on one side), "reference" (a source tensor no ONNX value
holds), "candidate" (an artifact tensor no ONNX value maps to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from studio.compare import shapes_compatible
from studio.errors import StudioError, one_line

Shape = tuple[int, ...]
FX_NODE_KEY = "pkg.torch.onnx.fx_node"
_FX_NAME = re.compile(r"^%([^\s:]+)")
# ONNX ops that only move or relabel data: a fused chain that ends in one still holds its producer's numbers.
LAYOUT_OPS = frozenset({"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity"})
# ONNX ops whose output does not depend on the inputs' values (with static shapes, a constant every converter folds):
# what is computed from them alone (position ids from arange(seq_len)) is not data of the inputs either.
SHAPE_OPS = frozenset({"Constant", "Shape", "Size"})


# ---------------------------------------------------------------- the hub


@dataclass
class OnnxValue:
    """One node output of the ONNX hub that carries data computed from the inputs."""

    index: int                    # position among the hub's values, in graph order
    name: str
    op: str                       # the producing node's op type
    node: str                     # the producing node's name
    output_index: int
    shape: Shape | None           # None: unknown (shape inference could not say)
    inputs: tuple[str, ...]       # the producing node's input value names
    fx_node: str | None = None    # the FX node the dynamo exporter recorded for the producing node
    is_output: bool = False


class OnnxGraph:
    """The ONNX hub's structure: its values in graph order, their shapes, producers and graph edges."""

    def __init__(self, path: Path, model, input_shapes: dict[str, Shape] | None = None) -> None:
        """input_shapes: the shapes fed (a TorchScript export's inputs are dynamic, and its values' shapes only
        become known with them)."""
        self.path = path
        graph = model.graph
        self.inputs = [i.name for i in graph.input if i.name not in {t.name for t in graph.initializer}]
        self.outputs = [o.name for o in graph.output]
        shapes = _shapes(model, input_shapes or {})
        self.edges: dict[str, tuple[str, ...]] = {}     # every node output -> its producer's inputs
        self.order: list[str] = []                      # every node output, in graph order
        live = set(self.inputs)                         # values computed from a graph input
        self.values: list[OnnxValue] = []
        for node in graph.node:
            ins = tuple(i for i in node.input if i)
            fed = any(i in live for i in ins)
            meta = {p.key: p.value for p in node.metadata_props}
            fx = _FX_NAME.match(meta.get(FX_NODE_KEY, ""))
            for position, name in enumerate(node.output):
                if not name:
                    continue
                self.edges[name] = ins
                self.order.append(name)
                if not fed or node.op_type in SHAPE_OPS or shapes.get(name, ()) is False:
                    continue
                live.add(name)
                shape = shapes.get(name)
                self.values.append(OnnxValue(len(self.values), name, node.op_type, node.name or name, position,
                                             shape if isinstance(shape, tuple) else None, ins,
                                             fx.group(1) if fx else None, name in self.outputs))
        self.by_name = {v.name: v for v in self.values}
        self.by_node_output = {(v.node, v.output_index): v for v in self.values}
        self.twin_of = _twins(graph, shapes)

    @classmethod
    def load(cls, path: str | Path, input_shapes: dict[str, Shape] | None = None) -> "OnnxGraph":
        import onnx

        path = Path(path)
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise StudioError(f"{path}: not an ONNX model the studio can read: {one_line(exc, 200)}") from exc
        return cls(path, model, input_shapes)

    def shape_of(self, name: str) -> Shape | None:
        value = self.by_name.get(name)
        return value.shape if value else None

    def propagate(self, start: dict[str, object], combine) -> dict[str, object]:
        """Fold a per-value quantity down the graph in order: value -> combine(name, [what its inputs have])."""
        known = dict(start)
        for name in self.order:
            if name not in known:
                known[name] = combine(name, [known.get(i) for i in self.edges[name]])
        return known


_RANDOM_OPS = frozenset({"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial",
                         "Bernoulli", "Dropout"})


def _pure(node) -> bool:
    """The node's outputs are a function of its inputs alone: a standard op, not random, without subgraphs
    (a custom op may not be one either)."""
    return node.domain in ("", "ai.onnx") and node.op_type not in _RANDOM_OPS \
        and not any(attr.g.node or attr.graphs for attr in node.attribute)


def _twins(graph, shapes: dict[str, Shape | bool]) -> dict[str, str]:
    """Node output -> the earlier output it necessarily equals: the same op with the same attributes, on the same
    inputs (constants count as the same when their contents are; twins count as the same value). Converters
    compute such values once (the four corner gathers of a bilinear upsampling from a 1x1 map, whose index
    tensors all come out 0), so a twin has no record of its own in onnx2tf's correspondence report."""
    constants = {name: ("const", value.dtype.str, value.shape, value.tobytes())
                 for name, value in _small_constants(graph, shapes).items()}
    canonical: dict[str, object] = {}
    first: dict[tuple, list[str]] = {}
    twins: dict[str, str] = {}
    for node in graph.node:
        if not _pure(node) or node.output[0] in constants:
            continue
        key = (node.op_type, tuple(constants.get(i) or canonical.get(i, i) for i in node.input),
               tuple(sorted(attr.SerializeToString() for attr in node.attribute)))
        earlier = first.setdefault(key, list(node.output))
        for mine, theirs in zip(node.output, earlier):
            if mine and theirs and mine != theirs:
                twins[mine] = theirs
                canonical[mine] = canonical.get(theirs, theirs)
    return twins


def _small_constants(graph, shapes: dict[str, Shape | bool], limit: int = 4096) -> dict[str, np.ndarray]:
    """The values of the graph's small constants (at most `limit` elements: indices, shapes, scalars): its
    initializers, the Shape of every value whose shape is static, and what nodes compute from those alone,
    evaluated with onnx's reference evaluator. Best effort: none of the computed ones if it cannot run them."""
    from onnx import helper, numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer
              if not t.external_data and np.prod(t.dims, dtype=np.int64) <= limit}
    constant = set(values) | {""}
    nodes, wanted = [], []
    for node in graph.node:
        shape = shapes.get(node.input[0]) if node.input else None
        if node.op_type == "Shape" and isinstance(shape, tuple):
            attrs = {a.name: a.i for a in node.attribute}
            values[node.output[0]] = np.array(shape[attrs.get("start", 0):attrs.get("end", len(shape))], np.int64)
            constant.add(node.output[0])
            continue
        if not _pure(node) or not set(node.input) <= constant:
            continue
        nodes.append(node)
        constant.update(node.output)
        wanted.extend(o for o in node.output if o)
    if not nodes:
        return values
    try:
        from onnx.reference import ReferenceEvaluator

        used = {i for node in nodes for i in node.input}
        model = helper.make_model(helper.make_graph(
            nodes, "constants", [], [helper.make_empty_tensor_value_info(o) for o in wanted],
            [numpy_helper.from_array(values[name], name) for name in used if name in values]))
        computed = dict(zip(wanted, ReferenceEvaluator(model).run(None, {})))
    except Exception:
        return values
    values.update({name: np.asarray(v) for name, v in computed.items()
                   if isinstance(v, np.ndarray) and v.size <= limit})
    return values


def _shapes(model, input_shapes: dict[str, Shape]) -> dict[str, Shape | bool]:
    """Value name -> static shape (values with unknown dims are left out); False for values that are not
    tensors (sequences, maps). The graph inputs are pinned to input_shapes first, and the shapes computed with
    Shape ops (a Reshape to [b, 2, c // 2, h, w]) are propagated."""
    import onnx

    pinned = False
    for info in model.graph.input:
        shape, dims = input_shapes.get(info.name), info.type.tensor_type.shape.dim
        if shape is not None and info.type.HasField("tensor_type") and len(dims) == len(shape) \
                and any(not dim.HasField("dim_value") for dim in dims):
            for dim, size in zip(dims, shape):
                dim.dim_value = int(size)
            pinned = True
    if pinned:   # the exporter's symbolic value shapes would be kept as they are
        del model.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:
        inferred = model
    shapes: dict[str, Shape | bool] = {}
    graph = inferred.graph
    for info in [*graph.value_info, *graph.output, *graph.input]:
        kind = info.type.WhichOneof("value")
        if kind != "tensor_type":
            if kind is not None:
                shapes[info.name] = False
            continue
        tensor = info.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
        if all(d >= 0 for d in dims):
            shapes[info.name] = dims
    return shapes


# ---------------------------------------------------------------- one side's pairing


@dataclass
class Partner:
    """What holds an ONNX value on one side: the key to read it by, and the name a user knows it by."""

    key: str                  # the tap's key (FX node, Keras layer call, TFLite tensor, ONNX value name)
    node: str                 # the node or layer name in that graph (shown, and used for Model Explorer)
    shape: Shape | None = None
    reshape: Shape | None = None   # read the tensor in this shape (a reshape the converter dropped)


@dataclass
class Unpaired:
    name: str
    side: str                 # "onnx" | "reference" | "candidate": the graph the tensor lives in
    reason: str

    def to_dict(self) -> dict:
        return {"name": self.name, "side": self.side, "reason": self.reason}


@dataclass
class SideMap:
    """ONNX value -> its partner on one side, and what could not be paired."""

    partners: dict[str, Partner] = field(default_factory=dict)
    covered: dict[str, str] = field(default_factory=dict)     # ONNX value -> the value whose row covers it
    unpaired: list[Unpaired] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chains: dict[str, list[str]] = field(default_factory=dict)   # chain end -> its members, in graph order

    def fraction(self, graph: OnnxGraph) -> float:
        """The share of the hub's values this side holds, directly or as part of a unit compared as one."""
        if not graph.values:
            return 0.0
        held = set(self.partners) | set(self.covered)
        return sum(1 for v in graph.values if v.name in held) / len(graph.values)


def fits(onnx_shape: Shape | None, other: Sequence[int] | None) -> bool:
    """Same data modulo layout (a transpose, size-1 axes); unknown shapes fit anything."""
    if onnx_shape is None or other is None:
        return True
    return shapes_compatible(tuple(onnx_shape), tuple(other))


def _cover_or_list(graph: OnnxGraph, side: SideMap, unit_of: dict[str, str], what: str) -> None:
    """ONNX values without a partner: covered when their unit (an FX node, a Keras layer) is paired at another
    value, else listed as unpaired."""
    paired_units = {unit_of[name]: name for name in side.partners if name in unit_of}
    for value in graph.values:
        if value.name in side.partners:
            continue
        unit = unit_of.get(value.name)
        data = value.inputs[0] if value.inputs else ""
        held = data if data in side.partners else side.covered.get(data)
        if unit is not None and unit in paired_units:
            side.covered[value.name] = paired_units[unit]
            side.unpaired.append(Unpaired(value.name, "onnx", f"no {what} tensor: inside {unit}, compared at "
                                                               f"{paired_units[unit]}"))
        elif value.op in LAYOUT_OPS and held is not None:   # a converter's transpose between two layers
            side.covered[value.name] = held
            side.unpaired.append(Unpaired(value.name, "onnx", f"no {what} tensor: a layout change ({value.op}) of "
                                                               f"{data}, compared at {held}"))
        else:
            side.unpaired.append(Unpaired(value.name, "onnx", f"no {what} tensor holds it"
                                          + (f" (inside {unit}, which pairs with no ONNX value)" if unit else "")))


# ---------------------------------------------------------------- torch FX <-> ONNX


@dataclass
class FxNode:
    name: str                 # the node's name in the exported (decomposed) program: the exporter's ONNX names
    shape: Shape | None
    original: str             # its name in the user's ExportedProgram (before the exporter's decompositions)
    item: tuple[int, str] | None = None   # getitem(split(x), k): (k, x's name)


def pair_fx(graph: OnnxGraph, nodes: Sequence[FxNode], outputs: Sequence[str]) -> SideMap:
    """FX nodes <-> ONNX values by the exporter's names; graph outputs by position; decompositions covered."""
    side = SideMap()
    by_name = {n.name: n for n in nodes}
    items = {n.item: n for n in nodes if n.item is not None}
    used: set[str] = set()
    for position, name in enumerate(graph.outputs):
        value = graph.by_name.get(name)
        fx = by_name.get(outputs[position]) if position < len(outputs) else None
        if value is not None and fx is not None and fits(value.shape, fx.shape):
            side.partners[name] = Partner(fx.name, fx.original, fx.shape)
            used.add(fx.name)
    for value in graph.values:
        if value.name in side.partners:
            continue
        fx = by_name.get(value.name) or _split_item(graph, value, items, side)
        if fx is not None and fx.name not in used and fits(value.shape, fx.shape):
            side.partners[value.name] = Partner(fx.name, fx.original, fx.shape)
            used.add(fx.name)
    unit_of = {v.name: f"FX node {v.fx_node}" for v in graph.values if v.fx_node}
    # a unit is paired when one of its values is; the value an FX node's own name was given is its output
    for name, partner in side.partners.items():
        unit_of[name] = f"FX node {partner.key}"
    _cover_or_list(graph, side, unit_of, "source")
    folded = {v.fx_node for v in graph.values if v.fx_node}
    for fx in nodes:
        if fx.name not in used:
            why = ("its ONNX ops were folded into another node by the exporter" if fx.name in folded
                   else "no ONNX value holds it (fused or optimized away by the exporter)")
            side.unpaired.append(Unpaired(fx.name, "reference", why))
    if not any(v.fx_node for v in graph.values):
        side.notes.append("the ONNX carries no FX node metadata (not made by the dynamo exporter): only values "
                          "named like FX nodes and the graph outputs pair with the source")
    return side


def _split_item(graph: OnnxGraph, value: OnnxValue, items: dict[tuple[int, str], FxNode],
                side: SideMap) -> FxNode | None:
    """The getitem node for output k of a multi-output op (Split) whose data input pairs with the split's input:
    the exporter's optimizer rewrites such a Split under new names (split_split_0) and without FX metadata."""
    several = value.output_index > 0 or (value.node, 1) in graph.by_node_output
    if not value.inputs or not several:
        return None
    data = value.inputs[0]
    partner = side.partners.get(data)
    return items.get((value.output_index, partner.key if partner is not None else data))


# ---------------------------------------------------------------- Keras <-> ONNX


@dataclass
class KerasCall:
    """One output of one call of a Keras layer, as traced the way tf2onnx traces the model."""

    key: str                  # "conv2d", "conv2d:1" (second output), "conv2d#1" (second call)
    layer: str                # the layer's name (its path for nested layers)
    scope: str                # the TF name scope its ops were made in, e.g. "functional_1/conv2d_1"
    tensor: str               # its symbolic tensor's name, e.g. "functional_1/conv2d_1/Relu:0"
    shape: Shape | None
    depth: int = 0            # nesting depth: an inner layer wins a value it shares with its outer layer
    inputs: tuple[str, ...] = ()   # the symbolic tensors the call read (other calls' `tensor`s, or inputs)


def pair_keras(graph: OnnxGraph, calls: Sequence[KerasCall]) -> SideMap:
    """Each layer call with the last ONNX value inside its name scope whose shape fits; failing that, the ONNX
    value named like its tensor. A value two layers claim goes to the inner one."""
    side = SideMap()
    claims: dict[str, KerasCall] = {}
    lost: list[tuple[KerasCall, str]] = []
    later_scopes = [[c.scope for c in calls[i + 1:]] for i in range(len(calls))]
    for position, call in enumerate(calls):
        inside = [v for v in graph.values if _in_scope(v, call.scope) and fits(v.shape, call.shape)
                  and not _moved_in(graph, v, later_scopes[position])]
        exact = graph.by_name.get(call.tensor)
        pick = inside[-1] if inside else exact if exact is not None and fits(exact.shape, call.shape) else None
        if pick is None:
            lost.append((call, f"no ONNX value inside its name scope {call.scope}/ fits its shape "
                               f"{list(call.shape) if call.shape else '?'}"))
            continue
        holder = claims.get(pick.name)
        if holder is None or call.depth > holder.depth:
            if holder is not None:
                lost.append((holder, f"the same ONNX value ({pick.name}) as inner layer {call.layer}"))
            claims[pick.name] = call
        else:
            lost.append((call, f"the same ONNX value ({pick.name}) as layer {holder.layer}"))
    lost = _pair_by_consumers(graph, calls, claims, lost)
    for name, call in claims.items():
        side.partners[name] = Partner(call.key, call.layer, call.shape)
    unit_of = {}
    for call in sorted(calls, key=lambda c: c.depth):   # the innermost scope wins
        for value in graph.values:
            if _in_scope(value, call.scope):
                unit_of[value.name] = f"Keras layer {call.layer}"
    for name, call in claims.items():
        unit_of[name] = f"Keras layer {call.layer}"
    _cover_or_list(graph, side, unit_of, "Keras layer")
    side.unpaired += [Unpaired(call.key, "reference", why) for call, why in lost]
    return side


def _pair_by_consumers(graph: OnnxGraph, calls: Sequence[KerasCall], claims: dict[str, KerasCall],
                       lost: list[tuple[KerasCall, str]]) -> list[tuple[KerasCall, str]]:
    """Layers tf2onnx fused into an op named after none of them (a Conv2D and its BatchNorm folded into one
    `Conv__12`): such a layer pairs with the value its consumer layer reads from outside the consumer's own
    scope, at the same input position, when that value lies in no layer's scope and its shape fits. The layers
    fused before it (the Conv2D) are then compared at its value. Returns the calls still lost."""
    scopes = [c.scope for c in calls if c.scope]
    consumers: dict[str, list[tuple[KerasCall, int]]] = {}
    for call in calls:
        for position, tensor in enumerate(call.inputs):
            consumers.setdefault(tensor, []).append((call, position))
    reads = {consumer.key: _external_inputs(graph, consumer.scope) for consumer in calls if consumer.scope}
    paired_here: dict[str, str] = {}   # call tensor -> the value it now pairs with
    still: list[tuple[KerasCall, str]] = []
    for call, why in lost:
        pick = None
        for consumer, position in consumers.get(call.tensor, []):
            outside = reads.get(consumer.key, [])
            if len(outside) != len(consumer.inputs):
                continue
            value = outside[position]
            if (value.name not in claims and not any(_in_scope(value, scope) for scope in scopes)
                    and fits(value.shape, call.shape)):
                pick = value
                break
        if pick is None:
            still.append((call, why))
            continue
        claims[pick.name] = call
        paired_here[call.tensor] = pick.name
    fused = []
    for call, why in still:
        into = [paired_here[c.tensor] for c, _ in _consumers_of(call, consumers) if c.tensor in paired_here]
        fused.append((call, f"fused by tf2onnx into {into[0]} with the layer after it, compared there" if into
                      else why))
    return fused


def _consumers_of(call: KerasCall, consumers: dict[str, list[tuple[KerasCall, int]]]) -> list:
    return consumers.get(call.tensor, [])


def _external_inputs(graph: OnnxGraph, scope: str) -> list[OnnxValue]:
    """The hub values the ops of one layer scope read from outside it, in graph and input order."""
    seen: list[OnnxValue] = []
    for value in graph.values:
        if not _in_scope(value, scope):
            continue
        for name in value.inputs:
            data = graph.by_name.get(name)
            if data is not None and not _in_scope(data, scope) and data not in seen:
                seen.append(data)
    return seen


def _in_scope(value: OnnxValue, scope: str) -> bool:
    return bool(scope) and (value.node.startswith(scope + "/") or value.name.startswith(scope + "/"))


def _moved_in(graph: OnnxGraph, value: OnnxValue, later_scopes: list[str]) -> bool:
    """A layout op tf2onnx named after this layer but placed after a later layer's op (the Transpose it adds
    behind a Conv+BN+ReLU6 it fused carries the BN's name, yet holds the ReLU6's output): not this layer's.
    A layer that is only a layout op (Flatten, Reshape) reads an earlier layer's value and keeps its own."""
    if value.op not in LAYOUT_OPS or not value.inputs:
        return False
    data = graph.by_name.get(value.inputs[0])
    return data is not None and any(_in_scope(data, scope) for scope in later_scopes)


# ---------------------------------------------------------------- ONNX <-> ONNX, outputs only


def pair_by_names(graph: OnnxGraph, others: dict[str, tuple[str, Shape | None]], what: str) -> SideMap:
    """ONNX values <-> another graph's values of the same name (value name -> (node name, shape))."""
    side = SideMap()
    for value in graph.values:
        other = others.get(value.name)
        if other is None:
            side.unpaired.append(Unpaired(value.name, "onnx", f"the {what} has no value of that name"))
        elif not fits(value.shape, other[1]):
            side.unpaired.append(Unpaired(value.name, "onnx", f"the {what}'s value of that name has shape "
                                          f"{list(other[1] or [])}, not {list(value.shape or [])}"))
        else:
            side.partners[value.name] = Partner(value.name, other[0], other[1])
    return side


def extra_tensors(side: SideMap, names: Iterable[str], what: str, limit: int = 200) -> None:
    """List an artifact's own tensors that no ONNX value maps to (at most limit, then a count)."""
    taken = {p.key for p in side.partners.values()} | {m for ms in side.chains.values() for m in ms}
    extra = [n for n in names if n not in taken]
    for name in extra[:limit]:
        side.unpaired.append(Unpaired(name, "candidate", f"no ONNX value of the source's export maps to this {what}"))
    if len(extra) > limit:
        side.notes.append(f"{len(extra) - limit} more {what}s map to no ONNX value (not listed)")


def pair_outputs_only(graph: OnnxGraph, outputs: dict[str, Shape | None], why: str) -> SideMap:
    """Only the graph outputs pair (a SavedModel source, a source whose graph cannot be traced)."""
    from studio.compare import pair_outputs

    side = SideMap(notes=[why])
    hub = {name: graph.shape_of(name) or () for name in graph.outputs if name in graph.by_name}
    for ref, other in pair_outputs(hub, {n: s or () for n, s in outputs.items()}):
        if ref is not None and other is not None:
            side.partners[ref] = Partner(other, other, outputs[other])
    for value in graph.values:
        if value.name not in side.partners:
            side.unpaired.append(Unpaired(value.name, "onnx", "not captured: only the source's graph outputs are"))
    return side


# ---------------------------------------------------------------- ONNX <-> TFLite


@dataclass
class TfliteTensor:
    name: str
    shape: Shape
    op: str | None            # the operator that writes it (None: a constant or an input)


def pair_tflite(graph: OnnxGraph, tensors: dict[str, TfliteTensor], records: list[dict] | None,
                report_name: str | None = None) -> SideMap:
    """ONNX values <-> TFLite tensors through onnx2tf's correspondence records (or by name without them);
    values resolved to one tensor form a fused chain compared at its last value."""
    from studio.stages.backends import onnx2tf_name

    side = SideMap()
    resolved: dict[str, tuple[str, str]] = {}        # ONNX value -> (TFLite tensor, how)
    reasons: dict[str, str] = {}
    if records is None:
        side.notes.append("no tensor correspondence report: ONNX values paired with TFLite tensors of the same name")
        for value in graph.values:
            for name in (value.name, onnx2tf_name(value.name)):
                if name in tensors and fits(value.shape, tensors[name].shape):
                    resolved[value.name] = (name, "name")
                    break
            else:
                reasons[value.name] = "no tensor correspondence report, and no TFLite tensor of that name"
    else:
        by_sanitized = {onnx2tf_name(v.name): v for v in graph.values}
        folds: list[tuple[list[str], str]] = []        # (values folded into one op, its TFLite tensor)
        reshuffled: list[OnnxValue] = []   # layout values resolved to a tensor that does not fit
        for record in records:
            own = graph.by_node_output.get((record.get("onnx_op_name"), record.get("onnx_output_index")))
            named = graph.by_name.get(record.get("onnx_output_name", "")) \
                or by_sanitized.get(record.get("onnx_output_name", ""))
            value = named or own
            if value is None:
                continue
            name = record.get("resolved_tflite_tensor_name")
            folded = own is not None and own is not value
            if record.get("exists_in_final_model") and name in tensors and fits(value.shape, tensors[name].shape):
                resolved[value.name] = (name, "report")
                if folded:
                    folds.append((_data_path(graph, own, value), name))
                continue
            guess = _guess_tensor(value, tensors, own.node if folded else value.node)
            if guess is not None:
                resolved[value.name] = (guess, "name")
                if folded:
                    folds.append((_data_path(graph, own, value), guess))
            elif _dropped_reshape(value, tensors.get(name), record):
                resolved[value.name] = (name, "reshape")
            elif record.get("status") == "missing" or not record.get("exists_in_final_model"):
                reasons[value.name] = f"not in the TFLite file ({report_name or 'the correspondence report'} " \
                                      f"says {record.get('status') or 'missing'})"
            else:
                shape = list(tensors[name].shape) if name in tensors else "?"
                reasons[value.name] = (f"it resolves to TFLite tensor {name} {shape}, which does not fit its shape "
                                       f"{list(value.shape or [])} (a reshape the converter dropped)")
                if value.op in LAYOUT_OPS and name in tensors:
                    reshuffled.append(value)
        for path, tensor in folds:     # onnx2tf folded the ops after a node into it (a BatchNorm into a conv)
            for member in path:
                resolved.setdefault(member, (tensor, "report"))
        for value in reshuffled:   # reshape/transpose/reshape (a channel shuffle) that onnx2tf made one op:
            end = _layout_end(graph, value, resolved)   # compared at the chain's end, which holds its data
            if end is not None:
                resolved[value.name] = resolved[end]
                reasons.pop(value.name)
        for value in graph.values:
            if value.name not in resolved and value.name not in reasons:
                reasons[value.name] = "the correspondence report has no record of it"
    groups: dict[str, list[str]] = {}
    for value in graph.values:
        if value.name in resolved:
            groups.setdefault(resolved[value.name][0], []).append(value.name)
    inferred = 0
    for tensor, members in groups.items():
        end = members[-1]
        reshape = graph.by_name[end].shape if resolved[end][1] == "reshape" else None
        side.partners[end] = Partner(tensor, tensor, tensors[tensor].shape, reshape)
        inferred += resolved[end][1] == "name" and records is not None
        if len(members) > 1:
            side.chains[end] = members
            fused = "+".join([tensors[tensor].op or "?", *(graph.by_name[m].op.upper() for m in members[1:])])
            for member in members[:-1]:
                side.covered[member] = end
                side.unpaired.append(Unpaired(member, "onnx", f"fused into {end} ({fused})"))
    if inferred:
        side.notes.append(f"{inferred} ONNX value(s) the correspondence report could not resolve were paired with "
                          f"the TFLite tensor onnx2tf names after their node (<node>_output_nhwc)")
    for value in graph.values:   # a value onnx2tf computed once with its twin is compared where the twin is
        twin = graph.twin_of.get(value.name)
        if value.name in reasons and twin in resolved:
            at = side.covered.get(twin, twin)   # the twin's row: its own, or its fused chain's
            side.covered[value.name] = at
            reasons[value.name] = f"identical to {twin} (the same op on the same inputs), which the converter " \
                                  f"computes once: compared at {at}"
    for name, source in _input_layout_changes(graph).items():
        if name in reasons:   # tf2onnx's NHWC -> NCHW transpose of an input the TFLite takes in NHWC as it is
            side.covered[name] = source
            reasons[name] = f"a layout change of graph input {source}, which the TFLite reads as it is"
    for value in graph.values:
        if value.name in reasons:
            side.unpaired.append(Unpaired(value.name, "onnx", reasons[value.name]))
    return side


def _data_path(graph: OnnxGraph, start: OnnxValue, end: OnnxValue, limit: int = 8) -> list[str]:
    """The values from start to end when each op between has one data input (the others are constants): the
    chain onnx2tf folded into start's op when its record names end as that op's output. [] when there is none."""
    path, current = [end.name], end
    while current is not start and len(path) <= limit:
        data = [graph.by_name[i] for i in current.inputs if i in graph.by_name]
        if len(data) != 1:
            return []
        current = data[0]
        path.append(current.name)
    return path[::-1] if current is start else []


def _layout_end(graph: OnnxGraph, value: OnnxValue, resolved: dict[str, tuple[str, str]],
                limit: int = 4) -> str | None:
    """The first resolved value down a chain of layout ops (each the only reader of the one before) from value."""
    current = value
    for _ in range(limit):
        readers = [v for v in graph.values if current.name in v.inputs]
        if len(readers) != 1 or readers[0].op not in LAYOUT_OPS or readers[0].inputs[0] != current.name:
            return None
        current = readers[0]
        if current.name in resolved and resolved[current.name][1] == "report":
            return current.name
    return None


def _input_layout_changes(graph: OnnxGraph) -> dict[str, str]:
    """ONNX values that only move a graph input's data (Transpose, Reshape... of an input): value -> input."""
    found: dict[str, str] = {}
    for value in graph.values:
        if value.op not in LAYOUT_OPS:
            continue
        data = value.inputs[0] if value.inputs else ""
        origin = data if data in graph.inputs else found.get(data)
        if origin is not None:
            found[value.name] = origin
    return found


def _dropped_reshape(value: OnnxValue, tensor: TfliteTensor | None, record: dict) -> bool:
    """A Reshape (Squeeze, Unsqueeze, Flatten) onnx2tf dropped: its TFLite tensor holds the same elements in the
    same order (not moved to channels-last), in the shape before the reshape."""
    if tensor is None or value.shape is None or value.op not in LAYOUT_OPS - {"Transpose", "Identity"}:
        return False
    if not record.get("exists_in_final_model") or record.get("assume_channel_last_layout"):
        return False
    return int(np.prod(value.shape)) == int(np.prod(tensor.shape))


def _guess_tensor(value: OnnxValue, tensors: dict[str, TfliteTensor], node: str) -> str | None:
    """The tensor onnx2tf's direct writer names after the ONNX node that makes value (its own, or the one its
    record says value was folded into) or after value, when its report lost track."""
    from studio.stages.backends import onnx2tf_name

    for name in (f"{node}_output_nhwc", f"{onnx2tf_name(node)}_output_nhwc", value.name,
                 onnx2tf_name(value.name)):
        tensor = tensors.get(name)
        if tensor is not None and tensor.op is not None and fits(value.shape, tensor.shape):
            return name
    return None


def settle_chains(graph: OnnxGraph, reference: SideMap, candidate: SideMap) -> None:
    """A fused chain whose last value has no source tensor, but ends in layout ops (Transpose, Reshape...) after a
    value that has one, is compared at that value: the artifact's tensor holds the same numbers, laid out anew
    (tf2onnx's NCHW -> NHWC transposes after a layer's last op)."""
    for end, members in list(candidate.chains.items()):
        if end in reference.partners:
            continue
        partner = candidate.partners[end]
        for position in range(len(members) - 2, -1, -1):
            name = members[position]
            if any(graph.by_name[m].op not in LAYOUT_OPS for m in members[position + 1:]):
                break
            if name in reference.partners and partner.reshape is None and fits(graph.shape_of(name), partner.shape):
                candidate.partners[name] = candidate.partners.pop(end)
                candidate.chains.pop(end)
                if position:
                    candidate.chains[name] = members[:position + 1]
                candidate.covered.pop(name, None)
                candidate.covered[end] = name
                layout = "+".join(graph.by_name[m].op for m in members[position + 1:])
                candidate.unpaired = [u for u in candidate.unpaired if u.name not in members or u.side != "onnx"]
                fused = f"fused into {name}" if position else ""
                for member in members[:position]:
                    candidate.unpaired.append(Unpaired(member, "onnx", fused))
                for member in members[position + 1:]:
                    candidate.unpaired.append(Unpaired(member, "onnx", f"held by the same TFLite tensor as {name} "
                                                                       f"(a {layout} the converter folded in), "
                                                                       f"compared at {name}"))
                break

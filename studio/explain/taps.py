"""Capture: the intermediate tensors ("taps") of one model on one input, per format.

- PyTorch: the ExportedProgram the dynamo exporter translates (after its own decompositions, so FX node names
  are the ONNX value names), run node by node with torch.fx.Interpreter; each wanted node's output is handed
  to a callback as it is computed, and dropped by the interpreter after its last use. TorchScript goes through
  TS2EP first, as torch_to_onnx does; a Python factory or a pickled module through torch.export.
- Keras: every layer call's output, from one tf.function traced as tf2onnx traces the model (so the name
  scopes match the ONNX names), with each layer's `call` wrapped for the trace.
- SavedModel: the serving signature's outputs only.
- ONNX: onnxruntime with the wanted values added as graph outputs.
- TFLite: LiteRT with every tensor preserved and no delegate (a delegated partition keeps no intermediates),
  read by name after one invoke; quantized tensors are dequantized.

Everything heavy is imported inside the functions: the GUI imports studio.explain's report types.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from studio.errors import StudioError, one_line
from studio.explain.layer_map import FxNode, KerasCall, Shape, TfliteTensor
from studio.formats import Source
from studio.signature import Signature, TensorSpec

OnTap = Callable[[str, np.ndarray], None]


@contextlib.contextmanager
def quiet() -> Iterator[Path]:
    """Library chatter (torch's registry warnings, TF's C++ logs) into a scratch log, removed afterwards."""
    from studio.stages.capture import captured_output

    handle, name = tempfile.mkstemp(prefix="studio-explain-", suffix=".log")
    os.close(handle)
    path = Path(name)
    try:
        with captured_output(path):
            yield path
    finally:
        path.unlink(missing_ok=True)


def _shape(value: Any) -> Shape | None:
    dims = getattr(value, "shape", None)
    if dims is None:
        return None
    try:
        shape = tuple(int(d) for d in dims)
    except Exception:   # noqa: BLE001 - also torch's GuardOnDataDependentSymNode: a data-dependent size has no value
        return None
    return shape


# ---------------------------------------------------------------- PyTorch


class TorchTaps:
    """The source as the dynamo exporter saw it, run node by node."""

    def __init__(self, source: Source, model: Any, signature: Signature, feeds: dict[str, np.ndarray]):
        import torch

        from studio.loaders import load_torch, user_code_of

        loaded = model if model is not None else load_torch(source)
        self.signature = signature
        self.notes: list[str] = []
        args = [torch.from_numpy(np.array(a, copy=True)) for a in _ordered(signature.inputs, feeds)]
        with user_code_of(loaded):
            program = self._program(loaded, tuple(args))
        self.program = _as_exporter_sees_it(program, self.notes)
        self.module = self.program.module()
        graph = self.module.graph
        self.nodes = [FxNode(n.name, _shape(n.meta.get("val")), _original_name(n), _item_of(n)) for n in graph.nodes
                      if n.op in ("call_function", "call_method", "call_module") and _is_tensor(n.meta.get("val"))]
        output = next(n for n in graph.nodes if n.op == "output")
        self.outputs = [getattr(a, "name", "") for a in _flat(output.args[0])]

    @staticmethod
    def _program(loaded: Any, args: tuple) -> Any:
        import torch

        if isinstance(loaded, torch.export.ExportedProgram):
            return loaded
        if isinstance(loaded, torch.jit.ScriptModule):
            from studio.stages.torch_to_onnx import _ts2ep

            with quiet() as log:
                try:
                    return _ts2ep(loaded, args, log)
                except Exception as exc:
                    raise _Untraceable(f"TorchScript -> ExportedProgram (TS2EP) failed: {one_line(exc, 200)}") from exc
        failures = []
        for strict in (False, True):    # the dynamo exporter's own order: non-strict capture first
            try:
                with quiet():
                    return torch.export.export(loaded.eval(), args, strict=strict)
            except Exception as exc:
                failures.append(one_line(exc, 150))
        raise _Untraceable(f"torch.export failed: {failures[-1]}")

    def run(self, feeds: dict[str, np.ndarray], wanted: set[str], on_tap: OnTap) -> None:
        import torch

        from studio.runtimes.torch_rt import _to_numpy

        args = [torch.from_numpy(np.array(a, copy=True)) for a in _ordered(self.signature.inputs, feeds)]

        class Tapping(torch.fx.Interpreter):
            def run_node(self, node):
                result = super().run_node(node)
                if node.name in wanted and isinstance(result, torch.Tensor):
                    on_tap(node.name, _to_numpy(result))
                return result

        # One torch thread: between two nodes the comparison runs numpy (BLAS), and torch's idle OpenMP workers
        # spin-waiting beside it slowed the comparisons tenfold on 2 cores (ViT-S: 11 s -> 1 s).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                Tapping(self.module).run(*args)
        except StudioError:
            raise
        except Exception as exc:
            raise StudioError(f"the source does not run node by node on these inputs: {one_line(exc, 300)}") from exc
        finally:
            torch.set_num_threads(threads)


class _Untraceable(StudioError):
    """The source cannot be captured node by node; the caller falls back to its graph outputs."""


def _as_exporter_sees_it(program: Any, notes: list[str]) -> Any:
    """The ExportedProgram after the dynamo exporter's own decompositions and passes, whose node names are the
    ONNX value names (the user's program names some nodes differently: flatten -> view)."""
    try:
        from torch.onnx._internal.exporter import _core, _registration

        with quiet():
            registry = _registration.ONNXRegistry.from_torchlib()
            return _core._prepare_exported_program_for_export(program, registry=registry)
    except Exception as exc:   # a private API: a torch without it still pairs the names it shares
        notes.append(f"the exporter's decompositions could not be replayed ({one_line(exc, 150)}): "
                     f"FX nodes pair by the names they had before them")
        return program


def _original_name(node: Any) -> str:
    """The node's name in the user's ExportedProgram (what Model Explorer shows), from torch's provenance."""
    source = node.meta.get("from_node")
    source = source[-1] if isinstance(source, list) and source else source
    name = node.name
    while source is not None:
        name = getattr(source, "name", name)
        parents = getattr(source, "from_node", None)
        source = parents[-1] if parents else None
    return name


def _item_of(node: Any) -> tuple[int, str] | None:
    """For `getitem(split(x, ...), k)`: (k, x's node name), what the ONNX Split of x's value holds at output k."""
    import operator

    if node.target is not operator.getitem or len(node.args) != 2 or not isinstance(node.args[1], int):
        return None
    source = node.args[0]
    data = source.args[0] if getattr(source, "args", None) else None
    return (node.args[1], data.name) if hasattr(data, "name") else None


def _is_tensor(value: Any) -> bool:
    return value is not None and hasattr(value, "shape") and hasattr(value, "dtype")


def _flat(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flat(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _flat(item)]
    return [value]


def _ordered(specs: Sequence[TensorSpec], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The feeds in the specs' order (paired by name, then by order, like every runtime binds them)."""
    from studio.runtimes.base import bind_feeds

    bound = bind_feeds(tuple(specs), feeds)
    return [bound[spec.name] for spec in specs]


# ---------------------------------------------------------------- Keras


class KerasTaps:
    """Every Keras layer call's output, from one trace made the way tf2onnx makes it."""

    def __init__(self, source: Source, model: Any, signature: Signature):
        import tensorflow as tf

        from studio.loaders import load_tf

        self.model = model if model is not None else load_tf(source)
        self.signature = signature
        self.calls: list[KerasCall] = []
        records: list[tuple[str, int, str, Any, tuple]] = []   # (layer path, depth, scope, output, input names)
        layers = list(_layers_with_paths(self.model))
        specs = [tf.TensorSpec([int(d) for d in s.shape], tf.as_dtype(s.dtype or "float32"), name=s.name)
                 for s in signature.inputs]
        model_ = self.model

        @tf.function(input_signature=specs)
        def traced(*args):
            model_(args[0] if len(args) == 1 else list(args), training=False)   # as tf2onnx calls it
            return dict(self._keys(records))

        try:
            with _wrapped_calls(layers, records), quiet():
                self.function = traced.get_concrete_function()
        except Exception as exc:
            raise _Untraceable(f"the Keras model could not be traced layer by layer: {one_line(exc, 300)}") from exc

    def _keys(self, records: list[tuple[str, int, str, Any, tuple]]) -> Iterator[tuple[str, Any]]:
        import tensorflow as tf

        seen: dict[str, int] = {}
        for path, depth, scope, output, inputs in records:
            call = seen.get(path, 0)
            seen[path] = call + 1
            leaves = [t for t in tf.nest.flatten(output) if isinstance(t, tf.Tensor)]
            for position, tensor in enumerate(leaves):
                key = path + (f"#{call}" if call else "") + (f":{position}" if len(leaves) > 1 else "")
                self.calls.append(KerasCall(key, path, scope, tensor.name, _shape(tensor), depth, inputs))
                yield key, tensor

    def run(self, feeds: dict[str, np.ndarray], wanted: set[str], on_tap: OnTap) -> None:
        import tensorflow as tf

        args = [tf.constant(a) for a in _ordered(self.signature.inputs, feeds)]
        try:
            with quiet():
                outputs = self.function(*args)
        except Exception as exc:
            raise StudioError(f"the Keras model does not run on these inputs: {one_line(exc, 300)}") from exc
        for key in [k for k in outputs if k in wanted]:
            on_tap(key, np.asarray(outputs.pop(key)))


def _layers_with_paths(model: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[Any, str, int]]:
    """Every layer under model (nested ones too), with its path ("block/conv") and nesting depth."""
    for layer in model._flatten_layers(include_self=False, recursive=False):
        path = f"{prefix}{layer.name}"
        yield layer, path, depth
        if hasattr(layer, "_flatten_layers"):
            yield from _layers_with_paths(layer, path + "/", depth + 1)


@contextlib.contextmanager
def _wrapped_calls(layers: list[tuple[Any, str, int]], records: list) -> Iterator[None]:
    """Each layer's `call` records (path, depth, name scope, output, its input tensors' names) while the model
    is traced."""
    import tensorflow as tf

    saved = []
    for layer, path, depth in layers:
        own = vars(layer).get("call")
        original = layer.call

        def call(*args, __original=original, __path=path, __depth=depth, **kwargs):
            output = __original(*args, **kwargs)
            inputs = tuple(t.name for t in tf.nest.flatten((args, kwargs)) if isinstance(t, tf.Tensor))
            records.append((__path, __depth, tf.get_current_name_scope(), output, inputs))
            return output

        try:
            object.__setattr__(layer, "call", call)
        except Exception:
            continue
        saved.append((layer, own))
    try:
        yield
    finally:
        for layer, own in saved:
            if own is None:
                with contextlib.suppress(Exception):
                    object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", own)


# ---------------------------------------------------------------- outputs only (SavedModel, fallbacks)


class OutputTaps:
    """The source's graph outputs, from its ordinary runtime (no intermediate can be captured)."""

    def __init__(self, source: Source, model: Any, signature: Signature):
        from studio.runtimes import open_runtime

        self.runtime = open_runtime(source, model)
        if hasattr(self.runtime, "resolve_inputs"):
            self.runtime.resolve_inputs(signature.inputs)
        self.signature = signature
        self.outputs: dict[str, Shape | None] = {s.name: (tuple(s.shape) if s.shape and None not in s.shape else None)
                                                 for s in self.runtime.signature.outputs}

    def run(self, feeds: dict[str, np.ndarray], wanted: set[str], on_tap: OnTap) -> None:
        from studio.inputs import adapt_feeds

        outputs = self.runtime.run(adapt_feeds(feeds, self.signature.inputs, self.runtime.signature, {}))
        for name, value in outputs.items():
            if name in wanted:
                on_tap(name, value)

    def discover(self, feeds: dict[str, np.ndarray]) -> None:
        """Formats that state no output shapes (TorchScript, nn.Module) reveal them on one run."""
        if self.outputs and all(s is not None for s in self.outputs.values()):
            return
        from studio.inputs import adapt_feeds

        outputs = self.runtime.run(adapt_feeds(feeds, self.signature.inputs, self.runtime.signature, {}))
        self.outputs = {name: tuple(v.shape) for name, v in outputs.items()}


# ---------------------------------------------------------------- ONNX


class OnnxTaps:
    """An ONNX model in onnxruntime, with the wanted values added to its graph outputs."""

    def __init__(self, path: Path):
        import onnx

        from studio.explain.layer_map import OnnxGraph

        self.path = Path(path)
        self.graph = OnnxGraph.load(self.path)
        model = onnx.load(str(self.path), load_external_data=False)
        self.nodes = {name: node.name or name for node in model.graph.node for name in node.output if name}
        self.external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)

    def values(self) -> dict[str, tuple[str, Shape | None]]:
        """value name -> (its node's name, shape) for every value computed from the inputs."""
        return {v.name: (v.node, v.shape) for v in self.graph.values}

    def output_shapes(self) -> list[Shape | None]:
        return [self.graph.shape_of(name) for name in self.graph.outputs]

    def run(self, feeds: dict[str, np.ndarray], signature: Signature, wanted: Sequence[str]) -> dict[str, np.ndarray]:
        """The wanted values (and the graph outputs) on the source's feeds, adapted to this model's inputs."""
        import onnx
        import onnxruntime as ort

        from studio.inputs import adapt_feeds
        from studio.runtimes.onnx_rt import _spec

        model = onnx.load(str(self.path), load_external_data=False)   # external weights stay on disk
        present = [o.name for o in model.graph.output]
        try:
            infos = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(model, strict_mode=False).graph.value_info}
        except Exception:
            infos = {}
        for name in wanted:
            if name not in present:
                model.graph.output.append(infos.get(name) or onnx.helper.make_empty_tensor_value_info(name))
        names = list(dict.fromkeys([*wanted, *present]))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        scratch = None
        try:
            if self.external:   # its weights are beside it: the session must read the graph from that folder
                scratch = self.path.with_name(f".{self.path.stem}.explain-{os.getpid()}.onnx")
                onnx.save(model, str(scratch))
                session = ort.InferenceSession(str(scratch), options, providers=["CPUExecutionProvider"])
            else:
                session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise StudioError(f"{self.path}: onnxruntime cannot run it with its intermediate values as outputs: "
                              f"{one_line(exc, 300)}") from exc
        finally:
            if scratch is not None:
                scratch.unlink(missing_ok=True)
        del model
        own = Signature(tuple(_spec(i) for i in session.get_inputs()), ())
        bound = adapt_feeds(feeds, signature.inputs, own, {})
        try:
            values = session.run(names, bound)
        except Exception as exc:
            raise StudioError(f"{self.path}: onnxruntime could not run it: {one_line(exc, 300)}") from exc
        return {name: np.asarray(value) for name, value in zip(names, values)}


# ---------------------------------------------------------------- TFLite


class TfliteTaps:
    """A TFLite model in LiteRT with every tensor preserved and no delegate, read by name after one invoke."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        from studio.runtimes.base import load_failed
        from studio.runtimes.litert_rt import NeedsFlexDelegate

        self.path = Path(path)
        try:
            with quiet():
                self.interpreter = Interpreter(
                    model_path=str(self.path), experimental_preserve_all_tensors=True,
                    experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        except Exception as exc:
            raise load_failed(self.path, "TFLite model", exc) from exc
        it = self.interpreter
        try:
            ops = it._get_ops_details()   # the only op list the interpreter exposes
        except Exception:
            ops = []
        flex = sorted({op["op_name"] for op in ops if str(op.get("op_name", "")).startswith("Flex")})
        if flex:
            raise NeedsFlexDelegate(self.path, flex)
        writer = {int(t): op["op_name"] for op in ops for t in op.get("outputs", []) if int(t) >= 0}
        inputs = {int(d["index"]) for d in it.get_input_details()}
        for op in ops:   # ops that read only constants (a float16 file's weight DEQUANTIZEs) make constants
            reads = [int(i) for i in op.get("inputs", []) if int(i) >= 0]
            if reads and all(i not in inputs and i not in writer for i in reads):
                for t in op.get("outputs", []):
                    writer.pop(int(t), None)
        try:
            it.allocate_tensors()
            details = it.get_tensor_details()
        except Exception as exc:
            raise load_failed(self.path, "TFLite model", exc) from exc
        self.details: dict[str, dict] = {}
        self.tensors: dict[str, TfliteTensor] = {}
        for d in details:
            name = d["name"]
            if not name or (name in self.tensors and self.tensors[name].op is not None):
                continue
            op = writer.get(int(d["index"]))
            self.details[name] = d
            self.tensors[name] = TfliteTensor(name, tuple(int(x) for x in d["shape"]), op)
        self.input_details = {d["index"]: d for d in it.get_input_details()}
        self.output_names = [d["name"] for d in it.get_output_details()]

    def output_shapes(self) -> list[Shape]:
        return [self.tensors[n].shape for n in self.output_names if n in self.tensors]

    def written(self) -> list[str]:
        """The tensors an operator writes (the intermediates and outputs), in file order."""
        return [n for n, t in self.tensors.items() if t.op is not None]

    def run(self, feeds: dict[str, np.ndarray], signature: Signature) -> None:
        """One invoke on the source's feeds, adapted to this model's inputs; tensors are then read with get()."""
        from studio.inputs import adapt_feeds
        from studio.runtimes.litert_rt import _quantization, _spec

        it = self.interpreter
        specs, quant = [], {}
        for d in it.get_input_details():
            q = _quantization(d)
            specs.append(_spec(d["name"], d, q))
            if q:
                quant[d["name"]] = q
        bound = adapt_feeds(feeds, signature.inputs, Signature(tuple(specs), ()), {})
        try:
            for d in it.get_input_details():
                value = bound[d["name"]]
                value = quant[d["name"]].quantize(value) if d["name"] in quant else value
                if tuple(d["shape"]) != value.shape:
                    it.resize_tensor_input(d["index"], list(value.shape))
                    it.allocate_tensors()
                it.set_tensor(d["index"], np.ascontiguousarray(value, dtype=d["dtype"]))
            with quiet():
                it.invoke()
        except StudioError:
            raise
        except Exception as exc:
            raise StudioError(f"{self.path}: LiteRT could not run it: {one_line(exc, 300)}") from exc

    def get(self, name: str) -> np.ndarray:
        """A tensor's value after run(), dequantized to float32 when it is quantized."""
        from studio.runtimes.litert_rt import _quantization

        d = self.details[name]
        value = self.interpreter.get_tensor(d["index"])
        q = _quantization(d)
        if q is not None:
            return q.dequantize(value)
        if value.dtype == np.float16:
            return value.astype(np.float32)
        return value

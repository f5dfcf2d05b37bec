"""Load a user's PyTorch or TensorFlow model and read its signature.

Worker-side only: torch and tensorflow are imported inside the functions, so importing this module is cheap.
Every failure to load a user's file becomes a one-line StudioError (exit code 2).

A user's code (a file.py:factory, or the classes a pickled module needs) is imported without a trace: its
folder is on sys.path only while it loads, the factory file goes into sys.modules under a private name
(`_studio_user_<hash>_<n>`, never clashing with a module of the same name), and every module the load brought
in from the user's folder leaves sys.modules again afterwards. The model objects keep working: torch's
exporters and the runtimes reach their code through the objects, not through sys.modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import itertools
import sys
import weakref
from pathlib import Path
from typing import Any, Iterator

from studio.errors import StudioError, one_line
from studio.formats import Format, Source
from studio.signature import Signature, TensorSpec, guess_layout


def _load_failed(source: Source, exc: BaseException) -> StudioError:
    return StudioError(f"{source.spec}: could not load {source.format.value} model: {one_line(exc)}")


# ---------------------------------------------------------------- PyTorch

def load_torch(source: Source) -> Any:
    """An nn.Module, ScriptModule or ExportedProgram, in eval mode, on the CPU."""
    import torch

    try:
        if source.format is Format.TORCHSCRIPT:
            return torch.jit.load(str(source.path), map_location="cpu").eval()
        if source.format is Format.EXPORTED_PROGRAM:
            return torch.export.load(str(source.path))
        modules: dict[str, Any] = {}    # the user's modules the load imported (out of sys.modules again)
        if source.format is Format.TORCH_PICKLE:
            model = _load_pickle(source.path, modules)
        elif source.format is Format.PYTHON_FACTORY:
            model = _call_factory(source, modules)
        else:
            raise StudioError(f"{source.spec} is not a PyTorch model")
    except StudioError:
        raise
    except Exception as exc:
        raise _load_failed(source, exc) from exc
    if not isinstance(model, torch.nn.Module):
        raise StudioError(f"{source.spec}: expected a torch.nn.Module, got {type(model).__name__}")
    _USER_CODE[model] = (source.path.parent, modules)
    return model.eval()


USER_MODULE_PREFIX = "_studio_user_"
_load_count = itertools.count()


def user_module_name(path: Path) -> str:
    """A private, unique sys.modules name for a user's file: "_studio_user_<hash of its path>_<n>"."""
    digest = hashlib.sha1(str(Path(path).resolve()).encode()).hexdigest()[:12]
    return f"{USER_MODULE_PREFIX}{digest}_{next(_load_count)}"


# model -> (its code's folder, the user's modules its load imported); weak: an entry goes with its model.
_USER_CODE: "weakref.WeakKeyDictionary[Any, tuple[Path, dict[str, Any]]]" = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def user_code_of(model: Any) -> Iterator[None]:
    """While torch traces a loaded model: the user's modules are back in sys.modules (and their folder on
    sys.path), and gone again after. torch.onnx falls back to dynamo's strict capture, which imports each traced
    function's module by name. A model that is no user's code (TorchScript, ExportedProgram) changes nothing."""
    try:
        folder, modules = _USER_CODE.get(model) or (None, {})
    except TypeError:    # not weak-referenceable: nothing was recorded for it
        folder, modules = None, {}
    if folder is None:
        yield
        return
    added = {name: module for name, module in modules.items() if name not in sys.modules}
    sys.modules.update(added)
    try:
        with user_code(folder):
            yield
    finally:
        tops = {name.partition(".")[0] for name in added}     # and what tracing imported of the user's packages
        for name in [n for n in sys.modules if n in added or n.partition(".")[0] in tops]:
            if name not in added or sys.modules[name] is added[name]:
                del sys.modules[name]


@contextlib.contextmanager
def user_code(folder: Path, taken: dict[str, Any] | None = None) -> Iterator[None]:
    """Import a user's code from folder, leaving no trace: the folder is on sys.path only meanwhile, and the
    modules the user's code brought into sys.modules meanwhile are removed after: the private-named file and any
    new top-level module or package imported from that folder (with its submodules). New submodules of packages
    that were already loaded (torch, studio) stay: a second copy of those would break isinstance checks."""
    folder = Path(folder).resolve()
    before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))
        new = set(sys.modules) - before
        users = {name for name in new if name.partition(".")[0] not in before
                 and name.partition(".")[0] not in sys.stdlib_module_names
                 and _lives_in(sys.modules.get(name.partition(".")[0]), folder)}
        for name in users | {name for name in new if name.startswith(USER_MODULE_PREFIX)}:
            module = sys.modules.pop(name, None)
            if taken is not None and module is not None:
                taken[name] = module


def _lives_in(module: Any, folder: Path) -> bool:
    """Whether a module was imported from the user's folder (not from an installed package that is under it)."""
    where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", None) or []), None)
    if not where:
        return False
    path = Path(where).resolve()
    return path.is_relative_to(folder) and not {"site-packages", "dist-packages"} & set(path.parts)


def _load_pickle(path: Path, modules: dict[str, Any]) -> Any:
    """A full pickled module needs its class: look beside the file first, where users keep the code."""
    import torch

    with user_code(path.parent, modules):
        return torch.load(str(path), map_location="cpu", weights_only=False)


def _call_factory(source: Source, modules: dict[str, Any]) -> Any:
    import torch

    name = user_module_name(source.path)
    spec = importlib.util.spec_from_file_location(name, source.path)
    if spec is None or spec.loader is None:
        raise StudioError(f"{source.path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    with user_code(source.path.parent, modules):
        sys.modules[name] = module    # while it runs: dataclasses and the like look their module up there
        spec.loader.exec_module(module)
        factory = getattr(module, source.factory or "", None)
        if factory is None or not callable(factory):
            found = [n for n, v in vars(module).items()
                     if callable(v) and not n.startswith("_") and getattr(v, "__module__", "") == name]
            raise StudioError(f"{source.path} has no callable {source.factory!r}; "
                              f"it defines: {', '.join(found) or 'nothing callable'}")
        model = factory()     # may import more of the user's modules, lazily
    if source.weights is not None:
        try:
            state = torch.load(str(source.weights), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise StudioError(f"{source.weights}: not a state_dict that loads safely: {one_line(exc)}") from exc
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
        try:
            model.load_state_dict(state)
        except Exception as exc:
            raise StudioError(f"{source.weights} does not fit {source.factory}(): {one_line(exc, 300)}") from exc
    return model


def torch_signature(source: Source, model: Any) -> Signature:
    """Input names, and shapes where the format stores them (ExportedProgram does; TorchScript and Modules don't)."""
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        return _exported_program_signature(model)
    forward = model.forward
    if isinstance(model, torch.jit.ScriptModule):
        names = [i.debugName().split(".")[0] for i in list(model.graph.inputs())[1:]]
    else:
        params = inspect.signature(forward).parameters.values()
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                 and p.default is inspect.Parameter.empty]
    return Signature(tuple(TensorSpec(n, "float32", ()) for n in names))


def _exported_program_signature(ep: Any) -> Signature:
    user_inputs = list(ep.graph_signature.user_inputs)
    nodes = {n.name: n for n in ep.graph.nodes if n.op == "placeholder"}
    inputs = []
    for name in user_inputs:
        val = nodes[name].meta.get("val")
        shape = tuple(d if isinstance(d, int) else None for d in getattr(val, "shape", ()))
        dtype = str(getattr(val, "dtype", "torch.float32")).replace("torch.", "")
        inputs.append(TensorSpec(name, dtype, shape, guess_layout(shape, channels_first=True)))
    outputs = []
    out_node = next(n for n in ep.graph.nodes if n.op == "output")
    for i, val in enumerate(out_node.args[0] if isinstance(out_node.args[0], (list, tuple)) else [out_node.args[0]]):
        fake = getattr(val, "meta", {}).get("val")
        shape = tuple(d if isinstance(d, int) else None for d in getattr(fake, "shape", ()))
        dtype = str(getattr(fake, "dtype", "torch.float32")).replace("torch.", "")
        outputs.append(TensorSpec(f"output_{i}", dtype, shape, guess_layout(shape, channels_first=True)))
    return Signature(tuple(inputs), tuple(outputs))


# ---------------------------------------------------------------- TensorFlow

def load_tf(source: Source) -> Any:
    """A Keras model (.keras / .h5) or a loaded SavedModel with a serving_default signature."""
    try:
        if source.format in (Format.KERAS, Format.H5):
            import keras

            return keras.models.load_model(str(source.path), compile=False)
        if source.format is Format.SAVEDMODEL:
            import tensorflow as tf

            obj = tf.saved_model.load(str(source.path))
            if "serving_default" not in getattr(obj, "signatures", {}):
                raise StudioError(f"{source.path}: SavedModel has no serving_default signature")
            return obj
    except StudioError:
        raise
    except Exception as exc:
        raise _load_failed(source, exc) from exc
    raise StudioError(f"{source.spec} is not a TensorFlow model")


def _tf_spec(name: str, shape, dtype) -> TensorSpec:
    dims = tuple(None if d is None else int(d) for d in shape)
    name = name.split(":")[0]
    return TensorSpec(name, getattr(dtype, "name", str(dtype)), dims, guess_layout(dims, channels_first=False))


def tf_signature(source: Source, model: Any) -> Signature:
    if source.format is Format.SAVEDMODEL:
        return _concrete_signature(model.signatures["serving_default"])
    inputs = tuple(_tf_spec(t.name, t.shape, t.dtype) for t in model.inputs)
    names = list(getattr(model, "output_names", None) or [getattr(t, "name", f"output_{i}") for i, t in enumerate(model.outputs)])
    outputs = tuple(_tf_spec(n, t.shape, t.dtype) for n, t in zip(names, model.outputs))
    return Signature(inputs, outputs)


def saved_model_signatures(model: Any) -> dict[str, Signature]:
    """Every signature a loaded SavedModel serves (TF Serving's signature_name), by key: the tensors' names are the
    keys TF Serving's requests and responses use."""
    return {key: _concrete_signature(fn) for key, fn in sorted(model.signatures.items())}


def _concrete_signature(fn: Any) -> Signature:
    from studio.runtimes.base import natural_key

    ins = fn.structured_input_signature[1]
    outs = fn.structured_outputs   # TF keeps no useful order here: output_1 may come before output_0
    return Signature(tuple(_tf_spec(k, v.shape, v.dtype) for k, v in sorted(ins.items())),
                     tuple(_tf_spec(k, outs[k].shape, outs[k].dtype) for k in sorted(outs, key=natural_key)))


def load_signature(source: Source) -> tuple[Any, Signature]:
    """Load any framework source and read its signature in one call."""
    if source.framework == "pytorch":
        model = load_torch(source)
        return model, torch_signature(source, model)
    if source.framework == "tensorflow":
        model = load_tf(source)
        return model, tf_signature(source, model)
    raise StudioError(f"{source.spec}: {source.format.value} is not a PyTorch or TensorFlow source")

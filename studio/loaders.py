"""Load a user's PyTorch or TensorFlow model and read its signature.

Worker-side only: torch and tensorflow are imported inside the functions, so importing this module is cheap.
Every failure to load a user's file becomes a one-line StudioError (exit code 2).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

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
        if source.format is Format.TORCH_PICKLE:
            model = _load_pickle(source.path)
        elif source.format is Format.PYTHON_FACTORY:
            model = _call_factory(source)
        else:
            raise StudioError(f"{source.spec} is not a PyTorch model")
    except StudioError:
        raise
    except Exception as exc:
        raise _load_failed(source, exc) from exc
    if not isinstance(model, torch.nn.Module):
        raise StudioError(f"{source.spec}: expected a torch.nn.Module, got {type(model).__name__}")
    return model.eval()


def _load_pickle(path: Path) -> Any:
    """A full pickled module needs its class: look beside the file first, where users keep the code."""
    import torch

    sys.path.insert(0, str(path.parent))
    try:
        return torch.load(str(path), map_location="cpu", weights_only=False)
    finally:
        sys.path.remove(str(path.parent))


def _call_factory(source: Source) -> Any:
    import torch

    name = f"studio_user_model_{abs(hash(str(source.path)))}"
    spec = importlib.util.spec_from_file_location(name, source.path)
    if spec is None or spec.loader is None:
        raise StudioError(f"{source.path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(source.path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(source.path.parent))
    factory = getattr(module, source.factory or "", None)
    if factory is None or not callable(factory):
        found = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_") and getattr(v, "__module__", "") == name]
        raise StudioError(f"{source.path} has no callable {source.factory!r}; it defines: {', '.join(found) or 'nothing callable'}")
    model = factory()
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
        fn = model.signatures["serving_default"]
        ins = fn.structured_input_signature[1]
        outs = fn.structured_outputs   # TF keeps no useful order here: output_1 may come before output_0
        from studio.runtimes.base import natural_key

        return Signature(tuple(_tf_spec(k, v.shape, v.dtype) for k, v in sorted(ins.items())),
                         tuple(_tf_spec(k, outs[k].shape, outs[k].dtype) for k in sorted(outs, key=natural_key)))
    inputs = tuple(_tf_spec(t.name, t.shape, t.dtype) for t in model.inputs)
    names = list(getattr(model, "output_names", None) or [getattr(t, "name", f"output_{i}") for i, t in enumerate(model.outputs)])
    outputs = tuple(_tf_spec(n, t.shape, t.dtype) for n, t in zip(names, model.outputs))
    return Signature(inputs, outputs)


def load_signature(source: Source) -> tuple[Any, Signature]:
    """Load any framework source and read its signature in one call."""
    if source.framework == "pytorch":
        model = load_torch(source)
        return model, torch_signature(source, model)
    if source.framework == "tensorflow":
        model = load_tf(source)
        return model, tf_signature(source, model)
    raise StudioError(f"{source.spec}: {source.format.value} is not a PyTorch or TensorFlow source")

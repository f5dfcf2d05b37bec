"""PyTorch -> ONNX with torch.onnx.export: the dynamo exporter first, the TorchScript exporter when it fails.

The dynamo exporter handles modern models (and ExportedPrograms) best; the TorchScript exporter is the
one that understands ScriptModules. Both get static shapes from the resolved signature, the source's
input names, and output names the comparison can pair.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from studio.artifacts import Artifact
from studio.errors import StageError, StudioError, one_line
from studio.formats import Format
from studio.signature import Signature
from studio.stages.base import StageContext
from studio.stages.capture import captured_output, strip_ansi
from studio.stages.layouts import source_layout
from studio.stages.onnx_files import EXTERNAL_DATA_THRESHOLD, onnx_bytes

# 18: the first opset the dynamo exporter emits natively (no version conversion), the TorchScript
# exporter supports it (max 20), and onnx2tf converts its LayerNormalization / ReduceMean-with-axes-input.
DEFAULT_OPSET = 18


def example_inputs(signature: Signature, seed: int) -> list[np.ndarray]:
    """Seeded normal floats (zeros for integer and bool inputs: always valid indices) of the resolved shapes."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in signature.inputs:
        dtype = np.dtype(spec.dtype or "float32")
        shape = tuple(int(d) for d in spec.shape)
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            arrays.append(np.zeros(shape, dtype=dtype))
    return arrays


def flat_output_keys(value: Any, key: str | None = None) -> list[str | None]:
    """One entry per output tensor, in the order exporters flatten them; dict keys where there are some."""
    if isinstance(value, dict):
        return [k for name, item in value.items() for k in flat_output_keys(item, str(name))]
    if isinstance(value, (list, tuple)):
        return [k for item in value for k in flat_output_keys(item)]
    return [key]


def output_names(signature: Signature, keys: list[str | None]) -> list[str]:
    """The signature's output names when they fit, else dict keys, else output_<i> (what the torch runtime uses)."""
    known = [spec.name for spec in signature.outputs]
    if len(known) == len(keys):
        return known
    names: list[str] = []
    for i, key in enumerate(keys):
        name = key or f"output_{i}"
        names.append(name if name not in names else f"{name}_{i}")
    return names


def _parameter_bytes(module: Any) -> int:
    tensors = list(module.parameters()) + list(module.buffers()) if hasattr(module, "parameters") else []
    return sum(t.numel() * t.element_size() for t in tensors)


class TorchToOnnx:
    name = "torch->onnx"
    consumes = (Format.TORCHSCRIPT.value, Format.EXPORTED_PROGRAM.value, Format.PYTHON_FACTORY.value,
                Format.TORCH_PICKLE.value)
    produces = ("onnx",)

    def run(self, ctx: StageContext) -> list[Artifact]:
        import torch

        from studio.loaders import load_torch

        opset = ctx.options.opset or DEFAULT_OPSET
        ctx.progress(0.05, "loading the PyTorch model")
        loaded = load_torch(ctx.source)
        module = loaded.module() if isinstance(loaded, torch.export.ExportedProgram) else loaded
        args = tuple(torch.from_numpy(a) for a in example_inputs(ctx.signature, ctx.options.seed))
        try:
            with torch.no_grad():
                keys = flat_output_keys(module(*args))
        except Exception as exc:
            raise StageError(self.name, f"the model does not run on inputs of the given shapes: "
                                        f"{one_line(exc)}") from exc
        names = output_names(ctx.signature, keys)
        target = ctx.work_dir / f"{ctx.source.stem}.onnx"
        export = dict(input_names=[s.name for s in ctx.signature.inputs], output_names=names, opset_version=opset,
                      external_data=_parameter_bytes(module) >= EXTERNAL_DATA_THRESHOLD)
        log_path = ctx.work_dir / "torch_onnx.log"

        ctx.progress(0.2, "exporting with the dynamo exporter")
        exporter = "dynamo"
        t0 = time.perf_counter()
        try:
            self._export(module, args, target, log_path, dynamo=True, **export)
        except Exception as exc:
            reason = _reason(exc)
            ctx.log(f"dynamo exporter failed ({reason}); falling back to the TorchScript exporter")
            ctx.progress(0.5, "exporting with the TorchScript exporter")
            exporter = "torchscript"
            _remove_partial(target)
            try:
                self._export(module, args, target, log_path, dynamo=False, **export)
            except Exception as exc2:
                _remove_partial(target)
                raise StageError(self.name, f"both exporters failed: dynamo: {reason}; "
                                            f"torchscript: {_reason(exc2)}") from exc2
        ctx.log(f"exported with the {exporter} exporter, opset {opset}, in {time.perf_counter() - t0:.1f} s")
        ctx.progress(1.0, "ONNX written")
        layouts = {spec.name: source_layout(spec, ctx.source.framework) for spec in ctx.signature.inputs}
        return [Artifact(kind="onnx", variant="float32", path=str(target), bytes=onnx_bytes(target),
                         input_layout=layouts, produced_by=self.name, notes=[f"exporter: {exporter}, opset {opset}"])]

    @staticmethod
    def _export(module: Any, args: tuple, target: Path, log_path: Path, dynamo: bool, **kwargs: Any) -> None:
        import warnings

        import torch

        with captured_output(log_path), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(target), dynamo=dynamo, verbose=False, **kwargs)
        if not target.is_file():
            raise StudioError("the exporter wrote no file")


def _reason(exc: BaseException) -> str:
    """One line: torch's exporter errors start with a banner; the underlying cause is more telling."""
    cause = exc.__cause__ or exc
    text = strip_ansi(one_line(cause, 300))
    return text


def _remove_partial(target: Path) -> None:
    for path in (target, target.with_name(target.name + ".data")):
        path.unlink(missing_ok=True)

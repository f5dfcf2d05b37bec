"""PyTorch -> ONNX with torch.onnx.export: the dynamo exporter first, the TorchScript exporter when it fails.

The dynamo exporter handles modern models (and ExportedPrograms) best but refuses ScriptModules: those go
through torch's TorchScript -> ExportedProgram converter (TS2EP) into it, and the TorchScript exporter,
the one that reads ScriptModules directly, is their fallback (it fails on e.g. traced attention: "transpose
for tensor of unknown rank"). Every exporter gets static shapes and dtypes from the resolved signature, the
source's input names, and output names the comparison can pair.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from studio.artifacts import Artifact, artifact_name
from studio.errors import StageError, StudioError, script_error_line
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
    """Seeded normal floats of the resolved shapes and dtypes; integer and bool inputs get what their name says
    they hold (an attention mask: mostly ones, see inputs.hinted_values), else zeros: always valid indices."""
    from studio.inputs import hinted_values

    rng = np.random.default_rng(seed)
    arrays = []
    for spec in signature.inputs:
        dtype = np.dtype(spec.dtype or "float32")
        shape = tuple(int(d) for d in spec.shape)
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            hinted = hinted_values(spec.name, shape, dtype, rng)
            arrays.append(hinted if hinted is not None else np.zeros(shape, dtype=dtype))
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


def static_program(loaded: Any, args: tuple) -> bool:
    """True for an ExportedProgram whose inputs are exactly args' tensors, with fixed shapes equal to theirs. The
    dynamo exporter takes it as it is; given its module() it would capture it again (ViT-B/16: 1.5 s). A program
    with dynamic or other shapes is exported from its module(), which specializes it to args as before."""
    import torch

    if not isinstance(loaded, torch.export.ExportedProgram):
        return False
    names = set(loaded.graph_signature.user_inputs)
    values = [node.meta.get("val") for node in loaded.graph.nodes if node.op == "placeholder" and node.name in names]
    if len(values) != len(args) or not all(isinstance(v, torch.Tensor) for v in values):
        return False
    return all(all(isinstance(d, int) for d in v.shape) and tuple(v.shape) == tuple(a.shape) and v.dtype == a.dtype
               for v, a in zip(values, args))


def _parameter_bytes(module: Any) -> int:
    tensors = list(module.parameters()) + list(module.buffers()) if hasattr(module, "parameters") else []
    return sum(t.numel() * t.element_size() for t in tensors)


class TorchToOnnx:
    name = "torch->onnx"
    consumes = (Format.TORCHSCRIPT.value, Format.EXPORTED_PROGRAM.value, Format.PYTHON_FACTORY.value,
                Format.TORCH_PICKLE.value)
    produces = ("onnx",)

    def run(self, ctx: StageContext) -> list[Artifact]:
        from studio.loaders import load_torch, user_code_of

        ctx.progress(0.05, "loading the PyTorch model")
        loaded = ctx.model if ctx.model is not None else load_torch(ctx.source)   # the job loaded it once
        with user_code_of(loaded):    # the user's modules in sys.modules while torch traces: its strict capture needs them
            return self._convert(ctx, loaded)

    def _convert(self, ctx: StageContext, loaded: Any) -> list[Artifact]:
        import torch

        opset = ctx.options.opset or DEFAULT_OPSET
        module = loaded.module() if isinstance(loaded, torch.export.ExportedProgram) else loaded
        args = tuple(torch.from_numpy(a) for a in example_inputs(ctx.signature, ctx.options.seed))
        try:
            with torch.no_grad():
                keys = flat_output_keys(module(*args))
        except Exception as exc:
            given = ", ".join(f"{s.name} {s.dtype}[{','.join(map(str, s.shape))}]" for s in ctx.signature.inputs)
            raise StageError(self.name, f"the model does not run on inputs of the given shapes and dtypes ({given}): "
                                        f"{_run_failure(exc)} (set a dtype with --input-shape NAME=1,16:int64)"
                             ) from exc
        names = output_names(ctx.signature, keys)
        target = ctx.work_dir / artifact_name(ctx.source.stem, "onnx")
        parameter_bytes = _parameter_bytes(module)
        export = dict(input_names=[s.name for s in ctx.signature.inputs], output_names=names, opset_version=opset,
                      external_data=parameter_bytes >= EXTERNAL_DATA_THRESHOLD)
        log_path = (ctx.log_dir or ctx.work_dir) / "torch_onnx.log"

        program = loaded if static_program(loaded, args) else None
        attempts = self._attempts(module, args, target, log_path, export, program)
        ctx.log("export attempts, in order: "
                + "; ".join(f"{i}. {label}" for i, (label, _, _) in enumerate(attempts, 1)))
        failures: list[tuple[str, str]] = []   # (the step that failed, why)
        exporter = route = ""
        t0 = time.perf_counter()
        for i, (label, key, attempt) in enumerate(attempts):
            ctx.progress(0.2 + 0.6 * i / len(attempts), f"exporting: {label}")
            try:
                attempt()
            except Exception as exc:
                _remove_partial(target)
                step, cause = exc.args if isinstance(exc, _StepFailed) else (label, exc)
                failures.append((step, _reason(cause)))
                then = f"trying {attempts[i + 1][0]}" if i + 1 < len(attempts) else "no export route left"
                ctx.log(f"{step[0].upper()}{step[1:]} failed: {failures[-1][1]}; {then}")
                continue
            exporter = key
            route = ", then ".join([f"{step} failed" for step, _ in failures] + [label])
            break
        if not exporter:
            raise StageError(self.name, "every export attempt failed: "
                                        + "; ".join(f"{step}: {reason}" for step, reason in failures))
        how = "TS2EP + the dynamo" if exporter == TS2EP_DYNAMO else f"the {exporter}"
        ctx.log(f"exported with {how} exporter, opset {opset}, in {time.perf_counter() - t0:.1f} s")
        ctx.progress(1.0, "ONNX written")
        layouts = {spec.name: source_layout(spec, ctx.source.framework) for spec in ctx.signature.inputs}
        # one file for certain (the exporter moves weights out itself from 1.5 GiB): its size, without parsing it
        alone = not export["external_data"] and parameter_bytes < 2 ** 30
        size = target.stat().st_size if alone else onnx_bytes(target)
        return [Artifact(kind="onnx", variant="float32", path=str(target), bytes=size,
                         input_layout=layouts, produced_by=self.name, backend=f"torch.onnx ({exporter})",
                         notes=[f"exporter: {exporter}, opset {opset}", f"route: {route}"])]

    def _attempts(self, module: Any, args: tuple, target: Path, log_path: Path, export: dict[str, Any],
                  program: Any = None) -> list[tuple[str, str, Callable[[], None]]]:
        """(label, exporter key, attempt) in the order to try them.

        A ScriptModule goes through torch's TorchScript -> ExportedProgram converter (TS2EP) into the dynamo
        exporter, which refuses ScriptModules themselves; the TorchScript exporter is the fallback. Anything
        else: the dynamo exporter, then the TorchScript exporter. program: an ExportedProgram the dynamo exporter
        takes as it is (static_program) instead of capturing module again.
        """
        import torch

        def dynamo_on_program() -> None:
            self._export(program, args, target, log_path, dynamo=True, **export)

        def dynamo_on_module() -> None:
            self._export(module, args, target, log_path, dynamo=True, **export)

        def torchscript() -> None:
            self._export(module, args, target, log_path, dynamo=False, **export)

        def ts2ep_dynamo() -> None:
            try:
                program = _ts2ep(module, args, log_path)
            except Exception as exc:
                raise _StepFailed(TS2EP_STEP, exc) from exc
            try:
                self._export(program, args, target, log_path, dynamo=True, **export)
            except Exception as exc:
                raise _StepFailed("the dynamo exporter (on the TS2EP ExportedProgram)", exc) from exc

        if isinstance(module, torch.jit.ScriptModule):
            return [(f"{TS2EP_STEP} + the dynamo exporter", TS2EP_DYNAMO, ts2ep_dynamo),
                    ("the TorchScript exporter", "torchscript", torchscript)]
        dynamo = [("the dynamo exporter", "dynamo", dynamo_on_module)]
        if program is not None:   # should the program as it is fail, its module() captured again, as before
            dynamo = [("the dynamo exporter", "dynamo", dynamo_on_program),
                      ("the dynamo exporter on its module()", "dynamo", dynamo_on_module)]
        return [*dynamo, ("the TorchScript exporter", "torchscript", torchscript)]

    @staticmethod
    def _export(module: Any, args: tuple, target: Path, log_path: Path, dynamo: bool, **kwargs: Any) -> None:
        import warnings

        import torch

        with captured_output(log_path), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(target), dynamo=dynamo, verbose=False, **kwargs)
        if not target.is_file():
            raise StudioError("the exporter wrote no file")


TS2EP_STEP = "TorchScript -> ExportedProgram (TS2EP)"
TS2EP_DYNAMO = "ts2ep+dynamo"   # the exporter key in the artifact's notes, beside "dynamo" and "torchscript"


class _StepFailed(Exception):
    """One step of an export attempt failed: args are (the step's name, its exception)."""


def _ts2ep(module: Any, args: tuple, log_path: Path) -> Any:
    """The ScriptModule as an ExportedProgram, by torch's TorchScript -> ExportedProgram converter."""
    import warnings

    from torch._export.converter import TS2EPConverter

    from studio.stages.torch_decompositions import decompose_fused_ops
    from studio.stages.torchscript_sizes import sizes_as_ints

    with captured_output(log_path), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converter = TS2EPConverter(module, args)
        sizes_as_ints(converter.ts_graph)
        return decompose_fused_ops(converter.convert())


# Where torch's messages stop saying why and start dumping graphs, tensors or advice.
_DUMP_MARKERS = ("[Caused by the value", "(node defined in", "Inputs:", "Outputs:", "Set TORCH_LOGS",
                 "For more information", "See the stack trace", "Exception raised from", "While executing",
                 "Original traceback")
REASON_LIMIT = 240


def _reason(exc: BaseException) -> str:
    """One short line: torch's exporter errors start with a banner (the underlying cause is more telling)
    and often go on with graph or tensor dumps, which are cut."""
    cause = exc.__cause__ or exc
    text = strip_ansi(str(cause))
    for marker in _DUMP_MARKERS:
        head = text.split(marker, 1)[0]
        if head.strip():
            text = head
    text = " ".join(text.split()).rstrip(" .") or type(cause).__name__
    if type(cause).__name__ not in text:
        text = f"{type(cause).__name__}: {text}"
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 3] + "..."


def _run_failure(exc: BaseException) -> str:
    """One line for a model that fails on the example inputs (a ScriptModule's: its TorchScript error line)."""
    return script_error_line(exc, 300)


def _remove_partial(target: Path) -> None:
    for path in (target, target.with_name(target.name + ".data")):
        path.unlink(missing_ok=True)

"""ONNX -> SavedModel + TFLite (float32, float16, dynamic-range int8, int8) through a backend (onnx2tf by default).

What this stage adds on top of the converter:
- layouts from the source: image inputs become NHWC (or stay NCHW with keep_layout), NHWC inputs stay
  NHWC, every other input keeps its shape; each artifact records its input layouts, and the TFLite's
  input shapes are checked against them;
- static shapes written into a private copy of the ONNX (the converter rewrites its input file);
- our own image-like sample and calibration data, so nothing is downloaded;
- TFLite files that run on LiteRT builtin ops: Flex ops are detected, one retry with onnx2tf's
  pseudo-operator replacements removes the ones it can, and what remains is named on the artifact;
- exact GELUs written in the node order onnx2tf fuses into TFLite's builtin GELU (the dynamo exporter's
  order leaves a bare Erf: FlexErf, which int8 calibration cannot run at all);
- int8 of models with other such ops: TFLite calibrates by running the model in its interpreter, which
  cannot run Flex ops, so onnx2tf writes no int8 file; the stage converts again with the pseudo-operators
  that replace them, or fails naming the op.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from studio.artifacts import VARIANTS, Artifact, path_bytes
from studio.errors import StageError, StudioError
from studio.stages import calibration
from studio.stages.backends import (BackendFailed, BackendRequest, BackendResult, OnnxToTfBackend, get_backend,
                                    onnx2tf_name)
from studio.stages.base import StageContext
from studio.stages.flex import flex_ops, tflite_io
from studio.stages.layouts import TfInput, converted_layout, source_layout
from studio.stages.onnx_files import (canonical_gelu, dynamic_inputs, fix_input_shapes, input_specs_by_onnx_name,
                                      save_model)

# Select-TF op -> the onnx2tf pseudo-operator that avoids it. onnx2tf's Python API wants these names in
# lower case (its CLI lower-cases them; "Erf" is silently ignored). "gelu" is deliberately absent: it
# only switches fused GELU to the tanh approximation (~1e-3 off) and TFLite has a builtin exact GELU.
FLEX_TO_PSEUDO = {"FlexErf": "erf", "FlexAsin": "asin", "FlexAcos": "acos", "FlexAtan": "atan"}


def pseudo_ops_for(flex: set[str]) -> tuple[str, ...]:
    return tuple(sorted({FLEX_TO_PSEUDO[op] for op in flex if op in FLEX_TO_PSEUDO}))


def pseudo_ops_for_tf_ops(tf_ops: tuple[str, ...]) -> tuple[str, ...]:
    """Pseudo-operators that avoid TF ops (Asin, ...) the TFLite converter could not express."""
    return pseudo_ops_for({f"Flex{name}" for name in tf_ops})


class OnnxToTf:
    name = "onnx->tf"
    consumes = ("onnx",)
    produces = ("savedmodel", "tflite")

    def run(self, ctx: StageContext) -> list[Artifact]:
        backend = get_backend(ctx.options.backend)
        usable, reason = backend.available()
        if not usable:
            raise StageError(self.name, f"backend {backend.name} is unavailable: {reason}")
        want_savedmodel = "savedmodel" in ctx.options.targets
        variants = self._variants(ctx)
        if not want_savedmodel and not variants:
            return []
        import onnx

        ctx.progress(0.02, "preparing the ONNX model")
        model = onnx.load(str(self._input_path(ctx)))
        inputs = self._inputs(model, ctx, backend)
        calib = self._calibration(ctx, inputs) if "int8" in variants else None
        dynamic = dynamic_inputs(model)
        if dynamic:
            shapes = {i.onnx_name: i.source_shape for i in inputs}
            model = fix_input_shapes(model, shapes)
            fixed = ", ".join(f"{n}={list(shapes[n])}" for n in dynamic if n in shapes)
            ctx.log(f"fixed dynamic input shapes: {fixed}")
        gelu_model = self._gelu_model(ctx, backend, model)
        ctx.log("input layouts for TF: " + ", ".join(f"{i.name} {i.source_layout}->{i.tf_layout} {list(i.tf_shape)}"
                                                       for i in inputs))
        runs = ctx.work_dir / f".{backend.name}-runs"
        try:
            return self._convert_all(ctx, backend, model, gelu_model, inputs, variants, want_savedmodel, calib, runs)
        finally:
            shutil.rmtree(runs, ignore_errors=True)

    # ------------------------------------------------------------ steps

    def _convert_all(self, ctx: StageContext, backend: OnnxToTfBackend, model: Any, gelu_model: Any,
                     inputs: list[TfInput], variants: tuple[str, ...], want_savedmodel: bool, calib, runs: Path
                     ) -> list[Artifact]:
        made = tuple(v for v in VARIANTS if v in variants or v == "float32")  # float32 proves the layout
        ctx.progress(0.1, f"converting with {backend.name} (the slow part)")
        try:
            first = self._first_conversion(ctx, backend, gelu_model or model, runs, "run1", inputs, made, calib)
            model = gelu_model or model
        except StageError as exc:
            # TFLite fuses tf.nn.gelu into its GELU unless an activation it fuses into the GELU's last Mul
            # (a ReLU after it) breaks the pattern; then it is left with tf.Erfc, which it cannot run at all.
            if gelu_model is None or "Erfc" not in getattr(exc, "tf_ops", ()):
                raise
            ctx.log("TFLite could not fuse the GELUs (tf.Erfc was left); converting them as exported")
            first = self._first_conversion(ctx, backend, model, runs, "run1-unfused", inputs, made, calib)
        ctx.progress(0.65, "checking input layouts and Select-TF ops")
        self._check_layouts(first.tflite["float32"], inputs)
        tflite = {v: first.tflite[v] for v in variants}
        flex = {v: flex_ops(p) for v, p in tflite.items()}
        notes: list[str] = []
        if any(flex.values()) and backend.pseudo_operators:
            tflite, flex, notes = self._avoid_flex(ctx, backend, model, runs, inputs, made, calib, tflite, flex,
                                                   first.pseudo_ops)
        ctx.progress(0.95, "collecting artifacts")
        artifacts = self._artifacts(ctx, first, tflite, flex, notes, inputs, want_savedmodel)
        ctx.progress(1.0, f"{len(artifacts)} artifacts written")
        return artifacts

    def _gelu_model(self, ctx: StageContext, backend: OnnxToTfBackend, model: Any) -> Any:
        """A copy of the model with its exact GELUs in the form the backend fuses, or None if it has none."""
        if not backend.fuses_gelu or not any(node.op_type == "Erf" for node in model.graph.node):
            return None
        rewritten = type(model)()
        rewritten.CopyFrom(model)
        gelus = canonical_gelu(rewritten)
        if not gelus:
            return None
        ctx.log(f"{gelus} exact GELU{'s' if gelus > 1 else ''} rewritten in the node order {backend.name} fuses "
                f"into TFLite's builtin GELU (an Erf would be a Select-TF op, which int8 calibration cannot run)")
        return rewritten

    def _first_conversion(self, ctx: StageContext, backend: OnnxToTfBackend, model: Any, runs: Path, tag: str,
                          inputs: list[TfInput], made: tuple[str, ...], calib) -> BackendResult:
        """Convert; when TFLite cannot take a TF op onnx2tf can replace (tf.Asin...), or int8 calibration
        cannot run a Select-TF op it can replace (FlexErf...), retry with the replacements."""
        try:
            return self._convert(ctx, backend, model, runs / tag, inputs, made, calib, ())
        except StageError as exc:
            tf_ops = getattr(exc, "tf_ops", ())
            calib_flex = getattr(exc, "calibration_flex_ops", ())
            pseudo = tuple(sorted(set(pseudo_ops_for_tf_ops(tf_ops)) | set(pseudo_ops_for(set(calib_flex)))))
            if not backend.pseudo_operators or not pseudo:
                raise
            if tf_ops:
                ctx.log(f"TFLite cannot express {', '.join(tf_ops)}; "
                        f"reconverting with onnx2tf replace_to_pseudo_operators={list(pseudo)}")
            if calib_flex:
                ctx.log(f"int8 calibration cannot run Select-TF ops {', '.join(calib_flex)} (no Flex delegate in "
                        f"the calibrator); reconverting with onnx2tf replace_to_pseudo_operators={list(pseudo)}")
        result = self._convert(ctx, backend, model, runs / f"{tag}-pseudo", inputs, made, calib, pseudo)
        result.notes.append(f"onnx2tf pseudo-operators {', '.join(pseudo)} replace ops TFLite cannot run")
        return result

    def _avoid_flex(self, ctx: StageContext, backend: OnnxToTfBackend, model: Any, runs: Path, inputs: list[TfInput],
                    made: tuple[str, ...], calib, tflite: dict[str, Path], flex: dict[str, list[str]],
                    first: tuple[str, ...] = ()) -> tuple[dict[str, Path], dict[str, list[str]], list[str]]:
        """Reconvert once with the pseudo-operators that replace the Flex ops found; keep what is better.

        first: the pseudo-operators the first conversion already used (kept, or int8 calibration may fail).
        """
        found = set().union(*flex.values())
        if not set(pseudo_ops_for(found)) - set(first):
            ctx.log(f"TFLite needs Select-TF ops {', '.join(sorted(found))}; onnx2tf has no replacement for them")
            return tflite, flex, []
        pseudo = tuple(sorted(set(pseudo_ops_for(found)) | set(first)))
        ctx.log(f"TFLite needs Select-TF ops {', '.join(sorted(found))}; "
                f"reconverting with onnx2tf replace_to_pseudo_operators={list(pseudo)}")
        ctx.progress(0.7, f"reconverting without {', '.join(sorted(found))}")
        try:
            retry = self._convert(ctx, backend, model, runs / "run2", inputs, made, calib, pseudo)
            self._check_layouts(retry.tflite["float32"], inputs)
        except StageError as exc:
            ctx.log(f"the retry failed ({exc.cause}); keeping the first conversion")
            return tflite, flex, []
        tflite = {v: retry.tflite[v] for v in tflite}
        flex = {v: flex_ops(p) for v, p in tflite.items()}
        left = set().union(*flex.values())
        ctx.log(f"after the retry: {', '.join(sorted(left)) or 'no'} Select-TF ops left")
        gone = sorted(found - left)
        notes = [f"{', '.join(gone)} avoided with onnx2tf pseudo-operators {', '.join(pseudo)}"] if gone else []
        return tflite, flex, notes

    def _convert(self, ctx: StageContext, backend: OnnxToTfBackend, model: Any, run_dir: Path, inputs: list[TfInput],
                 variants: tuple[str, ...], calib, pseudo: tuple[str, ...]) -> BackendResult:
        run_dir.mkdir(parents=True)
        onnx_copy = run_dir / "model.onnx"
        save_model(model, onnx_copy)
        calibration.write_onnx2tf_sample(run_dir)
        request = BackendRequest(onnx_path=onnx_copy, run_dir=run_dir, inputs=inputs, variants=variants,
                                 calibration=calib, pseudo_ops=pseudo, log_path=run_dir / "converter.log")
        t0 = time.perf_counter()
        try:
            result = backend.convert(request)
        except BackendFailed as exc:
            error = StageError(self.name, str(exc))
            error.tf_ops = exc.tf_ops   # lets the caller retry with replacements for them
            error.calibration_flex_ops = exc.calibration_flex_ops   # int8 calibration could not run these
            raise error from None
        result.pseudo_ops = pseudo
        ctx.log(f"{backend.name} converted in {time.perf_counter() - t0:.1f} s"
                + (f" (pseudo-operators: {', '.join(pseudo)})" if pseudo else ""))
        return result

    def _artifacts(self, ctx: StageContext, first: BackendResult, tflite: dict[str, Path], flex: dict[str, list[str]],
                   notes: list[str], inputs: list[TfInput], want_savedmodel: bool) -> list[Artifact]:
        stem = ctx.source.stem
        layouts = {i.name: i.tf_layout for i in inputs}
        artifacts = []
        if want_savedmodel and first.savedmodel is not None:
            target = ctx.work_dir / f"{stem}_savedmodel"
            shutil.move(str(first.savedmodel), target)
            artifacts.append(Artifact(kind="savedmodel", variant="float32", path=str(target), bytes=path_bytes(target),
                                      input_layout=dict(layouts), produced_by=self.name, notes=list(first.notes)))
        for variant, path in tflite.items():
            target = ctx.work_dir / f"{stem}_{variant}.tflite"
            shutil.move(str(path), target)
            artifact = Artifact(kind="tflite", variant=variant, path=str(target), bytes=path_bytes(target),
                                input_layout=dict(layouts), produced_by=self.name, flex_ops=list(flex.get(variant, [])),
                                notes=list(first.notes) + notes)
            if artifact.flex_ops:
                artifact.notes.append(f"needs the Flex delegate (Select-TF ops: {', '.join(artifact.flex_ops)}); "
                                      f"LiteRT's builtin ops cannot run it")
            artifacts.append(artifact)
        return artifacts

    # ------------------------------------------------------------ inputs

    @staticmethod
    def _variants(ctx: StageContext) -> tuple[str, ...]:
        if "tflite" not in ctx.options.targets:
            return ()
        unknown = [v for v in ctx.options.variants if v not in VARIANTS]
        if unknown:
            raise StudioError(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
        variants = tuple(v for v in VARIANTS if v in ctx.options.variants)
        if not variants:
            raise StudioError(f"TFLite asked for with no variant; choose from {', '.join(VARIANTS)}")
        return variants

    @staticmethod
    def _input_path(ctx: StageContext) -> Path:
        """The ONNX to convert; if an earlier artifact was moved since, where it is now."""
        if Path(ctx.input_path).is_file():
            return Path(ctx.input_path)
        for artifact in reversed(ctx.previous):
            if artifact.kind == "onnx" and Path(artifact.path).is_file():
                return Path(artifact.path)
        raise StageError("onnx->tf", f"no ONNX model at {ctx.input_path}")

    def _inputs(self, model: Any, ctx: StageContext, backend: OnnxToTfBackend) -> list[TfInput]:
        pairs = input_specs_by_onnx_name(model, ctx.signature.inputs)
        if len(pairs) != len(ctx.signature.inputs):
            raise StageError(self.name, f"the ONNX model has {len(pairs)} inputs, "
                                        f"the source {len(ctx.signature.inputs)}")
        keep = ctx.options.keep_layout or not backend.moves_to_channels_last
        inputs = []
        for onnx_name, spec in pairs.items():
            if any(d is None for d in spec.shape):
                raise StudioError(f"input {spec.name!r} has dynamic dims: give them with --input-shape")
            layout = source_layout(spec, ctx.source.framework)
            inputs.append(TfInput(name=spec.name, onnx_name=onnx_name, tf_name=onnx2tf_name(onnx_name),
                                  dtype=spec.dtype or "float32", source_shape=tuple(int(d) for d in spec.shape),
                                  source_layout=layout, tf_layout=converted_layout(layout, keep)))
        return inputs

    def _calibration(self, ctx: StageContext, inputs: list[TfInput]) -> dict:
        not_float = [i for i in inputs if not i.dtype.startswith("float")]
        if not_float:
            raise StageError(self.name, f"int8 quantization needs float inputs; {not_float[0].name!r} is "
                                        f"{not_float[0].dtype}: drop int8 from --quantize")
        if ctx.options.calibration:
            data = calibration.from_user(ctx.options.calibration, inputs)
            ctx.log(f"int8 calibration: {', '.join(f'{k} {list(v.shape)}' for k, v in data.items())} "
                    f"from {ctx.options.calibration}")
        else:
            data = calibration.generated(inputs, ctx.options.seed)
            ctx.log("int8 calibration: generated data (image-like for images, seeded normal and uniform noise "
                    "otherwise); give --calibration for real samples")
        return data

    def _check_layouts(self, tflite_path: Path, inputs: list[TfInput]) -> None:
        """The converted inputs must have exactly the shapes their recorded layouts promise."""
        found, _ = tflite_io(tflite_path)
        by_name = dict(found)
        for position, spec in enumerate(inputs):
            shape = next((by_name[n] for n in (spec.tf_name, spec.onnx_name, spec.name) if n in by_name), None)
            if shape is None and len(found) == len(inputs):
                shape = found[position][1]
            if shape is not None and tuple(shape) != tuple(spec.tf_shape):
                raise StageError(self.name, f"input {spec.name!r} came out as {list(shape)}, expected "
                                            f"{list(spec.tf_shape)} ({spec.tf_layout})")

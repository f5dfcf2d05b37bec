"""ONNX -> SavedModel + TFLite (float32, float16, dynamic-range int8, int8) through a chain of backends.

Each artifact comes from the first backend in the chain (onnx2tf's direct writer, then its TF-converter
path) whose file loads in LiteRT, runs, and matches the ONNX within the variant's tolerance on seeded
inputs; when no backend's file passes, the first one made is kept and the comparison says why. Every
backend's reason is logged, and each artifact records the backend that made it.

What this stage adds on top of the converters:
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from studio.artifacts import VARIANTS, Artifact, artifact_name, correspondence_name, path_bytes
from studio.errors import StageError, StudioError
from studio.stages import calibration
from studio.stages.backends import (AUTO, BACKEND_CHOICES, BackendFailed, BackendRequest, BackendResult,
                                    OnnxToTfBackend, backend_chain, onnx2tf_name)
from studio.stages.capture import read_log, strip_ansi
from studio.stages.base import StageContext
from studio.stages.flex import flex_ops, tflite_io
from studio.stages.layouts import TfInput, converted_layout, source_layout
from studio.stages.onnx_files import (canonical_gelu, dynamic_inputs, fix_input_shapes,
                                      fold_shape_arithmetic, input_specs_by_onnx_name, name_unnamed_nodes, read_model,
                                      save_model, without_weights)

# Select-TF op -> the onnx2tf pseudo-operator that avoids it. onnx2tf's Python API wants these names in
# lower case (its CLI lower-cases them; "Erf" is silently ignored). "gelu" is deliberately absent: it
# only switches fused GELU to the tanh approximation (~1e-3 off) and TFLite has a builtin exact GELU.
FLEX_TO_PSEUDO = {"FlexErf": "erf", "FlexAsin": "asin", "FlexAcos": "acos", "FlexAtan": "atan"}


# Variants whose numbers do not depend on the backend once the file runs: float16 is the float32 model
# with its weights rounded to float16 (tflite_rewrites.float16_weights, and TF's converter alike).
SAME_ON_EVERY_BACKEND = ("float16",)


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
        chain = backend_chain(ctx.options.backend)
        for backend in chain:
            usable, reason = backend.available()
            if not usable:
                raise StageError(self.name, f"backend {backend.name} is unavailable: {reason}")
        want_savedmodel = "savedmodel" in ctx.options.targets
        variants = self._variants(ctx)
        if not want_savedmodel and not variants:
            return []
        ctx.progress(0.02, "preparing the ONNX model")
        read, self_contained = read_model(self._input_path(ctx))
        model = read
        dynamic = dynamic_inputs(model)
        if dynamic:
            pairs = input_specs_by_onnx_name(model, ctx.signature.inputs)
            shapes = {name: tuple(int(d) for d in spec.shape) for name, spec in pairs.items()}
            model = fix_input_shapes(model, shapes)
            fixed = ", ".join(f"{n}={list(shapes[n])}" for n in dynamic if n in shapes)
            ctx.log(f"fixed dynamic input shapes: {fixed}")
        shape_ops = sum(node.op_type == "Shape" for node in model.graph.node)
        if shape_ops:
            model = fold_shape_arithmetic(model)
            folded = shape_ops - sum(node.op_type == "Shape" for node in model.graph.node)
            ctx.log(f"{folded} of {shape_ops} Shape ops, and the arithmetic on them, folded into constants")
        named = name_unnamed_nodes(model)   # so that onnx2tf need not (Onnx2TfBackend._options)
        # A model used as it was read is copied for each backend as a file, not serialized again (1.7 s on ViT-B/16),
        # and the stage keeps its graph without the weights while the converters run (346 MB on ViT-B/16)
        as_read = None
        if model is read and not dynamic and not named and self_contained:
            model, read = without_weights(model)[0], None
            as_read = (model, self._input_path(ctx))
        runs = ctx.work_dir / ".backend-runs"
        ctx = replace(ctx, progress=_forward_only(ctx.progress))   # several runs share one bar
        try:
            return self._convert_chain(ctx, chain, model, variants, want_savedmodel, runs, as_read)
        finally:
            shutil.rmtree(runs, ignore_errors=True)

    # ------------------------------------------------------------ the backend chain

    def _convert_chain(self, ctx: StageContext, chain: list[OnnxToTfBackend], model: Any, variants: tuple[str, ...],
                       want_savedmodel: bool, runs: Path, as_read: tuple[Any, Path] | None = None) -> list[Artifact]:
        """Each wanted artifact from the first backend whose file passes the check against the ONNX."""
        from studio.stages.verify import OnnxCheck

        check = OnnxCheck(self._input_path(ctx), ctx.signature, ctx.options)
        if len(chain) > 1:
            chain = [backend for backend in chain if backend.could_differ(model)]
        wanted = [*(["savedmodel"] if want_savedmodel else []), *variants]
        chosen: dict[str, _Made] = {}
        kept: dict[str, _Made] = {}       # a file that failed the check, kept in case no backend does better
        reasons: list[str] = []
        details: list[str] = []           # each failed backend's log tail, for --debug and the dialog
        for index, backend in enumerate(chain):
            todo = [w for w in wanted if w not in chosen]
            if not todo:
                break
            then = f"; trying {chain[index + 1].name}" if index + 1 < len(chain) else ""
            share = (0.05 + 0.85 * index / len(chain), 0.05 + 0.85 * (index + 1) / len(chain))
            try:
                made = self._with_backend(ctx, backend, model, todo, runs / backend.name, share, as_read)
            except StageError as exc:
                reasons.append(f"{backend.name}: {exc.cause}")
                details.append(getattr(exc, "details", ""))
                ctx.log(f"{backend.name} failed: {exc.cause}{then}")
                continue
            for what, item in made.items():
                problem = check.problem(what, item.path, item.inputs) if what != "savedmodel" else None
                if problem is None:
                    chosen[what] = item
                    continue
                if problem.ran and what in SAME_ON_EVERY_BACKEND:
                    # float16 weights with float32 arithmetic compute the same on any backend: the error is
                    # float16's, not the converter's (Keras ResNet50: both gave the same worst element), and
                    # the TF converter can take many minutes to say so
                    item.notes.append(f"fails the check against the ONNX ({problem.reason}): float16 weights "
                                      f"cannot hold this model's precision; another backend would round the same")
                    ctx.log(f"{backend.name}'s {what} TFLite is off by float16 rounding ({problem.reason}); "
                            f"kept: another backend rounds the same weights")
                    chosen[what] = item
                    continue
                reasons.append(f"{backend.name} {what}: {problem.reason}")
                kept.setdefault(what, item)
                ctx.log(f"{backend.name}'s {what} TFLite fails the check against the ONNX ({problem.reason}){then}")
        for what in wanted:
            if what not in chosen and what in kept:
                chosen[what] = kept[what]
                chosen[what].notes.append("no backend's file passed the check against the ONNX: "
                                          + "; ".join(r for r in reasons if f" {what}:" in r))
        missing = [w for w in wanted if w not in chosen]
        if missing:
            others = [n for n in BACKEND_CHOICES if n not in (*(b.name for b in chain), AUTO, "onnx-tf")]
            hints = [f"--backend {others[0]}"] if others else []
            hints += [] if ctx.options.keep_layout else ["--keep-layout"]
            error = StageError(self.name, f"no backend made {', '.join(missing)}: " + "; ".join(reasons)
                               + (f" (try {' or '.join(hints)}; --debug shows the converters' logs)" if hints else ""))
            error.details = "\n\n".join(d for d in details if d)
            raise error
        ctx.progress(0.95, "collecting artifacts")
        artifacts = self._artifacts(ctx, chosen, wanted)
        ctx.progress(1.0, f"{len(artifacts)} artifacts written")
        return artifacts

    def _with_backend(self, ctx: StageContext, backend: OnnxToTfBackend, model: Any, todo: list[str], runs: Path,
                      share: tuple[float, float], as_read: tuple[Any, Path] | None = None) -> dict[str, "_Made"]:
        """Convert what is still to do with one backend: {"savedmodel" | variant: what it made}."""
        inputs = self._inputs(model, ctx, backend)
        variants = tuple(v for v in VARIANTS if v in todo)
        calib = self._calibration(ctx, inputs) if "int8" in variants else None
        ctx.log(f"{backend.name}: input layouts for TF: "
                + ", ".join(f"{i.name} {i.source_layout}->{i.tf_layout} {list(i.tf_shape)}" for i in inputs))
        job = _BackendJob(ctx, backend, runs, inputs, calib, "savedmodel" in todo, share, as_read)
        if backend.flex_prone:
            results = [self._convert_with_workarounds(job, model, variants)]
        else:
            results = self._convert_tflite_if_savedmodel_fails(job, model, variants)
        made: dict[str, _Made] = {}
        for result in results:
            if result.savedmodel is not None and "savedmodel" in todo:
                made["savedmodel"] = _Made(result.savedmodel, backend.name, inputs, list(result.notes))
            for variant, path in result.tflite.items():
                if variant in variants:
                    flex = flex_ops(path) if backend.flex_prone else []
                    made[variant] = _Made(path, backend.name, inputs, list(result.notes), flex, result.correspondence)
        return made

    def _convert_tflite_if_savedmodel_fails(self, job: "_BackendJob", model: Any, variants: tuple[str, ...]
                                            ) -> list[BackendResult]:
        """The direct writer writes its SavedModel last, from the same IR, and a failure there loses the run:
        then the TFLite files again, without the SavedModel, which is left to the next backend."""
        try:
            return self._convert_isolating_int8(job, model, variants)
        except StageError as exc:
            if not (getattr(exc, "in_savedmodel_export", False) and job.savedmodel and variants):
                raise
            job.ctx.log(f"{job.backend.name} failed to write its SavedModel ({exc.cause}); "
                        f"converting {', '.join(variants)} without it")
        return self._convert_isolating_int8(replace(job, savedmodel=False), model, variants, "run-tflite-only")

    def _convert_isolating_int8(self, job: "_BackendJob", model: Any, variants: tuple[str, ...], tag: str = "run"
                                ) -> list[BackendResult]:
        """One run; when it fails with full int8 among others, the others and int8 apart, so a failing int8
        calibration does not cost the float variants (the direct writer stops at its first error)."""
        try:
            return [job.convert(model, tag, variants)]
        except StageError:
            if "int8" not in variants or (variants == ("int8",) and not job.savedmodel):
                raise
        job.ctx.log(f"{job.backend.name} failed with int8 among the variants; converting int8 on its own")
        rest = tuple(v for v in variants if v != "int8")
        results = [job.convert(model, f"{tag}-without-int8", rest or ("float32",))] if rest or job.savedmodel else []
        try:
            results.append(job.convert(model, f"{tag}-int8", ("int8",), savedmodel=False))
        except StageError as exc:
            job.ctx.log(f"{job.backend.name} int8: {exc.cause}")
        return results

    def _convert_with_workarounds(self, job: "_BackendJob", model: Any, variants: tuple[str, ...]) -> BackendResult:
        """TF's converter: exact GELUs in the order it fuses, replacements for ops TFLite cannot run, and one
        retry without Select-TF ops."""
        ctx, backend = job.ctx, job.backend
        made = tuple(v for v in VARIANTS if v in variants or v == "float32")  # float32 proves the layout
        gelu_model = self._gelu_model(job, model)
        try:
            first = self._first_conversion(job, gelu_model or model, "run1", made)
            model = gelu_model or model
        except StageError as exc:
            # TFLite fuses tf.nn.gelu into its GELU unless an activation it fuses into the GELU's last Mul
            # (a ReLU after it) breaks the pattern; then it is left with tf.Erfc, which it cannot run at all.
            if gelu_model is None or "Erfc" not in getattr(exc, "tf_ops", ()):
                raise
            ctx.log("TFLite could not fuse the GELUs (tf.Erfc was left); converting them as exported")
            first = self._first_conversion(job, model, "run1-unfused", made)
        self._check_layouts(first.tflite["float32"], job.inputs)
        tflite = {v: first.tflite[v] for v in variants}
        flex = {v: flex_ops(p) for v, p in tflite.items()}
        if any(flex.values()) and backend.pseudo_operators:
            tflite, flex, notes = self._avoid_flex(job, model, made, tflite, flex, first.pseudo_ops)
            first.notes.extend(notes)
        first.tflite = tflite
        return first

    def _gelu_model(self, job: "_BackendJob", model: Any) -> Any:
        """A copy of the model with its exact GELUs in the form the backend fuses, or None if it has none."""
        backend = job.backend
        if not backend.fuses_gelu or not any(node.op_type == "Erf" for node in model.graph.node):
            return None
        rewritten = job.full_copy(model)
        gelus = canonical_gelu(rewritten)
        if not gelus:
            return None
        job.ctx.log(f"{gelus} exact GELU{'s' if gelus > 1 else ''} rewritten in the node order {backend.name} "
                    f"fuses into TFLite's builtin GELU (an Erf would be a Select-TF op, which int8 calibration "
                    f"cannot run)")
        return rewritten

    def _first_conversion(self, job: "_BackendJob", model: Any, tag: str, made: tuple[str, ...]) -> BackendResult:
        """Convert; when TFLite cannot take a TF op onnx2tf can replace (tf.Asin...), or int8 calibration
        cannot run a Select-TF op it can replace (FlexErf...), retry with the replacements."""
        try:
            return job.convert(model, tag, made)
        except StageError as exc:
            tf_ops = getattr(exc, "tf_ops", ())
            calib_flex = getattr(exc, "calibration_flex_ops", ())
            pseudo = tuple(sorted(set(pseudo_ops_for_tf_ops(tf_ops)) | set(pseudo_ops_for(set(calib_flex)))))
            if not job.backend.pseudo_operators or not pseudo:
                raise
            if tf_ops:
                job.ctx.log(f"TFLite cannot express {', '.join(tf_ops)}; "
                            f"reconverting with onnx2tf replace_to_pseudo_operators={list(pseudo)}")
            if calib_flex:
                job.ctx.log(f"int8 calibration cannot run Select-TF ops {', '.join(calib_flex)} (no Flex delegate "
                            f"in the calibrator); reconverting with onnx2tf replace_to_pseudo_operators={list(pseudo)}")
        result = job.convert(model, f"{tag}-pseudo", made, pseudo=pseudo)
        result.notes.append(f"onnx2tf pseudo-operators {', '.join(pseudo)} replace ops TFLite cannot run")
        return result

    def _avoid_flex(self, job: "_BackendJob", model: Any, made: tuple[str, ...], tflite: dict[str, Path],
                    flex: dict[str, list[str]], first: tuple[str, ...] = ()
                    ) -> tuple[dict[str, Path], dict[str, list[str]], list[str]]:
        """Reconvert once with the pseudo-operators that replace the Flex ops found; keep what is better.

        first: the pseudo-operators the first conversion already used (kept, or int8 calibration may fail).
        """
        ctx = job.ctx
        found = set().union(*flex.values())
        if not set(pseudo_ops_for(found)) - set(first):
            ctx.log(f"TFLite needs Select-TF ops {', '.join(sorted(found))}; onnx2tf has no replacement for them")
            return tflite, flex, []
        pseudo = tuple(sorted(set(pseudo_ops_for(found)) | set(first)))
        ctx.log(f"TFLite needs Select-TF ops {', '.join(sorted(found))}; "
                f"reconverting with onnx2tf replace_to_pseudo_operators={list(pseudo)}")
        try:
            retry = job.convert(model, "run2", made, pseudo=pseudo)
            self._check_layouts(retry.tflite["float32"], job.inputs)
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

    def _artifacts(self, ctx: StageContext, chosen: dict[str, "_Made"], wanted: list[str]) -> list[Artifact]:
        stem = ctx.source.stem
        artifacts = []
        for what in wanted:
            item = chosen[what]
            kind, variant = ("savedmodel", "float32") if what == "savedmodel" else ("tflite", what)
            target = ctx.work_dir / artifact_name(stem, kind, variant)
            shutil.move(str(item.path), target)
            extras = {}
            if kind == "tflite" and item.correspondence is not None and item.correspondence.is_file():
                # one report per onnx2tf run, whose files share their tensor names: each TFLite gets its copy
                report = ctx.work_dir / correspondence_name(target.name)
                shutil.copyfile(item.correspondence, report)
                extras["tensor_correspondence"] = str(report)
            artifact = Artifact(kind=kind, variant=variant, path=str(target), bytes=path_bytes(target),
                                input_layout={i.name: i.tf_layout for i in item.inputs}, produced_by=self.name,
                                backend=item.backend, flex_ops=list(item.flex), notes=list(item.notes), extras=extras)
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


@dataclass
class _Made:
    """One file a backend wrote, before it is chosen and moved into place."""

    path: Path
    backend: str
    inputs: list[TfInput]
    notes: list[str] = field(default_factory=list)
    flex: list[str] = field(default_factory=list)
    correspondence: Path | None = None


@dataclass
class _BackendJob:
    """One backend's runs for one stage: each run gets its own folder and log; the logs are kept."""

    ctx: StageContext
    backend: OnnxToTfBackend
    runs: Path
    inputs: list[TfInput]
    calib: dict | None
    savedmodel: bool
    share: tuple[float, float]   # the part of the stage's progress bar this backend moves through
    # (the stage's model, the file it was read from) when the stage changed nothing: that model has no weights
    as_read: tuple[Any, Path] | None = None

    def full_copy(self, model: Any) -> Any:
        """A copy of the model to change, weights and all."""
        if self.as_read is not None and model is self.as_read[0]:
            return read_model(self.as_read[1])[0]
        copy = type(model)()
        copy.CopyFrom(model)
        return copy

    def convert(self, model: Any, tag: str, variants: tuple[str, ...], pseudo: tuple[str, ...] = (),
                savedmodel: bool | None = None) -> BackendResult:
        run_dir = self.runs / tag
        run_dir.mkdir(parents=True)
        onnx_copy = run_dir / "model.onnx"
        if self.as_read is not None and model is self.as_read[0]:
            shutil.copyfile(self.as_read[1], onnx_copy)
        else:
            save_model(model, onnx_copy)
        low, high = self.share
        ctx, name = self.ctx, self.backend.name
        log_path = ctx.log_dir / f"{name}-{tag}.log" if ctx.log_dir else run_dir / "converter.log"
        ctx.progress(low, f"converting with {name}")
        request = BackendRequest(onnx_path=onnx_copy, run_dir=run_dir, inputs=self.inputs, variants=variants,
                                 calibration=self.calib if "int8" in variants else None, pseudo_ops=pseudo,
                                 log_path=log_path, savedmodel=self.savedmodel if savedmodel is None else savedmodel,
                                 progress=lambda f, m: ctx.progress(low + (high - low) * f, f"{name}: {m}"))
        t0 = time.perf_counter()
        try:
            result = self.backend.convert(request)
        except BackendFailed as exc:
            error = StageError("onnx->tf", failing_node(model, log_path, str(exc)))
            error.tf_ops = exc.tf_ops   # lets the caller retry with replacements for them
            error.calibration_flex_ops = exc.calibration_flex_ops   # int8 calibration could not run these
            error.in_savedmodel_export = exc.in_savedmodel_export
            error.details = log_tail(log_path)
            raise error from None
        result.pseudo_ops = pseudo
        ctx.log(f"{name} converted {', '.join(variants)} in {time.perf_counter() - t0:.1f} s"
                + (f" (pseudo-operators: {', '.join(pseudo)})" if pseudo else ""))
        return result


def _forward_only(progress):
    """A progress callback that never goes back: a backend's second run starts its bars at 0 again."""
    furthest = [0.0]

    def report(fraction: float, message: str) -> None:
        furthest[0] = max(furthest[0], fraction)
        progress(furthest[0], message)

    return report


def failing_node(model: Any, log_path: Path, cause: str) -> str:
    """The cause, led by the ONNX node it happened at and that node's op, when the log or the cause names one."""
    import re

    ops = {node.name: node.op_type for node in model.graph.node if node.name}
    said = re.match(r"at ONNX node (\S+): (.*)", cause)   # onnx2tf's exception named the node already
    if said:
        name, cause = said.groups()
        return f"at ONNX node {name} ({ops[name]}): {cause}" if name in ops else f"at ONNX node {name}: {cause}"
    named = re.findall(r"onnx_op_name:\s*(\S+)", strip_ansi(read_log(log_path)))
    name = next((n for n in reversed(named) if n in ops), None)
    if name is None:
        name = next((n for n in sorted(ops, key=len, reverse=True) if len(n) > 3 and n in cause), None)
    return f"at ONNX node {name} ({ops[name]}): {cause}" if name else cause


def log_tail(path: Path, lines: int = 60) -> str:
    """The end of a converter's log, for the failure's details (--debug, the dialog's details)."""
    text = read_log(path)
    return f"--- last lines of {path} ---\n" + "\n".join(strip_ansi(text).splitlines()[-lines:]) if text else ""

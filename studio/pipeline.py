"""The convert and compare jobs: plan, run the stages, run every model on the same inputs, diff, report.

Runs inside the worker process. Everything is written into the job's staging folder and moved into
the output folder only when the whole job has succeeded, so a failure or a cancel leaves nothing behind.
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from studio.artifacts import Artifact, path_bytes, tolerance_class
from studio.errors import StageError, StudioError, one_line
from studio.formats import Format, Source
from studio.jobs.events import (ArtifactWritten, Compared, Converted, Event, InputsChosen, JobStarted,
                                LatencyMeasured, Log, Progress, StageFinished, StageStarted)
from studio.jobs.protocol import CompareRequest, ConvertRequest, staging_name
from studio.jobs.record import JobRecord
from studio.options import ConvertOptions, InputOptions
from studio.report import write_json_atomic
from studio.signature import Signature, resolve_shapes

Emit = Callable[[Event], None]


def check_out_dir(out_dir: str | Path, force: bool) -> None:
    """Refuse to touch an existing, non-empty output folder unless --force (cheap: the CLI calls it first)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise StudioError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise StudioError(f"{out} already exists and is not empty: pass --force to overwrite, or choose --out")


def check_output(out_dir: str | Path, force: bool, source: Source, options: ConvertOptions) -> None:
    """A convert job's check of its output folder (cheap: the CLI calls it first, the job again when it starts).

    Without --serving, check_out_dir. With it, an existing --out is a model repository that other versions (and other
    files) share: only what this run writes is checked (serving_writes), and each of those needs --force if it is
    there already, <name>/<version>/ first."""
    if not options.serving:
        check_out_dir(out_dir, force)
        return
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise StudioError(f"{out} exists and is not a folder")
    if force or not out.is_dir():
        return
    version = serving_folder(source, options)
    for relative in serving_writes(source, options):
        clash = _clash(out, relative, version)
        if clash:
            raise StudioError(clash)


def serving_folder(source: Source, options: ConvertOptions) -> Path:
    """Where --serving puts the SavedModel, relative to out: <name>/<version> (TF Serving's
    --model_base_path=<out>/<name>)."""
    return Path(source.stem) / str(options.serving_version)


def record_names(source: Source, options: ConvertOptions) -> tuple[str, str]:
    """The job's report and converters' logs folder in out: report.json and logs/; with --serving
    <name>_v<version>_report.json and <name>_v<version>_logs/, so that each version added to the same out keeps the
    record of its own conversion beside the others'."""
    if options.serving:
        tag = f"{source.stem}_v{options.serving_version}"
        return f"{tag}_report.json", f"{tag}_logs"
    return "report.json", "logs"


def serving_writes(source: Source, options: ConvertOptions) -> list[Path]:
    """What a --serving job may write into out, relative to it: the version folder, then its other targets' files and
    its record at the top level. Named as the stages name them; a superset (a variant may not be made): the early
    check's list. The final move (_move_into_place) checks what the job did make."""
    from studio.artifacts import VARIANTS, artifact_name, correspondence_name
    from studio.stages.tfjs import tfjs_variants

    stem = source.stem
    names: list[str] = []
    if "onnx" in options.targets and source.format is not Format.ONNX:
        onnx = artifact_name(stem, "onnx")
        names += [onnx, f"{onnx}.data", f"{stem}.data"]   # a model over 2 GB keeps its weights beside it
    if "tflite" in options.targets:
        for variant in (v for v in VARIANTS if v in options.variants):
            tflite = artifact_name(stem, "tflite", variant)
            names += [tflite, correspondence_name(tflite)]
    if "tfjs" in options.targets:
        names += [artifact_name(stem, "tfjs", variant) for variant in tfjs_variants(options.variants)]
    return [serving_folder(source, options), *map(Path, names), *map(Path, record_names(source, options))]


def _clash(out: Path, relative: Path, version: Path | None) -> str | None:
    """Why writing out / relative needs --force (it, or a file where its folder goes, is there already), or None."""
    target = out / relative
    for parent in list(reversed(relative.parents))[1:]:   # <name> of <name>/<version>: a folder the job adds to
        there = out / parent
        if (there.exists() or there.is_symlink()) and not there.is_dir():
            return f"{there} exists and is not a folder: pass --force to replace it, or choose another --out"
    if not (target.exists() or target.is_symlink()):
        return None
    if relative == version:
        return f"{target} already exists: pass --force to replace that version, or choose another --serving-version"
    return f"{target} already exists: pass --force to replace it, or choose another --out"


def given_shapes(raw: dict[str, list[int]]) -> dict[str | None, tuple[int, ...]]:
    return {(k or None): tuple(v) for k, v in raw.items()}


class JobSteps:
    """A running job's side of the events: emit them (stamped with the job id), time stages, count progress.

    The record it keeps is the one the report is written from.
    """

    def __init__(self, job_id: str, emit: Emit, total_steps: int = 1):
        self.record = JobRecord(job_id=job_id)
        self.job_id = job_id
        self._emit = emit
        self.total_steps = max(1, total_steps)
        self.step = 0

    def emit(self, event: Event) -> None:
        event.job_id = self.job_id
        self.record.apply(event)
        self._emit(event)

    def log(self, message: str, level: str = "info") -> None:
        self.emit(Log(level=level, message=message))

    def progress(self, within: float, message: str) -> None:
        fraction = min(1.0, (self.step + max(0.0, min(1.0, within))) / self.total_steps)
        self.emit(Progress(fraction=round(fraction, 4), message=message))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.emit(StageStarted(name=name))
        self.progress(0.0, name)
        t0 = time.perf_counter()

        def finished(error: str | None) -> None:
            self.emit(StageFinished(name=name, seconds=round(time.perf_counter() - t0, 3), ok=error is None,
                                    error=error))

        try:
            yield
        except Exception as exc:
            error = str(exc) if isinstance(exc, StudioError) else one_line(exc)
            finished(error)
            if isinstance(exc, StudioError):
                raise
            raise StageError(name, error) from exc
        finished(None)
        self.step += 1


# ---------------------------------------------------------------- convert

def run_convert(req: ConvertRequest, emit: Emit) -> int:
    from studio.runtimes import open_runtime, recall
    from studio.stages.registry import plan

    recall.forget()   # outputs remembered for this job's comparison only (a job that failed may have left some)

    options = req.options
    source = Source.from_dict(req.source)
    out = Path(req.out_dir).resolve()
    check_output(out, req.force, source, options)
    report_name, logs_name = record_names(source, options)
    staging = Path(req.staging_dir) if req.staging_dir else out.parent / staging_name(str(out), "inprocess")
    final_dir = staging / "out"
    final_dir.mkdir(parents=True, exist_ok=True)
    stages = plan(source.format, tuple(options.targets))
    # load source, the stages, compare outputs (and explain failures, measure latency)
    job = JobSteps(req.job_id, emit, total_steps=len(stages) + 2 + options.explain + options.latency)
    job.emit(JobStarted(kind="convert", source=source.to_dict(), plan=[s.name for s in stages],
                        request={k: v for k, v in asdict(req).items() if k != "staging_dir"}))

    with job.stage("load source"):
        reference = open_runtime(source)   # the one load of the source: the stages get reference.model
        signature = _resolved_signature(source, reference, options)
        job.log("inputs: " + "; ".join(t.describe() for t in signature.inputs))
        _warn_about_memory(job, source, stages, options.backend, getattr(reference, "model", None))
        # The reference outputs now, so the source model can be let go once it is exported: a large model
        # must not sit in memory beside the converters.
        feeds, ref_out = _reference_outputs(job, options, signature, reference) if stages else ({}, {})
    model = getattr(reference, "model", None)
    del reference

    if source.format is Format.ONNX and "onnx" in options.targets:
        job.log("the source is already ONNX: no ONNX artifact to make")
    held = [model]   # run_stages empties it once the source is exported: then nothing holds the model
    del model
    artifacts, onnx_path = run_stages(job, source, signature, stages, options, held, staging, final_dir,
                                      log_dir=final_dir / logs_name)
    for artifact in artifacts:
        job.emit(ArtifactWritten(artifact={**artifact.to_dict(), "path": _final_path(artifact.path, final_dir, out)}))

    failed = _compare_all(job, req, source, feeds, ref_out, signature, artifacts, final_dir, out)
    recall.forget()
    passed = not failed
    if options.latency:
        _measure_latencies(job, feeds, signature, artifacts, final_dir, out)
    explainable = [a for a in failed if a.kind in ("onnx", "tflite") and not a.flex_ops]
    if explainable and options.explain:
        from studio.explain_job import explain_each

        explain_each(job, source, signature, feeds, onnx_path,
                     [(Path(a.path), tolerance_class(a.kind, a.variant)) for a in explainable], options,
                     label=lambda path: _final_path(str(path), final_dir, out), keep_going=True)
    report = job.record.report()
    report["exit_code"] = 0 if passed else 1
    report = _final_paths(report, final_dir, out)
    write_json_atomic(final_dir / report_name, report)
    _move_into_place(final_dir, out, req.force, serving_folder(source, options) if options.serving else None)
    if (out / logs_name).is_dir():
        job.log(f"the converters' full logs: {out / logs_name}")
    if req.report_path:
        write_json_atomic(req.report_path, report)
    shutil.rmtree(staging, ignore_errors=True)
    job.step = job.total_steps - 1
    job.progress(1.0, "done")
    job.emit(Converted(report_path=str(Path(req.report_path) if req.report_path else out / report_name),
                       out_dir=str(out), passed=passed))
    return 0 if passed else 1


def run_stages(job: JobSteps, source: Source, signature: Signature, stages: list, options: ConvertOptions,
               held: list, staging: Path, final_dir: Path, log_dir: Path | None = None) -> tuple[list[Artifact], Path]:
    """Run the plan's stages in order. Returns the artifacts the options want (moved into final_dir) and the ONNX
    the later stages read (the source itself when it is ONNX). The converters' logs go to log_dir (default
    final_dir / "logs").

    held: [the loaded source model] or [None]. It is emptied once the source is exported, so a large model is
    not in memory beside the converters (the caller must hold no other reference)."""
    from studio.stages.base import StageContext

    artifacts: list[Artifact] = []
    input_path = source.path
    for index, stage in enumerate(stages):
        work = staging / "work" / f"{index}-{stage.name.replace('>', '').replace('-', '_')}"
        work.mkdir(parents=True)
        with job.stage(stage.name):
            reads_source = source.format.value in stage.consumes
            ctx = StageContext(source=source, signature=signature, input_path=input_path, work_dir=work,
                               options=options, log=job.log, progress=job.progress, previous=list(artifacts),
                               model=held[0] if held and reads_source else None,
                               log_dir=log_dir or final_dir / "logs")
            made = stage.run(ctx)
        if reads_source:
            ctx = None
            held.clear()
            gc.collect()
        for artifact in made:
            if artifact.kind in options.targets:
                artifacts.append(_stage_into(artifact, final_dir, _destination(artifact, source, options)))
            if artifact.kind == "onnx":
                input_path = Path(artifact.path)   # the next stage reads it where it is now
    return artifacts, input_path


def _warn_about_memory(job: JobSteps, source: Source, stages: list, backend: str, model) -> None:
    """Say so before a job that may not fit in the free memory starts swapping (the estimate is logged too)."""
    from studio.artifacts import human_bytes
    from studio.memory import estimate_peak_bytes, free_bytes

    if not stages:
        return
    peak, basis = estimate_peak_bytes(source, [s.name for s in stages], backend, model)
    free = free_bytes()
    job.log(f"memory: about {human_bytes(peak)} at the peak ({basis}); {human_bytes(free)} free")
    if peak > free:
        job.log(f"this job may need about {human_bytes(peak)} but only {human_bytes(free)} is free: it may swap or "
                f"be killed; close other programs, or convert to fewer targets at a time", "warning")


def _resolved_signature(source: Source, reference, options: InputOptions) -> Signature:
    """Shapes and dtypes filled in; layouts guessed again where the shape was unknown when the model was read.

    --input-shape gives shapes (and dtypes with ":DTYPE"). Formats that store no shapes and dtypes (TorchScript,
    Python factories, pickled modules) also take them from an .npy / .npz --inputs file; what --input-shape
    gives wins. The reference runtime learns the resolved inputs (the torch runtime feeds their dtypes).
    """
    from dataclasses import replace

    from studio.signature import resolve_dtypes
    from studio.stages.layouts import source_layout

    seen = reference.signature
    shapes = given_shapes(options.input_shapes)
    dtypes: dict[str | None, str] = {(k or None): v for k, v in options.input_dtypes.items()}
    stored = source.format not in (Format.TORCHSCRIPT, Format.PYTHON_FACTORY, Format.TORCH_PICKLE)
    if not stored and options.inputs_path:
        from studio.inputs import file_input_specs

        if len(seen.inputs) == 1:   # key the single input by name, so what was given outranks the file
            for given in (shapes, dtypes):
                if None in given:
                    given[seen.inputs[0].name] = given.pop(None)
        for name, (dtype, shape) in file_input_specs(options.inputs_path, seen.inputs).items():
            shapes.setdefault(name, shape)
            if dtype:
                dtypes.setdefault(name, dtype)
    inputs = resolve_dtypes(resolve_shapes(seen.inputs, shapes), dtypes, stored)
    if hasattr(reference, "resolve_inputs"):
        reference.resolve_inputs(inputs)
    framework = "pytorch" if source.framework == "onnx" else source.framework
    return Signature(tuple(replace(t, layout=source_layout(t, framework)) for t in inputs), seen.outputs)


def _destination(artifact: Artifact, source: Source, options: ConvertOptions) -> Path:
    """Where an artifact goes in the output folder, relative to it: under its own name, except a SavedModel laid out
    for TF Serving (--serving), which is <name>/<version>/ (TF Serving's --model_base_path=<out>/<name>)."""
    if artifact.kind == "savedmodel" and options.serving:
        return Path(source.stem) / str(options.serving_version)
    return Path(Path(artifact.path).name)


def _stage_into(artifact: Artifact, final_dir: Path, destination: Path) -> Artifact:
    """Move a finished artifact out of its stage's work folder into the job's output (still staged), at
    final_dir / destination (_destination decides it)."""
    src = Path(artifact.path)
    dst = final_dir / destination
    dst.parent.mkdir(parents=True, exist_ok=True)
    # An ONNX file over 2 GB keeps its weights beside it (model.onnx.data): they travel together.
    companions = [p for p in (src.with_name(src.name + ".data"), src.with_suffix(".data")) if p.is_file()]
    _replace(src, dst)
    for path in companions:
        _replace(path, final_dir / path.name)
    for key, extra in list(artifact.extras.items()):   # e.g. the TFLite's tensor correspondence report
        if Path(extra).exists():
            _replace(Path(extra), final_dir / Path(extra).name)
            artifact.extras[key] = str(final_dir / Path(extra).name)
    artifact.path = str(dst)
    artifact.bytes = path_bytes(dst) + sum(path_bytes(final_dir / p.name) for p in companions)
    return artifact


def _replace(src: Path, target: Path) -> None:
    """Move src to target, replacing a file or folder already there."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    shutil.move(str(src), target)


def _final_path(staged: str, final_dir: Path, out: Path) -> str:
    """Where a staged file will be once the job's output is moved into place."""
    return str(out / Path(staged).relative_to(final_dir))


def _final_paths(report: dict, final_dir: Path, out: Path) -> dict:
    """Paths in the report are where the files end up, not the staging folder."""
    import json

    text = json.dumps(report, default=str).replace(str(final_dir), str(out))
    return json.loads(text)


def _move_into_place(final_dir: Path, out: Path, force: bool, version: Path | None = None) -> None:
    """The job's staged output into out: one rename when out is not there yet. Else entry by entry, each renamed into
    place (the report last), after checking them all; should a rename fail, those done are undone.

    version: <name>/<version> with --serving. That folder is then the entry, not <name>/: out/<name>/ keeps its other
    versions. Without --serving, an existing, non-empty out needs --force (check_out_dir); with it, only the entries
    this job made, if they are there already."""
    if not out.exists():
        os.replace(final_dir, out)
        return
    entries = sorted((Path(p.name) for p in final_dir.iterdir()), key=lambda p: (p.suffix == ".json", p.name))
    if version is None:
        check_out_dir(out, force)
    else:
        if out.exists() and not out.is_dir():
            raise StudioError(f"{out} exists and is not a folder")
        parent = out / version.parent
        merge = parent.is_dir() or not (force and (parent.exists() or parent.is_symlink()))
        entries = [version if merge and entry == version.parent else entry for entry in entries]
        for entry in entries if not force else ():
            clash = _clash(out, entry, version)
            if clash:
                raise StudioError(clash)
    _rename_into(final_dir, out, entries, final_dir.parent / "replaced")


def _rename_into(source: Path, out: Path, entries: list[Path], trash: Path) -> None:
    """Rename each entry (relative) from source to out, an entry already in out first renamed into trash (in the
    staging folder, removed with it). If a rename fails, what was done is undone (best effort) and out is as it was."""
    done: list[tuple[Path, Path | None, bool]] = []   # entry, where the entry it replaced went, its parent made here
    try:
        for i, entry in enumerate(entries):
            dst = out / entry
            replaced = None
            if dst.exists() or dst.is_symlink():
                trash.mkdir(parents=True, exist_ok=True)
                replaced = trash / str(i)
                _rename(dst, replaced)
            made = not dst.parent.exists()
            done.append((entry, replaced, made))
            dst.parent.mkdir(parents=True, exist_ok=True)
            _rename(source / entry, dst)
    except OSError as exc:
        for entry, replaced, made in reversed(done):
            try:
                if not (source / entry).exists() and ((out / entry).exists() or (out / entry).is_symlink()):
                    _rename(out / entry, source / entry)
                if replaced is not None:
                    _rename(replaced, out / entry)
                if made:
                    (out / entry).parent.rmdir()
            except OSError:
                pass
        raise StudioError(f"could not move the output into {out}: {exc.strerror or exc}") from exc


def _rename(src: Path, dst: Path) -> None:
    """A rename (staging is beside out, on its filesystem); a move across filesystems only if out is a mount."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(src), dst)


# ---------------------------------------------------------------- comparison

def _describe_inputs(feeds: dict[str, np.ndarray], inputs_path: str | None, seed: int) -> dict:
    return {"from": inputs_path or f"seeded random (seed {seed})",
            "tensors": [{"name": k, "dtype": str(v.dtype), "shape": list(v.shape),
                         "min": float(v.min()) if v.size else None, "max": float(v.max()) if v.size else None}
                        for k, v in feeds.items()]}


def _compare_all(job: JobSteps, req: ConvertRequest, source: Source, feeds: dict, ref_out: dict, signature: Signature,
                 artifacts: list[Artifact], final_dir: Path, out: Path) -> list[Artifact]:
    """Run every artifact on the same inputs as the source and diff; returns the artifacts that failed."""
    from studio.compare import ComparisonResult, compare_outputs, tolerance_for
    from studio.inputs import adapt_feeds
    from studio.runtimes import open_runtime
    from studio.runtimes.recall import remembered

    failed: list[Artifact] = []
    if not artifacts:
        return failed
    with job.stage("compare outputs"):
        for i, artifact in enumerate(artifacts):
            label = _final_path(artifact.path, final_dir, out)
            job.progress(i / len(artifacts), f"comparing {artifact.label}")
            tolerance = tolerance_for(tolerance_class(artifact.kind, artifact.variant), req.options.atol,
                                      req.options.rtol)
            cand_out: dict = {}
            if artifact.flex_ops:
                result = ComparisonResult.failed(source.spec, label, artifact.variant, tolerance,
                                                 f"not verified: needs the Flex delegate for {', '.join(artifact.flex_ops)}")
            else:
                try:
                    runtime = open_runtime(Path(artifact.path))
                    # the stage's check ran the same file on the same inputs: its outputs are remembered
                    cand_out = remembered(runtime, adapt_feeds(feeds, signature.inputs, runtime.signature,
                                                               artifact.input_layout))
                    runtime = None   # one artifact's model in memory at a time
                    result = compare_outputs(ref_out, cand_out, tolerance, reference_label=source.spec,
                                             candidate_label=label, variant=artifact.variant)
                except StudioError as exc:
                    result = ComparisonResult.failed(source.spec, label, artifact.variant, tolerance, str(exc))
            samples_dir = Path(req.samples_dir) / str(i) if req.samples_dir else None
            _emit_comparison(job, result, artifact.kind, samples_dir, ref_out, cand_out)
            if not result.passed:
                failed.append(artifact)
    return failed


def _measure_latencies(job: JobSteps, feeds: dict, signature: Signature, artifacts: list[Artifact], final_dir: Path,
                       out: Path) -> None:
    """Each TFLite file's CPU latency in LiteRT (studio.latency), on the comparison inputs: one LatencyMeasured each.
    A file that cannot be run gets its reason instead; the job goes on."""
    from studio.inputs import adapt_feeds
    from studio.latency import measure_latency
    from studio.runtimes import open_runtime

    timed = [a for a in artifacts if a.kind == "tflite"]
    if not timed:
        return
    with job.stage("measure latency"):
        for i, artifact in enumerate(timed):
            job.progress(i / len(timed), f"timing {artifact.label}")
            about = {"artifact": _final_path(artifact.path, final_dir, out), "kind": artifact.kind,
                     "variant": artifact.variant}
            try:
                if artifact.flex_ops:
                    raise StudioError(f"needs the Flex delegate for {', '.join(artifact.flex_ops)}")
                runtime = open_runtime(Path(artifact.path))
                own = adapt_feeds(feeds, signature.inputs, runtime.signature, artifact.input_layout)
                runtime = None
                measured = {**about, **measure_latency(artifact.path, own)}
                one = measured["threads"].get("1", {})
                job.log(f"latency {artifact.label}: {one.get('median_ms')} ms median on 1 thread "
                        f"({measured['method'].split(' (')[0]})")
            except Exception as exc:   # noqa: BLE001 - a file that will not time is a row without latency, not a failed job
                measured = {**about, "method": None, "threads": {},
                            "error": str(exc) if isinstance(exc, StudioError) else one_line(exc)}
            job.emit(LatencyMeasured(latency=measured))


def _reference_outputs(job: JobSteps, options: InputOptions, signature: Signature, reference) -> tuple[dict, dict]:
    """The inputs every model gets (recorded in the report) and the reference model's outputs on them."""
    from studio.inputs import adapt_feeds, job_inputs

    feeds = job_inputs(signature.inputs, options)
    job.emit(InputsChosen(inputs=_describe_inputs(feeds, options.inputs_path, options.seed)))
    try:
        return feeds, reference.run(adapt_feeds(feeds, signature.inputs, reference.signature, {}))
    except StudioError as exc:
        given = ", ".join(f"{s.name} {s.dtype}[{','.join(map(str, s.shape))}]" for s in signature.inputs)
        hint = " (this format stores no dtypes: give one with --input-shape NAME=1,16:int64)" \
            if getattr(reference, "name", "") == "torch" and not any(s.dtype != "float32" for s in signature.inputs) \
            else ""
        raise StudioError(f"the model does not run on inputs {given}: {exc}{hint}") from exc


def _emit_comparison(job: JobSteps, result, kind: str, samples_dir: Path | None, ref_out: dict,
                     cand_out: dict) -> None:
    d = result.to_dict()
    d["kind"] = kind
    if samples_dir and result.outputs:
        d["samples"] = save_samples(samples_dir, ref_out, cand_out, result)
    job.emit(Compared(comparison=d))


def run_compare(req: CompareRequest, emit: Emit) -> int:
    from studio.compare import compare_outputs, tolerance_for
    from studio.inputs import adapt_feeds
    from studio.runtimes import open_runtime

    options = req.options
    reference_src, candidate_src = Source.from_dict(req.reference), Source.from_dict(req.candidate)
    job = JobSteps(req.job_id, emit, total_steps=3)
    job.emit(JobStarted(kind="compare", source=reference_src.to_dict(), candidate=candidate_src.to_dict()))
    with job.stage("load models"):
        reference = open_runtime(reference_src)
        candidate = open_runtime(candidate_src)
        signature = _resolved_signature(reference_src, reference, options)
    with job.stage("compare outputs"):
        feeds, ref_out = _reference_outputs(job, options, signature, reference)
        cand_out = candidate.run(adapt_feeds(feeds, signature.inputs, candidate.signature, {}))
        variant = options.variant or guess_variant(candidate_src.path.name)
        result = compare_outputs(ref_out, cand_out, tolerance_for(variant, options.atol, options.rtol),
                                 reference_label=reference_src.spec, candidate_label=candidate_src.spec, variant=variant)
        samples_dir = Path(req.samples_dir) if req.samples_dir else None
        _emit_comparison(job, result, candidate_src.format.value, samples_dir, ref_out, cand_out)
    return 0 if result.passed else 1


def save_samples(folder: Path, ref_out: dict, cand_out: dict, result) -> dict[str, dict[str, str]]:
    """Save each paired output (the candidate aligned to the reference's shape) for the GUI's plots."""
    from studio.compare import align

    folder.mkdir(parents=True, exist_ok=True)
    samples = {}
    for index, diff in enumerate(result.outputs):
        if not diff.name or diff.candidate_name not in cand_out:
            continue
        reference = np.asarray(ref_out[diff.name])
        perm = tuple(diff.permutation) if diff.permutation is not None else None
        candidate = align(np.asarray(cand_out[diff.candidate_name]), reference.shape, perm)
        paths = {"reference": folder / f"{index}_reference.npy", "candidate": folder / f"{index}_candidate.npy"}
        np.save(paths["reference"], reference)
        np.save(paths["candidate"], candidate)
        samples[diff.name] = {**{k: str(v) for k, v in paths.items()}, "aligned": True}
    return samples


def guess_variant(name: str) -> str:
    """The tolerance class of a file from its name, as onnx2tf names its TFLite files."""
    name = name.lower()
    if "dynamic_range" in name or "dynamic_int8" in name:
        return "dynamic_int8"
    if "int8" in name or "integer_quant" in name:
        return "int8"
    if "float16" in name or "fp16" in name:
        return "float16"
    return "float32"

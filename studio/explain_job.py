"""The explain job: where does an artifact drift from its source? One per-layer report per artifact.

Runs in the worker like convert and compare. The source's ONNX is the hub every pairing goes through
(studio.explain): it is the ONNX found beside the artifact (the convert job's own), or the source itself, or
exported again into a temp folder. With no artifact given, the ONNX and a float32 TFLite are made first, in a
temp folder that is removed afterwards: explain writes nothing but what it prints.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.jobs.events import JobStarted, LayersExplained
from studio.jobs.protocol import ExplainRequest
from studio.options import ConvertOptions, InputOptions
from studio.pipeline import Emit, JobSteps, _reference_outputs, _resolved_signature, guess_variant, run_stages
from studio.signature import Signature

EXPLAINABLE = (Format.ONNX, Format.TFLITE)


def run_explain(req: ExplainRequest, emit: Emit) -> int:
    from studio.runtimes import open_runtime

    options = req.options
    source = Source.from_dict(req.source)
    artifacts = [_artifact(path) for path in req.artifacts]
    job = JobSteps(req.job_id, emit, total_steps=2 + (0 if artifacts else 2) + max(1, len(artifacts)))
    job.emit(JobStarted(kind="explain", source=source.to_dict(), plan=[a.name for a in artifacts] or
                        ["make ONNX and float32 TFLite", "explain each"]))
    with job.stage("load source"):
        reference = open_runtime(source)
        signature = _resolved_signature(source, reference, options)
        feeds, _ = _reference_outputs(job, options, signature, reference)
    model = getattr(reference, "model", None)
    del reference
    # the runner's staging folder (it removes it even when the worker is killed), or our own in-process
    scratch = Path(req.staging_dir) if req.staging_dir else Path(tempfile.mkdtemp(prefix="studio-explain-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        onnx_path = _onnx_beside(artifacts, source)
        if not artifacts or onnx_path is None:
            held = [model]   # the export lets it go: explain then loads the source again
            model = None
            made, onnx_path = _make(job, source, signature, held, options, scratch, tflite=not artifacts)
            artifacts = artifacts or made
        reports = explain_each(job, source, signature, feeds, onnx_path,
                               [(a, tolerance_variant(a, options)) for a in artifacts], options, model=model,
                               samples_dir=req.samples_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if all(_clean(r) for r in reports) else 1


def explain_each(job: JobSteps, source: Source, signature: Signature, feeds: dict, onnx_path: Path,
                 artifacts: list[tuple[Path, str]], options: InputOptions, label: Callable[[Path], str] = str,
                 model=None, samples_dir: str | None = None, keep_going: bool = False) -> list[dict]:
    """Explain every (artifact, tolerance variant) against the source, one stage each; emits and returns their
    layer reports. keep_going (convert --explain): an artifact that cannot be explained is a warning, and the
    conversion's own results stand."""
    from studio.explain import explain_artifact

    reports = []
    for artifact, variant in artifacts:
        try:
            with job.stage(f"explain {artifact.name}"):
                report = explain_artifact(source, artifact, onnx_path=onnx_path, feeds=feeds, signature=signature,
                                          variant=variant, atol=options.atol, rtol=options.rtol, model=model,
                                          progress=job.progress, log=job.log, top=getattr(options, "top", 10),
                                          samples_dir=Path(samples_dir) / str(len(reports)) if samples_dir else None)
                data = report.to_dict()
                data["candidate"] = label(artifact)
                job.emit(LayersExplained(layers=data))
                reports.append(data)
        except StudioError as exc:
            if not keep_going:
                raise
            job.log(f"cannot explain {artifact.name} layer by layer: {exc}", "warning")
    return reports


def tolerance_variant(path: Path, options: InputOptions) -> str:
    """The tolerance an artifact is explained with: --variant, else its kind and file name as compare guesses."""
    from studio.artifacts import tolerance_class

    given = getattr(options, "variant", None)
    return given or tolerance_class("tflite" if path.suffix == ".tflite" else "onnx", guess_variant(path.name))


def _clean(report: dict) -> bool:
    return report.get("first_divergent") is None and all(row.get("passed") for row in report.get("rows", []))


def _artifact(path: str) -> Path:
    found = detect(path)
    if found.format not in EXPLAINABLE:
        raise StudioError(f"{path}: per-layer explanation reads ONNX and TFLite artifacts, not "
                          f"{found.format.value}")
    return found.path


def _onnx_beside(artifacts: list[Path], source: Source) -> Path | None:
    """The ONNX the artifacts were made from: the source itself, an ONNX among them, or the one their convert
    job's report lists."""
    if source.format is Format.ONNX:
        return source.path
    for artifact in artifacts:
        if artifact.suffix == ".onnx":
            return artifact
    for artifact in artifacts:   # report.json, or <name>_v<version>_report.json of a --serving job
        for report in sorted(artifact.parent.glob("*report.json"), key=lambda p: p.name != "report.json"):
            try:
                listed = json.loads(report.read_text())["artifacts"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            for entry in listed:
                if entry.get("kind") == "onnx" and Path(entry.get("path", "")).is_file():
                    return Path(entry["path"])
    return None


def _make(job: JobSteps, source: Source, signature: Signature, held: list, options: InputOptions, scratch: Path,
          tflite: bool) -> tuple[list[Path], Path]:
    """The source's ONNX (and a float32 TFLite) in the scratch folder, made by the convert job's own stages."""
    from studio.stages.registry import plan

    targets = ["onnx", "tflite"] if tflite else ["onnx"]
    convert = ConvertOptions(targets=targets, variants=["float32"], input_shapes=options.input_shapes,
                             input_dtypes=options.input_dtypes, seed=options.seed)
    final = scratch / "out"
    final.mkdir()
    made, onnx_path = run_stages(job, source, signature, plan(source.format, targets), convert, held, scratch, final)
    tflites = [Path(a.path) for a in made if a.kind == "tflite"]
    onnx = next((Path(a.path) for a in made if a.kind == "onnx"), onnx_path)
    explained = [*([onnx] if onnx != source.path else []), *tflites]   # an ONNX source is not its own artifact
    return (explained if tflite else []), onnx

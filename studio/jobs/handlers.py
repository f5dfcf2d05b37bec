"""Dispatch a request to its job and turn every failure into a FAILED event with an exit code.

Called in the worker process; tests may call run_request in-process with a list's append as emit.
"""

from __future__ import annotations

import traceback
from importlib import metadata
from typing import Any, Callable

from studio.errors import StageError, StudioError, one_line
from studio.jobs.events import Event, Failed, Inspected, JobStarted, VersionsRead

VERSIONED = ("torch", "tensorflow", "keras", "onnx", "onnxruntime", "onnxscript", "onnx2tf", "tf2onnx",
             "ai-edge-litert", "numpy", "protobuf", "netron", "PySide6")


def run_request(request: Any, emit: Callable[[Event], None]) -> int:
    """Run the request's job in this process; every event it emits carries the request's job id."""
    def stamped(event: Event) -> None:
        event.job_id = request.job_id
        emit(event)

    return _run(request, stamped)


def _run(request: Any, emit: Callable[[Event], None]) -> int:
    try:
        if request.kind == "convert":
            from studio.pipeline import run_convert

            return run_convert(request, emit)
        if request.kind == "compare":
            from studio.pipeline import run_compare

            return run_compare(request, emit)
        if request.kind == "explain":
            from studio.explain_job import run_explain

            return run_explain(request, emit)
        if request.kind == "inspect":
            return _inspect(request, emit)
        if request.kind == "versions":
            emit(VersionsRead(versions=package_versions()))
            return 0
        raise StudioError(f"unknown job kind {request.kind!r}")
    except StudioError as exc:
        emit(Failed(error=str(exc), exit_code=exc.exit_code, stage=getattr(exc, "stage", None), details=_details(exc)))
        return exc.exit_code
    except BaseException as exc:   # a bug or a library's SystemExit: still one line, details for --debug
        err = StageError("internal", one_line(exc))
        emit(Failed(error=str(err), exit_code=3, details=_details(exc)))
        return 3


def _details(exc: BaseException) -> str:
    """The traceback, after what the failure carries for the user (a converter's log tail)."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    extra = getattr(exc, "details", "")
    return f"{extra}\n\n{trace}" if extra else trace


def _inspect(request: Any, emit: Callable[[Event], None]) -> int:
    from studio.formats import Source
    from studio.model_summary import inspect_model

    source = Source.from_dict(request.source)
    emit(JobStarted(kind="inspect", source=source.to_dict()))
    emit(Inspected(summary=inspect_model(source)))
    return 0


def package_versions() -> dict[str, str]:
    """Installed versions, read from package metadata: no framework is imported."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions

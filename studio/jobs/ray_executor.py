"""Run job requests as Ray tasks: one task per request, on a local Ray or an existing cluster.

    records = run_on_ray([request, ...], address=None, num_cpus=2, on_event=print)

Each task gets its request as one JSON line (studio.jobs.protocol, so nothing unpicklable crosses), runs it with
studio.jobs.handlers.run_request in the Ray worker (torch and TensorFlow are imported there, lazily, as in the
studio's own worker) and returns the job's events as JSON lines. The driver folds them into one JobRecord per
request (JobRecord.apply, the only fold) and hands each event to on_event. A task that dies (a native crash,
os._exit, Ray's out-of-memory killer, a lost node) fails that job only: a Failed/Finished pair with exit code 3
and a one-line reason; the other jobs go on.

A convert job writes under a hidden staging folder beside its out_dir (as studio.jobs.runner does) and renames it
into place when it succeeds; the folder is removed when the job fails, even when its worker died.

Paths: relative paths in a request are made absolute on the driver, and the tasks read sources and write outputs
at those paths on whichever node runs them. With more than one machine, keep the sources and the output folders
on a filesystem every node of the cluster mounts at the same path (NFS, a shared volume), and install the studio
with the extra (`pip install 'model-conversion-studio[ray]'`) in the same environment on every node.

Importing this module does not import Ray: require_ray() does, and says how to install it when it is missing.
Events reach on_event when a task ends (a task's events come back together), not while it runs.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from studio.errors import StudioError, one_line
from studio.jobs.events import Event, Failed, Finished, event_from_json
from studio.jobs.protocol import request_from_json, request_to_json, staging_name
from studio.jobs.record import JobRecord

RAY_VERSION = "2.60.0"
INSTALL_HINT = f"pip install 'model-conversion-studio[ray]' (or: pip install ray=={RAY_VERSION})"
CANCELLED_EXIT = 130
# Ray's own start-up chatter on the driver (INFO lines, the token-auth notice) is not the studio's output.
_RAY_NOISE = ("Token authentication is enabled", "Generated new authentication token")
_RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"

EventCallback = Callable[[Event], None]


def require_ray() -> Any:
    """The ray module, or a StudioError whose one line says how to get it."""
    try:
        import ray
    except ImportError:
        if getattr(sys, "frozen", False):
            raise StudioError("the packaged app does not include Ray: to run jobs on Ray, install the studio with "
                              f"pip: {INSTALL_HINT}") from None
        raise StudioError(f"running jobs on Ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def run_on_ray(requests: Iterable[Any], address: str | None = None, num_cpus: int | None = None,
               on_event: EventCallback | None = None, *, cpus_per_task: float = 1,
               reuse_workers: bool = False) -> list[JobRecord]:
    """Run every request as a Ray task; returns their JobRecords in the order of the requests.

    address: None starts a local Ray with num_cpus CPUs (None: all of them) and shuts it down afterwards (if
    RAY_ADDRESS is set, Ray connects there instead); "auto" joins the cluster `ray start` runs on this machine;
    "ray://host:10001" connects to a remote cluster's client server; "host:6379" joins from one of its nodes. If
    Ray is already initialised in this process, that Ray is used and left running.
    on_event: called on the driver with every event, in each job's order, as each task ends.
    cpus_per_task: the CPUs Ray reserves for one conversion (so at most num_cpus / cpus_per_task run at once).
    reuse_workers: False (the default) runs each job in a fresh worker process, as the studio's own worker does;
    True lets a Ray worker take job after job with torch and TensorFlow already imported (faster, less isolated).
    """
    requests = list(requests)
    records = {record.job_id: record for record in iter_on_ray(requests, address, num_cpus, on_event,
                                                                cpus_per_task=cpus_per_task,
                                                                reuse_workers=reuse_workers)}
    return [records[request.job_id] for request in requests]


def iter_on_ray(requests: Iterable[Any], address: str | None = None, num_cpus: int | None = None,
                on_event: EventCallback | None = None, *, cpus_per_task: float = 1,
                reuse_workers: bool = False) -> Iterator[JobRecord]:
    """run_on_ray, yielding each job's finished JobRecord as its task ends (in the order they end).

    Interrupting it (Ctrl-C, or closing the iterator early) cancels the tasks still queued or running and removes
    their staging folders.
    """
    ray = require_ray()
    requests = [_absolute(request) for request in requests]
    ids = [request.job_id for request in requests]
    if len(set(ids)) != len(ids):
        raise StudioError("two requests share a job id: each job needs its own")
    if not requests:
        return
    started_here = _connect(ray, address, num_cpus)
    pending: dict[Any, Any] = {}
    try:
        task = ray.remote(num_cpus=cpus_per_task, max_retries=0, max_calls=0 if reuse_workers else 1)(_run_task)
        pending = {task.remote(request_to_json(request)): request for request in requests}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                request = pending.pop(ref)
                yield _fold(request, _events_of(ray, ref, request), on_event)
    finally:
        if pending:   # interrupted: nobody waits for these any more
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            for request in pending.values():
                _remove_staging(request)
        if started_here:
            ray.shutdown()


# ---------------------------------------------------------------- the driver

def _connect(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Start or join a Ray; True when this call did (and so shuts it down after)."""
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = address or os.environ.get("RAY_ADDRESS") or None
    logging.getLogger(_RAY_AUTH_LOGGER).addFilter(_drop_ray_noise)
    _raylet_messages_to_stderr()
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}   # the workers' prints stay in Ray's logs
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, object_store_memory=256 * 1024 ** 2, **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:
        where = "start a local Ray" if address is None else f"connect to the Ray cluster at {address}"
        raise StudioError(f"could not {where}: {one_line(exc)}") from None
    return True


def _raylet_messages_to_stderr() -> None:
    """Ray prints the raylet's messages (a worker died, a task was OOM-killed) on the driver's stdout, whatever
    log_to_driver says: send them to stderr, where the CLI's progress goes, so stdout stays the CLI's (its table,
    --json). The job's record carries the one-line reason either way."""
    worker = sys.modules.get("ray._private.worker")
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "studio_wrapped", False):
        return

    def print_to_stdstream(data: dict, ignore_prefix: bool) -> None:
        if data.get("pid") == "raylet":
            data = {**data, "is_err": True}
        original(data, ignore_prefix)

    print_to_stdstream.studio_wrapped = True   # type: ignore[attr-defined]
    worker.print_to_stdstream = print_to_stdstream


def _drop_ray_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(text in message for text in _RAY_NOISE)


def _absolute(request: Any) -> Any:
    """The request with its paths absolute, so a task means the same files wherever it runs."""
    changes: dict[str, Any] = {}
    for name in ("source", "reference", "candidate"):
        model = getattr(request, name, None)
        if isinstance(model, dict):
            changes[name] = {**model, **{key: _abs(model[key]) for key in ("path", "weights") if model.get(key)}}
    for name in ("out_dir", "report_path", "samples_dir", "staging_dir"):
        value = getattr(request, name, None)
        if value:
            changes[name] = _abs(value)
    if getattr(request, "artifacts", None):
        changes["artifacts"] = [_abs(path) for path in request.artifacts]
    return replace(request, **changes) if changes else request


def _abs(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def _events_of(ray: Any, ref: Any, request: Any) -> list[Event]:
    """The task's events; a task that failed in Ray (its worker died, it was cancelled) ends in Failed/Finished."""
    try:
        lines = ray.get(ref)
    except BaseException as exc:
        if not isinstance(exc, ray.exceptions.RayError):
            raise
        return _lost(ray, request, exc)
    events = []
    for line in lines:
        try:
            events.append(event_from_json(line))
        except ValueError:
            continue
    if not events or not isinstance(events[-1], Finished):   # cannot happen with _run_task; keep the promise anyway
        events += [Failed(job_id=request.job_id, error="the Ray task ended without finishing its job", exit_code=3),
                   Finished(job_id=request.job_id, exit_code=3)]
    return events


def _lost(ray: Any, request: Any, exc: BaseException) -> list[Event]:
    job_id = request.job_id
    errors = ray.exceptions
    if isinstance(exc, errors.TaskCancelledError):
        return [Failed(job_id=job_id, error="cancelled", cancelled=True, exit_code=CANCELLED_EXIT),
                Finished(job_id=job_id, exit_code=CANCELLED_EXIT)]
    _remove_staging_on_cluster(ray, request)
    if isinstance(exc, errors.OutOfMemoryError):
        reason = "Ray killed the worker: the node ran out of memory"
    elif isinstance(exc, errors.WorkerCrashedError):
        reason = ("the Ray worker died while running the job (a crash in a native library, out of memory, "
                  "or the model's code exited the process)")
    elif isinstance(exc, (errors.NodeDiedError, errors.LocalRayletDiedError)):
        reason = "the Ray node running the job died"
    elif isinstance(exc, errors.RayTaskError):
        cause = getattr(exc, "cause", None)
        reason = f"the Ray task failed: {one_line(cause if isinstance(cause, BaseException) else exc, 300)}"
    else:
        reason = f"Ray lost the job: {one_line(exc, 300)}"
    return [Failed(job_id=job_id, error=reason, exit_code=3, crashed=True, details=str(exc)),
            Finished(job_id=job_id, exit_code=3)]


def _fold(request: Any, events: list[Event], on_event: EventCallback | None) -> JobRecord:
    record = JobRecord(job_id=request.job_id, kind=request.kind)
    for event in events:
        event.job_id = request.job_id
        record.apply(event)
        if on_event is not None:
            on_event(event)
    return record


def _remove_staging_on_cluster(ray: Any, request: Any) -> None:
    """A worker that died left its staging folder: remove it where the cluster sees it (and here, if shared)."""
    _remove_staging(request)
    if getattr(request, "kind", None) != "convert" or Path(request.out_dir).parent.is_dir():
        return   # this machine sees the output's folder (a local Ray, or a shared filesystem): done
    try:
        cleanup = ray.remote(num_cpus=0, max_retries=0)(_remove_staging_task)
        ray.get(cleanup.remote(request_to_json(request)), timeout=60)
    except Exception:
        pass   # best effort: the job's failure is what the user needs to see


# ---------------------------------------------------------------- the task (runs in a Ray worker)

def _staging_prefix(out_dir: str, job_id: str) -> str:
    """The staging folder's name (protocol.staging_name) up to a random part, with the job's id first, so that
    the driver can find it after a crash."""
    return staging_name(out_dir, f"{job_id}-")


def _remove_staging(request: Any) -> None:
    staging = getattr(request, "staging_dir", None)
    if staging:
        shutil.rmtree(staging, ignore_errors=True)
    if getattr(request, "kind", None) == "convert" and request.out_dir:
        out = Path(request.out_dir)
        if out.parent.is_dir():
            for folder in out.parent.glob(_staging_prefix(request.out_dir, request.job_id) + "*"):
                shutil.rmtree(folder, ignore_errors=True)


def _remove_staging_task(request_json: str) -> None:
    _remove_staging(request_from_json(request_json))


def _run_task(request_json: str) -> list[str]:
    """One job in this Ray worker: its events as JSON lines, the last one Finished."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # as studio.jobs.launch.worker_env: read at TF's import
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")    # the CPU-only stack: no GPU probing
    from studio.jobs.handlers import run_request

    request = request_from_json(request_json)
    lines: list[str] = []
    scratch = None
    code = 3
    try:
        if request.kind == "convert" and not request.staging_dir:
            out = Path(request.out_dir).resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            request = replace(request, staging_dir=tempfile.mkdtemp(
                prefix=_staging_prefix(str(out), request.job_id), dir=out.parent))
        elif hasattr(request, "staging_dir") and not request.staging_dir:   # scratch only (explain)
            scratch = tempfile.mkdtemp(prefix=f"studio-{request.kind}-{request.job_id}-")
            request = replace(request, staging_dir=scratch)
        code = run_request(request, lambda event: lines.append(event.to_json()))
    except OSError as exc:   # the staging folder could not be made: the output's parent is not writable here
        lines.append(Failed(job_id=request.job_id, error=one_line(StudioError(f"{request.out_dir}: {exc}")),
                            exit_code=2).to_json())
        code = 2
    finally:
        staging = getattr(request, "staging_dir", None)
        if staging:   # a job that succeeded has moved its output out already
            shutil.rmtree(staging, ignore_errors=True)
    lines.append(Finished(job_id=request.job_id, exit_code=code).to_json())
    return lines

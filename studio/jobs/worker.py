"""Worker process entry point: read requests from stdin, stream each one's events to stdout.

One-shot (the default): one request, then exit. Warm (`--serve`): one request after another, each on its
own line, each ending with its FINISHED event, until stdin closes; torch and TensorFlow stay imported
between jobs, and what a job may change is put back after it (`job_scope`).

Libraries (onnx2tf, TF) print freely; the worker keeps the real stdout for events only and sends
everything else to stderr, which the runner turns into log events.

The worker makes a job's staging folder when it starts the job, so a request that never reached a worker leaves
nothing. When stdin closes (the parent died), no further job starts; a running job is abandoned: the worker takes
its process group down (the job's threads and the programs it started stop writing) and a small remover process,
which outlives it, deletes the staging folder once it is gone.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

from studio.errors import StudioError, one_line
from studio.jobs.events import Event, Failed, Finished
from studio.jobs.protocol import request_from_json
from studio.jobs.worker_reset import job_scope

SERVE_FLAG = "--serve"
REMOVE_FLAG = "--remove-when-gone"   # REMOVE_FLAG PATH: wait for stdin to close, then delete PATH
_current: list = [None]              # the request being run, for _abandon
_parent_gone = threading.Event()
_remover: list = []                  # keeps the remover's stdin open until this process dies


def main() -> int:
    if REMOVE_FLAG in sys.argv:
        return _remove_when_gone(sys.argv[sys.argv.index(REMOVE_FLAG) + 1])
    events_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)              # anything printed by libraries goes to stderr, never into the event stream
    sys.stdout = sys.stderr
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            try:
                events_out.write(event.to_json() + "\n")
                events_out.flush()
            except (BrokenPipeError, OSError, ValueError):   # nobody is listening any more
                _abandon()

    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_requests, args=(lines,), daemon=True).start()
    serve = SERVE_FLAG in sys.argv
    code = 2
    while True:
        line = lines.get()
        if line is None or not line.strip():
            break
        code = _run_one(request_from_json(line), emit)
        if not serve:
            break
    os._exit(code)   # skip TF/torch atexit work: it can take seconds and the result is already out


def _run_one(request, emit) -> int:
    _current[0] = request
    if _parent_gone.is_set():   # nobody waits for it (checked after _current is set: see _read_requests)
        _current[0] = None
        return 130
    try:
        staging = getattr(request, "staging_dir", None)
        if staging:
            os.makedirs(staging, exist_ok=True)
    except OSError as exc:   # the output's folder is not writable: a user error, said in one line
        code = 2
        emit(Failed(job_id=request.job_id, exit_code=code, error=one_line(StudioError(
            f"{os.path.dirname(staging)}: cannot write the output there ({exc.strerror})"))))
        emit(Finished(job_id=request.job_id, exit_code=code))
        _current[0] = None
        return code
    try:
        from studio.jobs.handlers import run_request

        with job_scope(request):
            code = run_request(request, emit)
        emit(Finished(job_id=request.job_id, exit_code=code))
    except BaseException:
        if _parent_gone.is_set():
            _abandon()
        os._exit(130)   # the worker itself broke: its parent reports the exit and removes the staging folder
    _current[0] = None
    return code


def _read_requests(lines: queue.Queue) -> None:
    """Requests line by line; stdin closing means the parent is gone: abandon the job that is running."""
    for line in sys.stdin:
        lines.put(line)
    _parent_gone.set()
    lines.put(None)
    if _current[0] is not None:
        _abandon()


def _abandon() -> None:
    """The parent is gone: nobody else will remove our half-written output.

    Deleting it from here would race the job's own threads and child programs, which go on writing (and making
    folders) until this process is gone. So a remover, in a session of its own, waits for this process to die
    (its stdin closes) and deletes the folder then; this process kills its own process group (itself and what
    the job started) when it leads one, as spawn_worker makes it, else just exits."""
    staging = getattr(_current[0], "staging_dir", None)
    if staging:
        try:
            from studio.jobs.launch import worker_command

            _remover.append(subprocess.Popen(worker_command() + [REMOVE_FLAG, staging], stdin=subprocess.PIPE,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             start_new_session=True))
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    if os.name == "posix" and os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(130)


def _remove_when_gone(path: str) -> int:
    """The remover: its stdin is a pipe only the abandoning worker holds; it closes when that worker is dead."""
    sys.stdin.read()
    for _ in range(5):   # a killed child may finish one last write
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return 0
        time.sleep(0.2)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Worker process entry point: read requests from stdin, stream each one's events to stdout.

One-shot (the default): one request, then exit. Warm (`--serve`): one request after another, each on its
own line, each ending with its FINISHED event, until stdin closes; torch and TensorFlow stay imported
between jobs, and what a job may change is put back after it (`job_scope`).

Libraries (onnx2tf, TF) print freely; the worker keeps the real stdout for events only and sends
everything else to stderr, which the runner turns into log events. When stdin closes (the parent
died) during a job, the worker removes that job's staging folder and exits.
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import threading

from studio.jobs.events import Event, Finished
from studio.jobs.protocol import request_from_json
from studio.jobs.worker_reset import job_scope

SERVE_FLAG = "--serve"
_current: list = [None]   # the request being run, for _abandon


def main() -> int:
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
    try:
        from studio.jobs.handlers import run_request

        with job_scope(request):
            code = run_request(request, emit)
        emit(Finished(job_id=request.job_id, exit_code=code))
    except BaseException:
        _abandon()
    _current[0] = None
    return code


def _read_requests(lines: queue.Queue) -> None:
    """Requests line by line; stdin closing means the parent is gone: abandon the job that is running."""
    for line in sys.stdin:
        lines.put(line)
    lines.put(None)
    if _current[0] is not None:
        _abandon()


def _abandon() -> None:
    """The parent is gone (or we broke): nobody else will remove our half-written output."""
    staging = getattr(_current[0], "staging_dir", None)
    if staging:
        shutil.rmtree(staging, ignore_errors=True)
    os._exit(130)


if __name__ == "__main__":
    raise SystemExit(main())

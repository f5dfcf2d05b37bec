"""Worker process entry point: read one request from stdin, stream events to stdout, exit.

Libraries (onnx2tf, TF) print freely; the worker keeps the real stdout for events only and sends
everything else to stderr, which the runner turns into log events. When stdin closes (the parent
died), the worker removes its staging folder and exits.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading

from studio.jobs.events import Event, Finished
from studio.jobs.protocol import request_from_json


def main() -> int:
    events_out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)              # anything printed by libraries goes to stderr, never into the event stream
    sys.stdout = sys.stderr
    line = sys.stdin.readline()
    if not line.strip():
        return 2
    request = request_from_json(line)
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            try:
                events_out.write(event.to_json() + "\n")
                events_out.flush()
            except (BrokenPipeError, OSError, ValueError):   # nobody is listening any more
                _abandon(request)

    threading.Thread(target=_exit_when_parent_goes, args=(request,), daemon=True).start()
    try:
        from studio.jobs.handlers import run_request

        code = run_request(request, emit)
        emit(Finished(job_id=request.job_id, exit_code=code))
    except BaseException:
        _abandon(request)
    os._exit(code)   # skip TF/torch atexit work: it can take seconds and the result is already out


def _exit_when_parent_goes(request) -> None:
    for _ in sys.stdin:
        pass
    _abandon(request)


def _abandon(request) -> None:
    """The parent is gone (or we broke): nobody else will remove our half-written output."""
    staging = getattr(request, "staging_dir", None)
    if staging:
        shutil.rmtree(staging, ignore_errors=True)
    os._exit(130)


if __name__ == "__main__":
    raise SystemExit(main())

"""The GUI tests' stand-in for a worker: a runner that plays a script of real studio.jobs.events objects.

A test module's `make_runner` (the JobQueue's) makes one FakeRunner per request. A WAIT in a script blocks until the
job is cancelled, like a long conversion. (Imported by name: tests/gui is on sys.path, a conftest is not importable.)
"""

from __future__ import annotations

import dataclasses
import threading

from studio.jobs.events import Failed, Finished, Inspected, JobStarted

WAIT = object()     # in a script: block until cancel()


class FakeRunner:
    """What JobRunner offers the JobQueue (start, events, cancel, pid), playing a script instead of a worker;
    every event is stamped with the request's job id."""

    pid = 4242

    def __init__(self, request, script: list):
        self.request, self.script = request, script
        self.started = False
        self._cancelled = threading.Event()

    def start(self) -> "FakeRunner":
        self.started = True
        return self

    def cancel(self) -> None:
        self._cancelled.set()

    def events(self):
        for item in self.script:
            if item is WAIT:
                self._cancelled.wait(30)
            if self._cancelled.is_set():
                yield Failed(job_id=self.request.job_id, error="cancelled", cancelled=True, exit_code=130)
                yield Finished(job_id=self.request.job_id, exit_code=130)
                return
            if item is not WAIT:
                yield dataclasses.replace(item, job_id=self.request.job_id)


def inspect_script(request) -> list:
    """An inspect job: the real summary of the model (read in the test process), no worker."""
    from studio.formats import Source
    from studio.model_summary import inspect_model

    return [JobStarted(kind="inspect", source=request.source),
            Inspected(summary=inspect_model(Source.from_dict(request.source))), Finished(exit_code=0)]

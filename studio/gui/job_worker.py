"""Jobs in the GUI: each runs in a worker process (JobRunner), supervised from a QThread whose events become signals.

The GUI thread never blocks on a worker and never imports a framework. Jobs wait in lanes, first in first out:
conversions and comparisons share the "convert" lane (one at a time: they are heavy), inspect and versions
jobs share the "quick" lane so opening a model is not stuck behind a long conversion.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from studio.errors import one_line
from studio.jobs.protocol import (ARTIFACT, COMPARISON, FAILED, FINISHED, JOB_STARTED, PROGRESS, RESULT,
                                  STAGE_FINISHED, STAGE_STARTED, Event)

QUEUED, RUNNING, DONE, FAILED_STATE, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED_STATE, CANCELLED)
LANES = {"convert": "convert", "compare": "convert", "inspect": "quick", "versions": "quick"}
_ids = itertools.count(1)


@dataclass
class Job:
    """One request and everything the GUI learned about it from its events."""

    request: Any
    title: str                              # what the jobs panel shows, e.g. "convert tiny_cnn.pt2"
    source_key: str | None = None           # the sidebar source it belongs to
    context: dict = field(default_factory=dict)  # the caller's own bookkeeping (e.g. which artifact)
    id: int = field(default_factory=lambda: next(_ids))
    state: str = QUEUED
    stage: str = ""
    message: str = ""
    fraction: float = 0.0
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    details: str | None = None
    exit_code: int | None = None
    artifacts: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    result: dict = field(default_factory=dict)
    runner: Any = None                      # the JobRunner once the thread made it (runner.pid: the worker)
    cancel_requested: bool = False

    @property
    def kind(self) -> str:
        return getattr(self.request, "kind", "job")

    @property
    def lane(self) -> str:
        return LANES.get(self.kind, "convert")

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.started_at

    @property
    def failed_comparisons(self) -> int:
        return sum(1 for c in self.comparisons if not c.get("passed"))

    def status_text(self) -> str:
        if self.state == QUEUED:
            return "queued"
        if self.state == RUNNING:
            return self.message or self.stage or "starting worker"
        if self.state == CANCELLED:
            return "cancelled"
        if self.state == FAILED_STATE:
            return f"failed: {self.error}" if self.error else "failed"
        if self.comparisons:
            bad = self.failed_comparisons
            return f"done, {bad} of {len(self.comparisons)} comparisons failed" if bad else "done, all comparisons passed"
        return "done"


class _RunnerThread(QThread):
    """Runs one JobRunner to its end and re-emits every event; the last one is always FINISHED."""

    event = Signal(object, object)   # Job, Event

    def __init__(self, job: Job, lock: threading.Lock, parent: QObject | None = None):
        super().__init__(parent)
        self.job = job
        self._lock = lock

    def run(self) -> None:  # in the background thread
        from studio.jobs.runner import JobRunner

        runner = None
        try:
            runner = JobRunner(self.job.request)
            with self._lock:   # a cancel that arrives before the process exists must still stop it
                if self.job.cancel_requested:
                    self._give_up(runner, cancelled=True)
                    return
                self.job.runner = runner
                runner.start()
            for event in runner.events():
                self.event.emit(self.job, event)
        except Exception as exc:   # the worker could not even start (missing interpreter, no fork...)
            self._give_up(runner, cancelled=False, error=f"could not start the worker process: {one_line(exc)}")

    def _give_up(self, runner, cancelled: bool, error: str = "cancelled") -> None:
        staging = getattr(getattr(runner, "request", None), "staging_dir", None)
        if staging:
            shutil.rmtree(staging, ignore_errors=True)
        code = 130 if cancelled else 3
        self.event.emit(self.job, Event(FAILED, {"error": error, "cancelled": cancelled, "exit_code": code}))
        self.event.emit(self.job, Event(FINISHED, {"exit_code": code}))


class JobQueue(QObject):
    """Owns every job of the window: submit, cancel, and signals as their events arrive (in the GUI thread)."""

    job_added = Signal(object)            # Job
    job_event = Signal(object, object)    # Job, Event (after the Job is updated)
    job_changed = Signal(object)          # Job: state, stage or progress changed
    job_finished = Signal(object)         # Job in a final state

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.jobs: list[Job] = []
        self._waiting: dict[str, deque[Job]] = {}
        self._running: dict[str, tuple[Job, _RunnerThread]] = {}
        self._threads: set[_RunnerThread] = set()
        self._lock = threading.Lock()
        self._closing = False

    # ------------------------------------------------------------ public
    def submit(self, request: Any, title: str, source_key: str | None = None, context: dict | None = None) -> Job:
        job = Job(request=request, title=title, source_key=source_key, context=dict(context or {}))
        self.jobs.append(job)
        self._waiting.setdefault(job.lane, deque()).append(job)
        self.job_added.emit(job)
        self._start_next(job.lane)
        return job

    def running(self, lane: str | None = None) -> list[Job]:
        return [job for name, (job, _) in self._running.items() if lane in (None, name)]

    def current(self) -> Job | None:
        """The job Esc cancels: the running conversion, else any running job, else the next queued one."""
        running = self.running("convert") or self.running()
        if running:
            return running[0]
        queued = [job for job in self.jobs if job.state == QUEUED]
        return queued[0] if queued else None

    def cancel(self, job: Job) -> None:
        """A queued job is dropped; a running one has its worker killed (JobRunner.cancel) and ends in ~no time."""
        if job.finished:
            return
        with self._lock:
            job.cancel_requested = True
            runner = job.runner
        if job.state == QUEUED:
            lane = self._waiting.get(job.lane)
            if lane and job in lane:
                lane.remove(job)
            job.state, job.error, job.ended_at = CANCELLED, "cancelled", time.monotonic()
            job.started_at = job.started_at or job.ended_at
            self.job_changed.emit(job)
            self.job_finished.emit(job)
            return
        job.message = "cancelling"
        self.job_changed.emit(job)
        if runner is not None:
            runner.cancel()

    def cancel_all(self) -> None:
        for job in list(self.jobs):
            if job.state == QUEUED:
                self.cancel(job)
        for job in self.running():
            self.cancel(job)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Kill every worker and wait for the supervising threads: called when the window closes."""
        self._closing = True
        self.cancel_all()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.wait(max(0, int((deadline - time.monotonic()) * 1000)))

    def clear_finished(self) -> list[Job]:
        gone = [job for job in self.jobs if job.finished]
        self.jobs = [job for job in self.jobs if not job.finished]
        return gone

    # ------------------------------------------------------------ internals
    def _start_next(self, lane: str) -> None:
        if self._closing or lane in self._running:
            return
        waiting = self._waiting.get(lane)
        if not waiting:
            return
        job = waiting.popleft()
        job.state, job.started_at, job.message = RUNNING, time.monotonic(), "starting worker"
        thread = _RunnerThread(job, self._lock)
        # Bound methods of this QObject (it lives in the GUI thread): the calls are queued into the GUI thread.
        thread.event.connect(self._on_event)
        thread.finished.connect(self._forget)
        self._running[lane] = (job, thread)
        self._threads.add(thread)
        self.job_changed.emit(job)
        thread.start()

    def _forget(self) -> None:
        thread = self.sender()
        if isinstance(thread, _RunnerThread):
            self._threads.discard(thread)
            thread.deleteLater()

    def _on_event(self, job: Job, event: Event) -> None:
        d = event.data
        if event.type == JOB_STARTED:
            job.message = "started"
        elif event.type == STAGE_STARTED:
            job.stage = job.message = str(d.get("name", ""))
        elif event.type == STAGE_FINISHED and not d.get("ok", True):
            job.message = f"{d.get('name')} failed"
        elif event.type == PROGRESS:
            job.fraction = float(d.get("fraction") or 0.0)
            job.message = str(d.get("message") or job.stage)
        elif event.type == ARTIFACT:
            job.artifacts.append(d)
        elif event.type == COMPARISON:
            job.comparisons.append(d)
        elif event.type == RESULT:
            job.result.update(d)
        elif event.type == FAILED:
            job.error = str(d.get("error") or "the job failed")
            job.details = d.get("details")
            if d.get("cancelled") or job.cancel_requested:
                job.state = CANCELLED
        elif event.type == FINISHED:
            job.exit_code = int(d.get("exit_code", 3))
            job.ended_at = time.monotonic()
            if job.state != CANCELLED:
                job.state = FAILED_STATE if job.error is not None else DONE
            if job.state == DONE:
                job.fraction = 1.0
        self.job_event.emit(job, event)
        self.job_changed.emit(job)
        if event.type == FINISHED:
            self._running.pop(job.lane, None)
            self.job_finished.emit(job)
            self._start_next(job.lane)

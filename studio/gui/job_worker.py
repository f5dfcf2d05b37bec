"""Jobs in the GUI: each runs in a worker process, supervised from a QThread whose events become signals.

The GUI thread never blocks on a worker and never imports a framework. Jobs wait in lanes, first in first out:
conversions, comparisons and explain jobs share the "convert" lane, run by the warm worker pool (as many at once
as it has workers, a number the settings hold); inspect and versions jobs share the "quick" lane (one fresh
worker each, one at a time) so opening a model is not stuck behind long conversions.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from studio.errors import one_line
from studio.jobs.events import Event, Failed, Finished
from studio.jobs.record import QUEUED, JobRecord

LANES = {"convert": "convert", "compare": "convert", "explain": "convert", "inspect": "quick", "versions": "quick"}
_numbers = itertools.count(1)


def real_runner(request: Any):
    """A JobRunner: one worker process per job (tests inject a stand-in with the same start/events/cancel)."""
    from studio.jobs.runner import JobRunner

    return JobRunner(request)


class PoolRunners:
    """make_runner for the window: the convert lane's jobs go to one warm WorkerPool, the quick lane's to JobRunner."""

    def __init__(self, size: int):
        self.size = size
        self._pool = None

    def __call__(self, request: Any):
        if LANES.get(getattr(request, "kind", ""), "convert") != "convert":
            return real_runner(request)
        if self._pool is None:
            from studio.jobs.pool import WorkerPool

            self._pool = WorkerPool(size=self.size)
        return self._pool.runner(request)

    def resize(self, size: int) -> None:
        self.size = size
        if self._pool is not None:
            self._pool.size = size   # extra workers retire as their jobs end (release() keeps only `size`)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()


@dataclass(eq=False)   # a job is itself: two jobs with equal fields are still two jobs
class QueuedJob(JobRecord):
    """A job of the window: its request and place in the queue, plus the JobRecord its events fold into."""

    request: Any = None
    title: str = ""                          # what the jobs panel shows, e.g. "convert tiny_cnn.pt2"
    source_key: str | None = None            # the sidebar source it belongs to
    context: dict = field(default_factory=dict)  # the caller's own bookkeeping (e.g. which artifact)
    number: int = field(default_factory=lambda: next(_numbers))   # short, for the log: "[3] ..."
    queued_at: float = field(default_factory=time.monotonic)
    runner: Any = None                       # the runner once the thread made it (runner.pid: the worker)

    def __post_init__(self) -> None:
        self.job_id = self.job_id or getattr(self.request, "job_id", "")
        self.kind = self.kind or getattr(self.request, "kind", "job")

    @property
    def id(self) -> int:
        return self.number

    @property
    def lane(self) -> str:
        return LANES.get(self.kind, "convert")


class _RunnerThread(QThread):
    """Runs one JobRunner to its end and re-emits every event; the last one is always FINISHED."""

    event = Signal(object, object)   # QueuedJob, Event

    def __init__(self, job: QueuedJob, lock: threading.Lock, make_runner: Callable[[Any], Any],
                 parent: QObject | None = None):
        super().__init__(parent)
        self.job = job
        self._lock = lock
        self._make_runner = make_runner

    def run(self) -> None:  # in the background thread
        runner = None
        try:
            runner = self._make_runner(self.job.request)
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
        job_id = self.job.job_id
        self.event.emit(self.job, Failed(job_id=job_id, error=error, cancelled=cancelled, exit_code=code))
        self.event.emit(self.job, Finished(job_id=job_id, exit_code=code))


class JobQueue(QObject):
    """Owns every job of the window: submit, cancel, and signals as their events arrive (in the GUI thread)."""

    job_added = Signal(object)            # QueuedJob
    job_event = Signal(object, object)    # QueuedJob, Event (after the job's record has folded it)
    job_changed = Signal(object)          # QueuedJob: state, stage or progress changed
    job_finished = Signal(object)         # QueuedJob in a final state

    def __init__(self, parent: QObject | None = None, make_runner: Callable[[Any], Any] = real_runner,
                 convert_lane_size: int = 1):
        """make_runner(request) -> an object with start(), events() (ending with Finished), cancel() and pid.
        convert_lane_size: how many convert-lane jobs run at once (the pool's workers)."""
        super().__init__(parent)
        self.make_runner = make_runner
        self.capacity = {"convert": max(1, convert_lane_size), "quick": 1}
        self.jobs: list[QueuedJob] = []
        self._waiting: dict[str, deque[QueuedJob]] = {}
        self._running: dict[str, list[tuple[QueuedJob, _RunnerThread]]] = {}
        self._threads: set[_RunnerThread] = set()
        self._lock = threading.Lock()
        self._closing = False

    # ------------------------------------------------------------ public
    def submit(self, request: Any, title: str, source_key: str | None = None,
               context: dict | None = None) -> QueuedJob:
        job = QueuedJob(request=request, title=title, source_key=source_key, context=dict(context or {}))
        self.jobs.append(job)
        self._waiting.setdefault(job.lane, deque()).append(job)
        self.job_added.emit(job)
        self._start_next(job.lane)
        return job

    def set_convert_workers(self, size: int) -> None:
        """How many convert-lane jobs run at once (the pool's workers); more start at once if some wait."""
        self.capacity["convert"] = max(1, size)
        if isinstance(self.make_runner, PoolRunners):
            self.make_runner.resize(size)
        self._start_next("convert")

    def running(self, lane: str | None = None) -> list[QueuedJob]:
        return [job for name, pairs in self._running.items() if lane in (None, name) for job, _ in pairs]

    def current(self) -> QueuedJob | None:
        """The job Esc cancels: the running conversion, else any running job, else the next queued one."""
        running = self.running("convert") or self.running()
        if running:
            return running[0]
        queued = [job for job in self.jobs if job.state == QUEUED]
        return queued[0] if queued else None

    def cancel(self, job: QueuedJob) -> None:
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
            job.mark_cancelled()
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
        if hasattr(self.make_runner, "close"):
            self.make_runner.close()

    def clear_finished(self) -> list[QueuedJob]:
        gone = [job for job in self.jobs if job.finished]
        self.jobs = [job for job in self.jobs if not job.finished]
        return gone

    # ------------------------------------------------------------ internals
    def _start_next(self, lane: str) -> None:
        running = self._running.setdefault(lane, [])
        waiting = self._waiting.get(lane)
        while not self._closing and waiting and len(running) < self.capacity.get(lane, 1):
            self._start(lane, waiting.popleft())

    def _start(self, lane: str, job: QueuedJob) -> None:
        job.mark_running()
        thread = _RunnerThread(job, self._lock, self.make_runner)
        # Bound methods of this QObject (it lives in the GUI thread): the calls are queued into the GUI thread.
        thread.event.connect(self._on_event)
        thread.finished.connect(self._forget)
        self._running[lane].append((job, thread))
        self._threads.add(thread)
        self.job_changed.emit(job)
        thread.start()

    def _forget(self) -> None:
        thread = self.sender()
        if isinstance(thread, _RunnerThread):
            self._threads.discard(thread)
            thread.deleteLater()

    def _on_event(self, job: QueuedJob, event: Event) -> None:
        job.apply(event)
        self.job_event.emit(job, event)
        self.job_changed.emit(job)
        if isinstance(event, Finished):
            self._running[job.lane] = [pair for pair in self._running.get(job.lane, []) if pair[0] is not job]
            self.job_finished.emit(job)
            self._start_next(job.lane)

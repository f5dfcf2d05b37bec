"""A pool of warm worker processes: each serves many jobs in turn, so torch and TensorFlow load once.

`pool.runner(request)` gives a job with the same face as JobRunner (events(), run(), cancel(), pid,
exit_code): the CLI's batch conversion and the window run jobs through it the same way. A worker is
replaced after `max_jobs` jobs, after any job that failed, when its memory passes `memory_limit`, and when
it dies; cancelling a job kills its worker (and whatever it started) and a fresh one takes its place. The
other jobs go on.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any, Callable, Iterator

from studio.jobs.events import Event, Failed, Finished, Log, event_from_json
from studio.jobs.launch import worker_command, worker_env
from studio.jobs.protocol import request_to_json
from studio.jobs.runner import _ANSI, EndsWithFinished, job_ending, kill_tree, remove_staging, spawn_worker, with_staging
from studio.jobs.worker import SERVE_FLAG

GB = 1e9
WORKER_ESTIMATE = 4 * GB        # a conversion of a mid-size model: torch + TF + the model a few times over
DEFAULT_MAX_JOBS = 25
DEFAULT_MEMORY_LIMIT = 3 * GB   # RSS after a job; above it the worker is replaced (the frameworks' caches grow)
_EOF = object()


def default_pool_size() -> int:
    """As many workers as the cores, and as memory allows at WORKER_ESTIMATE each; at least one."""
    import psutil

    by_memory = int(psutil.virtual_memory().available // WORKER_ESTIMATE)
    return max(1, min(os.cpu_count() or 1, by_memory))


class WarmWorker:
    """One `worker --serve` process. Its events and output go to the job that holds it."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.proc = spawn_worker(command + [SERVE_FLAG], env)
        self.jobs_done = 0
        self._sink: queue.Queue | None = None
        threading.Thread(target=self._read_events, daemon=True).start()
        threading.Thread(target=self._read_output, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, request: Any, sink: queue.Queue) -> None:
        self._sink = sink
        assert self.proc.stdin is not None
        self.proc.stdin.write(request_to_json(request) + "\n")
        self.proc.stdin.flush()

    def rss(self) -> int:
        import psutil

        try:
            return psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error:
            return 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            kill_tree(self.proc.pid)

    def close(self, timeout: float = 5.0) -> None:
        """Closing stdin asks an idle worker to exit; one that does not is killed."""
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout)
        except Exception:
            self.kill()
            self.proc.wait()

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                try:
                    self._put(event_from_json(line))
                except ValueError:
                    self._put(line)
        self._put(_EOF)

    def _read_output(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            text = _ANSI.sub("", line).rstrip()
            if text.strip():
                self._put(text)

    def _put(self, item: Any) -> None:
        sink = self._sink
        if sink is not None:
            sink.put(item)


class WorkerPool:
    """Up to `size` warm workers shared by every job submitted through runner(); thread-safe."""

    def __init__(self, size: int | None = None, max_jobs: int = DEFAULT_MAX_JOBS,
                 memory_limit: float = DEFAULT_MEMORY_LIMIT, command: list[str] | None = None,
                 env: dict[str, str] | None = None):
        self.size = size or default_pool_size()
        self.max_jobs = max_jobs
        self.memory_limit = memory_limit
        self.command = command or worker_command()
        self.env = {**worker_env(), **(env or {})}
        self.started = 0                       # workers started so far (for tests and benchmarks)
        self._idle: list[WarmWorker] = []
        self._busy: set[WarmWorker] = set()
        self._cond = threading.Condition()
        self._closed = False

    def runner(self, request: Any) -> "PooledJob":
        return PooledJob(self, request)

    def pids(self) -> list[int]:
        with self._cond:
            return [w.pid for w in [*self._idle, *self._busy] if w.proc.poll() is None]

    def close(self) -> None:
        """Idle workers exit; busy ones are killed (their jobs end cancelled or crashed)."""
        with self._cond:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
            self._cond.notify_all()
        for worker in busy:
            worker.kill()
        for worker in idle:
            worker.close()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ for PooledJob
    def acquire(self, give_up: Callable[[], bool]) -> WarmWorker | None:
        """An idle worker, a new one while there are fewer than `size`, else wait; None if give_up() says so."""
        with self._cond:
            while True:
                if self._closed or give_up():
                    return None
                while self._idle:
                    worker = self._idle.pop()
                    if worker.proc.poll() is None:
                        self._busy.add(worker)
                        return worker
                if len(self._busy) < self.size:
                    break
                self._cond.wait(0.2)
            worker = WarmWorker(self.command, self.env)
            self.started += 1
            self._busy.add(worker)
            return worker

    def release(self, worker: WarmWorker, healthy: bool) -> None:
        """Back to the idle list, or replaced: after a failure, after max_jobs, above the memory limit."""
        worker.jobs_done += 1
        with self._cond:
            self._busy.discard(worker)
            keep = (healthy and not self._closed and worker.proc.poll() is None and worker.jobs_done < self.max_jobs
                    and len(self._busy) + len(self._idle) < self.size and worker.rss() <= self.memory_limit)
            if keep:
                self._idle.append(worker)
            self._cond.notify_all()
        if not keep:
            threading.Thread(target=worker.close, daemon=True).start()


class PooledJob(EndsWithFinished):
    """One job run by a warm worker of the pool; the same use as JobRunner."""

    def __init__(self, pool: WorkerPool, request: Any):
        self.pool = pool
        self.request = with_staging(request)
        self.exit_code: int | None = None
        self.cancelled = False
        self._worker: WarmWorker | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._worker.pid if self._worker else None

    def start(self) -> "PooledJob":
        return self   # the job starts in events(), once a worker is free

    def events(self) -> Iterator[Event]:
        """Every event of the job; the last one is always FINISHED (made up here if its worker died)."""
        job_id = self.request.job_id
        worker = self.pool.acquire(give_up=lambda: self.cancelled)
        if worker is None:
            remove_staging(self.request)
            yield from self._ending(job_ending(job_id, None, True, None))
            return
        sink: queue.Queue = queue.Queue()
        with self._lock:
            self._worker = worker
            cancelled = self.cancelled
        if cancelled:
            worker.kill()
        else:
            worker.send(self.request, sink)
        finished, failed = None, False
        while not cancelled:
            item = sink.get()
            if item is _EOF:
                break
            if isinstance(item, str):
                item = Log(job_id=job_id, level="output", message=item)
            if isinstance(item, Finished):
                finished = item
                break
            failed = failed or isinstance(item, Failed)
            yield item
        returncode = None
        if finished is None:
            worker.kill()
            returncode = _wait(worker)
        self.pool.release(worker, healthy=finished is not None and not failed)
        remove_staging(self.request)
        yield from self._ending(job_ending(job_id, finished, self.cancelled, returncode))

    def cancel(self) -> None:
        """Kill the worker running this job (a fresh one takes its place), or drop the job if it is waiting."""
        with self._lock:
            self.cancelled = True
            worker = self._worker
        if worker is not None:
            worker.kill()


def _wait(worker: WarmWorker, timeout: float = 10.0) -> int | None:
    deadline = time.monotonic() + timeout
    while worker.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return worker.proc.poll()

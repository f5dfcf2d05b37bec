"""Run one job in a worker process and stream its events; cancel kills it and leaves nothing behind.

Used the same way by the CLI (main thread) and the GUI (a background thread that turns events into signals).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.errors import StudioError
from studio.jobs.launch import worker_command, worker_env
from studio.jobs.events import Event, Failed, Finished, Log, event_from_json
from studio.jobs.protocol import request_to_json, staging_name

CANCELLED_EXIT = 130
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DONE = object()


def staging_dir_for(out_dir: str | Path) -> Path:
    """A hidden temp folder's name beside the output, on the same filesystem so the final move is a rename.

    Only the name: the worker makes the folder when it starts the job, so a job that never reached a worker
    (its parent killed while it waited) leaves nothing behind."""
    out = Path(out_dir).resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudioError(f"{out.parent}: cannot make the output's folder ({exc.strerror})") from exc
    return out.parent / staging_name(str(out), uuid.uuid4().hex[:12])


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = {"SIGKILL": " (killed: out of memory, or by another program)",
                "SIGSEGV": " (segmentation fault in a native library)",
                "SIGABRT": " (aborted by a native library)"}.get(name, "")
        return f"the worker process died with {name}{hint}"
    return f"the worker process exited with code {returncode} without finishing its job"


def with_staging(request: Any) -> Any:
    """The request with its staging folder's name (made by the worker): beside the output for a conversion, else
    a scratch folder in the temp folder."""
    if getattr(request, "kind", None) == "convert" and not request.staging_dir:
        return replace(request, staging_dir=str(staging_dir_for(request.out_dir)))
    if hasattr(request, "staging_dir") and not request.staging_dir:
        scratch = Path(tempfile.gettempdir()) / f"studio-{request.kind}-{uuid.uuid4().hex[:12]}"
        return replace(request, staging_dir=str(scratch))
    return request


def job_ending(job_id: str, finished: Finished | None, cancelled: bool, returncode: int | None) -> list[Event]:
    """The last events of a job: its own FINISHED, or made up here when it was cancelled or its worker died."""
    if cancelled:
        return [Failed(job_id=job_id, error="cancelled", cancelled=True, exit_code=CANCELLED_EXIT),
                Finished(job_id=job_id, exit_code=CANCELLED_EXIT)]
    if finished is None:
        return [Failed(job_id=job_id, error=describe_exit(returncode if returncode is not None else 0), exit_code=3,
                       crashed=True),
                Finished(job_id=job_id, exit_code=3)]
    return [finished]


def remove_staging(request: Any) -> None:
    staging = getattr(request, "staging_dir", None)
    if staging:
        shutil.rmtree(staging, ignore_errors=True)


class EndsWithFinished:
    """What JobRunner and the pool's PooledJob share: the exit code read off the FINISHED that ends events(),
    and run() over them."""

    exit_code: int | None = None

    def _ending(self, events: list[Event]) -> Iterator[Event]:
        for event in events:
            if isinstance(event, Finished):
                self.exit_code = int(event.exit_code)
            yield event

    def run(self, on_event: Callable[[Event], None] | None = None) -> int:
        for event in self.events():
            if on_event:
                on_event(event)
        return self.exit_code if self.exit_code is not None else 3


class JobRunner(EndsWithFinished):
    """One job, one worker process. Iterate events(); call cancel() from any thread."""

    def __init__(self, request: Any, command: list[str] | None = None, env: dict[str, str] | None = None):
        """env: variables set for the worker only, on top of worker_env() (e.g. its own TMPDIR)."""
        request = with_staging(request)
        if getattr(request, "kind", None) != "convert" and getattr(request, "staging_dir", None):
            # the libraries' temp files too (onnxruntime copies, logs): removed with it, even after a kill
            env = {"TMPDIR": request.staging_dir, **(env or {})}
        self.request = request
        self.command = command or worker_command()
        self.env = {**worker_env(), **(env or {})}
        self.exit_code: int | None = None
        self.cancelled = False
        self._proc: subprocess.Popen | None = None
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> "JobRunner":
        self._proc = spawn_worker(self.command, self.env)
        assert self._proc.stdin is not None
        self._proc.stdin.write(request_to_json(self.request) + "\n")
        self._proc.stdin.flush()   # stdin stays open: the worker exits when it closes (we died)
        threading.Thread(target=self._read_events, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        return self

    def _read_events(self) -> None:
        assert self._proc and self._proc.stdout
        for line in self._proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self._queue.put(event_from_json(line))
            except ValueError:
                self._queue.put(self._output(line))
        self._queue.put(_DONE)

    def _read_stderr(self) -> None:
        assert self._proc and self._proc.stderr
        for line in self._proc.stderr:
            text = _ANSI.sub("", line).rstrip()
            if text.strip():
                self._queue.put(self._output(text))
        self._queue.put(_DONE)

    def _output(self, text: str) -> Log:
        """A line the worker's libraries printed: shown with --debug and in the GUI's log."""
        return Log(job_id=self.request.job_id, level="output", message=text)

    def events(self) -> Iterator[Event]:
        """Every event of the job; the last one is always FINISHED (made up here if the worker died)."""
        if self._proc is None:
            self.start()
        readers_done, finished = 0, None
        while readers_done < 2:
            item = self._queue.get()
            if item is _DONE:
                readers_done += 1
                continue
            if isinstance(item, Finished):
                finished = item
                continue
            yield item
        returncode = self._proc.wait()
        self._cleanup()
        yield from self._ending(job_ending(self.request.job_id, finished, self.cancelled, returncode))

    def cancel(self) -> None:
        """Kill the worker and everything it started; the staging folder is removed once it is gone."""
        with self._lock:
            self.cancelled = True
            proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        kill_tree(proc.pid)

    def _cleanup(self) -> None:
        remove_staging(self.request)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                stream.close()
            except Exception:
                pass


def spawn_worker(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A worker process with pipes for requests, events and library output, in its own process group."""
    kwargs: dict[str, Any] = {}
    if os.name == "posix":
        kwargs["start_new_session"] = True   # its own process group: cancel kills converters' children too
    else:
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True, encoding="utf-8", errors="replace", bufsize=1, **kwargs)


def kill_tree(pid: int) -> None:
    """SIGKILL the worker's process group (POSIX) or its process tree (elsewhere)."""
    if os.name == "posix":
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return
    import psutil

    try:
        parent = psutil.Process(pid)
        for child in parent.children(recursive=True):
            child.kill()
        parent.kill()
    except psutil.NoSuchProcess:
        pass

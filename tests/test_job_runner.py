"""The worker process: events stream in order, cancel and crashes leave nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from studio.formats import detect
from studio.jobs.events import Failed, Finished, JobStarted, StageStarted, VersionsRead
from studio.jobs.protocol import ConvertRequest, VersionsRequest
from studio.options import ConvertOptions
from studio.jobs.runner import CANCELLED_EXIT, JobRunner
from settle import once_empty


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != "models"]


def convert_request(models, tmp_path) -> ConvertRequest:
    return ConvertRequest(source=detect(models["transformer_pt2"]).to_dict(), out_dir=str(tmp_path / "out"),
                          options=ConvertOptions(variants=["float32"]))


def test_versions_job_streams_a_result_then_finished():
    request = VersionsRequest()
    events = list(JobRunner(request).events())
    assert [type(e) for e in events] == [VersionsRead, Finished]
    assert events[0].versions["onnx2tf"] == "2.6.9"   # requirements-nodeps.txt
    assert events[-1].exit_code == 0
    assert {e.job_id for e in events} == {request.job_id}


def test_workers_run_with_a_fixed_malloc_unless_the_user_set_their_own(monkeypatch):
    """A worker's glibc malloc keeps blocks up to 32 MB and the heap's free top (studio.jobs.launch), and the
    worker runs with it. A user's own MALLOC_* setting is left as it is."""
    from studio.jobs.launch import MALLOC_TUNING, worker_env

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    env = worker_env()
    assert env["MALLOC_MMAP_THRESHOLD_"] == MALLOC_TUNING["MALLOC_MMAP_THRESHOLD_"] == str(32 * 1024 * 1024)
    assert env["MALLOC_TRIM_THRESHOLD_"] == "65536"
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    runner = JobRunner(VersionsRequest())
    assert {k: runner.env.get(k) for k in MALLOC_TUNING} == MALLOC_TUNING   # what the worker is started with
    assert [type(e) for e in runner.events()] == [VersionsRead, Finished]


@pytest.mark.slow
def test_cancel_mid_stage_leaves_no_artifact_and_no_temp_folder(models, tmp_path):
    runner = JobRunner(convert_request(models, tmp_path))
    staging = Path(runner.request.staging_dir)
    assert not staging.exists(), "the worker makes it when it starts the job"
    seen, cancelled_at = [], None
    for event in runner.events():
        seen.append(event)
        if isinstance(event, StageStarted) and event.name == "onnx->tf" and cancelled_at is None:
            assert staging.is_dir()
            time.sleep(1.0)   # well inside onnx2tf
            cancelled_at = time.monotonic()
            runner.cancel()
    assert cancelled_at is not None and time.monotonic() - cancelled_at < 2.0
    assert isinstance(seen[0], JobStarted)
    assert isinstance(seen[-2], Failed) and seen[-2].cancelled
    assert isinstance(seen[-1], Finished) and runner.exit_code == CANCELLED_EXIT
    assert {e.job_id for e in seen} == {runner.request.job_id}
    assert not psutil.pid_exists(runner.pid) or psutil.Process(runner.pid).status() == psutil.STATUS_ZOMBIE
    assert not staging.exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_killed_worker_is_reported_as_failed_with_cause(models, tmp_path):
    runner = JobRunner(convert_request(models, tmp_path))
    events = []
    for event in runner.events():
        events.append(event)
        if isinstance(event, StageStarted) and event.name == "torch->onnx":
            os.kill(runner.pid, signal.SIGKILL)
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed and "SIGKILL" in failed[-1].error and failed[-1].crashed
    assert runner.exit_code == 3 and leftovers(tmp_path) == []


def _wait_for_line(stream, text: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    for line in stream:
        if text in line:
            return
        assert time.monotonic() < deadline, f"no {text!r} in time"
    raise AssertionError(f"stream ended before {text!r}")


@pytest.mark.slow
def test_ctrl_c_in_the_cli_cancels_cleanly(models, tmp_path):
    cli = subprocess.Popen([sys.executable, "-m", "studio", "convert", str(models["transformer_pt2"]), "--out",
                            str(tmp_path / "out")], cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    _wait_for_line(cli.stderr, "onnx->tf")
    cli.send_signal(signal.SIGINT)
    assert cli.wait(timeout=10) == 130
    assert "cancelled" in cli.stderr.read()
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_worker_cleans_up_when_its_parent_is_killed(models, tmp_path):
    cli = subprocess.Popen([sys.executable, "-m", "studio", "convert", str(models["transformer_pt2"]), "--out",
                            str(tmp_path / "out")], cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    _wait_for_line(cli.stderr, "onnx->tf")
    workers = psutil.Process(cli.pid).children()
    assert workers
    cli.kill()
    cli.wait()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
    assert once_empty(lambda: leftovers(tmp_path)) == []

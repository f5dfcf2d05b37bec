"""The warm worker pool: one worker serves many jobs and is reset between them; it is replaced after a
failure, after max_jobs, above its memory limit, when it crashes or is killed; the other jobs go on."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from studio.formats import detect
from studio.jobs.events import Failed, Finished, StageStarted
from studio.jobs.pool import WorkerPool
from studio.jobs.protocol import ConvertRequest, InspectRequest, VersionsRequest
from studio.jobs.record import JobRecord
from studio.jobs.runner import CANCELLED_EXIT
from studio.options import ConvertOptions

LEAKY_FACTORY = '''
import os, sys
import torch
from torch import nn
import leaky_helper   # a module of the user's, beside the factory

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)

def build_model():
    os.chdir("/")
    sys.path.append("/studio-leak")
    os.environ["STUDIO_LEAK"] = "1"
    sys.stdout = open(os.devnull, "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)   # below Python: the libraries' output of later jobs would vanish
    return Net()
'''

CHECKING_FACTORY = '''
import os, sys
from torch import nn

def build_model():
    leaks = [what for what, leaked in (("cwd", os.getcwd() == "/"), ("sys.path", "/studio-leak" in sys.path),
             ("environment", "STUDIO_LEAK" in os.environ), ("module", "leaky_helper" in sys.modules),
             ("sys.stdout", getattr(sys.stdout, "name", "") == os.devnull),
             ("stderr's descriptor", os.path.samestat(os.fstat(2), os.stat(os.devnull)))) if leaked]
    if leaks:
        raise RuntimeError("left over from the previous job: " + ", ".join(leaks))
    return nn.Sequential(nn.Linear(4, 2))
'''

CRASHING_FACTORY = '''
import os

def build_model():
    os._exit(1)
'''


def run(pool: WorkerPool, request) -> tuple[JobRecord, list, int | None]:
    record, events = JobRecord(job_id=request.job_id), []
    job = pool.runner(request)
    for event in job.events():
        record.apply(event)
        events.append(event)
    return record, events, job.pid


def factory_request(tmp_path: Path, source: str, name: str, targets=("onnx",)) -> ConvertRequest:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return ConvertRequest(source=detect(f"{path}:build_model").to_dict(), out_dir=str(tmp_path / f"{name}_out"),
                          options=ConvertOptions(targets=list(targets), variants=["float32"],
                                                 input_shapes={"": [1, 4]}))


def onnx_request(models, out: Path) -> ConvertRequest:
    return ConvertRequest(source=detect(models["onnx"]).to_dict(), out_dir=str(out),
                          options=ConvertOptions(targets=["tflite"], variants=["float32"]))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".studio-tmp-" in p.name)


def test_jobs_take_turns_on_one_worker_and_a_new_one_after_max_jobs():
    with WorkerPool(size=1, max_jobs=2) as pool:
        records, _, pids = zip(*(run(pool, VersionsRequest()) for _ in range(3)))
    assert [r.exit_code for r in records] == [0, 0, 0]
    assert pids[0] == pids[1] != pids[2] and pool.started == 2


def test_a_worker_above_its_memory_limit_is_replaced():
    with WorkerPool(size=1, memory_limit=1) as pool:
        for _ in range(2):
            assert run(pool, VersionsRequest())[0].exit_code == 0
    assert pool.started == 2


def test_a_worker_is_replaced_after_a_job_that_failed(tmp_path, models):
    gone = tmp_path / "gone.onnx"
    gone.write_bytes(models["onnx"].read_bytes())
    source = detect(gone).to_dict()
    gone.unlink()   # deleted after it was opened: its inspection fails
    with WorkerPool(size=1) as pool:
        failed, _, first = run(pool, InspectRequest(source=source))
        ok, _, second = run(pool, VersionsRequest())
    assert failed.exit_code == 2 and ok.exit_code == 0
    assert first != second and pool.started == 2


@pytest.mark.slow
def test_a_warm_worker_puts_back_what_a_job_changed(tmp_path, models):
    (tmp_path / "leaky_helper.py").write_text("VALUE = 1\n")
    with WorkerPool(size=1) as pool:
        leaky, _, first = run(pool, factory_request(tmp_path, LEAKY_FACTORY, "leaky"))
        checked, _, second = run(pool, factory_request(tmp_path, CHECKING_FACTORY, "checking"))
        converted, _, third = run(pool, onnx_request(models, tmp_path / "onnx_out"))
    assert leaky.exit_code == 0, leaky.error
    assert checked.exit_code == 0, checked.error   # the factory itself checks: cwd, sys.path, env, modules
    assert converted.exit_code == 0 and converted.comparisons[0]["passed"]
    assert first == second == third and pool.started == 1
    assert Path.cwd() != Path("/")


@pytest.mark.slow
def test_a_factory_that_kills_its_worker_fails_only_its_own_job(tmp_path, models):
    with WorkerPool(size=1) as pool:
        crashed, events, crashed_pid = run(pool, factory_request(tmp_path, CRASHING_FACTORY, "crash"))
        after, _, after_pid = run(pool, onnx_request(models, tmp_path / "after"))
    assert crashed.exit_code == 3 and crashed.crashed and "exited with code 1" in crashed.error
    assert isinstance(events[-1], Finished)
    assert after.exit_code == 0 and after_pid != crashed_pid and pool.started == 2
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_worker_killed_mid_job_fails_that_job_and_the_other_goes_on(tmp_path, models):
    slow = ConvertRequest(source=detect(models["transformer_pt2"]).to_dict(), out_dir=str(tmp_path / "slow"),
                          options=ConvertOptions(targets=["tflite"], variants=["float32"]))
    results: dict[str, JobRecord] = {}

    def killed() -> None:
        record, job = JobRecord(job_id=slow.job_id), pool.runner(slow)
        for event in job.events():
            record.apply(event)
            if isinstance(event, StageStarted) and event.name == "torch->onnx":
                os.kill(job.pid, signal.SIGKILL)
        results["killed"] = record

    with WorkerPool(size=2) as pool:
        thread = threading.Thread(target=killed)
        thread.start()
        results["other"] = run(pool, onnx_request(models, tmp_path / "other"))[0]
        thread.join()
        results["next"] = run(pool, onnx_request(models, tmp_path / "next"))[0]
    assert results["killed"].exit_code == 3 and "SIGKILL" in results["killed"].error
    assert results["other"].exit_code == 0 and results["next"].exit_code == 0
    assert not (tmp_path / "slow").exists() and leftovers(tmp_path) == []


@pytest.mark.slow
def test_cancel_kills_the_worker_and_a_fresh_one_runs_the_next_job(tmp_path, models):
    with WorkerPool(size=1) as pool:
        request = onnx_request(models, tmp_path / "cancelled")
        job, events = pool.runner(request), []
        for event in job.events():
            events.append(event)
            if isinstance(event, StageStarted) and event.name == "onnx->tf":
                time.sleep(0.5)
                cancelled_pid = job.pid
                job.cancel()
        gone = not psutil.pid_exists(cancelled_pid) or psutil.Process(cancelled_pid).status() == psutil.STATUS_ZOMBIE
        after, _, after_pid = run(pool, onnx_request(models, tmp_path / "after"))
    assert job.exit_code == CANCELLED_EXIT and isinstance(events[-2], Failed) and events[-2].cancelled
    assert gone and after.exit_code == 0 and after_pid != cancelled_pid
    assert not (tmp_path / "cancelled").exists() and leftovers(tmp_path) == []


def test_a_waiting_job_cancelled_before_it_gets_a_worker_starts_nothing(tmp_path, models):
    with WorkerPool(size=1) as pool:
        busy = pool.runner(VersionsRequest())
        worker = pool.acquire(give_up=lambda: False)          # the only worker is taken
        waiting = pool.runner(onnx_request(models, tmp_path / "never"))
        threading.Timer(0.5, waiting.cancel).start()
        events = list(waiting.events())
        pool.release(worker, healthy=True)
        assert busy.run() == 0
    assert waiting.exit_code == CANCELLED_EXIT and [type(e) for e in events] == [Failed, Finished]
    assert pool.started == 1 and leftovers(tmp_path) == [] and not (tmp_path / "never").exists()


def test_closing_the_pool_leaves_no_process():
    pool = WorkerPool(size=2)
    threads = [threading.Thread(target=run, args=(pool, VersionsRequest())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pids = pool.pids()
    assert pids
    pool.close()
    gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], timeout=10)
    assert not alive

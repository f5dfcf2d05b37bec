"""Jobs as Ray tasks (studio.jobs.ray_executor): a real local Ray cluster converts real models.

Nothing is mocked: Ray starts its own processes, which import torch and TensorFlow and run the same pipeline the
studio's worker runs. Only the test that Ray is missing hides it, in a subprocess of its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from studio.formats import detect
from studio.jobs.events import Event, Failed, Finished, JobStarted
from studio.jobs.protocol import ConvertRequest
from studio.jobs.record import DONE, FAILED
from studio.options import ConvertOptions

ROOT = Path(__file__).resolve().parent.parent
CRASHING_FACTORY = "import os\n\nos._exit(7)   # the worker dies while the model's file is imported\n"


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def test_importing_the_executor_does_not_import_ray():
    done = _python("""
        import sys
        import studio.jobs.ray_executor
        print(sorted(name for name in sys.modules if name == "ray" or name.startswith("ray.")))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_ray_the_executor_says_in_one_line_how_to_install_it():
    done = _python("""
        import sys

        class NoRay:   # as if Ray were not installed: its import fails like a missing package's
            def find_spec(self, name, path=None, target=None):
                if name == "ray" or name.startswith("ray."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoRay())
        from studio.errors import StudioError
        from studio.jobs.protocol import VersionsRequest
        from studio.jobs.ray_executor import require_ray, run_on_ray

        for call in (require_ray, lambda: run_on_ray([VersionsRequest()], address="auto")):
            try:
                call()
            except StudioError as exc:
                print(exc.exit_code, str(exc))
            else:
                print("no error")
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1], done.stdout
    code, message = lines[0].split(" ", 1)
    assert code == "2"
    assert "pip install 'model-conversion-studio[ray]'" in message and "ray==2.60.0" in message
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- a real cluster

def _build_models(root: Path) -> dict[str, Path]:
    import torch

    from models import keras_cnn, plain_onnx, torch_cnn

    root.mkdir(parents=True)
    cnn, image = torch_cnn()
    paths = {"cnn_pt2": root / "cnn.pt2", "keras": root / "cnn.keras", "onnx": plain_onnx(root / "plain.onnx")}
    torch.export.save(torch.export.export(cnn, (image,)), paths["cnn_pt2"])
    keras_cnn().save(paths["keras"])
    return paths


@pytest.fixture(scope="module")
def zoo_on_ray(tmp_path_factory):
    """Three models, a broken file and a model whose code kills its worker, on a local Ray with 2 CPUs."""
    from studio.jobs.ray_executor import run_on_ray

    tmp = tmp_path_factory.mktemp("ray")
    paths = _build_models(tmp / "models")
    broken = tmp / "models" / "broken.pt2"
    broken.write_bytes(paths["cnn_pt2"].read_bytes())
    broken_source = detect(broken).to_dict()
    broken.write_bytes(broken.read_bytes()[:2000])   # cut short after detection: the worker finds it broken
    crashing = tmp / "models" / "crashing.py"
    crashing.write_text(CRASHING_FACTORY)

    options = ConvertOptions(targets=["onnx", "tflite"], variants=["float32"])
    outputs = tmp / "out"
    good = {name: ConvertRequest(source=detect(path).to_dict(), out_dir=str(outputs / name), options=options)
            for name, path in paths.items()}
    bad = {"broken": ConvertRequest(source=broken_source, out_dir=str(outputs / "broken"), options=options),
           "crashing": ConvertRequest(source=detect(f"{crashing}:build_model").to_dict(),
                                      out_dir=str(outputs / "crashing"), options=options)}
    requests = {**good, **bad}
    events: list[Event] = []
    started = time.monotonic()
    records = run_on_ray(list(requests.values()), num_cpus=2, on_event=events.append)
    seconds = time.monotonic() - started
    print(f"\n{len(requests)} jobs on a local Ray (2 CPUs): {seconds:.1f} s; "
          + ", ".join(f"{name} {record.seconds}s" for name, record in zip(requests, records)))
    return {"requests": requests, "good": list(good), "records": dict(zip(requests, records)), "events": events,
            "outputs": outputs, "seconds": seconds}


@pytest.mark.slow
def test_three_models_convert_on_a_local_ray_cluster(zoo_on_ray):
    import ray

    assert not ray.is_initialized()   # the local Ray it started is shut down
    for name in zoo_on_ray["good"]:
        record = zoo_on_ray["records"][name]
        out = zoo_on_ray["outputs"] / name
        assert record.state == DONE and record.exit_code == 0, (name, record.error)
        assert record.passed and record.comparisons and all(c["passed"] for c in record.comparisons), name
        assert record.outcome == {"report_path": str(out / "report.json"), "out_dir": str(out), "passed": True}
        assert (out / "report.json").is_file()
        kinds = sorted(a["kind"] for a in record.artifacts)
        assert kinds == (["tflite"] if name == "onnx" else ["onnx", "tflite"]), name   # an ONNX source is the ONNX
        for artifact in record.artifacts:
            assert Path(artifact["path"]).is_file() and Path(artifact["path"]).parent == out, artifact["path"]
    assert sorted(p.name for p in zoo_on_ray["outputs"].iterdir()) == sorted(zoo_on_ray["good"])   # no staging


@pytest.mark.slow
def test_a_broken_model_and_a_crashed_worker_fail_only_their_own_jobs(zoo_on_ray):
    records = zoo_on_ray["records"]
    broken, crashed = records["broken"], records["crashing"]
    assert broken.state == FAILED and broken.exit_code not in (0, None) and not broken.crashed
    assert broken.stage == "load source" and "could not load" in broken.error and "\n" not in broken.error
    assert crashed.state == FAILED and crashed.exit_code == 3 and crashed.crashed
    assert "Ray worker died" in crashed.error and "\n" not in crashed.error
    for name in ("broken", "crashing"):
        assert not (zoo_on_ray["outputs"] / name).exists()
    assert all(records[name].passed for name in zoo_on_ray["good"])


@pytest.mark.slow
def test_every_job_reports_its_events_in_order_through_on_event(zoo_on_ray):
    by_job: dict[str, list[Event]] = {}
    for event in zoo_on_ray["events"]:
        by_job.setdefault(event.job_id, []).append(event)
    for name, request in zoo_on_ray["requests"].items():
        events = by_job[request.job_id]
        assert isinstance(events[-1], Finished) and events[-1].exit_code == zoo_on_ray["records"][name].exit_code
        assert sum(isinstance(e, Finished) for e in events) == 1
        if name != "crashing":   # a worker that died sent nothing: only the driver's Failed/Finished pair
            assert isinstance(events[0], JobStarted)
    assert [type(e) for e in by_job[zoo_on_ray["requests"]["crashing"].job_id]] == [Failed, Finished]

"""`studio convert` with several models: each into its own folder, a summary table, an index report, the
worst exit code."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from settle import once_empty
from studio_cli import run_studio


@pytest.mark.slow
def test_a_folder_of_models_converts_each_into_its_own_folder(models, tmp_path):
    folder = tmp_path / "zoo"
    folder.mkdir()
    for name in ("keras", "onnx", "torchscript"):   # TorchScript stores no input shapes: that job fails, alone
        shutil.copy(models[name], folder)
    (folder / "notes.txt").write_text("not a model")
    out = tmp_path / "out"
    done = run_studio("convert", folder, "--to", "onnx,tflite", "--quantize", "float32", "--out", out, "--jobs", "2")
    assert done.returncode == 2, done.stderr            # the worst of 0, 0 and 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "skipped notes.txt" in " ".join(done.stderr.split())
    index = json.loads((out / "index.json").read_text())
    rows = {row["source"].rsplit("/", 1)[-1]: row for row in index["models"]}
    assert set(rows) == {"cnn.keras", "plain.onnx", "cnn_ts.pt"} and index["exit_code"] == 2
    for name in ("cnn.keras", "plain.onnx"):
        row = rows[name]
        assert row["exit_code"] == 0 and row["verdict"] == "PASS" and row["artifacts"] >= 1
        report = json.loads((out / row["out_dir"].rsplit("/", 1)[-1] / "report.json").read_text())
        assert report["comparisons"] and all(c["passed"] for c in report["comparisons"])
    failed = rows["cnn_ts.pt"]
    assert failed["exit_code"] == 2 and failed["verdict"] == "bad input" and "--input-shape" in failed["error"]
    assert not (out / "cnn_ts").exists()               # nothing half-written for the failed model
    html = (out / "index.html").read_text()
    assert 'href="cnn/report.json"' in html and "plain.onnx" in html
    assert 'href="cnn_ts"' not in html                # no link to the folder a failed job never made
    assert all(Path(row["source"]).is_absolute() for row in index["models"])
    umask = os.umask(0)
    os.umask(umask)
    for written in ("index.json", "index.html", "cnn/report.json"):   # readable as any file the user makes
        assert (out / written).stat().st_mode & 0o777 == 0o666 & ~umask, written
    for name in ("cnn.keras", "plain.onnx", "cnn_ts.pt"):
        assert name in done.stdout                      # the summary table
    assert [p.name for p in out.iterdir() if ".studio-tmp-" in p.name] == []


def test_models_with_the_same_stem_get_separate_folders(models, tmp_path):
    from studio.batch import output_folders
    from studio.formats import detect

    sources = [detect(models["cnn_pt2"]), detect(models["keras"]), detect(models["onnx"])]
    assert [p.name for p in output_folders(sources, tmp_path)] == ["cnn-pt2", "cnn-keras", "plain"]


def test_batch_usage_errors_are_one_line(models, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args, says in ((("convert", empty), "no model in this folder"),
                       (("convert", models["onnx"], models["keras"], "--report", tmp_path / "r.json"),
                        "--report goes with one model"),
                       (("convert", models["onnx"], models["keras"], "--jobs", "0"), "--jobs 0"),
                       (("convert", models["onnx"], "--address", "auto"), "--address goes with --executor ray")):
        done = run_studio(*args, "--out", tmp_path / "out")
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_same_batch_runs_as_ray_tasks(models, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    done = run_studio("convert", models["onnx"], models["keras"], "--to", "onnx,tflite", "--quantize", "float32",
                      "--out", out, "--executor", "ray", "--jobs", "2")
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert [row["verdict"] for row in index["models"]] == ["PASS", "PASS"]
    assert all((out / name / "report.json").is_file() for name in ("plain", "cnn"))


@pytest.mark.slow
def test_killing_the_batch_cli_leaves_no_worker_and_no_half_written_folder(models, tmp_path):
    import subprocess
    import sys
    import time

    import psutil

    folder = tmp_path / "zoo"
    folder.mkdir()
    for name in ("transformer_pt2", "cnn_pt2", "keras"):
        shutil.copy(models[name], folder)
    out = tmp_path / "out"
    cli = subprocess.Popen([sys.executable, "-m", "studio", "convert", str(folder), "--out", str(out), "--jobs", "2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def staging() -> list[str]:
        return [p.name for p in out.iterdir() if ".studio-tmp-" in p.name] if out.is_dir() else []

    deadline = time.monotonic() + 120
    while len(staging()) < 2 and time.monotonic() < deadline:   # both warm workers are inside a job
        time.sleep(0.2)
    assert len(staging()) == 2
    workers = psutil.Process(cli.pid).children(recursive=True)
    assert len(workers) >= 2
    cli.kill()
    cli.wait()
    gone, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive
    assert once_empty(staging) == [] and not any((out / name).exists() for name in ("block", "cnn-pt2", "cnn-keras"))


def test_without_jobs_the_batch_runs_as_many_workers_as_the_window_is_set_to(models, tmp_path, monkeypatch):
    from studio import user_settings

    monkeypatch.setenv(user_settings.SETTINGS_ENV, str(tmp_path / "settings.json"))
    user_settings.set_worker_pool_size(1)   # what Convert > Parallel Conversions… saves
    result = run_studio("convert", models["cnn_pt2"], models["keras"], "--to", "onnx", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "1 warm worker (the settings)" in result.stderr
    result = run_studio("convert", models["cnn_pt2"], models["keras"], "--to", "onnx", "--out", tmp_path / "again",
                        "--jobs", "2")
    assert result.returncode == 0 and "2 warm workers (--jobs)" in result.stderr

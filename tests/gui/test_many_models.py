"""Many models in the window: a dropped folder converts each model on the warm pool; fifty conversions in
one run of the app leave no stray worker and barely grow the GUI process."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from studio.jobs.record import DONE

from test_main_window import drop

pytestmark = pytest.mark.gui


def worker_processes() -> list[psutil.Process]:
    """This process's job workers (QtWebEngine's own helper processes are not ours to count)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("studio.jobs.worker" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def convert_jobs(window) -> list:
    return [job for job in window.jobs.jobs if job.kind == "convert"]


@pytest.mark.slow
def test_dropping_a_folder_opens_each_model_and_converts_each_on_the_pool(window, qtbot, models, tmp_path):
    folder = tmp_path / "zoo"
    folder.mkdir()
    for name in ("onnx", "keras"):
        shutil.copy(models[name], folder)
    (folder / "notes.txt").write_text("not a model")
    window.convert_panel.set_targets(["tflite"], ["float32"])
    assert window.jobs.capacity["convert"] >= 2           # this machine: 2 cores, plenty of memory
    drop(window, [folder])
    qtbot.waitUntil(lambda: len(convert_jobs(window)) == 2, timeout=120_000)   # each queued once it is read
    assert "Queued 2 conversions (1 other file skipped)" in window.statusBar().currentMessage()
    assert {key.rsplit("/", 1)[-1] for key in window.sources} == {"plain.onnx", "cnn.keras"}
    qtbot.waitUntil(lambda: len(window.jobs.running("convert")) == 2, timeout=10_000)   # side by side
    jobs = convert_jobs(window)
    for job in jobs:
        qtbot.waitUntil(lambda job=job: job.finished, timeout=300_000)
    assert [job.state for job in jobs] == [DONE, DONE], [job.error for job in jobs]
    assert all(job.comparisons and all(c["passed"] for c in job.comparisons) for job in jobs)
    assert len({job.request.out_dir for job in jobs}) == 2


def tiny_tflite(path: Path) -> Path:
    """A real one-op TFLite file, straight from a tf.function (no ONNX, no onnx2tf)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    def double(x):
        return x * 2.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([double.get_concrete_function()], double)
    path.write_bytes(converter.convert())
    return path


@pytest.mark.slow
def test_a_dropped_folder_converts_what_can_be_converted_and_names_the_rest_once(window, qtbot, models, tmp_path, gui):
    """A TFLite file is no conversion source; a TorchScript model stores no input shapes (nobody typed them): both
    are skipped by the rules the single-model Convert uses, and told in one message; no dialog for either."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(models["onnx"], folder)
    shutil.copy(models["torchscript"], folder)
    tiny_tflite(folder / "tiny.tflite")
    window.convert_panel.set_targets(["tflite"], ["float32"])
    drop(window, [folder])
    qtbot.waitUntil(lambda: len(window.sources) == 3, timeout=10_000)
    qtbot.waitUntil(lambda: all(job.finished for job in window.jobs.jobs if job.kind == "inspect"), timeout=180_000)
    message = window.statusBar().currentMessage()

    assert [job.title for job in convert_jobs(window)] == ["convert plain.onnx → tflite"]
    assert message == ("Queued 1 conversion; skipped 2 models that cannot be converted: cnn_ts.pt, tiny.tflite "
                       "— the Log tab says why")
    log = window.log_view.toPlainText()
    assert log.count("Skipped 2 of the 3 dropped models") == 1
    [why_ts] = [line for line in log.splitlines() if line.startswith("  cnn_ts.pt: ")]
    [why_tflite] = [line for line in log.splitlines() if line.startswith("  tiny.tflite: ")]
    assert "give its shape (the model does not store it)" in why_ts
    assert why_tflite.startswith("  tiny.tflite: cannot convert: tflite models are not converted here")
    assert all(state.inspect_state == "ready" for state in window.sources.values())
    assert not gui.message_boxes()
    window.jobs.cancel_all()        # the conversion itself is the test above's: spare the CPU


@pytest.mark.slow
def test_fifty_conversions_leave_no_stray_worker_and_the_gui_grows_little(window, qtbot, models, gui):
    """Growth is measured from after the first conversion (which loads the result views' code) to after 50 more."""
    gui.open_and_inspect(qtbot, window, models["onnx"])
    window.convert_panel.set_targets(["tflite"], ["float32"])
    first = window.convert()
    gui.wait_job(qtbot, first)
    assert first.state == DONE, first.error
    before = psutil.Process().memory_info().rss
    jobs = [window.convert() for _ in range(50)]
    most_workers = 0
    for job in jobs:
        qtbot.waitUntil(lambda job=job: job.finished, timeout=300_000)
        most_workers = max(most_workers, len(worker_processes()))
    assert [job.state for job in jobs] == [DONE] * 50, {job.error for job in jobs}
    grown = psutil.Process().memory_info().rss - before
    assert grown <= 50e6, f"the GUI process grew by {grown / 1e6:.0f} MB over 50 conversions"
    assert most_workers <= window.jobs.capacity["convert"] + 1     # the pool's workers (+ a quick job's)
    workers = worker_processes()
    window.jobs.shutdown()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive and worker_processes() == []

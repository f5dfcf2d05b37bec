"""The window's logic with a fake runner: scripted events, no worker process, each test in about a second.

`FakeWorkers` is the JobQueue's `make_runner`: for each request it makes a FakeRunner (tests/gui/fakes.py) that
yields a script of real studio.jobs.events objects (what a worker would print), stamped with the request's job id.
A WAIT in a script blocks until the job is cancelled, like a long conversion. The real end-to-end GUI tests stay in
test_main_window.py and test_jobs.py.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import WAIT, FakeRunner, inspect_script
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from studio.compare import compare_outputs, failure_lines, tolerance_for
from studio.jobs.events import (ArtifactWritten, Compared, Converted, Failed, Finished, JobStarted, Log, Progress,
                                StageFinished, StageStarted)
from studio.jobs.record import CANCELLED, DONE, FAILED, QUEUED, RUNNING

from test_main_window import drop

pytestmark = pytest.mark.gui
NOISE = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
         "E0000 00:00:1733.1 4242 cuda_driver.cc:152] failed call to cuInit: INTERNAL: CUDA error: "
         "Failed call to cuInit: UNKNOWN ERROR (303)",
         "I0000 00:00:1733.2 4242 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
         "E0000 00:00:1733.3 4242 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register factory "
         "for plugin cuDNN when one has already been registered",
         "I0000 00:00:1733.4 4242 port.cc:153] oneDNN custom operations are on. You may see slightly different "
         "numerical results. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
         "W0000 py_utils.cc:38] TF-TRT Warning: Could not find TensorRT"]


class FakeWorkers:
    """make_runner for the JobQueue: a script per job kind (a function of the request), and every runner made."""

    def __init__(self):
        self.scripts = {"inspect": inspect_script, "convert": lambda request: self.convert_script(request)}
        self.runners: list[FakeRunner] = []
        self.comparison: dict | None = None     # what a conversion's Compared event carries (set per test)

    def __call__(self, request) -> FakeRunner:
        runner = FakeRunner(request, self.scripts[request.kind](request))
        self.runners.append(runner)
        return runner

    def convert_script(self, request) -> list:
        artifact = tflite_artifact(request.out_dir)
        comparison = dict(self.comparison or {}, candidate=artifact["path"])
        return [JobStarted(kind="convert", source=request.source, plan=["onnx->tf"]),
                StageStarted(name="onnx->tf"), Progress(fraction=0.5, message="onnx->tf"),
                StageFinished(name="onnx->tf", seconds=1.5), ArtifactWritten(artifact=artifact),
                StageStarted(name="compare"), Compared(comparison=comparison), StageFinished(name="compare"),
                Converted(report_path=f"{request.out_dir}/report.json", out_dir=request.out_dir,
                          passed=bool(comparison.get("passed"))),
                Finished(exit_code=0)]


def tflite_artifact(out_dir: str) -> dict:
    return {"kind": "tflite", "variant": "float32", "path": f"{out_dir}/relu_float32.tflite", "bytes": 1234,
            "backend": "onnx2tf"}


def comparison_of(candidate: np.ndarray) -> dict:
    """A real ComparisonResult's dict, as a convert job's Compared event carries it."""
    reference = np.linspace(-1, 1, 24, dtype=np.float32).reshape(1, 24)
    result = compare_outputs({"y": reference}, {"y": candidate.reshape(1, 24).astype(np.float32)},
                             tolerance_for("float32"), reference_label="source (onnx)",
                             candidate_label="relu_float32.tflite", variant="float32")
    return result.to_dict() | {"kind": "tflite"}


@pytest.fixture(scope="module")
def relu_model(tmp_path_factory) -> Path:
    """A one-node ONNX model: detect() and the inspect summary are real, nothing needs torch."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])])
    path = tmp_path_factory.mktemp("logic_models") / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def workers() -> FakeWorkers:
    return FakeWorkers()


@pytest.fixture
def win(qtbot, qapp, tmp_path, workers, gui, monkeypatch):
    """The real main window, its jobs played by `workers`."""
    from studio.gui.app import configure_app
    from studio.gui.main_window import MainWindow
    from studio.gui.settings import Settings

    configure_app(qapp)
    Settings().q.clear()
    # the pool size lives in the settings file the CLI shares (not QSettings): this test's own, so the size set
    # below does not shrink the pool of the GUI tests that run after it (test_many_models needs 2 workers)
    monkeypatch.setenv("STUDIO_SETTINGS", str(tmp_path / "settings.json"))
    Settings().set_worker_pool_size(1)   # one conversion at a time: the queue's logic (the pool: test_many_models)
    window = MainWindow(make_runner=workers)
    window.confirm_quit = False
    qtbot.addWidget(window)
    window.show()
    (tmp_path / "out").mkdir()
    window.convert_panel.output.setText(str(tmp_path / "out"))
    yield window
    gui.close_message_boxes()
    window.close()
    qtbot.wait(50)   # let Qt delete the window's web pages now, before their profile (as conftest's window does)


def open_model(qtbot, window, path: Path):
    [state] = window.open_paths([str(path)])
    qtbot.waitUntil(lambda: state.inspect_state == "ready", timeout=5_000)
    return state


def convert(qtbot, window, wait: bool = True):
    window.convert_panel.set_targets(["tflite"], ["float32"])
    job = window.convert()
    assert job is not None
    if wait:
        qtbot.waitUntil(lambda: job.finished, timeout=5_000)
    return job


def answer_when_shown(object_name: str, answer: str) -> list:
    """Click the button labelled `answer` on the blocking question box once it appears; what it showed is kept."""
    seen = []

    def poll():
        for box in QApplication.topLevelWidgets():
            if box.objectName() == object_name and box.isVisible():
                seen.append({"text": box.text(), "default": box.defaultButton().text(),
                             "escape": box.escapeButton().text()})
                next(b for b in box.buttons() if b.text() == answer).click()
                return
        QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)
    return seen


# ---------------------------------------------------------------- converting

def test_a_conversion_fills_the_sidebar_and_the_compare_tab(win, qtbot, workers, relu_model, gui, tmp_path):
    workers.comparison = comparison_of(np.linspace(-1, 1, 24))
    state = open_model(qtbot, win, relu_model)
    assert win.convert_panel.shapes.item(0, 0).text() == "x"       # the fake inspect's summary reached the panel
    job = convert(qtbot, win)

    assert isinstance(job.runner, FakeRunner) and job.runner.started   # no worker process
    assert job.state == DONE and job.passed
    artifact = tflite_artifact(job.request.out_dir)
    assert win.sidebar.artifacts_of(state.key) == [artifact]
    assert state.artifacts == [artifact] and state.input_shapes == job.request.options.input_shapes
    assert [c["passed"] for c in win.comparisons()] == [True]
    assert [c["candidate"] for c in win.diff_view.comparisons] == [artifact["path"]]
    assert win.diff_view.tables
    log = win.log_view.toPlainText()
    assert f"[{job.id}] $ studio convert {relu_model}" in log
    assert "▶ onnx->tf" in log and "✓ onnx->tf (1.5 s)" in log
    assert f"PASS {Path(artifact['path']).name}" in log
    assert win.jobs_panel.row_of(job).text(1) == "done, all comparisons passed"
    assert not win.workspace.reserved                                # the output folder is free again
    assert not gui.message_boxes()

    # the artifact selected: both graphs, the Compare tab narrowed to it
    win.sidebar.setCurrentItem(win.sidebar.topLevelItem(0).child(0))
    assert win.selection.graph_shown == (str(relu_model), artifact["path"])
    assert win.diff_view.shown_artifact == artifact["path"]
    # a second conversion gets its own folder (the first one's is in place, as a worker leaves it)
    Path(job.request.out_dir).mkdir()
    (Path(job.request.out_dir) / "report.json").write_text("{}")
    assert convert(qtbot, win).request.out_dir.endswith("relu_converted_2")


def test_a_failed_comparison_says_why_in_the_log(win, qtbot, workers, relu_model, gui):
    workers.comparison = comparison_of(-np.linspace(-1, 1, 24))     # the sign flipped: far out of tolerance
    from studio.compare import ComparisonResult

    result = ComparisonResult.from_dict(workers.comparison)
    [reason] = failure_lines([result])
    why = reason.split(" / ", 1)[1]                                  # "y: max abs ... ; cosine ..."
    assert why.startswith("y: 24 of 24 elements exceed")

    open_model(qtbot, win, relu_model)
    job = convert(qtbot, win)
    assert job.state == DONE and not job.passed
    assert f"[{job.id}] FAIL relu_float32.tflite: {why}" in win.log_view.toPlainText().splitlines()
    assert win.jobs_panel.row_of(job).text(1) == "done, 1 of 1 comparisons failed"
    assert [c["passed"] for c in win.diff_view.comparisons] == [False]
    assert not gui.message_boxes()                                   # a FAIL is a result, not an error


def test_a_failed_job_shows_its_error_and_only_useful_output(win, qtbot, workers, relu_model, gui):
    workers.scripts["convert"] = lambda request: (
        [JobStarted(kind="convert", source=request.source), StageStarted(name="onnx->tf")]
        + [Log(level="output", message=line) for line in NOISE]
        + [Log(level="output", message="onnx2tf: Conv_3: unsupported auto_pad SAME_LOWER"),
           StageFinished(name="onnx->tf", seconds=2.0, ok=False, error="onnx2tf failed"),
           Failed(error="onnx->tf: onnx2tf could not convert the model", stage="onnx->tf",
                  details="Traceback (most recent call last):\n  ...\nRuntimeError: Conv_3"),
           Finished(exit_code=3)])
    open_model(qtbot, win, relu_model)
    job = convert(qtbot, win)
    assert job.state == FAILED

    box = gui.wait_for_message_box(qtbot, timeout=5_000)
    assert box.text() == "onnx->tf: onnx2tf could not convert the model"
    assert box.informativeText() == f"Job: {job.title}"
    assert "RuntimeError: Conv_3" in box.detailedText()
    assert "Last output of the worker:\nonnx2tf: Conv_3: unsupported auto_pad SAME_LOWER" in box.detailedText()
    log = win.log_view.toPlainText()
    assert "unsupported auto_pad SAME_LOWER" in log and "✗ onnx->tf (2.0 s): onnx2tf failed" in log
    assert "✗ failed: onnx->tf: onnx2tf could not convert the model" in log
    for noise in NOISE:                                            # neither in the Log tab nor in the details
        assert noise not in log and noise not in box.detailedText()
    assert win.sidebar.artifacts_of(win.current_state().key) == []
    box.done(0)


def test_new_inputs_compare_the_artifacts_again(win, qtbot, workers, relu_model):
    workers.comparison = comparison_of(-np.linspace(-1, 1, 24))
    state = open_model(qtbot, win, relu_model)
    convert(qtbot, win)
    assert [c["passed"] for c in win.diff_view.comparisons] == [False]
    workers.scripts["compare"] = lambda request: [
        JobStarted(kind="compare", source=request.reference, candidate=request.candidate),
        Compared(comparison=dict(comparison_of(np.linspace(-1, 1, 24)), candidate=request.candidate["path"])),
        Finished(exit_code=0)]

    win.diff_view.inputs_changed.emit({"inputs_path": None, "seed": 3})     # the inputs bar's "Run again"
    [job] = [j for j in win.jobs.jobs if j.kind == "compare"]
    qtbot.waitUntil(lambda: job.finished, timeout=5_000)
    options = job.request.options
    assert (options.seed, options.variant, options.input_shapes) == (3, "float32", state.input_shapes)
    assert job.request.candidate["path"] == state.artifacts[0]["path"]
    assert [c["passed"] for c in win.diff_view.comparisons] == [True]      # the new result replaced the old one
    assert [c["passed"] for c in win.comparisons()] == [True]
    assert win.workspace.seed == 3                                          # and the next conversion uses them


# ---------------------------------------------------------------- cancelling

def blocking_convert(request) -> list:
    return [JobStarted(kind="convert", source=request.source), StageStarted(name="onnx->tf"), WAIT]


def test_a_queued_job_is_cancelled_at_once(win, qtbot, workers, relu_model, gui):
    workers.scripts["convert"] = blocking_convert
    open_model(qtbot, win, relu_model)
    first = convert(qtbot, win, wait=False)
    second = convert(qtbot, win, wait=False)
    qtbot.waitUntil(lambda: first.stage == "onnx->tf", timeout=5_000)
    assert second.state == QUEUED and second.request.out_dir != first.request.out_dir

    win.jobs_panel.cancel_requested.emit(second)                   # its row's Cancel button
    assert second.state == CANCELLED and second.runner is None
    assert win.jobs_panel.row_of(second).text(1) == "cancelled"
    assert first.state == RUNNING and len(workers.runners) == 2    # inspect + the first conversion only
    first.started_at -= 60                                         # Esc now asks about the first: say yes
    seen = answer_when_shown("studioConfirmCancel", "Cancel Job")
    win.cancel_action.trigger()
    qtbot.waitUntil(lambda: first.finished, timeout=5_000)
    assert seen and first.state == CANCELLED
    assert not gui.message_boxes("studioErrorBox")                  # a cancel is not an error
    assert not win.workspace.reserved


def test_more_workers_let_a_queued_conversion_start_at_once(win, qtbot, workers, relu_model):
    workers.scripts["convert"] = blocking_convert
    open_model(qtbot, win, relu_model)
    first = convert(qtbot, win, wait=False)
    second = convert(qtbot, win, wait=False)
    qtbot.waitUntil(lambda: first.stage == "onnx->tf", timeout=5_000)
    assert second.state == QUEUED
    win.jobs.set_convert_workers(2)                                 # Convert > Parallel Conversions…
    qtbot.waitUntil(lambda: second.state == RUNNING, timeout=5_000)
    assert win.jobs.capacity["convert"] == 2
    win.jobs.cancel_all()
    qtbot.waitUntil(lambda: first.finished and second.finished, timeout=5_000)


def test_cancelling_a_long_job_asks_first_and_defaults_to_keep_running(win, qtbot, workers, relu_model):
    workers.scripts["convert"] = blocking_convert
    open_model(qtbot, win, relu_model)
    job = convert(qtbot, win, wait=False)
    qtbot.waitUntil(lambda: job.stage == "onnx->tf", timeout=5_000)
    job.started_at -= 75                                           # 75 s of work (the clock is time.monotonic)

    seen = answer_when_shown("studioConfirmCancel", "Keep Running")
    win.cancel_action.trigger()                                    # a stray Esc
    assert seen and "Cancel “convert relu.onnx → tflite”?" == seen[0]["text"]
    assert seen[0]["default"] == "Keep Running" and seen[0]["escape"] == "Keep Running"
    qtbot.wait(50)
    assert job.state == RUNNING and not job.cancel_requested

    seen = answer_when_shown("studioConfirmCancel", "Cancel Job")
    win.jobs_panel.cancel_requested.emit(job)                      # the row's Cancel button asks too
    qtbot.waitUntil(lambda: job.finished, timeout=5_000)
    assert seen and job.state == CANCELLED


def test_a_job_that_just_started_is_cancelled_without_a_question(win, qtbot, workers, relu_model):
    workers.scripts["convert"] = blocking_convert
    open_model(qtbot, win, relu_model)
    job = convert(qtbot, win, wait=False)
    qtbot.waitUntil(lambda: job.stage == "onnx->tf", timeout=5_000)
    win.job_events.confirm_after = math.inf        # "just started", whatever the machine's clock did meanwhile
    win.job_events.ask_cancel = lambda jobs: pytest.fail("asked before cancelling a quick job")
    win.cancel_action.trigger()
    qtbot.waitUntil(lambda: job.finished, timeout=5_000)
    assert job.state == CANCELLED


def test_the_jobs_panels_cancel_all_cancels_every_queued_and_running_job(win, qtbot, workers, relu_model, gui):
    workers.scripts["convert"] = blocking_convert
    open_model(qtbot, win, relu_model)
    button = win.jobs_panel.cancel_all_button
    assert button.text().replace("&", "") == "Cancel all" and "every queued and running job" in button.toolTip()
    assert not button.isEnabled()                                  # only a finished inspect job in the panel
    win.jobs.set_convert_workers(2)
    jobs = [convert(qtbot, win, wait=False) for _ in range(3)]
    qtbot.waitUntil(lambda: all(job.stage == "onnx->tf" for job in jobs[:2]), timeout=5_000)
    assert [job.state for job in jobs] == [RUNNING, RUNNING, QUEUED]
    assert button.isEnabled() and button.isVisible()

    jobs[0].started_at -= 60                                       # a minute of work: asked first, as the menu does
    seen = answer_when_shown("studioConfirmCancel", "Keep Running")
    with qtbot.waitSignal(win.cancel_all_action.triggered, timeout=1_000):   # the Convert menu's own action
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert seen and seen[0]["default"] == "Keep Running"
    qtbot.wait(50)
    assert [job.state for job in jobs] == [RUNNING, RUNNING, QUEUED] and not any(j.cancel_requested for j in jobs)
    assert button.isEnabled()

    seen = answer_when_shown("studioConfirmCancel", "Cancel Job")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(job.finished for job in jobs), timeout=5_000)
    assert seen and [job.state for job in jobs] == [CANCELLED] * 3
    assert [win.jobs_panel.row_of(job).text(1) for job in jobs] == ["cancelled"] * 3
    assert not button.isEnabled() and not win.cancel_all_action.isEnabled()
    assert not gui.message_boxes("studioErrorBox") and not win.workspace.reserved


# ---------------------------------------------------------------- a drop of many models

def test_a_dropped_model_whose_inspection_fails_is_skipped_and_told_with_the_drop(win, qtbot, workers, relu_model,
                                                                                  tmp_path, gui):
    """Only the model that was read is converted; the other is named once (status bar, Log tab), no dialog."""
    folder = tmp_path / "zoo"
    folder.mkdir()
    for name in ("relu.onnx", "broken.onnx"):
        shutil.copy(relu_model, folder / name)

    def inspect(request) -> list:
        if Path(request.source["path"]).name != "broken.onnx":
            return inspect_script(request)
        return [JobStarted(kind="inspect", source=request.source),
                Failed(error="could not load the model: ModelProto parse error"), Finished(exit_code=3)]

    workers.scripts["inspect"] = inspect
    workers.scripts["convert"] = blocking_convert
    win.convert_panel.set_targets(["tflite"], ["float32"])
    drop(win, [folder])
    qtbot.waitUntil(lambda: len(win.sources) == 2, timeout=5_000)   # the drop is handled once the drag is over
    qtbot.waitUntil(lambda: all(job.finished for job in win.jobs.jobs if job.kind == "inspect"), timeout=5_000)
    message = win.statusBar().currentMessage()

    [job] = [job for job in win.jobs.jobs if job.kind == "convert"]
    assert job.title == "convert relu.onnx → tflite"
    assert message == ("Queued 1 conversion; skipped 1 model that cannot be converted: broken.onnx "
                       "— the Log tab says why")
    log = win.log_view.toPlainText()
    assert log.count("Skipped 1 of the 2 dropped models (not converted):\n  broken.onnx: its inputs could not be "
                     "read: could not load the model: ModelProto parse error") == 1
    assert not gui.message_boxes()                                 # no "Could not read the model" box
    win.jobs.cancel(job)

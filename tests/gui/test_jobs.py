"""Background work as the GUI runs it: cancel, a worker that dies, the queue, and no framework in the GUI process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from studio.jobs.record import CANCELLED, FAILED, QUEUED, RUNNING

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


def start_convert(window, qtbot, gui, tiny_model):
    gui.open_and_inspect(qtbot, window, tiny_model)
    window.convert_panel.set_targets(["tflite"], ["float32"])
    job = window.convert()
    assert job is not None
    return job


def wait_until_working(qtbot, job) -> None:
    """The worker is up and inside a stage (importing torch, exporting...)."""
    qtbot.waitUntil(lambda: job.state == RUNNING and job.runner is not None and bool(job.runner.pid) and bool(job.stage),
                    timeout=60_000)


def process_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_stops_a_running_job_within_2s_and_leaves_nothing(window, qtbot, gui, tiny_model, tmp_path):
    job = start_convert(window, qtbot, gui, tiny_model)
    wait_until_working(qtbot, job)
    pid = job.runner.pid
    assert window.cancel_action.isEnabled()
    window.activateWindow()
    window.tabs.setFocus()
    start = time.monotonic()
    qtbot.keyClick(window.tabs, Qt.Key.Key_Escape)    # Esc: cancel the current job
    assert job.cancel_requested
    qtbot.waitUntil(lambda: job.finished, timeout=5_000)
    assert time.monotonic() - start < 2.0
    assert job.state == CANCELLED
    assert process_gone(pid)
    assert list((tmp_path / "out").iterdir()) == []    # no output folder, no staging folder
    assert not gui.message_boxes()                     # a cancel is not an error
    assert window.jobs_panel.row_of(job).text(1) == "cancelled"
    # nothing runs any more: the action turns off once the window has handled the job's end (CI saw it still on
    # right at job.finished once; the test waits for the outcome, not for an ordering of slots)
    qtbot.waitUntil(lambda: not window.cancel_action.isEnabled(), timeout=2_000)
    assert window.jobs.current() is None


def test_killed_worker_marks_its_job_failed_and_the_app_stays_up(window, qtbot, gui, tiny_model, tmp_path):
    job = start_convert(window, qtbot, gui, tiny_model)
    wait_until_working(qtbot, job)
    os.kill(job.runner.pid, signal.SIGKILL)
    gui.wait_job(qtbot, job, timeout=10_000)
    assert job.state == FAILED
    assert "SIGKILL" in job.error
    box = gui.wait_for_message_box(qtbot)
    assert "SIGKILL" in box.text()
    assert "failed" in window.jobs_panel.row_of(job).text(1)
    box.done(0)
    assert list((tmp_path / "out").iterdir()) == []
    # the window goes on working: the next job runs
    window.about_action.trigger()
    qtbot.waitUntil(lambda: window.versions is not None, timeout=60_000)
    window.help.about.reject()


def test_jobs_queue_first_in_first_out(window, qtbot, gui, tiny_model):
    first = start_convert(window, qtbot, gui, tiny_model)
    others = [window.convert() for _ in range(window.jobs.capacity["convert"] - 1)]   # one per warm worker
    assert all(job.state == RUNNING for job in others)
    second = window.convert()                          # one more than the pool has workers: it waits
    assert second is not None and second.request.out_dir != first.request.out_dir
    assert second.state == QUEUED
    assert window.jobs_panel.row_of(second).text(1) == "queued"
    # a quick job (inspect, versions) does not wait behind a conversion
    window.about_action.trigger()
    qtbot.waitUntil(lambda: window.versions is not None, timeout=60_000)
    window.help.about.reject()
    assert first.state == RUNNING and second.state == QUEUED
    window.jobs.cancel(second)                         # a queued job is dropped at once, never started
    assert second.state == CANCELLED and second.runner is None
    for job in [first, *others]:
        window.jobs.cancel(job)
    qtbot.waitUntil(lambda: first.finished and all(job.finished for job in others), timeout=5_000)
    assert first.state == CANCELLED and all(job.state == CANCELLED for job in others)
    qtbot.waitUntil(lambda: all(j.finished for j in window.jobs.jobs), timeout=30_000)   # the versions job too
    window.clear_finished_jobs()
    assert window.jobs_panel.tree.topLevelItemCount() == 0


GUI_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from PySide6.QtCore import QSettings
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[2])
    from studio.gui.app import create_main_window, ensure_app
    app = ensure_app()
    window = create_main_window(sys.argv[1])   # opens the model: detect, sidebar, an inspect job in a worker
    window.show_about()                        # a versions job in a worker

    def wait(condition, seconds=120):
        deadline = time.monotonic() + seconds
        while not condition() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)

    state = window.sources[sys.argv[1]]
    wait(lambda: state.inspect_state != "reading" and window.versions is not None)
    window.convert_panel.set_targets(["onnx"], ["float32"])
    window.convert_panel.output.setText(sys.argv[3])
    job = window.convert()                     # a real conversion: its events drive every panel
    wait(lambda: job.finished)
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras", "tf_keras", "jax"))
    print(json.dumps({"inspect": state.inspect_state, "inputs": (state.info or {}).get("inputs"),
                      "convert": job.state, "passed": [c["passed"] for c in window.comparisons()],
                      "versions": window.versions, "heavy": heavy, "torch": "torch" in sys.modules,
                      "tensorflow": "tensorflow" in sys.modules}))
    window.close()
""")


def test_gui_process_never_imports_torch_or_tensorflow(tiny_model, tmp_path):
    script = tmp_path / "gui_process.py"
    script.write_text(GUI_SCRIPT)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(script), str(tiny_model), str(tmp_path / "settings"),
                           str(tmp_path / "out")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["inspect"] == "ready"                       # the worker did load torch ...
    assert report["inputs"][0]["name"] == "image"
    assert report["versions"]["torch"] != "not installed"
    assert report["convert"] == "done" and report["passed"] == [True]
    assert report["heavy"] == [] and not report["torch"] and not report["tensorflow"]   # ... the GUI did not

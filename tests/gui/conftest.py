"""GUI tests: offscreen Qt, real worker processes, settings kept out of the user's home.

QT_QPA_PLATFORM and the QtWebEngine variables must be set before Qt is imported, hence at the top.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from studio.gui.app import prepare_environment  # noqa: E402  (no Qt import)

prepare_environment()

import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings, Qt  # noqa: E402

QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)   # QtWebEngine, before the app

JOB_TIMEOUT_MS = 240_000     # a real conversion through onnx2tf: ~20 s here, more on a loaded CI machine


@pytest.fixture(scope="session", autouse=True)
def _pyside_workarounds():
    """What ensure_app() applies at app startup, applied here too: pytest-qt makes its own QApplication."""
    from studio.gui._pyside_workarounds import keep_singletons_alive

    keep_singletons_alive()


@pytest.fixture(scope="session", autouse=True)
def _isolated_settings(tmp_path_factory):
    """QSettings of the tests go to a temp folder, never into the user's own."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small real CNN saved with torch.export.save (torch is fine here: this is the test process, not the GUI's)."""
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.head = nn.Linear(8, 5)

        def forward(self, image):
            x = torch.relu(self.bn(self.conv(image)))
            return self.head(x.mean(dim=(2, 3)))

    torch.manual_seed(0)
    model = Tiny().eval()
    path = tmp_path_factory.mktemp("gui_models") / "tiny_gui.pt2"
    torch.export.save(torch.export.export(model, (torch.rand(1, 3, 16, 16),)), path)
    return path


@pytest.fixture
def window(qtbot, qapp, tmp_path):
    """A fresh main window writing conversions under tmp_path/out; closed (workers killed) afterwards."""
    from studio.gui.app import configure_app, create_main_window
    from studio.gui.settings import Settings

    configure_app(qapp)
    Settings().q.clear()   # every test starts like a first run
    win = create_main_window()
    win.confirm_quit = False   # closing at teardown must never wait on a question
    qtbot.addWidget(win)
    out = tmp_path / "out"
    out.mkdir()
    win.convert_panel.output.setText(str(out))
    yield win
    close_message_boxes()
    win.close()
    qtbot.wait(50)


def message_boxes(object_name: str | None = None) -> list:
    from PySide6.QtWidgets import QApplication, QMessageBox

    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.isVisible() and (object_name is None or w.objectName() == object_name)]


def close_message_boxes() -> None:
    for box in message_boxes():
        box.done(0)


def wait_for_message_box(qtbot, object_name: str = "studioErrorBox", timeout: int = 30_000):
    """The real (non-blocking) QMessageBox the window opened."""
    qtbot.waitUntil(lambda: bool(message_boxes(object_name)), timeout=timeout)
    return message_boxes(object_name)[0]


def open_and_inspect(qtbot, win, path: Path):
    """Open a model the way File > Open does and wait for its inspect job to fill the Convert panel."""
    [state] = win.open_paths([str(path)])
    qtbot.waitUntil(lambda: state.inspect_state != "reading", timeout=120_000)
    assert state.inspect_state == "ready", state.inspect_error
    return state


def wait_job(qtbot, job, timeout: int = JOB_TIMEOUT_MS) -> float:
    start = time.monotonic()
    qtbot.waitUntil(lambda: job.finished, timeout=timeout)
    return time.monotonic() - start


@pytest.fixture
def gui():
    """The helpers above, for test modules (a conftest is not importable by name next to tests/conftest.py)."""
    return SimpleNamespace(message_boxes=message_boxes, close_message_boxes=close_message_boxes,
                           wait_for_message_box=wait_for_message_box, open_and_inspect=open_and_inspect,
                           wait_job=wait_job)

"""Start the desktop studio: environment, QApplication, the main window.

`run_gui(source)` is what `studio gui` calls; `create_main_window()` opens the window without entering the
event loop (tests, screenshots). Neither imports torch or tensorflow.
"""

from __future__ import annotations

import os
import sys
import traceback

from studio import __version__
from studio.errors import StudioError
from studio.resources import sample_model_path

APP_NAME = "Model Conversion Studio"
ORG_NAME = "Model Conversion Studio"
ORG_DOMAIN = "model-conversion-studio.org"
DESKTOP_FILE = "model-conversion-studio"
class NoDisplay(StudioError):
    """No screen to draw on: the caller can fall back to the headless CLI."""


def display_problem() -> str | None:
    """One line saying why no window can open here, or None. Checked before Qt can abort on its platform plugin."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return None
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return ("no display found (DISPLAY and WAYLAND_DISPLAY are unset): run `studio convert` instead, "
                "or set QT_QPA_PLATFORM=offscreen")
    return None


def prepare_environment() -> None:
    """Settings Qt WebEngine (Netron's view) reads once, before the QApplication exists."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.environ["QTWEBENGINE_DISABLE_SANDBOX"] = "1"   # Chromium refuses to sandbox as root
    flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "").split()
    if "--disable-gpu" not in flags:
        flags.append("--disable-gpu")                       # software rendering: works in VMs and over SSH
    os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = " ".join(flags)


def ensure_app(argv: list[str] | None = None):
    """The QApplication, created once with the names QSettings and the desktop use."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        from studio.gui._pyside_workarounds import keep_singletons_alive

        keep_singletons_alive()   # once, before Qt is used: see its docstring
        prepare_environment()
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)  # QtWebEngine needs it
        app = QApplication(argv if argv is not None else [sys.argv[0] if sys.argv else "studio"])
    configure_app(app)
    return app


def configure_app(app) -> None:
    """Names for QSettings and the desktop; the style and palette stay the platform's (light or dark)."""
    from PySide6.QtGui import QGuiApplication

    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORG_NAME)
    app.setOrganizationDomain(ORG_DOMAIN)
    app.setApplicationVersion(__version__)
    app.setApplicationDisplayName(APP_NAME)
    QGuiApplication.setDesktopFileName(DESKTOP_FILE)


def create_main_window(source: str | None = None, show: bool = True):
    """The main window, shown, with `source` opening (errors appear in a dialog); no event loop is entered."""
    ensure_app()
    from studio.gui.main_window import MainWindow

    window = MainWindow()
    if show:
        window.show()
    if source:
        window.open_paths([source])
    return window


def install_excepthook(window) -> None:
    """A bug of ours in a slot becomes an error dialog with the traceback in its details, never an exit."""
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        print(details, file=sys.stderr)
        try:
            from studio.errors import one_line
            from studio.gui.dialogs import show_error

            show_error(window, f"Internal error: {one_line(exc)}", details, title="Internal error")
        except Exception:
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def run_gui(source: str | None = None) -> int:
    """Open the window on `source` (or the bundled sample) and run until it closes. Returns the exit code.

    Raises NoDisplay (a StudioError: one line) when there is no screen, so callers can go headless.
    """
    problem = display_problem()
    if problem:
        raise NoDisplay(problem)
    app = ensure_app()
    sample = sample_model_path()
    window = create_main_window(source or (str(sample) if sample.is_file() else None))
    install_excepthook(window)
    return app.exec()

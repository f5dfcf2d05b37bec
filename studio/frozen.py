"""Entry point of the packaged (PyInstaller) app; it also works unfrozen: `python -m studio.frozen ...`.

One executable plays every role:

    ModelConversionStudio                     open the desktop studio on the bundled sample
    ModelConversionStudio MODEL               open MODEL (what a double-click or "Open with" passes)
    ModelConversionStudio convert|inspect|compare|gui ...   the `studio` command
    ModelConversionStudio --self-test         convert the sample headless, compare, exit 0 only on PASS
    ModelConversionStudio --worker            a job's worker process (the runner re-launches the app so)
    ModelConversionStudio --version

Hidden, for the packaging tests: `--smoke-gui SECONDS [MODEL]` opens the main window (offscreen works),
waits up to SECONDS for the Netron graph, prints "window shown in X s; graph loaded: True|False" and exits.

The GUI roles never import torch or tensorflow; the worker role does, and only that process. This module
itself imports no Qt: the roles that need it go to studio.gui (app.run_gui, frozen_support.smoke_gui).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time

CLI_COMMANDS = ("convert", "inspect", "compare", "explain", "matrix", "gui", "setup")   # studio.cli.COMMANDS (a test keeps them equal)
WORKER_FLAG = "--worker"          # the same flag studio.jobs.launch.worker_command() passes
SELF_TEST_FLAG = "--self-test"
SMOKE_GUI_FLAG = "--smoke-gui"
_IMPORTED_AT = time.time()

USAGE = """\
usage: ModelConversionStudio [MODEL]
       ModelConversionStudio convert|inspect|compare|explain|matrix|gui|setup ...   (see: ModelConversionStudio convert --help)
       ModelConversionStudio --self-test | --version | --help

Opens the desktop studio on MODEL, or on the bundled sample model when none is given."""


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()   # first: a multiprocessing child of the frozen app must not run main()
    _restore_child_environment()
    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv else None

    if first == WORKER_FLAG:
        from studio.jobs.worker import main as worker_main

        return worker_main()
    if first == SELF_TEST_FLAG:
        from studio.selftest import main as selftest_main

        return selftest_main(argv[1:])
    if first == SMOKE_GUI_FLAG:
        return smoke_gui(argv[1:])
    if first in ("--version", "-V"):
        from studio import __version__

        print(f"Model Conversion Studio {__version__}")
        return 0
    if first in ("--help", "-h"):
        print(USAGE)
        return 0
    if first in CLI_COMMANDS:
        from studio.cli import main as cli_main

        return cli_main(argv)
    if first is not None and first.startswith("-"):
        print(f"ModelConversionStudio: unknown option {first}\n{USAGE}", file=sys.stderr)
        return 2
    return open_gui(model_argument(first))


def _restore_child_environment() -> None:
    """Give programs we start (a browser, a file manager) the user's library path, not the bundle's.

    PyInstaller's bootloader points LD_LIBRARY_PATH at the bundle (saving the user's value as *_ORIG). This
    process has already loaded with it; the app's own workers get it again from the bootloader.
    """
    if not getattr(sys, "frozen", False):
        return
    bundle = getattr(sys, "_MEIPASS", None)
    for var in ("LD_LIBRARY_PATH",):
        original = os.environ.pop(f"{var}_ORIG", None)
        if original is not None:
            os.environ[var] = original
        elif bundle and os.environ.get(var, "").split(os.pathsep)[0] == bundle:
            del os.environ[var]


def model_argument(arg: str | None) -> str | None:
    """The model a launcher passed: a path, or a file:// URI from desktops that hand out %u."""
    if not arg:
        return None
    if arg.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(arg).path)
    return arg


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _load_run_gui():
    """studio.gui.app.run_gui, or None with the reason when the desktop part is missing from this build."""
    try:
        from studio.gui.app import run_gui
    except ImportError as exc:
        return None, str(exc)
    return run_gui, ""


def open_gui(path: str | None) -> int:
    if not has_display():
        print("ModelConversionStudio: no display found. Headless, use `ModelConversionStudio convert MODEL` "
              "or `ModelConversionStudio --self-test`.", file=sys.stderr)
        return 2
    run_gui, reason = _load_run_gui()
    if run_gui is None:
        print(f"ModelConversionStudio: the desktop studio is not available in this build ({reason}). "
              "The `convert`, `inspect` and `compare` commands work.", file=sys.stderr)
        return 2
    from studio.errors import StudioError

    try:
        return int(run_gui(path) or 0)
    except StudioError as exc:       # e.g. NoDisplay, a model that cannot open: one line, not a traceback
        print(f"ModelConversionStudio: {exc}", file=sys.stderr)
        return exc.exit_code


# ---------------------------------------------------------------- --smoke-gui

def _process_start() -> float:
    """Wall-clock time this process started (the bootloader included), for 'time to window shown'."""
    try:   # Linux: start time in clock ticks since boot, against the uptime clock (10 ms resolution)
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED_AT


def smoke_gui(args: list[str]) -> int:
    """`--smoke-gui SECONDS [MODEL]`: studio.gui.frozen_support opens the window (Qt stays out of this module)."""
    try:
        seconds = float(args[0]) if args else 60.0
    except ValueError:
        print(f"{SMOKE_GUI_FLAG} SECONDS [MODEL]: {args[0]!r} is not a number", file=sys.stderr)
        return 2
    started = _process_start()
    try:
        from studio.gui.frozen_support import smoke_gui as open_and_probe
    except ImportError as exc:
        print(f"smoke-gui: the desktop studio is not available in this build ({exc})", file=sys.stderr)
        return 2
    from studio.resources import sample_model_path

    model = model_argument(args[1]) if len(args) > 1 else str(sample_model_path())
    return open_and_probe(seconds, model, started)


if __name__ == "__main__":
    raise SystemExit(main())

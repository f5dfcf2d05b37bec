#!/usr/bin/env python3
"""Benchmark the desktop studio, measured in one run (offscreen Qt):

1. cold start to window shown, in a fresh process, against `python -c "import tensorflow"` (target <= 1.5 s);
2. the largest gap between 10 ms heartbeat ticks of the GUI event loop while a real conversion runs,
   against the same heartbeat with the app idle (target <= 50 ms).

    .venv/bin/python scripts/bench_gui.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A fresh process: import the app, show the window, and report when its first frame was painted.
STARTUP_CHILD = """
import os, sys, time
t0 = float(os.environ["BENCH_T0"])
from PySide6.QtCore import QSettings, QTimer
from studio.gui.app import create_main_window, ensure_app
app = ensure_app()
QSettings.setDefaultFormat(QSettings.Format.IniFormat)
QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.environ["BENCH_SETTINGS"])
window = create_main_window(None)
window.confirm_quit = False
def shown():
    print(f"{time.time() - t0:.4f}")
    sys.stdout.flush()
    os._exit(0)
QTimer.singleShot(0, shown)   # runs once the event loop has painted the shown window
app.exec()
"""


def timed_process(code: str, env: dict) -> float:
    env = {**os.environ, **env, "BENCH_T0": repr(time.time())}
    t0 = time.time()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.time() - t0
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    return float(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else wall


def cold_start(runs: int) -> tuple[float, float]:
    settings = tempfile.mkdtemp(prefix="bench-gui-settings-")
    window = [timed_process(STARTUP_CHILD, {"BENCH_SETTINGS": settings}) for _ in range(runs)]
    tf = [timed_process("import tensorflow", {"TF_CPP_MIN_LOG_LEVEL": "2"}) for _ in range(runs)]
    return statistics.median(window), statistics.median(tf)


def heartbeat_gaps(app, seconds_or_done, tick_ms: int = 10) -> list[float]:
    """Gaps (ms) between ticks of a 10 ms timer until the condition is true (or for N seconds)."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    clock, stamps = QElapsedTimer(), []
    clock.start()
    timer = QTimer()
    timer.setInterval(tick_ms)
    timer.timeout.connect(lambda: stamps.append(clock.elapsed()))
    timer.start()
    done = seconds_or_done if callable(seconds_or_done) else (lambda: clock.elapsed() > seconds_or_done * 1000)
    while not done():
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    return [b - a for a, b in zip(stamps, stamps[1:])]


def during_conversion() -> tuple[float, float, int, float]:
    from PySide6.QtCore import QSettings

    from studio.gui.app import create_main_window, ensure_app
    from studio.resources import sample_model_path

    app = ensure_app()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    window = create_main_window(None)
    window.confirm_quit = False
    window.resize(1400, 900)
    window.convert_panel.output.setText(tempfile.mkdtemp(prefix="bench-gui-out-"))
    window.open_paths([str(sample_model_path())])
    heartbeat_gaps(app, lambda: window.convert_action.isEnabled())
    idle = heartbeat_gaps(app, 3.0)
    window.convert_panel.set_targets(["onnx", "savedmodel", "tflite"], ["float32", "float16"])
    window.convert_action.trigger()
    job = next(j for j in window.jobs.jobs if j.kind == "convert")
    t0 = time.monotonic()
    busy = heartbeat_gaps(app, lambda: job.finished)
    seconds = time.monotonic() - t0
    if job.state != "done":
        raise SystemExit(f"the conversion did not succeed: {job.error}")
    window.close()
    return max(busy), max(idle), len(busy), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    window_s, tf_s = cold_start(args.runs)
    busy_ms, idle_ms, ticks, seconds = during_conversion()
    print(f"cold start to window shown: {window_s:.2f} s   python -c 'import tensorflow': {tf_s:.2f} s   "
          f"ratio {window_s / tf_s:.2f}   (median of {args.runs}; target <= 1.5 s)")
    print(f"largest heartbeat gap during a {seconds:.1f} s conversion: {busy_ms:.0f} ms ({ticks} ticks)   "
          f"idle: {idle_ms:.0f} ms   ratio {busy_ms / max(idle_ms, 1):.2f}   (target <= 50 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

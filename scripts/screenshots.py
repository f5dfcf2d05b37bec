"""Render the main window offscreen, with the sample model really converted and compared.

    ./scripts/screenshots OUTDIR   ->  OUTDIR/main.png, graph.png, compare.png, jobs.png
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_until(app, condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float) -> None:
    wait_until(app, lambda t=time.monotonic() + seconds: time.monotonic() > t, seconds + 1, "the window to settle")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtCore import QSettings

    from studio.gui.app import create_main_window, ensure_app
    from studio.resources import sample_model_path

    app = ensure_app()
    settings_dir = tempfile.mkdtemp(prefix="studio-shots-settings-")   # never the user's own settings
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    window = create_main_window(None)
    window.confirm_quit = False
    window.resize(1400, 900)
    work = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    window.convert_panel.output.setText(str(work))
    window.open_paths([str(sample_model_path())])
    wait_until(app, lambda: window.convert_action.isEnabled(), 120, "the sample to be inspected")
    window.convert_panel.set_targets(["onnx", "savedmodel", "tflite"], ["float32", "float16", "dynamic_int8"])
    window.convert_action.trigger()
    job = next(j for j in window.jobs.jobs if j.kind == "convert")
    wait_until(app, lambda: job.stage == "onnx->tf" or job.finished, 300, "the onnx->tf stage")
    settle(app, 1.0)
    window.jobs_dock.grab().save(str(out / "jobs.png"))       # mid-conversion: stage, progress, elapsed, Cancel
    wait_until(app, lambda: job.finished, 600, "the conversion")
    window.show_tab(0)
    settle(app, 4)
    window.grab().save(str(out / "main.png"))
    source_item = window.sidebar.topLevelItem(0)
    from studio.gui.sidebar import ROLE_ARTIFACT

    artifacts = [source_item.child(i).data(0, ROLE_ARTIFACT) for i in range(source_item.childCount())]
    tflite = next(i for i, a in enumerate(artifacts) if a and a.get("kind") == "tflite" and a.get("variant") == "float32")
    window.sidebar.setCurrentItem(source_item.child(tflite))
    settle(app, 6)
    window.tabs.widget(0).grab().save(str(out / "graph.png"))
    window.sidebar.setCurrentItem(source_item)
    window.show_tab(1)
    settle(app, 2)
    window.grab().save(str(out / "compare.png"))
    for name in ("main", "graph", "compare", "jobs"):
        print(out / f"{name}.png")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Render the main window offscreen, with the sample model really converted and compared.

    ./scripts/screenshots OUTDIR [WIDTHxHEIGHT]   ->  OUTDIR/main.png, graph.png, compare.png, jobs.png,
                                                     compare_artifact.png (one artifact selected), layers.png
                                                     (its float16 TFLite explained layer by layer) and matrix.png
                                                     (the variant matrix: every variant's size, accuracy, latency)

The window is 1400x900 unless a size is given (1280x800 is the smallest the layout is checked at).
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
    width, height = (int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "1400x900").split("x"))
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
    window.resize(width, height)
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
    name = Path(artifacts[tflite]["path"]).name     # its own summary beside its graph, read by an inspect job
    wait_until(app, lambda: window.summary_view.title_label.text() == name and
               window.summary_view.format_label.text() != "Reading…", 120, "the artifact's summary")
    settle(app, 6)
    window.tabs.widget(0).grab().save(str(out / "graph.png"))
    window.show_tab(1)
    settle(app, 2)
    window.grab().save(str(out / "compare_artifact.png"))
    window.sidebar.setCurrentItem(source_item)
    settle(app, 2)
    window.grab().save(str(out / "compare.png"))
    float16 = next((i for i, a in enumerate(artifacts) if a and a.get("kind") == "tflite" and
                    a.get("variant") == "float16"), tflite)
    window.sidebar.setCurrentItem(source_item.child(float16))
    explain = window.explainer.explain()             # the Layers tab: per-layer errors, graphs coloured by them
    wait_until(app, lambda: explain.finished, 300, "the explain job")
    if explain.state != "done":
        raise SystemExit(f"screenshots: the explain job failed: {explain.error}")
    window.show_tab(window.TAB_LAYERS)
    settle(app, 6)
    window.grab().save(str(out / "layers.png"))
    matrix = window.matrix.run()                     # the Matrix tab: a table and latency against error
    wait_until(app, lambda: matrix is not None and matrix.finished, 600, "the variant matrix job")
    if matrix.state != "done":
        raise SystemExit(f"screenshots: the variant matrix job failed: {matrix.error}")
    window.show_tab(window.TAB_MATRIX)
    settle(app, 2)
    window.grab().save(str(out / "matrix.png"))
    for name in ("main", "graph", "compare", "compare_artifact", "jobs", "layers", "matrix"):
        print(out / f"{name}.png")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

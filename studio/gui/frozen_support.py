"""The packaged app's `--smoke-gui` probe: the one role of studio/frozen.py that needs Qt, so it lives here and the
entry point itself (plain Python, like the rest of the engine) imports it only for that role.

`smoke_gui(seconds, model, started)` opens the main window on MODEL, waits up to SECONDS for the Netron graph,
prints "window shown in X s; graph loaded: True|False" and returns the exit code.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMainWindow

from studio.gui import app as gui_app

# Fallback probe when the window offers no "graph loaded" signal: Netron draws nodes as SVG under #canvas.
GRAPH_JS = "(function(){var c=document.getElementById('canvas');" \
           "return c ? c.querySelectorAll('g.node').length : -1;})()"


def smoke_gui(seconds: float, model: str, started: float) -> int:
    """Open the main window on model, report when it shows and whether Netron drew the graph.

    Prints "window shown in X s; graph loaded: True|False (...)", then "TF.js: available|needs set-up: why",
    and returns 0 when the window
    showed (the caller judges the graph). X counts from `started` (the process start, the bootloader included).
    """
    qt_app = gui_app.ensure_app()
    window = gui_app.create_main_window(model)
    state = {"shown": None, "graph": None, "done": False, "probing": False, "graph_at": None}

    def finish() -> None:
        if state["done"]:
            return
        state["done"] = True
        shown, graph_at = state["shown"], state["graph_at"]
        shown_text = f"{shown - started:.2f} s" if shown else "never"
        graph_text = f", graph drawn at {graph_at - started:.2f} s" if graph_at else ""
        print(f"window shown in {shown_text}; graph loaded: {bool(state['graph'])}{graph_text}", flush=True)
        tfjs = getattr(getattr(window, "convert_panel", None), "target_boxes", {}).get("tfjs")
        if tfjs is not None:   # an optional target: the app must start without it, and say how to get it
            print("TF.js: " + ("available" if tfjs.isEnabled() else f"needs set-up: {tfjs.toolTip()}"), flush=True)
        window.close()
        qt_app.exit(0 if shown else 1)

    def settled(ok: bool) -> None:
        state["graph"] = bool(ok)
        state["graph_at"] = time.time() if ok else None
        finish()

    graph_view = getattr(window, "graph_view", None)
    signal = getattr(graph_view, "loaded", None)
    if signal is not None:
        signal.connect(settled)

    def probe() -> None:          # only without the signal
        try:
            from PySide6.QtWebEngineWidgets import QWebEngineView
        except ImportError:
            return
        views = window.findChildren(QWebEngineView)
        if views and not state["probing"]:
            state["probing"] = True

            def answer(result) -> None:
                state["probing"] = False
                if isinstance(result, (int, float)) and result > 0:
                    settled(True)

            views[0].page().runJavaScript(GRAPH_JS, 0, answer)

    def tick() -> None:
        if state["done"]:
            return
        handle = window.windowHandle()
        if state["shown"] is None and isinstance(window, QMainWindow) and window.isVisible() and \
                (handle is None or handle.isExposed()):
            state["shown"] = time.time()
        if signal is None and state["shown"] is not None:
            probe()
        if time.time() - started > seconds:
            finish()

    timer = QTimer(qt_app)
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    QTimer.singleShot(int(seconds * 1000) + 10_000, finish)     # never hang
    code = qt_app.exec()
    if not state["done"]:
        print("smoke-gui: the event loop ended before the window showed", file=sys.stderr)
        return 1
    return int(code)

"""Files dropped anywhere on the window open as models, wherever they land (even on Netron's page, which would
otherwise open the file itself). Images and arrays dropped on the Compare tab are left to it: they are inputs.

The filter watches a widget and every descendant, now and later, per widget: a Python filter on the
QApplication crashes QtWebEngine.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QWidget

from studio.inputs import INPUT_SUFFIXES   # what the Compare tab takes as dropped inputs

DRAG_EVENTS = (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop)


def local_paths(mime) -> list[str]:
    """The local files and folders a drag carries."""
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


class DropFilter(QObject):
    """Calls `open_paths(paths)` for local files dropped on `root` or any widget inside it, except input files
    dropped on `inputs_target` (the Compare tab takes those itself)."""

    def __init__(self, root: QWidget, open_paths: Callable[[list[str]], object],
                 inputs_target: QWidget | None = None):
        super().__init__(root)
        self.open_paths = open_paths
        self.inputs_target = inputs_target
        self.watch(root)

    def watch(self, widget: QWidget) -> None:
        widget.installEventFilter(self)
        for child in widget.findChildren(QWidget):
            child.installEventFilter(self)

    def takes_inputs(self, obj: QWidget, paths: list[str]) -> bool:
        target = self.inputs_target
        inside = target is not None and (obj is target or target.isAncestorOf(obj))
        return inside and all(p.lower().endswith(INPUT_SUFFIXES) for p in paths)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind in (QEvent.Type.ChildAdded, QEvent.Type.ChildPolished):
            child = event.child()
            if isinstance(child, QWidget):
                self.watch(child)
            return False
        if kind in DRAG_EVENTS and isinstance(obj, QWidget):
            paths = local_paths(event.mimeData())
            if not paths or self.takes_inputs(obj, paths):
                return False
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            if kind == QEvent.Type.Drop:
                # After the drop returns: dialogs (errors, consent) must not run inside the drag's own loop.
                QTimer.singleShot(0, lambda: self.open_paths(paths))
            return True
        return super().eventFilter(obj, event)

"""The Graph tab's view: Netron (studio.gui.netron_view) wherever Qt WebEngine is usable, else a placeholder.

Qt WebEngine ships with PySide6, but its Chromium needs system libraries (libnss3, libxkbfile, ...) that a
desktop may lack; importing it then fails with an ImportError. That one failure gives a plain placeholder that
says why, so the rest of the studio still works. Any other error is a bug and is raised.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

log = logging.getLogger(__name__)


def webengine_problem() -> str | None:
    """Why Qt WebEngine can't be used here (one line), or None when it can."""
    try:
        import PySide6.QtWebEngineCore  # noqa: F401
        import PySide6.QtWebEngineWidgets  # noqa: F401
    except ImportError as exc:
        from studio.errors import one_line

        return f"Qt WebEngine is not usable here: {one_line(exc)}"
    return None


class GraphPlaceholder(QLabel):
    """What the Graph tab shows without Qt WebEngine: the model's name and why there is no graph. Same API as
    netron_view.GraphView's show_model / show_side_by_side / set_error_colors / select_nodes /
    set_legends_visible / shutdown."""

    def __init__(self, reason: str, parent=None):
        super().__init__(parent)
        self.reason = reason
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setText(f"No graph view.\n\n{reason}")

    def show_model(self, path: str) -> None:
        self.setText(f"{Path(path).name}\n\nNo graph view. {self.reason}")

    def show_side_by_side(self, left: str, right: str) -> None:
        self.setText(f"{Path(left).name}  ↔  {Path(right).name}\n\nNo graph view. {self.reason}")

    def set_error_colors(self, path: str, colors: dict | None, legend: dict | None = None) -> None:
        pass   # no graph to colour (the Layers tab's table still shows every error)

    def select_nodes(self, names: dict) -> None:
        pass

    def set_legends_visible(self, on: bool) -> None:
        pass

    def shutdown(self) -> None:
        pass


def create_graph_view(parent=None) -> QWidget:
    """netron_view.GraphView, or a GraphPlaceholder when Qt WebEngine is missing (see the module docstring)."""
    problem = webengine_problem()
    if problem is not None:
        log.warning("%s; the Graph tab shows a placeholder", problem)
        return GraphPlaceholder(problem, parent)
    from studio.gui.netron_view import GraphView

    return GraphView(parent)

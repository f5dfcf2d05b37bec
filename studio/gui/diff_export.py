"""Exporting the Compare tab: the comparisons as JSON, or one self-contained HTML page with every pair's plots.

The page itself is studio.compare_html's (no Qt there); this module renders the plots it embeds, on a light,
never-shown PlotPanel, and writes files atomically (studio.report): a failed export never leaves half a file.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtWidgets import QApplication, QWidget

from studio.compare_html import comparison_report_html, outputs_by_name
from studio.gui.diff_inputs import has_samples, plot_pair
from studio.gui.plots import PlotPanel
from studio.report import write_json_atomic, write_text_atomic

MAX_EXPORTED_PLOTS = 48          # an HTML report stays a few MB even for many artifacts x outputs
EXPORT_PLOT_SIZE = (1100, 720)


def png_bytes(widget: QWidget) -> bytes:
    """What the widget shows, as PNG."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def render_plot_images(comparisons: list[dict]) -> dict[tuple[int, str], bytes]:
    """PNG of the plots of every pair that has samples, keyed by (comparison index, reference output name)."""
    pairs = [(i, name, output) for name, rows in outputs_by_name(comparisons).items()
             for i, output in rows if has_samples(comparisons[i], output)]
    if not pairs:
        return {}
    panel = PlotPanel(palette=QApplication.style().standardPalette())   # the report page is light
    panel.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
    panel.resize(*EXPORT_PLOT_SIZE)
    panel.show()
    images = {}
    try:
        for i, name, output in pairs[:MAX_EXPORTED_PLOTS]:
            if plot_pair(panel, comparisons[i], output):
                QApplication.processEvents()
                images[(i, name)] = png_bytes(panel)
    finally:
        panel.close()
        panel.deleteLater()
    return images


def export_json(path: str | os.PathLike, comparisons: list[dict]) -> None:
    write_json_atomic(path, comparisons)


def export_html(path: str | os.PathLike, comparisons: list[dict], inputs: dict,
                tolerance_text: str | None = None) -> None:
    """Tables with PASS/FAIL colours, the tolerances, the inputs used, and every pair's plots inline."""
    inputs_text = inputs.get("inputs_path") or f"random, seed {inputs.get('seed', 0)}"
    page = comparison_report_html(comparisons, images=render_plot_images(comparisons),
                                  tolerance_text=tolerance_text, inputs_text=inputs_text)
    write_text_atomic(path, page)

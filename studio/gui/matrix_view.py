"""The Matrix tab: every variant of one model side by side (studio matrix, in the window).

Input is a convert job's report (JobRecord.report()) whose files were timed; its rows are studio.matrix's
(matrix_rows, the CLI's and the HTML page's), so the table says what `studio matrix` prints:
- a table: variant, kind, size, cosine, top-1, max rel, verdict, LiteRT latency on 1 and 2 threads (median, p95) and
  how it was measured (the full wording and any note in the cell's tooltip, the methods listed under the table);
- a scatter of the 1-thread median latency against the worst max relative error (log scale), one dot per TFLite
  file, its size the file's size, green when it passes and red when it fails, labelled by variant.
Without a report it says how to make one (the Run button is the window's Variant Matrix action).
"""

from __future__ import annotations

import html
import math

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSizePolicy,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.artifacts import human_bytes
from studio.gui.plots import _background, _style_plot, muted_color, tab_heading, verdict_color, verdict_icon
from studio.latency import THREADS
from studio.matrix import cells, columns, matrix_rows, methods, scatter_points

# the CLI's columns with the row's name split into variant and kind, and how latency was measured at the end; the
# latency headers in two short lines (the unit is in their tooltips and the notes), so the table fits a 1280 px window
TITLES = ("Variant", "Kind", *(c.capitalize() for c in columns()[1:6]),
          *(f"{n} thread{'s' if n > 1 else ''}\n{stat}" for n in THREADS for stat in ("median", "p95")), "Method")
VERDICT_COLUMN = TITLES.index("Verdict")
TIPS = {"Size": "The file's size (a SavedModel: the whole folder)",
        "Cosine": "Cosine similarity with the source's outputs (the worst output; 1 = same direction)",
        "Top-1": "How often the top class agrees with the source's (class-score outputs)",
        "Max rel": "The worst max relative error over the outputs",
        "Verdict": "PASS when every output is within the variant's tolerance",
        "Method": "How the latency was measured (LiteRT runs TFLite files only)",
        **{f"{n} thread{'s' if n > 1 else ''}\n{stat}": f"Milliseconds per run in LiteRT on {n} CPU thread"
           f"{'s' if n > 1 else ''}: the {stat} after warm-up" for n in THREADS for stat in ("median", "p95")}}
DOT_MIN, DOT_MAX = 10.0, 38.0        # px: the scatter's dot diameters, the largest file gets DOT_MAX
EMPTY_TEXT = ("No variant matrix for this model yet.\n\nSelect a model and choose Convert ▸ Variant Matrix "
              "(Ctrl+Shift+V): one job makes the SavedModel and every TFLite variant (float32, float16, "
              "dynamic-range int8, int8), compares each with the source on the Compare tab's inputs and times "
              "each TFLite file in LiteRT on 1 and 2 threads. Its rows fill in here as they arrive.")


def method_text(row: dict) -> str:
    """The short name of how a row was timed: "timed invoke()", "litert-benchmark", or "–"."""
    method = row.get("method")
    return method.split(" (")[0] if method else "–"


def dot_size(size: int, largest: int) -> float:
    """A dot's diameter: its area grows with the file's size (as the HTML scatter's)."""
    return DOT_MIN + (DOT_MAX - DOT_MIN) * math.sqrt(max(size, 1) / max(largest, 1))


class MatrixScatter(pg.PlotWidget):
    """1-thread median latency (x) against max relative error (y, log scale); the dot's area is the file's size."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(_background(self))
        plot = self.getPlotItem()
        _style_plot(plot, self, "latency, 1 thread, median (ms)", "max relative error")
        plot.getAxis("left").setLogMode(True)         # the data are log10(error); the axis writes 10^n
        plot.setMenuEnabled(False)
        self.scatter_item = pg.ScatterPlotItem(hoverable=True, tip=self._tip)
        self.addItem(self.scatter_item)
        self.labels: list[pg.TextItem] = []
        self.points: list[tuple[dict, float, float]] = []
        self.setMinimumHeight(160)

    def sizeHint(self) -> QSize:  # noqa: N802
        """As tall as its minimum: the tab's scroll area sizes the view to its preferred height, so the plot takes
        the room left (its stretch) instead of making the tab scroll."""
        return QSize(super().sizeHint().width(), self.minimumHeight())

    def set_rows(self, rows: list[dict]) -> None:
        for label in self.labels:
            self.removeItem(label)
        self.labels = []
        self.points = scatter_points(rows)
        if not self.points:
            self.scatter_item.clear()
            return
        largest = max(row.get("bytes") or 1 for row, _, _ in self.points)
        text = self.palette().color(QPalette.ColorRole.Text)
        spots = []
        for i, (row, latency, error) in enumerate(self.points):
            color = verdict_color(self, bool(row.get("passed")))
            fill = pg.mkColor(color)
            fill.setAlpha(150)
            size = dot_size(row.get("bytes") or 1, largest)
            spots.append({"pos": (latency, math.log10(error)), "size": size, "brush": pg.mkBrush(fill),
                          "pen": pg.mkPen(color, width=1.5), "data": i})
            label = pg.TextItem(row["variant"], color=text)
            height = label.boundingRect().height() or 1.0
            label.setAnchor((0.5, 1 + (size / 2 - 2) / height))     # just above the dot, whatever its size
            label.setPos(latency, math.log10(error))
            self.addItem(label)
            self.labels.append(label)
        self.scatter_item.setData(spots)
        x_max = max(latency for _, latency, _ in self.points)
        logs = [math.log10(error) for _, _, error in self.points]
        low, high = min(logs), max(logs)
        margin = 0.3 + 0.12 * max(high - low, 1.0)     # decades: room for the largest dot, and its label above
        self.setXRange(0, x_max * 1.15, padding=0)
        self.setYRange(low - margin, high + 1.6 * margin, padding=0)

    def _tip(self, x: float, y: float, data) -> str:
        row, latency, error = self.points[int(data)]
        verdict = "PASS" if row.get("passed") else "FAIL"
        return (f"{row['name']}: {latency:.3f} ms (1 thread, median)\nmax rel {error:.3g} · "
                f"{human_bytes(row.get('bytes'))} · {verdict}")


class MatrixView(QWidget):
    """Header, table and scatter of one matrix report."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.report: dict | None = None
        self.rows: list[dict] = []
        self._build()
        self.show_message(EMPTY_TEXT)

    # ---- public API

    def show_report(self, report: dict, title: str = "") -> None:
        """The matrix of this report (a finished job's, or a running one's so far); title: the model's name."""
        self.report = report
        self.rows = matrix_rows(report)
        self.title_label.setText(html.escape(title))
        if not self.rows:
            self._fill_table([])
            self.scatter.set_rows([])
            self.placeholder.setText("The matrix job has made no SavedModel or TFLite file yet: rows appear here "
                                     "as each one is written, compared and timed.")
            self.stack.setCurrentIndex(0)
            return
        self._fill_table(self.rows)
        self.scatter.set_rows(self.rows)
        muted = muted_color(self).name()
        notes = methods(self.rows)
        self.notes_label.setText(f"<span style='color:{muted}'>" + "<br>".join(html.escape(n) for n in notes) +
                                 "</span>")
        plotted = len(self.scatter.points)
        largest = max((row.get("bytes") or 0 for row, _, _ in self.scatter.points), default=0)
        left_out = [row["name"] for row in self.rows if row not in [p[0] for p in self.scatter.points]]
        self.caption.setText(
            f"<span style='color:{muted}'>Each dot is a TFLite file ({plotted} plotted): "
            f"<b>the dot's area is the file's size</b> (largest {html.escape(human_bytes(largest))}); "
            f"<span style='color:{verdict_color(self, True).name()}'>●</span> passes, "
            f"<span style='color:{verdict_color(self, False).name()}'>●</span> fails its tolerance. Lower left is "
            "faster and closer to the source." +
            (f" Not plotted (no latency or error): {html.escape(', '.join(left_out))}." if left_out else "") +
            "</span>")
        self.stack.setCurrentIndex(1)

    def show_message(self, text: str, title: str = "") -> None:
        self.report, self.rows = None, []
        self.title_label.setText(html.escape(title))
        self._fill_table([])
        self.scatter.set_rows([])
        self.placeholder.setText(text)
        self.stack.setCurrentIndex(0)

    def set_busy(self, text: str | None) -> None:
        self.busy_label.setText(text or "")
        self.busy_label.setVisible(bool(text))

    def cell_text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    # ---- building

    def _build(self) -> None:
        self.title_label = QLabel()
        self.busy_label = QLabel()
        self.busy_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.busy_label.hide()
        self.run_button = QPushButton("Run Variant Matrix")
        header = QHBoxLayout()
        header.addWidget(tab_heading("Variant matrix"))
        header.addSpacing(10)
        header.addWidget(self.title_label)
        header.addSpacing(10)
        header.addWidget(self.busy_label, 1)
        header.addStretch(1)
        header.addWidget(self.run_button)

        self.table = table = QTableWidget(0, len(TITLES))
        table.setObjectName("matrixTable")
        for column, title in enumerate(TITLES):
            item = QTableWidgetItem(title)
            item.setToolTip(TIPS.get(title, ""))
            table.setHorizontalHeaderItem(column, item)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setWordWrap(False)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        head = table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        head.setStretchLastSection(True)
        head.setHighlightSections(False)
        table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.notes_label = QLabel()
        self.notes_label.setWordWrap(True)
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.scatter = MatrixScatter()
        self.caption = QLabel()
        self.caption.setWordWrap(True)

        content = QWidget()
        content_layout = QVBoxLayout(content)
        content_layout.setContentsMargins(0, 0, 0, 0)
        content_layout.setSpacing(4)
        content_layout.addWidget(table)
        content_layout.addWidget(self.notes_label)
        content_layout.addWidget(self.scatter, 1)
        content_layout.addWidget(self.caption)
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setMargin(24)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(content)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.stack, 1)

    def _fill_table(self, rows: list[dict]) -> None:
        table = self.table
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            values = cells(row)          # the CLI's: name, size, cosine, top-1, max rel, verdict, latencies
            kind = "SavedModel" if row["kind"] == "savedmodel" else "TFLite"
            texts = [row["variant"], kind, *values[1:], method_text(row)]
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if c >= 2 and c != VERDICT_COLUMN and c != len(texts) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(row.get("path") or "")
                table.setItem(r, c, item)
            verdict = table.item(r, VERDICT_COLUMN)
            if row.get("passed") is not None:
                verdict.setIcon(verdict_icon(self, bool(row["passed"]), 14))
                verdict.setForeground(verdict_color(self, bool(row["passed"])))
            if row.get("error"):
                verdict.setToolTip(str(row["error"]))
            note = "\n".join(t for t in (row.get("method"), row.get("latency_note")) if t)
            for c in range(VERDICT_COLUMN + 1, len(texts)):
                table.item(r, c).setToolTip(note)
        height = table.horizontalHeader().sizeHint().height() + \
            table.verticalHeader().defaultSectionSize() * max(len(rows), 1) + 2 * table.frameWidth() + \
            table.horizontalScrollBar().sizeHint().height()
        table.setFixedHeight(height)

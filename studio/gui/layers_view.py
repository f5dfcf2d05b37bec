"""The Layers tab: where an artifact drifts from its source, layer by layer, in graph order.

Input is one per-layer report (see studio.gui.layers_data) for the source and the artifact chosen in the Models
list or in this tab's artifact box. The tab shows:
- a header: the artifact against its source, the variant, the first divergent layer (named), how much of each
  graph was paired, the report's notes, and the unpaired tensors with their reasons (a list that opens);
- a table in graph order: #, layer, op, shape, an error bar (error ÷ tolerance on a log scale, green to red,
  with a tick at 1 = the tolerance), max abs, cosine, SNR, for int8 variants the SNR lost at the layer (growth),
  and the verdict. The first divergent row is marked and selected when a report arrives; headers sort, and
  "Failing only" hides the rows that pass;
- beside the graphs (the Graph tab's own panes, which the main window moves in while this tab is shown: see
  `graph_holder`), a scatter and a histogram of the selected layer when the report kept its tensors.

Selecting a row emits `row_selected(row)`; the explain controller selects that node in both graph panes.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import (QAbstractTableModel, QEvent, QItemSelectionModel, QModelIndex, QPointF, QRectF, QSize,
                            QSortFilterProxyModel, Qt, Signal)
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QLinearGradient, QPainter, QPainterPath, QPalette, QPen, \
    QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QBoxLayout, QCheckBox, QComboBox, QFrame, QHBoxLayout,
                               QHeaderView, QLabel, QPlainTextEdit, QPushButton, QSizePolicy, QSplitter,
                               QStackedWidget, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTableView,
                               QToolButton, QVBoxLayout, QWidget)

from studio.compare import format_cosine, format_number, format_snr
from studio.gui import layers_data as data
from studio.gui.diff_inputs import SampleError, load_samples
from studio.gui.plots import (ErrorHistogram, ScatterPlot, as_float, is_dark, muted_color, tab_heading, verdict_color,
                              verdict_icon)
from studio.signature import shape_text

ROW_ROLE = Qt.ItemDataRole.UserRole            # the row dict
SORT_ROLE = Qt.ItemDataRole.UserRole + 1       # what a column sorts by
PATH_ROLE = Qt.ItemDataRole.UserRole           # the artifact box's items: the artifact's path
MAX_UNPAIRED_IN_TOOLTIP = 12
MAX_NAMED = 3                                  # the header names this many worst / growth layers
NO_SAMPLES_NOTE = "Tensors are kept for the first divergent and worst layers only."


class Column:
    """The table's columns. The verdict and the error bar sit beside the layer's name, so a narrow window that
    scrolls the other metrics sideways still shows them."""

    INDEX, LAYER, OP, ERROR, VERDICT, SHAPE, MAX_ABS, COSINE, SNR, GROWTH = range(10)
    TITLES = ("#", "Layer", "Op", "Error ÷ tol.", "Verdict", "Shape", "Max abs", "Cosine", "SNR", "SNR lost")
    TIPS = ("Position in the graph (click to sort back into graph order)",
            "The layer in the source graph (its ONNX and artifact names are in the tooltip)",
            "ONNX op, or the fused chain compared at its output (Conv+Relu)",
            "The layer's error over its variant's tolerance, on a log scale: the tick is 1 (the tolerance); "
            "green passes with room, yellow only just, orange and red fail",
            "PASS when the layer's error is within the tolerance",
            "Shape of the compared tensor",
            "Largest |artifact − source| of the layer's tensor",
            "Cosine similarity of the two tensors (1 = same direction)",
            "Signal-to-noise ratio of the artifact's tensor against the source's",
            "int8: SNR the layer itself loses (error growth); the largest are where quantisation hurts most")
    WIDTHS = {OP: 84, ERROR: 110, VERDICT: 64, SHAPE: 92, MAX_ABS: 68, COSINE: 72, SNR: 66, GROWTH: 70}
    LAYER_MIN, LAYER_MAX = 130, 320      # px: the name takes what is left, within these


def _float(value, default: float = math.nan) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def layer_name(row: dict) -> str:
    return str(row.get("reference_node") or row.get("onnx_node") or row.get("name") or "?")


def shape_cell(shape) -> str:
    """A layer's shape in the table: "1×4×8×8"; a scalar "[]" as every other screen writes it; "unknown" when the
    engine could not tell (None)."""
    return shape_text(shape, sep="×", brackets=shape is not None and len(shape) == 0, unknown="unknown")


def row_tooltip(row: dict) -> str:
    lines = [f"#{row.get('index')} {layer_name(row)}"]
    for key, label in (("reference_node", "source node"), ("onnx_node", "ONNX node"), ("name", "ONNX value"),
                       ("candidate_node", "artifact node")):
        if row.get(key):
            lines.append(f"{label}: {row[key]}")
    lines.append(f"error ÷ tolerance: {data.ratio_text(row.get('error_ratio'))}")
    return "\n".join(lines)


def flag_icon(widget: QWidget, size: int = 16) -> QIcon:
    """A small red flag: the first divergent layer. Drawn, so no font needs a glyph."""
    ratio = widget.devicePixelRatioF() or 1.0
    pixmap = QPixmap(int(size * ratio), int(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 16
    painter.setPen(QPen(widget.palette().color(QPalette.ColorRole.Text), 1.6 * s))
    painter.drawLine(QPointF(4 * s, 2 * s), QPointF(4 * s, 14.5 * s))
    flag = QPainterPath(QPointF(4.6 * s, 2.5 * s))
    flag.lineTo(13.5 * s, 5.5 * s)
    flag.lineTo(4.6 * s, 8.8 * s)
    flag.closeSubpath()
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(verdict_color(widget, False))
    painter.drawPath(flag)
    painter.end()
    return QIcon(pixmap)


# ---------------------------------------------------------------- the table


class LayersModel(QAbstractTableModel):
    """The report's rows, one per table row, in graph order."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict] = []
        self.first_divergent: int | None = None
        self.show_growth = False
        self.palette_source: QWidget | None = None     # the view: colours and icons follow its palette
        self._icons: dict[str, QIcon] = {}

    def set_report(self, report: dict | None) -> None:
        self.beginResetModel()
        self.rows = sorted(data.rows(report), key=lambda row: int(row.get("index", 0)))
        first = (report or {}).get("first_divergent")
        self.first_divergent = None if first is None else int(first)
        self.show_growth = data.is_int8(report)
        self._icons = {}
        self.endResetModel()

    def refresh_look(self) -> None:
        self._icons = {}
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(Column.TITLES) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(Column.TITLES)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return Column.TITLES[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return Column.TIPS[section]
        return None

    def is_first_divergent(self, row: dict) -> bool:
        return self.first_divergent is not None and int(row.get("index", -1)) == self.first_divergent

    def _icon(self, name: str) -> QIcon:
        if name not in self._icons:
            widget = self.palette_source or QWidget()
            self._icons[name] = flag_icon(widget) if name == "flag" else verdict_icon(widget, name == "pass", 14)
        return self._icons[name]

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, column = self.rows[index.row()], index.column()
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.INDEX and self.is_first_divergent(row):
                return ("First divergent layer: the earliest whose error jumps past its tolerance while every "
                        "layer upstream stays within.\n\n" + row_tooltip(row))
            return row_tooltip(row)
        if role == Qt.ItemDataRole.DecorationRole:
            if column == Column.INDEX and self.is_first_divergent(row):
                return self._icon("flag")
            if column == Column.VERDICT:
                return self._icon("pass" if row.get("passed") else "fail")
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column in (Column.INDEX, Column.MAX_ABS, Column.COSINE, Column.SNR, Column.GROWTH):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and self.is_first_divergent(row):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.BackgroundRole and self.is_first_divergent(row):
            color = QColor(verdict_color(self.palette_source or QWidget(), False))
            color.setAlpha(60 if self.palette_source is not None and is_dark(self.palette_source) else 38)
            return QBrush(color)
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.VERDICT:
            return QBrush(verdict_color(self.palette_source or QWidget(), bool(row.get("passed"))))
        return None

    @staticmethod
    def _text(row: dict, column: int) -> str:
        if column == Column.INDEX:
            return str(row.get("index", ""))
        if column == Column.LAYER:
            return layer_name(row)
        if column == Column.OP:
            return str(row.get("op") or "")
        if column == Column.SHAPE:
            return shape_cell(row.get("shape"))
        if column == Column.ERROR:
            return data.ratio_text(row.get("error_ratio"))
        if column == Column.MAX_ABS:
            return format_number(row.get("max_abs"))
        if column == Column.COSINE:
            return format_cosine(row.get("cosine"))
        if column == Column.SNR:
            return format_snr(row.get("snr_db"))
        if column == Column.GROWTH:
            return data.growth_text(row.get("growth_db"))
        if column == Column.VERDICT:
            return "PASS" if row.get("passed") else "FAIL"
        return ""

    @staticmethod
    def _sort_key(row: dict, column: int):
        if column == Column.INDEX:
            return int(row.get("index", 0))
        if column in (Column.LAYER, Column.OP):
            return LayersModel._text(row, column).lower()
        if column == Column.SHAPE:
            return float(np.prod([max(1, int(d or 1)) for d in row.get("shape") or [1]]))
        if column == Column.ERROR:
            return data.finite_ratio(row.get("error_ratio"))
        keys = {Column.MAX_ABS: "max_abs", Column.COSINE: "cosine", Column.SNR: "snr_db", Column.GROWTH: "growth_db"}
        if column in keys:
            value = _float(row.get(keys[column]))
            return -math.inf if math.isnan(value) else value
        if column == Column.VERDICT:
            return 1 if row.get("passed") else 0
        return 0


class LayersFilter(QSortFilterProxyModel):
    """Sorts by SORT_ROLE; "failing only" hides the rows that pass."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.failing_only = False
        self.setSortRole(SORT_ROLE)

    def set_failing_only(self, on: bool) -> None:
        self.failing_only = bool(on)
        self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: N802
        if not self.failing_only:
            return True
        row = self.sourceModel().rows[source_row]
        return not row.get("passed")


class ErrorBarDelegate(QStyledItemDelegate):
    """The error column: a bar whose length is log(error ÷ tolerance) (layers_data.bar_fraction), coloured like
    the graph nodes, with a tick at the tolerance and the ratio written beside it."""

    TEXT_WIDTH = 46      # px kept right of the bar for "0.35×"

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        option = QStyleOptionViewItem(option)
        self.initStyleOption(option, index)
        text = option.text
        option.text = ""
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        row = index.data(ROW_ROLE) or {}
        ratio = data.finite_ratio(row.get("error_ratio"))
        track, bar, tick_x = self.geometry(option.rect, ratio)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        groove = QColor(palette.color(QPalette.ColorRole.Mid))
        groove.setAlpha(70)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(groove)
        painter.drawRoundedRect(track, 2, 2)
        if bar.width() > 0:
            painter.setBrush(QColor(data.error_color(ratio)))
            painter.drawRoundedRect(bar, 2, 2)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        painter.setPen(QPen(text_color, 1.2))
        painter.drawLine(QPointF(tick_x, track.top() - 2), QPointF(tick_x, track.bottom() + 2))
        painter.setPen(text_color)
        text_rect = QRectF(track.right() + 4, option.rect.top(), self.TEXT_WIDTH - 4, option.rect.height())
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), f"{text}×")
        painter.restore()

    @classmethod
    def geometry(cls, rect, ratio: float) -> tuple[QRectF, QRectF, float]:
        """(track, bar, x of the tolerance tick) inside a cell: the bar fills bar_fraction(ratio) of the track."""
        width = max(10.0, rect.width() - cls.TEXT_WIDTH - 8)
        height = min(10.0, max(4.0, rect.height() - 10.0))
        track = QRectF(rect.left() + 4, rect.center().y() - height / 2 + 0.5, width, height)
        bar = QRectF(track.left(), track.top(), width * data.bar_fraction(ratio), height)
        tick_x = track.left() + width * data.bar_fraction(1.0)
        return track, bar, tick_x


class ErrorLegend(QWidget):
    """The colour scale of the bars and the graph nodes, with its ticks (the same as the graphs' own legend)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedSize(290, 28)
        self.setToolTip("Error ÷ tolerance of each layer, on a log scale: up to 1 the layer passes. The bars, the "
                        "graphs' nodes and Model Explorer's export use these colours; grey nodes are not compared.")

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        left, width = 4.0, 180.0
        bar = QRectF(left, 3, width, 9)
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for position, color in data.legend_stops():
            gradient.setColorAt(position, QColor(color))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(gradient)
        painter.drawRoundedRect(bar, 2, 2)
        text = self.palette().color(QPalette.ColorRole.Text)
        font = painter.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() * 0.8))
        painter.setFont(font)
        for ratio in data.LEGEND_TICKS:
            x = bar.left() + width * data.legend_position(ratio)
            if ratio == 1.0:
                painter.setPen(QPen(text, 1.5))
                painter.drawLine(QPointF(x, bar.top() - 2), QPointF(x, bar.bottom() + 1))
            painter.setPen(text)
            label = data.ratio_text(ratio)
            painter.drawText(QRectF(x - 20, bar.bottom() + 1, 40, 14), int(Qt.AlignmentFlag.AlignHCenter), label)
        swatch = QRectF(bar.right() + 12, bar.top(), 9, 9)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(data.NEUTRAL_NODE[0]))
        painter.drawRect(swatch)
        painter.setPen(text)
        painter.drawText(QRectF(swatch.right() + 4, 0, self.width() - swatch.right() - 4, 16),
                         int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), "not compared")
        painter.end()


# ---------------------------------------------------------------- plots of one layer


def layer_samples(report: dict | None, row: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(source tensor, artifact tensor in the source's shape) of a row, or None when the report kept none. The
    engine saved the artifact's tensor already laid onto the source's shape (studio.explain.samples)."""
    return load_samples(((report or {}).get("samples") or {}).get(str(row.get("index"))), aligned=True)


class LayerPlots(QWidget):
    """Scatter (artifact against source) and |error| histogram of one layer, side by side when there is room."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("Selected layer")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = QLabel("Select a layer to plot it.")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.scatter = ScatterPlot(self)
        self.histogram = ErrorHistogram(self)
        for plot in (self.scatter, self.histogram):
            plot.setMinimumHeight(90)
        self.scatter.getPlotItem().getAxis("bottom").setLabel("source")
        self.scatter.getPlotItem().getAxis("left").setLabel("artifact")
        plots = QWidget()
        self.plots_layout = QBoxLayout(QBoxLayout.Direction.TopToBottom, plots)
        self.plots_layout.setContentsMargins(0, 0, 0, 0)
        self.plots_layout.addWidget(self.scatter)
        self.plots_layout.addWidget(self.histogram)
        self.body = QStackedWidget()
        self.body.addWidget(self.message)
        self.body.addWidget(plots)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)
        self.setMinimumWidth(180)

    @property
    def showing_plots(self) -> bool:
        return self.body.currentIndex() == 1

    def show_pair(self, title: str, reference: np.ndarray, candidate: np.ndarray) -> None:
        self.title.setText(title)
        ref, cand = as_float(reference), as_float(candidate)
        finite = np.isfinite(ref) & np.isfinite(cand)
        if not finite.all():
            self.show_message(title, f"{int((~finite).sum())} NaN/Inf values: nothing meaningful to plot.")
            return
        self.scatter.set_pair(ref, cand)
        self.histogram.set_errors(np.abs(cand - ref))
        self.body.setCurrentIndex(1)

    def show_message(self, title: str, message: str) -> None:
        self.title.setText(title)
        self.message.setText(message)
        self.body.setCurrentIndex(0)
        self.scatter.clear_pair()
        self.histogram.clear_errors()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        wide = self.width() > 1.6 * self.height()
        self.plots_layout.setDirection(QBoxLayout.Direction.LeftToRight if wide else
                                       QBoxLayout.Direction.TopToBottom)


# ---------------------------------------------------------------- the tab


class _CompactSplitter(QSplitter):
    """Table above graphs. It asks for no more height than its minimum, so the tab's scroll area (which sizes a view
    with wrapped labels to its preferred height) fills the window and scrolls only when the window is too small."""

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())


class LayersView(QWidget):
    """Header, table and plots of one per-layer report; the graphs are put in `graph_holder` by the window."""

    row_selected = Signal(object)          # the row dict, or None
    artifact_chosen = Signal(str)          # an artifact's path, picked in this tab's box

    def __init__(self, parent=None):
        super().__init__(parent)
        self.report: dict | None = None
        self.source_path: str | None = None
        self._build()
        self.show_report(None)

    # ---- public API

    @property
    def table_rows(self) -> list[dict]:
        """The rows the table shows now, top to bottom (after sorting and the failing-only filter)."""
        return [self.proxy.index(r, 0).data(ROW_ROLE) for r in range(self.proxy.rowCount())]

    def selected_row(self) -> dict | None:
        index = self.table.selectionModel().currentIndex()
        if not index.isValid() or not self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return None
        return index.data(ROW_ROLE)

    def set_artifacts(self, artifacts: list[dict], current: str | None) -> None:
        """The artifacts this tab can explain (the source's ONNX and TFLite), `current` (a path) chosen."""
        combo = self.artifact_combo
        combo.blockSignals(True)
        combo.clear()
        if not artifacts:
            combo.addItem("no ONNX or TFLite artifact yet", None)
        elif current is None:
            combo.addItem("choose an artifact…", None)
        for artifact in artifacts:
            path = artifact["path"]
            combo.addItem(f"{Path(path).name}", path)
            combo.setItemData(combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        found = combo.findData(current, PATH_ROLE) if current else -1
        combo.setCurrentIndex(max(0, found))
        combo.setEnabled(bool(artifacts))
        combo.blockSignals(False)

    @property
    def chosen_artifact(self) -> str | None:
        return self.artifact_combo.currentData(PATH_ROLE)

    def show_message(self, text: str) -> None:
        """No report to show: say why, and what to do (the table's place holds the text)."""
        self.show_report(None, text)

    def show_report(self, report: dict | None, message: str = "", source_path: str | None = None) -> None:
        """Fill the header and the table; select (and scroll to) the first divergent row, else the worst one."""
        self.report = report
        self.source_path = source_path or (report or {}).get("reference")
        self.model.palette_source = self
        self.model.set_report(report)
        self.table.setColumnHidden(Column.GROWTH, not self.model.show_growth)
        self.proxy.sort(Column.INDEX, Qt.SortOrder.AscendingOrder)
        self.table.horizontalHeader().setSortIndicator(Column.INDEX, Qt.SortOrder.AscendingOrder)
        self._fill_header()
        if report is None:
            self.placeholder.setText(message or "Select a source and one of its ONNX or TFLite artifacts, then "
                                                "Explain Layers to see where it drifts.")
            self.stack.setCurrentWidget(self.placeholder)
            self.plots.show_message("Selected layer", "")
            self.row_selected.emit(None)
            return
        self.stack.setCurrentWidget(self.table)
        self.plots.setVisible(self.has_samples)       # no tensors kept: the graphs get the room
        if not self.model.rows:
            self.placeholder.setText(message or "The report has no paired layers: see its notes above.")
            self.stack.setCurrentWidget(self.placeholder)
        self._fit_columns()
        self._fit_table_pane()
        start = data.first_divergent(report) or (data.ranked(report, "worst") or [None])[0]
        if start is not None:
            self.select_index(int(start["index"]))
        else:
            self.plots.show_message("Selected layer", "Select a layer to plot it.")
            self.row_selected.emit(None)

    def select_index(self, layer_index: int) -> bool:
        """Select the row of this graph-order index (showing every row if the filter hides it), centred."""
        for attempt in range(2):
            for r in range(self.proxy.rowCount()):
                index = self.proxy.index(r, 0)
                if int(index.data(ROW_ROLE).get("index", -1)) == layer_index:
                    self.table.selectionModel().setCurrentIndex(
                        index, QItemSelectionModel.SelectionFlag.ClearAndSelect |
                        QItemSelectionModel.SelectionFlag.Rows)
                    self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
                    return True
            if attempt == 0 and self.failing_only.isChecked():
                self.failing_only.setChecked(False)
            else:
                break
        return False

    @property
    def has_samples(self) -> bool:
        """Whether the report kept the tensors of any layer (for the plots)."""
        return bool((self.report or {}).get("samples"))

    def set_failing_only(self, on: bool) -> None:
        self.failing_only.setChecked(on)

    def set_busy(self, text: str | None) -> None:
        """A job for the shown artifact is running (text) or none is (None)."""
        self.busy_label.setText(text or "")
        self.busy_label.setVisible(bool(text))

    # ---- building

    def _build(self) -> None:
        title = tab_heading("Layers")
        self.artifact_combo = QComboBox()
        self.artifact_combo.setMinimumContentsLength(16)
        self.artifact_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.artifact_combo.setToolTip("The artifact to explain against its source (as selected in the Models list)")
        self.artifact_combo.currentIndexChanged.connect(self._combo_changed)
        self.explain_button = QPushButton("Explain Layers")
        self.export_button = QPushButton("Export for Model Explorer…")
        self.export_button.setToolTip("Write the per-layer errors as Model Explorer node data: one file for the "
                                      "source's graph, one for the artifact's")
        self.details_button = QToolButton()      # "2 notes · 3 unpaired": opens the notes and every reason
        self.details_button.setCheckable(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAutoRaise(True)
        self.details_button.toggled.connect(self._toggle_details)
        self.busy_label = QLabel()
        self.busy_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)   # never widens
        self.busy_label.hide()
        header = QHBoxLayout()
        header.addWidget(title)
        header.addSpacing(10)
        header.addWidget(QLabel("Artifact"))
        header.addWidget(self.artifact_combo)
        header.addSpacing(6)
        header.addWidget(self.details_button)
        header.addWidget(self.busy_label, 1)
        header.addStretch(1)
        header.addWidget(self.explain_button)

        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.details_text = QPlainTextEdit()
        self.details_text.setReadOnly(True)
        self.details_text.setMaximumHeight(110)
        self.details_text.hide()

        self.failing_only = QCheckBox("Failing only")
        self.failing_only.setToolTip("Show only the layers whose error is over their tolerance")
        self.failing_only.toggled.connect(self._filter_changed)
        self.count_label = QLabel()
        self.count_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)   # never widens
        self.legend = ErrorLegend()
        filters = QHBoxLayout()
        filters.setContentsMargins(0, 0, 0, 0)
        filters.addWidget(self.failing_only)
        filters.addSpacing(8)
        filters.addWidget(self.count_label, 1)
        filters.addWidget(self.legend)
        filters.addSpacing(8)
        filters.addWidget(self.export_button)

        self.model = LayersModel(self)
        self.proxy = LayersFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = table = QTableView()
        table.setObjectName("layersTable")
        table.setModel(self.proxy)
        table.setSortingEnabled(True)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        table.verticalHeader().hide()
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        table.setItemDelegateForColumn(Column.ERROR, ErrorBarDelegate(table))
        header_view = table.horizontalHeader()
        header_view.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header_view.setStretchLastSection(False)
        header_view.setHighlightSections(False)
        header_view.setMinimumSectionSize(40)
        table.installEventFilter(self)          # the layer's name takes the width the table gains or loses
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setMargin(16)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(table)
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(2)
        table_layout.addLayout(filters)
        table_layout.addWidget(self.stack, 1)

        self.graph_holder = QFrame()
        self.graph_holder.setObjectName("layersGraphHolder")
        holder_layout = QVBoxLayout(self.graph_holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        self.plots = LayerPlots()
        self.lower = QSplitter(Qt.Orientation.Horizontal)
        self.lower.addWidget(self.graph_holder)
        self.lower.addWidget(self.plots)
        self.lower.setStretchFactor(0, 3)
        self.lower.setStretchFactor(1, 1)
        self.lower.setSizes([650, 260])
        self.lower.setChildrenCollapsible(False)
        self.splitter = _CompactSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(table_box)
        self.splitter.addWidget(self.lower)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([260, 360])
        self.splitter.setChildrenCollapsible(False)
        self._splitter_dragged = False
        self.splitter.splitterMoved.connect(lambda *_: setattr(self, "_splitter_dragged", True))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(header)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.details_text)
        layout.addWidget(self.splitter, 1)

    def put_graph(self, graph: QWidget) -> None:
        """Show the Graph tab's view under the table (the window moves it back when the Graph tab is shown)."""
        self.graph_holder.layout().addWidget(graph)
        graph.show()

    # ---- header

    def _fill_header(self) -> None:
        report = self.report
        muted = muted_color(self).name()
        if report is None:
            self.summary_label.setText(f"<span style='color:{muted}'>No per-layer report shown.</span>")
            self.details_button.hide()
            self.details_text.hide()
            self.count_label.setText("")
            return
        candidate = Path(str(report.get("candidate") or "?")).name
        reference = Path(str(report.get("reference") or self.source_path or "?")).name
        paired = report.get("paired") or {}
        lines = [f"<b>{html.escape(candidate)}</b> against <b>{html.escape(reference)}</b>"
                 f" · {html.escape(str(report.get('variant') or '?'))} · paired: source "
                 f"{data.percent_text(paired.get('reference'))}, artifact {data.percent_text(paired.get('candidate'))}"]
        first = data.first_divergent(report)
        if first is not None:
            color = verdict_color(self, False).name()
            verdict = (f"<b style='color:{color}'>First divergent layer: #{first.get('index')} "
                       f"{html.escape(layer_name(first))}</b> ({html.escape(str(first.get('op') or '?'))}, "
                       f"{data.ratio_text(first.get('error_ratio'))}× its tolerance)")
        else:
            failing = [row for row in self.model.rows if not row.get("passed")]
            color = verdict_color(self, not failing).name()
            verdict = (f"<b style='color:{color}'>No divergent layer</b>" if not failing else
                       f"<b style='color:{color}'>{len(failing)} layers over their tolerance, none with every "
                       "layer upstream within</b>")
        worst = [row for row in data.ranked(report, "worst") if not row.get("passed")][:MAX_NAMED]
        if worst:
            verdict += " · worst: " + ", ".join(f"#{row.get('index')} {html.escape(layer_name(row))} "
                                                f"({data.ratio_text(row.get('error_ratio'))}×)" for row in worst)
        lines.append(verdict)
        growth = data.ranked(report, "growth")[:MAX_NAMED]
        if growth:
            lines.append("Most SNR lost (int8): " + ", ".join(
                f"#{row.get('index')} {html.escape(layer_name(row))} ({data.growth_text(row.get('growth_db'))})"
                for row in growth))
        self.summary_label.setText("<br>".join(lines))
        notes = [str(note) for note in report.get("notes") or []]
        unpaired = list(report.get("unpaired") or [])
        reasons = [f"{item.get('name')} ({item.get('side')}): {item.get('reason')}" for item in unpaired]
        parts = ([f"{len(notes)} note{'s' if len(notes) != 1 else ''}"] if notes else []) + \
            ([f"{len(unpaired)} unpaired"] if unpaired else [])
        self.details_button.setText(" · ".join(parts))
        self.details_button.setVisible(bool(parts))
        tip = "\n".join(reasons[:MAX_UNPAIRED_IN_TOOLTIP])
        if len(reasons) > MAX_UNPAIRED_IN_TOOLTIP:
            tip += f"\n… and {len(reasons) - MAX_UNPAIRED_IN_TOOLTIP} more"
        self.details_button.setToolTip(("Tensors without a partner:\n" + tip + "\n\n" if reasons else "") +
                                       "Click to list the notes and every unpaired tensor with its reason")
        text = ["Notes:", *(f"• {note}" for note in notes)] if notes else []
        if reasons:
            text += ([""] if text else []) + [f"Unpaired ({len(reasons)}):", *(f"• {r}" for r in reasons)]
        if not self.has_samples:
            text += ([""] if text else []) + \
                ["Plots: this report kept no layer's tensors (the table has every metric)."]
        self.details_text.setPlainText("\n".join(text))
        self.details_text.setVisible(bool(parts) and self.details_button.isChecked())
        self._show_count()

    def _toggle_details(self, on: bool) -> None:
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.details_text.setVisible(on and bool(self.details_text.toPlainText()))

    def _show_count(self) -> None:
        total = len(self.model.rows)
        failing = sum(1 for row in self.model.rows if not row.get("passed"))
        shown = self.proxy.rowCount()
        text = f"{total} layers, {failing} fail" if total else ""
        if self.failing_only.isChecked() and total:
            text += f" · {shown} shown"
        self.count_label.setText(f"<span style='color:{muted_color(self).name()}'>{text}</span>")

    def _fit_columns(self) -> None:
        """Fixed widths for the numbers; the layer's name takes what is left (and the table scrolls sideways in a
        window too narrow for all of them)."""
        table, metrics = self.table, self.table.fontMetrics()
        digits = len(str(max((int(row.get("index", 0)) for row in self.model.rows), default=0)))
        table.setColumnWidth(Column.INDEX, 24 + metrics.horizontalAdvance("0" * max(2, digits)) + 12)
        for column, width in Column.WIDTHS.items():
            table.setColumnWidth(column, width)
        self._fit_layer_column()

    def _fit_table_pane(self) -> None:
        """A short report's table takes only its rows' height (the graphs get the rest), a long one up to half the
        height; once the user drags the splitter, their sizes stay."""
        total = sum(self.splitter.sizes())
        if self._splitter_dragged or total <= 0:
            return
        table = self.table
        rows = table.verticalHeader().defaultSectionSize() * max(3, self.proxy.rowCount())
        wanted = self.failing_only.sizeHint().height() + table.horizontalHeader().sizeHint().height() + rows + \
            table.horizontalScrollBar().sizeHint().height() + 2 * table.frameWidth() + 8
        top = max(140, min(wanted, total // 2))
        self.splitter.setSizes([top, total - top])

    def _fit_layer_column(self) -> None:
        table = self.table
        others = sum(table.columnWidth(c) for c in range(len(Column.TITLES))
                     if c != Column.LAYER and not table.isColumnHidden(c))
        room = table.viewport().width() - others
        table.setColumnWidth(Column.LAYER, max(Column.LAYER_MIN, min(Column.LAYER_MAX, room)))

    def eventFilter(self, watched, event) -> bool:  # noqa: N802
        if watched is self.table and event.type() == QEvent.Type.Resize:
            self._fit_layer_column()
        return super().eventFilter(watched, event)

    # ---- selection and plots

    def _combo_changed(self, _index: int) -> None:
        path = self.chosen_artifact
        if path:
            self.artifact_chosen.emit(path)

    def _filter_changed(self, on: bool) -> None:
        keep = self.selected_row()
        self.proxy.set_failing_only(on)
        self._show_count()
        if keep is not None and (not on or not keep.get("passed")):
            self.select_index(int(keep["index"]))

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = current.data(ROW_ROLE) if current.isValid() else None
        self._plot(row)
        self.row_selected.emit(row)

    def _plot(self, row: dict | None) -> None:
        if row is None:
            self.plots.show_message("Selected layer", "Select a layer to plot it.")
            return
        verdict = "PASS" if row.get("passed") else "FAIL"
        color = verdict_color(self, bool(row.get("passed"))).name()
        title = (f"#{row.get('index')} {html.escape(layer_name(row))} · {html.escape(str(row.get('op') or ''))}"
                 f"&nbsp;&nbsp;<span style='color:{color}'>{verdict}</span>")
        try:
            pair = layer_samples(self.report, row)
        except SampleError as exc:
            self.plots.show_message(title, f"No plot: {exc}.")
            return
        if pair is None:
            kept = [f"#{i}" for i in sorted(int(k) for k in ((self.report or {}).get("samples") or {}))]
            self.plots.show_message(title, f"{NO_SAMPLES_NOTE} Kept here: {', '.join(kept)}." if kept else
                                    "This report kept no tensors to plot; the table has every metric.")
            return
        self.plots.show_pair(title, *pair)

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "model"):
            self.model.refresh_look()            # icons and tints follow the palette
            self._fill_header()

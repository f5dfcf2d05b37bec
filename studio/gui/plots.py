"""The pictures of an output diff, drawn with pyqtgraph: what the numbers in the table look like.

One reference/candidate pair (same shape, float) becomes: a scatter of candidate against reference around
y = x, a histogram of |error|, and either reference | candidate | |difference| heat maps (image-like outputs)
or the top-5 classes of both (class scores). The data shaping lives in small functions so tests can check
the numbers each plot was given.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QSpinBox,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.compare import looks_like_class_scores   # the verdict's rule: the top-k shown is the top-1 it judges


SCATTER_LIMIT = 20_000       # more points add nothing a reader can see, and cost redraw time
HISTOGRAM_BINS = 60
LOG_BINS_ABOVE = 100.0       # |error| spanning more than this ratio gets log-spaced bins
TOP_K = 5
PLOT_MIN_HEIGHT = 130        # px: plots shrink with the window (the Compare tab fits 1400x900 with the docks open)
HEATMAPS_MIN_HEIGHT = 150

# ---------------------------------------------------------------- data shaping


def as_float(array) -> np.ndarray:
    """Floats as they are (no float64 copy of a large output on the UI thread); ints (int8 outputs) as float32."""
    array = np.asarray(array)
    return array if array.dtype.kind == "f" else array.astype(np.float32)


def subsample(reference: np.ndarray, candidate: np.ndarray, limit: int = SCATTER_LIMIT,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (reference, candidate) pairs, at most `limit` of them, the same ones every time."""
    ref, cand = np.ravel(reference), np.ravel(candidate)
    if ref.size <= limit:
        return ref.astype(np.float64), cand.astype(np.float64)
    picked = np.sort(np.random.default_rng(seed).choice(ref.size, size=limit, replace=False))
    return ref[picked].astype(np.float64), cand[picked].astype(np.float64)


def error_histogram(abs_error: np.ndarray, bins: int = HISTOGRAM_BINS) -> tuple[np.ndarray, np.ndarray, bool]:
    """(counts, edges, log_x) of |error|. Errors spanning decades get log-spaced bins, exact zeros going into
    the first one; the counts always add up to the element count."""
    flat = np.ravel(as_float(abs_error))
    positive = flat[flat > 0]
    if positive.size == 0:
        return np.array([flat.size]), np.array([0.0, 1.0]), False
    low, high = float(positive.min()), float(positive.max())
    if high / low > LOG_BINS_ABOVE:
        edges = np.geomspace(low, high, bins + 1)
        counts, _ = np.histogram(np.clip(flat, low, high), edges)
        return counts, edges, True
    edges = np.linspace(0.0, high, bins + 1)
    counts, _ = np.histogram(flat, edges)
    return counts, edges, False


def image_planes(array: np.ndarray) -> np.ndarray | None:
    """An image-like output as [batch, channels, height, width], or None when it isn't one.

    4-D NCHW or NHWC (guessed from which dims look spatial), 3-D CHW/HWC with at most 4 channels,
    2-D at least 8x8 that isn't class scores.
    """
    shape = array.shape
    if array.ndim == 4:
        return array if _channels_first(shape) else np.moveaxis(array, 3, 1)
    if array.ndim == 3:
        if shape[0] <= 4 and min(shape[1:]) > 1:
            return array[None]
        if shape[2] <= 4 and min(shape[:2]) > 1:
            return np.moveaxis(array, 2, 0)[None]
        return None
    if array.ndim == 2 and min(shape) >= 8 and not looks_like_class_scores(shape):
        return array[None, None]
    return None


def _channels_first(shape) -> bool:
    _, d1, d2, d3 = shape
    if d2 == d3 != d1:
        return True
    if d1 == d2 != d3:
        return False
    return not (d3 <= 4 < d1)


def top_k(scores: np.ndarray, k: int = TOP_K) -> list[tuple[int, float]]:
    """The k highest (class index, score) of one row, best first; ties keep the lower index first."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return [(int(i), float(scores[i])) for i in order]


# ---------------------------------------------------------------- look


def is_dark(widget: QWidget) -> bool:
    return widget.palette().color(QPalette.ColorRole.Window).lightness() < 128


def muted_color(widget: QWidget) -> QColor:
    """Secondary text: between the text and the background colour, so it works in light and dark palettes."""
    text = widget.palette().color(QPalette.ColorRole.Text)
    back = widget.palette().color(QPalette.ColorRole.Window)
    return QColor(*(int(0.6 * a + 0.4 * b) for a, b in zip(text.getRgb()[:3], back.getRgb()[:3])))


def verdict_color(widget: QWidget, passed: bool) -> QColor:
    """Green/red that stay readable on the widget's own background, light or dark."""
    if is_dark(widget):
        return QColor("#3fb950" if passed else "#f85149")
    return QColor("#1a7f37" if passed else "#cf222e")


def verdict_icon(widget: QWidget, passed: bool, size: int = 16) -> QIcon:
    """A filled green circle with a tick, or a red one with a cross: drawn, so no font needs the glyphs."""
    ratio = widget.devicePixelRatioF() or 1.0
    pixmap = QPixmap(int(size * ratio), int(size * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(verdict_color(widget, passed))
    painter.drawEllipse(QRectF(1, 1, size - 2, size - 2))
    pen = QPen(QColor("white"), max(1.6, size / 8))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    s = size / 16
    if passed:
        painter.drawPolyline([QPointF(4.5 * s, 8.5 * s), QPointF(7 * s, 11 * s), QPointF(11.5 * s, 5.5 * s)])
    else:
        painter.drawLine(QPointF(5.5 * s, 5.5 * s), QPointF(10.5 * s, 10.5 * s))
        painter.drawLine(QPointF(10.5 * s, 5.5 * s), QPointF(5.5 * s, 10.5 * s))
    painter.end()
    return QIcon(pixmap)


def _style_plot(plot: pg.PlotItem, widget: QWidget, x_label: str, y_label: str) -> None:
    text = widget.palette().color(QPalette.ColorRole.Text)
    for side, label in (("bottom", x_label), ("left", y_label)):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
        axis.setLabel(label, color=text.name())
        axis.enableAutoSIPrefix(False)      # "(x0.001)" on a log axis reads as a bug
    plot.showGrid(x=True, y=True, alpha=0.15)


def _accent(widget: QWidget, alpha: int = 255) -> QColor:
    color = QColor("#58a6ff" if is_dark(widget) else "#0969da")
    color.setAlpha(alpha)
    return color


def _background(widget: QWidget) -> QColor:
    return widget.palette().color(QPalette.ColorRole.Base)


def _title(text: str, scale: float = 1.0) -> QLabel:
    """A bold label; scale enlarges it (a tab's own heading: 1.35)."""
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


def tab_heading(text: str) -> QLabel:
    """The heading a tab starts with ("Output diff", "Layers")."""
    return _title(text, 1.35)


# ---------------------------------------------------------------- plots


class ScatterPlot(pg.PlotWidget):
    """Candidate against reference; every point on the y = x line means identical outputs."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(_background(self))
        _style_plot(self.getPlotItem(), self, "reference", "candidate")
        self.identity_line = self.plot([], [], pen=pg.mkPen(self.palette().color(QPalette.ColorRole.Mid),
                                                            width=1, style=Qt.PenStyle.DashLine))
        self.scatter_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(_accent(self, 110)))
        self.addItem(self.scatter_item)
        self.setMinimumHeight(PLOT_MIN_HEIGHT)

    def set_pair(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        x, y = subsample(reference, candidate)
        self.scatter_item.setData(x=x, y=y, size=3 if x.size > 2_000 else 6)
        if x.size:
            low, high = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
            self.identity_line.setData([low, high], [low, high])
        self.getPlotItem().setTitle(f"{x.size:,} of {np.size(reference):,} points" if x.size < np.size(reference)
                                    else f"{x.size:,} points", color=self.palette().color(QPalette.ColorRole.Text))
        self.autoRange()

    def clear_pair(self) -> None:
        self.scatter_item.setData(x=[], y=[])
        self.identity_line.setData([], [])


class ErrorHistogram(pg.PlotWidget):
    """How many elements have each |error|: a spike near zero is good, a long tail is a layout or precision bug."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setBackground(_background(self))
        _style_plot(self.getPlotItem(), self, "|candidate − reference|", "elements")
        self.bars = self.plot([0, 1], [0], stepMode="center", fillLevel=0, pen=pg.mkPen(_accent(self), width=1),
                              brush=pg.mkBrush(_accent(self, 120)))
        self.counts = np.zeros(0, dtype=np.int64)
        self.edges = np.zeros(0)
        self.log_x = False
        self.setMinimumHeight(PLOT_MIN_HEIGHT)

    def set_errors(self, abs_error: np.ndarray) -> None:
        self.counts, self.edges, self.log_x = error_histogram(abs_error)
        self.getPlotItem().setLogMode(x=self.log_x, y=False)
        self.bars.setData(self.edges, self.counts)
        note = "log-spaced bins" if self.log_x else "linear bins"
        if not np.any(abs_error):
            note = "identical: every |error| is 0"
        self.getPlotItem().setTitle(note, color=self.palette().color(QPalette.ColorRole.Text))
        self.autoRange()

    def clear_errors(self) -> None:
        self.bars.setData([0, 1], [0])
        self.counts, self.edges = np.zeros(0, dtype=np.int64), np.zeros(0)


class HeatMaps(QWidget):
    """Reference | candidate | |difference| of one channel, the first two on a shared colour scale."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.planes: tuple[np.ndarray, np.ndarray] | None = None
        self.caption = QLabel()
        self.batch_spin, self.channel_spin = QSpinBox(), QSpinBox()
        for spin, prefix in ((self.batch_spin, "batch "), (self.channel_spin, "channel ")):
            spin.setPrefix(prefix)
            spin.valueChanged.connect(self._draw)
        controls = QHBoxLayout()
        controls.addWidget(_title("Heat maps"))
        controls.addWidget(self.caption, 1)
        controls.addWidget(self.batch_spin)
        controls.addWidget(self.channel_spin)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(_background(self))
        self.images = {}
        self.plots = {}
        text = self.palette().color(QPalette.ColorRole.Text)
        for column, role in enumerate(("reference", "candidate", "|difference|")):
            plot = self.canvas.addPlot(row=0, col=column)
            plot.setTitle(role, color=text.name())
            plot.setAspectLocked(True)
            plot.invertY(True)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            image = pg.ImageItem(axisOrder="row-major")
            plot.addItem(image)
            self.images[role], self.plots[role] = image, plot
        self.value_bar = pg.ColorBarItem(colorMap=pg.colormap.get("viridis"), interactive=False, width=14)
        self.value_bar.setImageItem([self.images["reference"], self.images["candidate"]],
                                    insert_in=self.plots["candidate"])
        self.diff_bar = pg.ColorBarItem(colorMap=pg.colormap.get("inferno"), interactive=False, width=14)
        self.diff_bar.setImageItem(self.images["|difference|"], insert_in=self.plots["|difference|"])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.canvas, 1)
        self.setMinimumHeight(HEATMAPS_MIN_HEIGHT)

    @property
    def diff_item(self) -> pg.ImageItem:
        return self.images["|difference|"]

    def set_pair(self, reference_planes: np.ndarray, candidate_planes: np.ndarray) -> None:
        """Both as [batch, channels, height, width] (see image_planes)."""
        self.planes = (reference_planes, candidate_planes)
        batches, channels = reference_planes.shape[:2]
        for spin, count in ((self.batch_spin, batches), (self.channel_spin, channels)):
            spin.blockSignals(True)
            spin.setRange(0, count - 1)
            spin.setValue(min(spin.value(), count - 1))
            spin.setSuffix(f" of {count}")
            spin.setVisible(count > 1)
            spin.blockSignals(False)
        self._draw()

    def _draw(self) -> None:
        if self.planes is None:
            return
        b, c = self.batch_spin.value(), self.channel_spin.value()
        ref = np.asarray(self.planes[0][b, c], dtype=np.float64)
        cand = np.asarray(self.planes[1][b, c], dtype=np.float64)
        diff = np.abs(cand - ref)
        low, high = float(min(ref.min(), cand.min())), float(max(ref.max(), cand.max()))
        high = high if high > low else low + 1.0
        self.value_bar.setLevels((low, high))
        self.images["reference"].setImage(ref, autoLevels=False, levels=(low, high))
        self.images["candidate"].setImage(cand, autoLevels=False, levels=(low, high))
        top = float(diff.max()) or 1.0
        self.diff_bar.setLevels((0.0, top))
        self.diff_item.setImage(diff, autoLevels=False, levels=(0.0, top))
        self.caption.setText(f"{ref.shape[0]}×{ref.shape[1]} · max |difference| {float(diff.max()):.3g}")
        for plot in self.plots.values():
            plot.autoRange(padding=0)


class TopKTable(QWidget):
    """The five highest classes of reference and candidate, side by side; a class that moved is highlighted."""

    COLUMNS = ("#", "Reference class", "Score", "Candidate class", "Score")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.reference_top: list[tuple[int, float]] = []
        self.candidate_top: list[tuple[int, float]] = []
        self.scores: tuple[np.ndarray, np.ndarray] | None = None
        self.row_spin = QSpinBox()
        self.row_spin.setPrefix("row ")
        self.row_spin.valueChanged.connect(self._draw)
        self.table = QTableWidget(TOP_K, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # compact rows
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header = QHBoxLayout()
        header.addWidget(_title("Top-5 classes"))
        header.addStretch(1)
        header.addWidget(self.row_spin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.table, 1)

    def set_scores(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        self.scores = (reference, candidate)
        self.row_spin.blockSignals(True)
        self.row_spin.setRange(0, reference.shape[0] - 1)
        self.row_spin.setSuffix(f" of {reference.shape[0]}")
        self.row_spin.setVisible(reference.shape[0] > 1)
        self.row_spin.blockSignals(False)
        self._draw()

    def _draw(self) -> None:
        if self.scores is None:
            return
        row = self.row_spin.value()
        self.reference_top = top_k(self.scores[0][row])
        self.candidate_top = top_k(self.scores[1][row])
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.TypeWriter)
        highlight = verdict_color(self, False)
        self.table.setRowCount(len(self.reference_top))
        for rank, ((ref_class, ref_score), (cand_class, cand_score)) in enumerate(
                zip(self.reference_top, self.candidate_top)):
            cells = [str(rank + 1), str(ref_class), f"{ref_score:.5g}", str(cand_class), f"{cand_score:.5g}"]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                align = Qt.AlignmentFlag.AlignRight if column in (2, 4) else Qt.AlignmentFlag.AlignCenter
                item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
                if column in (2, 4):
                    item.setFont(mono)
                if column == 3 and cand_class != ref_class:
                    item.setForeground(highlight)
                    item.setToolTip("the candidate ranks a different class here")
                self.table.setItem(rank, column, item)


class PlotPanel(QWidget):
    """All plots of one reference/candidate pair, or a one-line reason why there are none."""

    def __init__(self, parent=None, palette: QPalette | None = None):
        super().__init__(parent)
        if palette is not None:        # before the plots exist: they take their colours from it once
            self.setPalette(palette)
        self.title = _title("Plots")
        self.message = QLabel("Select a row with sample outputs to plot it.")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.scatter = ScatterPlot(self)
        self.histogram = ErrorHistogram(self)
        self.heatmaps = HeatMaps(self)
        self.topk = TopKTable(self)
        self.detail = QStackedWidget()          # heat maps, top-5, or nothing for other shapes
        self.detail.addWidget(QWidget())
        self.detail.addWidget(self.heatmaps)
        self.detail.addWidget(self.topk)
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(_title("Candidate vs reference"), 0, 0)
        grid.addWidget(_title("|Error| histogram"), 0, 1)
        grid.addWidget(self.scatter, 1, 0)
        grid.addWidget(self.histogram, 1, 1)
        grid.addWidget(self.detail, 2, 0, 1, 2)
        grid.setRowStretch(1, 1)
        grid.setRowStretch(2, 1)
        self.body = QStackedWidget()
        self.body.addWidget(self.message)
        self.body.addWidget(plots)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)

    def show_pair(self, title: str, reference: np.ndarray, candidate: np.ndarray, passed: bool | None = None) -> None:
        """Plot candidate against reference; both already in the reference's shape."""
        self._set_title(title, passed)
        ref, cand = as_float(reference), as_float(candidate)
        finite = np.isfinite(ref) & np.isfinite(cand)
        if not finite.all():
            self.show_message(title, f"{int((~finite).sum())} NaN/Inf values: nothing meaningful to plot.", passed)
            return
        self.scatter.set_pair(ref, cand)
        self.histogram.set_errors(np.abs(cand - ref))
        planes = image_planes(ref)
        if looks_like_class_scores(ref.shape):
            self.topk.set_scores(ref, cand)
            self.detail.setCurrentWidget(self.topk)
        elif planes is not None:
            self.heatmaps.set_pair(planes, image_planes(cand))
            self.detail.setCurrentWidget(self.heatmaps)
        else:
            self.detail.setCurrentIndex(0)
        self.detail.setVisible(self.detail.currentIndex() != 0)
        self.body.setCurrentIndex(1)

    def show_message(self, title: str, message: str, passed: bool | None = None) -> None:
        self._set_title(title, passed)
        self.message.setText(message)
        self.body.setCurrentIndex(0)
        self.scatter.clear_pair()
        self.histogram.clear_errors()

    def _set_title(self, title: str, passed: bool | None) -> None:
        text = html.escape(title)
        if passed is not None:
            word = "PASS" if passed else "FAIL"
            text += f"&nbsp;&nbsp;<span style='color:{verdict_color(self, passed).name()}'>{word}</span>"
        self.title.setText(text)

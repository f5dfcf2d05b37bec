"""What `studio inspect` found, beside the graph: signature, operator histogram, parameter count, size.

Netron shows structure; this panel answers the questions asked before converting: what shapes go in and
out (dynamic dims as "?"), in which layout, how big it is, and which operators a converter will have to map.

Both tables fit the pane's width (names are elided, the full name is the tooltip; counts, types, shapes and
layouts never are) and are as tall as their rows, so nothing hides behind a scroll bar but a long operator list.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QLabel, QStyledItemDelegate,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.artifacts import human_bytes
from studio.gui.plots import muted_color
from studio.signature import shape_text

BAR_ROLE = Qt.ItemDataRole.UserRole + 1     # a cell's bar length as a fraction of the widest
COUNT_COLUMN_MIN_WIDTH = 64                  # px: room for the histogram's bars behind short counts
IO_NAME, IO_TYPE, IO_SHAPE, IO_LAYOUT = range(4)
SECTION_ROLE = Qt.ItemDataRole.UserRole + 2  # "inputs" / "outputs" on the rows that head each part of io_table
# Formats whose files store no input shapes or dtypes (studio.loaders.torch_signature gives them shape []).
NO_SHAPES = {"torchscript": "TorchScript", "python_factory": "A Python factory", "torch_pickle": "A pickled module"}


def human_count(n: int | None) -> str:
    """1234567 -> '1.2 M': the magnitude at a glance (the exact number is in the tooltip)."""
    if n is None:
        return "–"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f} {suffix}"
    return str(n)


class BarDelegate(QStyledItemDelegate):
    """Draws a horizontal bar behind the cell, so the operator histogram reads as one."""

    def paint(self, painter, option, index) -> None:
        fraction = index.data(BAR_ROLE)
        if fraction:
            color = QColor(option.palette.color(QPalette.ColorRole.Highlight))
            color.setAlpha(90)
            rect = option.rect.adjusted(2, 4, -2, -4)
            painter.fillRect(QRect(rect.left(), rect.top(), max(2, int(rect.width() * fraction)), rect.height()),
                             color)
        super().paint(painter, option, index)


def _table(columns: list[str], stretch: int) -> QTableWidget:
    """A read-only table as wide as its pane: column `stretch` takes what the others (sized to their contents)
    leave, its text elided in the middle; never a sideways scroll bar."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    header.setStretchLastSection(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return table


def _cells(tensor: dict, shapeless: str | None) -> dict[int, str]:
    """An io_table row's texts. Shape [] from a format that stores no shapes is unknown, not a scalar's."""
    shape = tensor.get("shape")
    unknown = shapeless is not None and not shape
    return {IO_NAME: str(tensor.get("name", "")), IO_TYPE: str(tensor.get("dtype", "")),
            IO_SHAPE: "unknown" if unknown else shape_text(shape, sep=", "),
            IO_LAYOUT: "unknown" if unknown else str(tensor.get("layout") or "other")}


def _heading(text: str) -> QLabel:
    label = QLabel(f"<b>{text}</b>")
    label.setContentsMargins(0, 8, 0, 2)
    return label


class SummaryView(QWidget):
    """The inspect result of one model. `set_summary(info)` takes the dict `studio inspect --json` prints."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.info: dict = {}
        self.title_label = QLabel("No model")
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.title_label.setFont(font)
        self.title_label.setWordWrap(True)
        self.format_label = QLabel()
        self.format_label.setWordWrap(True)      # "Could not read it: …" for an artifact
        self.parameters_label, self.size_label, self.ops_count_label = QLabel("–"), QLabel("–"), QLabel("–")
        stats = QGridLayout()
        big = self.parameters_label.font()
        big.setPointSizeF(big.pointSizeF() * 1.4)
        for column, (caption, value) in enumerate((("Parameters", self.parameters_label), ("Size", self.size_label),
                                                   ("Operators", self.ops_count_label))):
            value.setFont(big)
            note = QLabel(caption)
            note.setStyleSheet(f"color: {muted_color(self).name()}")
            stats.addWidget(value, 0, column)
            stats.addWidget(note, 1, column)
        self.io_table = _table(["Name", "Type", "Shape", "Layout"], stretch=IO_NAME)
        self.io_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)   # as tall as its rows
        self._io: tuple[list[dict], list[dict], str | None] = ([], [], None)
        self._io_stacked = False
        self.io_note = QLabel()         # why shapes are unknown, for formats that store none
        self.io_note.setWordWrap(True)
        self.io_note.setStyleSheet(f"color: {muted_color(self).name()}")
        self.io_note.hide()
        self.ops_table = _table(["Operator", "Count"], stretch=0)
        self.ops_table.setItemDelegateForColumn(1, BarDelegate(self.ops_table))
        self.ops_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)   # see _fill_ops
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.format_label)
        layout.addLayout(stats)
        layout.addWidget(_heading("Inputs and outputs"))
        layout.addWidget(self.io_table)
        layout.addWidget(self.io_note)
        layout.addWidget(_heading("Operators"))
        layout.addWidget(self.ops_table, 1)

    def clear(self) -> None:
        self.set_summary({})

    def show_reading(self, path: str, note: str = "Reading…") -> None:
        """Until a model's inspect result arrives: its name, and that it is being read (or why it could not be)."""
        self.set_summary({})
        self.title_label.setText(Path(path).name)
        self.title_label.setToolTip(str(path))
        self.format_label.setText(note)

    def set_summary(self, info: dict) -> None:
        self.info = dict(info)
        source = (info.get("source") or {}).get("path")
        self.title_label.setText(Path(source).name if source else ("Model" if info else "No model"))
        self.title_label.setToolTip(str(source or ""))
        kind = " · ".join(str(v) for v in dict.fromkeys((info.get("format"), info.get("framework"))) if v)
        self.format_label.setText(kind)
        parameters = info.get("parameters")
        self.parameters_label.setText(human_count(parameters))
        self.parameters_label.setToolTip(f"{parameters:,} parameters" if parameters is not None else "")
        self.size_label.setText(human_bytes(info["bytes"]) if info.get("bytes") else "–")
        self.size_label.setToolTip(f"{info['bytes']:,} bytes on disk" if info.get("bytes") else "")
        ops = info.get("ops") or {}
        self.ops_count_label.setText(f"{sum(ops.values()):,}" if ops else "–")
        self.ops_count_label.setToolTip(f"{len(ops)} distinct operators" if ops else "")
        self._io = (info.get("inputs") or [], info.get("outputs") or [], NO_SHAPES.get(info.get("format")))
        self._fill_signature()
        self._fill_ops(ops)

    def _fill_signature(self) -> None:
        """Inputs, then outputs, each part under a heading row (headings cost height, which a narrow pane has; a
        role column would cost width, which it has not). Where the names do not fit beside their type, shape and
        layout, each name gets a row of its own above them ("stacked"), so no column is ever cut.

        A format that stores no shapes (TorchScript) gives shape []: that reads "unknown", not the [] of a scalar,
        and a note says where to give them."""
        inputs, outputs, shapeless = self._io
        table = self.io_table
        table.clearSpans()
        self._io_stacked = stacked = self._names_do_not_fit()
        table.setColumnHidden(IO_NAME, stacked)
        header = table.horizontalHeader()
        widths = self._detail_widths()
        for column in (IO_TYPE, IO_SHAPE, IO_LAYOUT):   # stacked: spanned names must not widen these columns
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive if stacked else
                                        QHeaderView.ResizeMode.ResizeToContents)
            if stacked:
                table.setColumnWidth(column, widths[column])
        header.setStretchLastSection(stacked)
        muted = muted_color(self)
        bold = QFont(table.font())
        bold.setBold(True)
        rows: list[tuple[str, dict | None]] = [("Inputs", None)] + [("in", t) for t in inputs]
        if outputs or shapeless:
            rows += [("Outputs", None)] + [("out", t) for t in outputs]
        table.setRowCount(0)

        def spanned(text: str, role: str | None, font: QFont | None = None, tooltip: str = "") -> None:
            row = table.rowCount()
            table.insertRow(row)
            item = QTableWidgetItem(text)
            item.setData(SECTION_ROLE, role)
            item.setToolTip(tooltip)
            if font is not None:
                item.setFont(font)
            if role == "none":
                item.setForeground(muted)
            first = IO_TYPE if stacked else IO_NAME     # a span starts at a shown column
            table.setItem(row, first, item)
            table.setSpan(row, first, 1, table.columnCount() - first)

        for role, tensor in rows:
            if tensor is None:
                spanned(role, role.lower(), bold)
                if role == "Outputs" and shapeless and not outputs:
                    spanned(f"unknown ({shapeless} stores none)", "none")
                continue
            shape = tensor.get("shape")
            unknown = shapeless is not None and not shape
            dynamic = not unknown and (shape is None or any(d is None for d in shape))
            name = str(tensor.get("name", ""))
            tip = f"{'input' if role == 'in' else 'output'} {name}"
            if stacked:
                spanned(name, f"name:{role}", tooltip=tip)
            cells = _cells(tensor, shapeless)
            tips = {IO_NAME: tip}
            if unknown:
                tips[IO_SHAPE] = tips[IO_LAYOUT] = f"{shapeless} stores no shapes: give this input's shape " \
                                                   "in the Convert panel (Input shapes)"
                tips[IO_TYPE] = f"{shapeless} stores no dtypes: float32 unless you type another in the Convert panel"
            elif dynamic:
                tips[IO_SHAPE] = "? = dynamic: set it with --input-shape before converting"
            row = table.rowCount()
            table.insertRow(row)
            for column, text in cells.items():
                item = QTableWidgetItem(str(text))
                item.setToolTip(tips.get(column, tip))
                if unknown and column != IO_NAME:
                    item.setForeground(muted)
                if column == IO_NAME:
                    item.setData(SECTION_ROLE, f"tensor:{role}")
                table.setItem(row, column, item)
        table.setFixedHeight(table.horizontalHeader().sizeHint().height() + table.verticalHeader().length()
                             + 2 * table.frameWidth())
        self.io_note.setText(f"{shapeless} stores no input shapes or dtypes: give them under Input shapes in the "
                             "Convert panel." if shapeless and any(not t.get("shape") for t in inputs) else "")
        self.io_note.setVisible(bool(self.io_note.text()))

    def _detail_widths(self) -> dict[int, int]:
        """The width the type, shape and layout columns need for their texts and titles."""
        inputs, outputs, shapeless = self._io
        table = self.io_table
        metrics, header = table.fontMetrics(), table.horizontalHeader()
        padding = 2 * (table.style().pixelMetric(table.style().PixelMetric.PM_FocusFrameHMargin, None, table) + 1) + 4
        widths = {}
        for column in (IO_TYPE, IO_SHAPE, IO_LAYOUT):
            texts = [_cells(t, shapeless)[column] for t in inputs + outputs]
            widths[column] = max([metrics.horizontalAdvance(text) + padding for text in texts]
                                 + [header.sectionSizeFromContents(column).width()])
        return widths

    def _names_do_not_fit(self) -> bool:
        """Would the widest tensor name be cut beside the type, shape and layout columns at the table's width?"""
        inputs, outputs, _ = self._io
        names = [str(t.get("name", "")) for t in inputs + outputs]
        if not names:
            return False
        table = self.io_table
        padding = 2 * (table.style().pixelMetric(table.style().PixelMetric.PM_FocusFrameHMargin, None, table) + 1) + 4
        needed = max(table.fontMetrics().horizontalAdvance(name) for name in names) + padding
        width = table.viewport().width() if table.isVisible() else table.width() - 2 * table.frameWidth()
        return needed + sum(self._detail_widths().values()) > width

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        if self._io != ([], [], None) and self._names_do_not_fit() != self._io_stacked:
            self._fill_signature()

    def tensor_row(self, name: str, role: str = "in") -> int:
        """The io_table row that holds the type, shape and layout of input (role "in") or output ("out") `name`."""
        table = self.io_table
        for row in range(table.rowCount()):
            item = table.item(row, IO_NAME)
            if item is not None and item.data(SECTION_ROLE) == f"tensor:{role}" and item.text() == name:
                return row
        return -1

    def _fill_ops(self, ops: dict[str, int]) -> None:
        ordered = sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))
        widest = max((count for _, count in ordered), default=1)
        self.ops_table.setRowCount(len(ordered))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, (op, count) in enumerate(ordered):
            name = QTableWidgetItem(op)
            name.setToolTip(op)             # elided in a narrow pane; the count never is
            self.ops_table.setItem(row, 0, name)
            item = QTableWidgetItem(str(count))
            item.setTextAlignment(right)
            item.setData(BAR_ROLE, count / widest)
            item.setToolTip(f"{op}: {count:,}")
            self.ops_table.setItem(row, 1, item)
        self.ops_table.resizeColumnToContents(1)    # the widest count (or "Count"), whatever the pane's width
        self.ops_table.setColumnWidth(1, max(self.ops_table.columnWidth(1), COUNT_COLUMN_MIN_WIDTH))

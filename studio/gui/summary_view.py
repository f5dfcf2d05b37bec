"""What `studio inspect` found, beside the graph: signature, operator histogram, parameter count, size.

Netron shows structure; this panel answers the questions asked before converting: what shapes go in and
out (dynamic dims as "?"), in which layout, how big it is, and which operators a converter will have to map.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFontDatabase, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QHeaderView, QLabel, QStyledItemDelegate,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from studio.gui.plots import muted_color

BAR_ROLE = Qt.ItemDataRole.UserRole + 1     # a cell's bar length as a fraction of the widest


def human_count(n: int | None) -> str:
    """1234567 -> '1.2 M': the magnitude at a glance (the exact number is in the tooltip)."""
    if n is None:
        return "–"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= limit:
            return f"{n / limit:.1f} {suffix}"
    return str(n)


def human_bytes(n: int | None) -> str:
    if not n:
        return "–"
    for limit, suffix in ((1e9, "GB"), (1e6, "MB"), (1e3, "KB")):
        if n >= limit:
            return f"{n / limit:.1f} {suffix}"
    return f"{n} B"


def shape_text(shape) -> str:
    if shape is None:
        return "?"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


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


def _table(columns: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setWordWrap(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return table


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
        self.io_table = _table(["", "Name", "Type", "Shape", "Layout"])
        self.ops_table = _table(["Operator", "Count"])
        self.ops_table.setItemDelegateForColumn(1, BarDelegate(self.ops_table))
        self.ops_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title_label)
        layout.addWidget(self.format_label)
        layout.addLayout(stats)
        layout.addWidget(_heading("Inputs and outputs"))
        layout.addWidget(self.io_table)
        layout.addWidget(_heading("Operators"))
        layout.addWidget(self.ops_table, 1)

    def clear(self) -> None:
        self.set_summary({})

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
        self.size_label.setText(human_bytes(info.get("bytes")))
        self.size_label.setToolTip(f"{info['bytes']:,} bytes on disk" if info.get("bytes") else "")
        ops = info.get("ops") or {}
        self.ops_count_label.setText(f"{sum(ops.values()):,}" if ops else "–")
        self.ops_count_label.setToolTip(f"{len(ops)} distinct operators" if ops else "")
        self._fill_signature(info.get("inputs") or [], info.get("outputs") or [])
        self._fill_ops(ops)

    def _fill_signature(self, inputs: list[dict], outputs: list[dict]) -> None:
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        rows = [("in", t) for t in inputs] + [("out", t) for t in outputs]
        self.io_table.setRowCount(len(rows))
        for row, (role, tensor) in enumerate(rows):
            shape = tensor.get("shape")
            dynamic = shape is None or any(d is None for d in shape)
            cells = [role, tensor.get("name", ""), tensor.get("dtype", ""), shape_text(shape),
                     tensor.get("layout") or "other"]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                if column == 3:
                    item.setFont(mono)
                    if dynamic:
                        item.setToolTip("? = dynamic: set it with --input-shape before converting")
                self.io_table.setItem(row, column, item)
        self.io_table.setFixedHeight(self.io_table.horizontalHeader().sizeHint().height()
                                     + self.io_table.verticalHeader().length() + 2 * self.io_table.frameWidth() + 2)

    def _fill_ops(self, ops: dict[str, int]) -> None:
        ordered = sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))
        widest = max((count for _, count in ordered), default=1)
        self.ops_table.setRowCount(len(ordered))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, (op, count) in enumerate(ordered):
            self.ops_table.setItem(row, 0, QTableWidgetItem(op))
            item = QTableWidgetItem(str(count))
            item.setTextAlignment(right)
            item.setData(BAR_ROLE, count / widest)
            self.ops_table.setItem(row, 1, item)

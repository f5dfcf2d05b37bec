"""The Compare tab's numbers: one table per reference output, one row per artifact, and why a row failed.

Columns: Artifact, Variant, Verdict, then the metrics (studio.compare_html.METRIC_COLUMNS). The verdict sits
beside the artifact's name, so no window is too narrow to show it; a table wider than the tab scrolls sideways
inside itself and is always tall enough for every row. Reasons are sentences, so they are no column: each failed
row's reason is written out in full, wrapped, under its table (and is the verdict cell's tooltip).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from studio.compare_html import (FAIL_TEXT, METRIC_COLUMNS, PASS_TEXT, artifact_label, failed_to_compare,
                                 format_metric, output_label, outputs_by_name)
from studio.gui.plots import muted_color, verdict_color
from studio.signature import shape_text

TABLE_COLUMNS = ["Artifact", "Variant", "Verdict", *[title for _, title, _ in METRIC_COLUMNS]]
ARTIFACT_COLUMN, VARIANT_COLUMN, VERDICT_COLUMN = range(3)
FIRST_METRIC_COLUMN = 3
ARTIFACT_COLUMN_WIDTH = 200     # px; longer names are elided in the middle (the tooltip has the path)
INDEX_ROLE = Qt.ItemDataRole.UserRole


def pairing_tooltip(comparison: dict, output: dict) -> str:
    lines = [str(comparison.get("candidate", ""))]
    if output.get("candidate_name") not in (None, output.get("name")):
        lines.append(f"paired with {output_label(output)}")
    if output.get("permutation"):
        lines.append(f"candidate transposed by {output['permutation']} to match the reference")
    return "\n".join(lines)


def fit_table_height(table: QTableWidget) -> bool:
    """Make the table tall enough for every row, plus the horizontal scroll bar when the columns are wider than
    the table. True when its height changed."""
    height = table.horizontalHeader().sizeHint().height() + table.verticalHeader().length() + \
        2 * table.frameWidth() + 2
    bar = table.horizontalScrollBar()
    if bar.maximum() > bar.minimum():
        height += bar.sizeHint().height()
    if table.height() == height and table.minimumHeight() == height:
        return False
    table.setFixedHeight(height)
    return True


class ResultsTables(QWidget):
    """Headings, tables and reasons for the comparisons shown; emits `pair_clicked(comparison index, output name)`."""

    pair_clicked = Signal(int, str)
    height_changed = Signal()      # a table grew or shrank: whoever sizes this widget may refit it

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tables: dict[str, QTableWidget] = {}
        self.reason_labels: dict[str, QLabel] = {}    # output name -> the reasons of its failed rows
        self.tables_layout = QVBoxLayout(self)
        self.tables_layout.setContentsMargins(0, 0, 0, 0)

    def fill(self, comparisons: list[dict], visible: set[int], empty_text: str) -> None:
        """One table per output of the comparisons whose index is in `visible`; `empty_text` when there is none."""
        layout = self.tables_layout
        while layout.count():
            item = layout.takeAt(0)
            if item.widget():
                item.widget().hide()
                item.widget().deleteLater()
        self.tables, self.reason_labels = {}, {}
        muted = muted_color(self).name()
        for name, rows in outputs_by_name(comparisons).items():
            rows = [(i, output) for i, output in rows if i in visible]
            if not rows:
                continue
            heading = QLabel(f"<b>{html.escape(name)}</b>&nbsp;&nbsp;<span style='color:{muted}'>"
                             f"{shape_text(rows[0][1].get('shape'), sep=', ')}</span>")
            heading.setContentsMargins(0, 8, 0, 2)
            table = self._metrics_table(comparisons, name, rows)
            self.tables[name] = table
            self._add(heading)
            self._add(table)
            reasons = self._reasons_label(comparisons, rows)
            if reasons is not None:
                reasons.setObjectName(f"reasons:{name}")
                self.reason_labels[name] = reasons
                self._add(reasons)
        errors = [(i, c) for i, c in failed_to_compare(comparisons) if i in visible]
        if errors:
            heading = QLabel("<b>Not verified</b>")
            heading.setContentsMargins(0, 8, 0, 2)
            self._add(heading)
            for _, comparison in errors:
                text = f"{artifact_label(comparison)} ({comparison.get('variant', '')}): {comparison.get('error')}"
                self._add(self._wrapped(f"<b style='color:{verdict_color(self, False).name()}'>{FAIL_TEXT}</b>"
                                        f"&nbsp;&nbsp;{html.escape(text)}"))
        if not self.tables and not errors:
            empty = QLabel(empty_text)
            empty.setStyleSheet(f"color: {muted}")
            empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
            empty.setWordWrap(True)
            self._add(empty)
        layout.addStretch(1)

    def highlight(self, index: int, name: str) -> None:
        """Select the row of comparison `index` in the table of output `name` (and no other)."""
        for table_name, table in self.tables.items():
            table.blockSignals(True)
            table.clearSelection()
            if table_name == name:
                for row in range(table.rowCount()):
                    if table.item(row, ARTIFACT_COLUMN).data(INDEX_ROLE) == index:
                        table.selectRow(row)
            table.blockSignals(False)

    def wanted_height(self) -> int:
        """The height everything here needs at its present width (wrapped reasons included)."""
        layout = self.tables_layout
        if layout.hasHeightForWidth() and self.width() > 0:
            return layout.totalHeightForWidth(self.width())
        return layout.totalSizeHint().height()

    # ---- internals

    def _add(self, widget: QWidget) -> None:
        self.tables_layout.addWidget(widget)
        widget.show()

    @staticmethod
    def _wrapped(text: str) -> QLabel:
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _reasons_label(self, comparisons: list[dict], rows: list[tuple[int, dict]]) -> QLabel | None:
        color = verdict_color(self, False).name()
        lines = [f"<b style='color:{color}'>{html.escape(artifact_label(comparisons[i]))}</b>"
                 f" ({html.escape(str(comparisons[i].get('variant', '')))}): {html.escape(str(output['reason']))}"
                 for i, output in rows if output.get("reason")]
        if not lines:
            return None
        label = self._wrapped("<br>".join(lines))
        label.setContentsMargins(2, 2, 0, 0)
        return label

    def _metrics_table(self, comparisons: list[dict], name: str, rows: list[tuple[int, dict]]) -> QTableWidget:
        table = QTableWidget(len(rows), len(TABLE_COLUMNS))
        table.setObjectName(f"metrics:{name}")
        table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)   # every row is shown
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)   # long artifact names keep their suffix
        table.setWordWrap(False)
        numbers = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        bold = QFont(table.font())
        bold.setBold(True)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for row, (index, output) in enumerate(rows):
            comparison = comparisons[index]
            artifact = QTableWidgetItem(artifact_label(comparison))
            artifact.setData(INDEX_ROLE, index)
            artifact.setToolTip(pairing_tooltip(comparison, output))
            table.setItem(row, ARTIFACT_COLUMN, artifact)
            table.setItem(row, VARIANT_COLUMN, QTableWidgetItem(str(comparison.get("variant", ""))))
            passed = bool(output.get("passed"))
            verdict = QTableWidgetItem(PASS_TEXT if passed else FAIL_TEXT)
            verdict.setForeground(verdict_color(table, passed))
            verdict.setFont(bold)
            verdict.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            verdict.setToolTip(output.get("reason") or "")
            table.setItem(row, VERDICT_COLUMN, verdict)
            for column, (key, _, how) in enumerate(METRIC_COLUMNS, start=FIRST_METRIC_COLUMN):
                item = QTableWidgetItem(format_metric(output.get(key), how))
                item.setTextAlignment(right)
                item.setFont(numbers)
                table.setItem(row, column, item)
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        table.resizeColumnsToContents()
        table.setColumnWidth(ARTIFACT_COLUMN, min(table.columnWidth(ARTIFACT_COLUMN), ARTIFACT_COLUMN_WIDTH))
        header.setStretchLastSection(True)      # after sizing: the last column keeps its own width as its minimum
        table.resizeRowsToContents()
        fit_table_height(table)
        table.horizontalScrollBar().rangeChanged.connect(lambda *_, t=table: self._refit(t))
        table.cellClicked.connect(lambda row, _col, t=table, n=name: self.pair_clicked.emit(
            int(t.item(row, ARTIFACT_COLUMN).data(INDEX_ROLE)), n))
        return table

    def _refit(self, table: QTableWidget) -> None:
        if fit_table_height(table):
            self.height_changed.emit()

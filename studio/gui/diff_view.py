"""The Compare tab: is each artifact still computing what its source computes? Numbers first, then pictures.

Input is the COMPARISON events of a job (`ComparisonResult.to_dict()` plus `kind`). To draw plots, a comparison
may also carry the outputs themselves:

    "samples": {reference_output_name: {"reference": "/tmp/.../ref.npy", "candidate": "/tmp/.../cand.npy",
                                        "aligned": false}}

`candidate` is the candidate's output as its runtime returned it; the view lays it onto the reference's shape
with the output's `permutation` (studio.compare.align), unless `aligned` is true. Without samples, the tables
still show every metric.

Changing the inputs (seed, a .npy/.npz file, or an image dropped here) emits `inputs_changed` with
{"inputs_path": str | None, "seed": int}; the main window reruns the comparisons and calls clear() and
add_comparison() again.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QEvent, QIODevice, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QButtonGroup, QComboBox, QFileDialog, QFrame,
                               QHBoxLayout, QHeaderView, QLabel, QMessageBox, QPushButton, QRadioButton,
                               QScrollArea, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from studio.compare_html import (FAIL_TEXT, METRIC_COLUMNS, PASS_TEXT, artifact_label, comparison_report_html,
                                 failed_to_compare, format_metric, output_label, outputs_by_name, shape_text,
                                 tolerance_lines, verdict_summary)
from studio.gui.plots import PlotPanel, muted_color, verdict_color

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
ARRAY_SUFFIXES = frozenset({".npy", ".npz"})
INPUT_SUFFIXES = IMAGE_SUFFIXES | ARRAY_SUFFIXES
FILE_NAME_WIDTH = 160           # px of an inputs file's name before it is elided (the tooltip has the path)
MAX_EXPORTED_PLOTS = 48          # an HTML report stays a few MB even for many artifacts x outputs
EXPORT_PLOT_SIZE = (1100, 720)

TABLE_COLUMNS = ["Artifact", "Variant", *[title for _, title, _ in METRIC_COLUMNS], "Verdict", "Reason"]
FIRST_METRIC_COLUMN = 2
ARTIFACT_COLUMN_WIDTH = 200     # px; longer names are elided in the middle (the tooltip has the path)
REASON_COLUMN_WIDTH = 480       # px; longer reasons are elided (the tooltip has all of it)
VERDICT_COLUMN = FIRST_METRIC_COLUMN + len(METRIC_COLUMNS)
INDEX_ROLE = Qt.ItemDataRole.UserRole


class SampleError(ValueError):
    """Why a pair's sample outputs can't be plotted, in one line."""


def load_sample_pair(comparison: dict, output: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(reference, candidate in the reference's shape), or None when the comparison carries no samples."""
    samples = (comparison.get("samples") or {}).get(output.get("name"))
    if not samples:
        return None
    try:
        reference = np.load(samples["reference"], allow_pickle=False)
        candidate = np.load(samples["candidate"], allow_pickle=False)
    except (OSError, ValueError, KeyError) as exc:
        raise SampleError(f"sample outputs unreadable: {exc}") from None
    if not isinstance(reference, np.ndarray) or not isinstance(candidate, np.ndarray):
        raise SampleError("sample outputs must be .npy arrays")
    if samples.get("aligned"):
        if candidate.shape != reference.shape:
            raise SampleError(f"candidate {list(candidate.shape)} is not in the reference's shape "
                              f"{list(reference.shape)}")
        return reference, candidate
    permutation = output.get("permutation")
    if permutation is None and candidate.shape == reference.shape:
        return reference, candidate
    from studio.compare import align   # pure numpy

    try:
        return reference, align(candidate, reference.shape, tuple(permutation) if permutation else None)
    except ValueError as exc:
        raise SampleError(f"can't lay candidate {list(candidate.shape)} onto reference "
                          f"{list(reference.shape)}: {exc}") from None


def png_bytes(widget: QWidget) -> bytes:
    """What the widget shows, as PNG."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write next to the target and rename, so a failed export never leaves half a file."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _dropped_inputs_file(mime) -> str | None:
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in INPUT_SUFFIXES:
            return url.toLocalFile()
    return None


def _muted(widget: QWidget) -> str:
    return muted_color(widget).name()


class _TablesAndPlots(QSplitter):
    """Tables above plots. It asks for no more height than its minimum: the plots take what is left, and the
    Compare tab's scroll area (which sizes a view with wrapped labels to its preferred height) scrolls only
    when the window is really too small."""

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())


class InputsBar(QFrame):
    """Which inputs the comparisons ran on: seeded random or a file; emits `changed` when the user picks others."""

    changed = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.inputs_path: str | None = None
        self._last_emitted = {"inputs_path": None, "seed": 0}
        self.random_radio = QRadioButton("Random, seed")
        self.random_radio.setChecked(True)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setKeyboardTracking(False)      # one rerun per edit, not one per keystroke
        self.file_radio = QRadioButton("File")
        self.file_radio.setEnabled(False)
        self.file_label = QLabel()          # the chosen file's name; hidden until there is one
        self.file_label.hide()
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("A .npy or .npz with the model's inputs, or an image (.png, .jpg)")
        self.rerun_button = QPushButton("Run again")
        self.rerun_button.setToolTip("Rerun every comparison on these inputs")
        self.hint = hint = QLabel("or drop an image, .npy or .npz here")   # until a file is chosen
        hint.setStyleSheet(f"color: {_muted(self)}")
        hint.setWordWrap(True)          # wraps rather than widening the Compare tab
        hint.setMinimumWidth(hint.fontMetrics().horizontalAdvance("drop an image,"))
        group = QButtonGroup(self)
        group.addButton(self.random_radio)
        group.addButton(self.file_radio)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Inputs</b>"))
        layout.addSpacing(6)
        for widget in (self.random_radio, self.seed_spin):
            layout.addWidget(widget)
        layout.addSpacing(8)
        for widget in (self.file_radio, self.file_label, self.choose_button):
            layout.addWidget(widget)
        layout.addWidget(hint, 1)
        layout.addStretch(0)            # takes the hint's room once it is hidden
        layout.addWidget(self.rerun_button)
        self.seed_spin.valueChanged.connect(self._seed_edited)
        self.random_radio.toggled.connect(lambda on: on and self._emit())
        self.file_radio.toggled.connect(lambda on: on and self._emit())
        self.choose_button.clicked.connect(lambda: self.choose_file())
        self.rerun_button.clicked.connect(lambda: self._emit(force=True))

    @property
    def inputs(self) -> dict:
        path = self.inputs_path if self.file_radio.isChecked() else None
        return {"inputs_path": path, "seed": self.seed_spin.value()}

    def set_inputs(self, inputs_path: str | None, seed: int) -> None:
        """Show what the last run used, without asking for a rerun."""
        widgets = (self.seed_spin, self.random_radio, self.file_radio)
        for widget in widgets:
            widget.blockSignals(True)
        self.seed_spin.setValue(seed)
        self._show_file(inputs_path)
        (self.file_radio if inputs_path else self.random_radio).setChecked(True)
        for widget in widgets:
            widget.blockSignals(False)
        self._last_emitted = self.inputs

    def use_file(self, path: str) -> None:
        if Path(path).suffix.lower() not in INPUT_SUFFIXES:
            raise ValueError(f"{Path(path).name}: inputs must be .npy, .npz, .png or .jpg")
        self._show_file(path)
        self.file_radio.blockSignals(True)
        self.file_radio.setChecked(True)
        self.file_radio.blockSignals(False)
        self._emit()

    def use_random(self) -> None:
        self.random_radio.setChecked(True)
        self._emit()

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Inputs for the comparison", str(Path.home()),
                                              "Inputs (*.npy *.npz *.png *.jpg *.jpeg)")
        if path:
            self.use_file(path)

    def _show_file(self, path: str | None) -> None:
        self.inputs_path = path
        self.file_radio.setEnabled(bool(path))
        name = Path(path).name if path else ""
        self.file_label.setText(self.file_label.fontMetrics().elidedText(name, Qt.TextElideMode.ElideMiddle,
                                                                          FILE_NAME_WIDTH))
        self.file_label.setToolTip(path or "")
        self.file_label.setVisible(bool(path))
        self.hint.setVisible(not path)

    def _seed_edited(self, _value: int) -> None:
        self.random_radio.blockSignals(True)
        self.random_radio.setChecked(True)
        self.random_radio.blockSignals(False)
        self._emit()

    def _emit(self, force: bool = False) -> None:
        inputs = self.inputs
        if force or inputs != self._last_emitted:
            self._last_emitted = inputs
            self.changed.emit(inputs)


class DiffView(QWidget):
    """Per-output tables of every artifact's metrics with PASS/FAIL, plots of the selected pair, and exports."""

    inputs_changed = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.comparisons: list[dict] = []
        self.tables: dict[str, QTableWidget] = {}
        self.selected: tuple[int, str] | None = None      # (comparison index, reference output name) plotted
        self._user_selected = False
        self._tolerance_override: str | None = None
        self._splitter_dragged = False
        self.setAcceptDrops(True)
        self._build()
        self._rebuild()

    # ---- public API

    def clear(self) -> None:
        self.comparisons = []
        self.selected, self._user_selected = None, False
        self._rebuild()

    def add_comparison(self, comparison: dict) -> None:
        """One artifact's result, as it arrives; the tables grow row by row."""
        self.comparisons.append(comparison)
        self._rebuild()

    def set_tolerance_text(self, text: str) -> None:
        """Replace the tolerances line (by default it is derived from the comparisons); '' restores that."""
        self._tolerance_override = text or None
        self._show_tolerances()

    def set_inputs(self, inputs_path: str | None, seed: int) -> None:
        """Show which inputs the current results used (does not emit inputs_changed)."""
        self.inputs_bar.set_inputs(inputs_path, seed)

    @property
    def inputs(self) -> dict:
        return self.inputs_bar.inputs

    def use_inputs_file(self, path: str) -> None:
        self.inputs_bar.use_file(path)

    def use_random_inputs(self) -> None:
        self.inputs_bar.use_random()

    def select(self, comparison_index: int, output_name: str) -> None:
        """Plot this artifact's output."""
        self.selected, self._user_selected = (comparison_index, output_name), True
        self._plot_selected()

    def export_json(self, path: str | os.PathLike) -> None:
        write_text_atomic(path, json.dumps(self.comparisons, indent=2, default=str) + "\n")

    def export_html(self, path: str | os.PathLike) -> None:
        """A self-contained page: tables with PASS/FAIL colours, tolerances, and every pair's plots inline."""
        inputs = self.inputs
        inputs_text = inputs["inputs_path"] or f"random, seed {inputs['seed']}"
        html = comparison_report_html(self.comparisons, images=self.render_plot_images(),
                                      tolerance_text=self._tolerance_override, inputs_text=inputs_text)
        write_text_atomic(path, html)

    def render_plot_images(self) -> dict[tuple[int, str], bytes]:
        """PNG of the plots of every pair that has samples, drawn on a light, never-shown panel."""
        pairs = [(i, name, output) for name, rows in outputs_by_name(self.comparisons).items()
                 for i, output in rows if (self.comparisons[i].get("samples") or {}).get(output.get("name"))]
        if not pairs:
            return {}
        panel = PlotPanel(palette=QApplication.style().standardPalette())   # the report page is light
        panel.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        panel.resize(*EXPORT_PLOT_SIZE)
        panel.show()
        images = {}
        try:
            for i, name, output in pairs[:MAX_EXPORTED_PLOTS]:
                if self._show_pair_on(panel, i, output):
                    QApplication.processEvents()
                    images[(i, name)] = png_bytes(panel)
        finally:
            panel.close()
            panel.deleteLater()
        return images

    # ---- building

    def _build(self) -> None:
        title = QLabel("Output diff")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)
        self.summary_label = QLabel()
        self.artifact_combo = QComboBox()
        self.artifact_combo.setMinimumContentsLength(18)   # long names are elided; the popup shows them whole
        self.artifact_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.artifact_combo.currentIndexChanged.connect(self._artifact_chosen)
        self.export_html_button = QPushButton("Export HTML…")
        self.export_json_button = QPushButton("Export JSON…")
        self.export_html_button.clicked.connect(lambda: self._ask_export("HTML report", "html", self.export_html))
        self.export_json_button.clicked.connect(lambda: self._ask_export("JSON", "json", self.export_json))
        header = QHBoxLayout()          # title, verdict, exports
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(self.summary_label)
        header.addStretch(1)
        header.addWidget(self.export_html_button)
        header.addWidget(self.export_json_button)

        self.inputs_bar = InputsBar(self)
        self.inputs_bar.changed.connect(self.inputs_changed)
        self.tolerance_label = QLabel()
        self.tolerance_label.setWordWrap(True)
        self.tolerance_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        show_row = QHBoxLayout()        # what the tables below hold, and the tolerances they were judged by
        show_row.addWidget(QLabel("Show"))
        show_row.addWidget(self.artifact_combo)
        show_row.addSpacing(12)
        show_row.addWidget(self.tolerance_label, 1)

        self.tables_host = QWidget()
        self.tables_layout = QVBoxLayout(self.tables_host)
        self.tables_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.tables_host)
        scroll.setMinimumHeight(150)   # a results table of a few artifacts stays readable above the plots
        self.plot_panel = PlotPanel()
        self.splitter = splitter = _TablesAndPlots(Qt.Orientation.Vertical)
        splitter.addWidget(scroll)
        splitter.addWidget(self.plot_panel)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([240, 360])   # room for a table of five artifacts before the plots
        splitter.setChildrenCollapsible(False)
        splitter.splitterMoved.connect(lambda *_: setattr(self, "_splitter_dragged", True))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)     # the results table gets the width
        layout.addLayout(header)
        layout.addWidget(self.inputs_bar)
        layout.addLayout(show_row)
        layout.addWidget(splitter, 1)

    def _rebuild(self) -> None:
        self._fill_artifact_combo()
        self._show_summary()
        self._show_tolerances()
        self._fill_tables()
        self._pick_default_selection()
        self._plot_selected()
        has_results = bool(self.comparisons)
        self.export_html_button.setEnabled(has_results)
        self.export_json_button.setEnabled(has_results)

    def _fill_artifact_combo(self) -> None:
        current = self.artifact_combo.currentIndex()
        self.artifact_combo.blockSignals(True)
        self.artifact_combo.clear()
        self.artifact_combo.addItem("All artifacts")
        for comparison in self.comparisons:
            self.artifact_combo.addItem(f"{artifact_label(comparison)}  ({comparison.get('variant', '')})")
            self.artifact_combo.setItemData(self.artifact_combo.count() - 1, str(comparison.get("candidate")),
                                            Qt.ItemDataRole.ToolTipRole)
        self.artifact_combo.setCurrentIndex(current if 0 <= current < self.artifact_combo.count() else 0)
        self.artifact_combo.blockSignals(False)
        popup = self.artifact_combo.view()     # the box elides long names; its list shows them whole
        popup.setMinimumWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width())

    def _show_summary(self) -> None:
        if not self.comparisons:
            self.summary_label.setText(f"<span style='color:{_muted(self)}'>No comparisons yet</span>")
            return
        passed = all(c.get("passed") for c in self.comparisons)
        color = verdict_color(self, passed).name()
        word = PASS_TEXT if passed else FAIL_TEXT
        self.summary_label.setText(f"<b style='color:{color}'>{word}</b>&nbsp;&nbsp;"
                                   f"{html.escape(verdict_summary(self.comparisons))}")

    def _show_tolerances(self) -> None:
        lines = self._tolerance_override.splitlines() if self._tolerance_override else tolerance_lines(
            self.comparisons)
        text = " · ".join(lines) if lines else "shown once results arrive"
        self.tolerance_label.setText(f"<span style='color:{_muted(self)}'>Tolerances:</span> {html.escape(text)}")

    def _visible_indexes(self) -> set[int]:
        chosen = self.artifact_combo.currentIndex()
        return set(range(len(self.comparisons))) if chosen <= 0 else {chosen - 1}

    def _fill_tables(self) -> None:
        while self.tables_layout.count():
            item = self.tables_layout.takeAt(0)
            if item.widget():
                item.widget().hide()
                item.widget().deleteLater()
        self.tables = {}
        visible = self._visible_indexes()
        for name, rows in outputs_by_name(self.comparisons).items():
            rows = [(i, output) for i, output in rows if i in visible]
            if not rows:
                continue
            heading = QLabel(f"<b>{html.escape(name)}</b>&nbsp;&nbsp;<span style='color:{_muted(self)}'>"
                             f"{shape_text(rows[0][1].get('shape'))}</span>")
            heading.setContentsMargins(0, 8, 0, 2)
            table = self._metrics_table(name, rows)
            self.tables[name] = table
            self.tables_layout.addWidget(heading)
            self.tables_layout.addWidget(table)
            heading.show()
            table.show()
        errors = [(i, c) for i, c in failed_to_compare(self.comparisons) if i in visible]
        if errors:
            heading = QLabel("<b>Not verified</b>")
            heading.setContentsMargins(0, 8, 0, 2)
            self.tables_layout.addWidget(heading)
            heading.show()
            for _, comparison in errors:
                text = f"{artifact_label(comparison)} ({comparison.get('variant', '')}): {comparison.get('error')}"
                label = QLabel(f"<b style='color:{verdict_color(self, False).name()}'>{FAIL_TEXT}</b>&nbsp;&nbsp;"
                               f"{html.escape(text)}")
                label.setWordWrap(True)
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                self.tables_layout.addWidget(label)
                label.show()
        if not self.tables and not errors:
            empty = QLabel("Convert a model, or compare two, to see how their outputs differ.")
            empty.setStyleSheet(f"color: {_muted(self)}")
            empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tables_layout.addWidget(empty)
            empty.show()
        self.tables_layout.addStretch(1)
        self._fit_tables_pane()

    def _fit_tables_pane(self) -> None:
        """Give the tables the room they need (up to half the height) until the user drags the splitter."""
        total = sum(self.splitter.sizes())
        if self._splitter_dragged or total <= 0:
            return
        wanted = self.tables_layout.sizeHint().height() + 4
        top = max(80, min(wanted, total // 2))
        self.splitter.setSizes([top, total - top])

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_tables_pane()

    def _metrics_table(self, name: str, rows: list[tuple[int, dict]]) -> QTableWidget:
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
            comparison = self.comparisons[index]
            artifact = QTableWidgetItem(artifact_label(comparison))
            artifact.setData(INDEX_ROLE, index)
            artifact.setToolTip(self._pairing_tooltip(comparison, output))
            table.setItem(row, 0, artifact)
            table.setItem(row, 1, QTableWidgetItem(str(comparison.get("variant", ""))))
            for column, (key, _, how) in enumerate(METRIC_COLUMNS, start=FIRST_METRIC_COLUMN):
                item = QTableWidgetItem(format_metric(output.get(key), how))
                item.setTextAlignment(right)
                item.setFont(numbers)
                table.setItem(row, column, item)
            passed = bool(output.get("passed"))
            verdict = QTableWidgetItem(PASS_TEXT if passed else FAIL_TEXT)
            verdict.setForeground(verdict_color(table, passed))
            verdict.setFont(bold)
            verdict.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            table.setItem(row, VERDICT_COLUMN, verdict)
            reason = QTableWidgetItem(output.get("reason") or "")
            reason.setToolTip(output.get("reason") or "")
            table.setItem(row, VERDICT_COLUMN + 1, reason)
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        table.resizeColumnsToContents()
        table.setColumnWidth(0, min(table.columnWidth(0), ARTIFACT_COLUMN_WIDTH))
        # Reasons are long and only failures have one: the column shows when there is one (elided past
        # REASON_COLUMN_WIDTH, with a tooltip); the table scrolls sideways inside itself rather than widening
        # the Compare tab. Without it, the verdict column takes the spare width.
        has_reasons = any(output.get("reason") for _, output in rows)
        table.setColumnHidden(VERDICT_COLUMN + 1, not has_reasons)
        table.setColumnWidth(VERDICT_COLUMN + 1, min(table.columnWidth(VERDICT_COLUMN + 1), REASON_COLUMN_WIDTH))
        header.setStretchLastSection(not has_reasons)
        table.resizeRowsToContents()
        self._fit_table_height(table)
        table.horizontalScrollBar().rangeChanged.connect(lambda *_, t=table: self._fit_table_height(t))
        table.cellClicked.connect(lambda row, _col, t=table, n=name: self._row_clicked(t, n, row))
        return table

    def _fit_table_height(self, table: QTableWidget) -> None:
        """Tall enough for every row, plus the horizontal scroll bar when the columns are wider than the table."""
        height = table.horizontalHeader().sizeHint().height() + table.verticalHeader().length() + \
            2 * table.frameWidth() + 2
        bar = table.horizontalScrollBar()
        if bar.maximum() > bar.minimum():
            height += bar.sizeHint().height()
        if table.height() != height or table.minimumHeight() != height:
            table.setFixedHeight(height)
            self._fit_tables_pane()

    @staticmethod
    def _pairing_tooltip(comparison: dict, output: dict) -> str:
        lines = [str(comparison.get("candidate", ""))]
        if output.get("candidate_name") not in (None, output.get("name")):
            lines.append(f"paired with {output_label(output)}")
        if output.get("permutation"):
            lines.append(f"candidate transposed by {output['permutation']} to match the reference")
        return "\n".join(lines)

    # ---- selection and plots

    def _row_clicked(self, table: QTableWidget, name: str, row: int) -> None:
        index = table.item(row, 0).data(INDEX_ROLE)
        self.select(int(index), name)

    def _artifact_chosen(self, combo_index: int) -> None:
        self._fill_tables()
        if combo_index > 0:
            index = combo_index - 1
            names = [o.get("name") for o in self.comparisons[index].get("outputs") or []]
            keep = self.selected[1] if self.selected and self.selected[1] in names else (names[0] if names else None)
            if keep is not None:
                self.select(index, keep)

    def _pick_default_selection(self) -> None:
        """Until the user picks a row, plot the first failing pair that has samples (else the first one)."""
        if self._user_selected and self.selected and self.selected[0] < len(self.comparisons):
            return
        with_samples = [(i, output) for _, rows in outputs_by_name(self.comparisons).items() for i, output in rows
                        if (self.comparisons[i].get("samples") or {}).get(output.get("name"))]
        failing = [pair for pair in with_samples if not pair[1].get("passed")]
        chosen = (failing or with_samples or [None])[0]
        self.selected = (chosen[0], chosen[1].get("name")) if chosen else None

    def _output(self, index: int, name: str) -> dict | None:
        for output in self.comparisons[index].get("outputs") or []:
            if output.get("name") == name:
                return output
        return None

    def _plot_selected(self) -> None:
        if self.selected is None or self.selected[0] >= len(self.comparisons):
            message = "Plots appear here when results carry sample outputs." if self.comparisons else \
                "No results yet."
            self.plot_panel.show_message("Plots", message)
            return
        index, name = self.selected
        output = self._output(index, name)
        if output is None:
            self.plot_panel.show_message("Plots", f"{artifact_label(self.comparisons[index])} has no output {name}.")
            return
        self._show_pair_on(self.plot_panel, index, output)
        self._highlight_selected_row()

    def _show_pair_on(self, panel: PlotPanel, index: int, output: dict) -> bool:
        comparison = self.comparisons[index]
        passed = bool(output.get("passed"))
        title = f"{artifact_label(comparison)} · {output_label(output)}"
        try:
            pair = load_sample_pair(comparison, output)
        except SampleError as exc:
            panel.show_message(title, str(exc), passed)
            return False
        if pair is None:
            panel.show_message(title, "This result carries no sample outputs, so there is nothing to plot.", passed)
            return False
        panel.show_pair(title, *pair, passed=passed)
        return True

    def _highlight_selected_row(self) -> None:
        if self.selected is None:
            return
        index, name = self.selected
        for table_name, table in self.tables.items():
            table.blockSignals(True)
            table.clearSelection()
            if table_name == name:
                for row in range(table.rowCount()):
                    if table.item(row, 0).data(INDEX_ROLE) == index:
                        table.selectRow(row)
            table.blockSignals(False)

    # ---- exports, drops, palette

    def _ask_export(self, what: str, suffix: str, export) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {what}", str(Path.home() / f"comparison.{suffix}"),
                                              f"{suffix.upper()} (*.{suffix})")
        if not path:
            return
        try:
            export(path)
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", f"Could not write {Path(path).name}: {exc.strerror or exc}")

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if _dropped_inputs_file(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()          # models dropped here go on to the main window

    def dropEvent(self, event) -> None:  # noqa: N802
        path = _dropped_inputs_file(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.use_inputs_file(path)
        else:
            event.ignore()

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "tables_layout"):
            self._rebuild()

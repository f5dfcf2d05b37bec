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

The parts: `diff_inputs` (the inputs bar; loading and re-aligning the samples), `diff_tables` (the tables and
the reasons of failed rows), `diff_export` (JSON and the HTML report). This module lays them out with the plots.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QScrollArea, QSplitter, QVBoxLayout, QWidget)

from studio.compare_html import FAIL_TEXT, PASS_TEXT, artifact_label, outputs_by_name, tolerance_lines, \
    verdict_summary
from studio.gui import diff_export
from studio.gui.diff_inputs import InputsBar, dropped_inputs_file, has_samples, plot_pair
from studio.gui.diff_tables import ResultsTables
from studio.gui.plots import PlotPanel, muted_color, tab_heading, verdict_color, verdict_icon

CANDIDATE_ROLE = Qt.ItemDataRole.UserRole      # the artifact combo's items: the candidate path (None: all)
MAX_NAMED_FAILURES = 3                          # the header names this many failing artifacts, then "…"
TABLES_MIN_HEIGHT = 150         # px: a results table of a few artifacts stays readable above the plots
TABLES_MAX_MIN_HEIGHT = 360     # px: the tables' pane needs no more (a longer list scrolls inside it)


def _muted(widget: QWidget) -> str:
    return muted_color(widget).name()


class _TablesAndPlots(QSplitter):
    """Tables above plots. It asks for no more height than its minimum: the plots take what is left, and the
    Compare tab's scroll area (which sizes a view with wrapped labels to its preferred height) scrolls only
    when the window is really too small."""

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())


class DiffView(QWidget):
    """Per-output tables of every artifact's metrics with PASS/FAIL, plots of the selected pair, and exports.

    The view holds every comparison of the source; `show_artifact(candidate)` narrows the tables to one artifact
    (as the "Show" box does) while the header keeps counting them all, so a FAIL elsewhere is never hidden."""

    inputs_changed = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.comparisons: list[dict] = []
        self.selected: tuple[int, str] | None = None      # (comparison index, reference output name) plotted
        self._user_selected = False
        self._tolerance_override: str | None = None
        self._splitter_dragged = False
        self._shown: str | None = None                     # the one artifact (candidate path) shown, or all
        self.setAcceptDrops(True)
        self._build()
        self._rebuild()

    # ---- public API

    @property
    def tables(self):
        """Reference output name -> its metrics table (QTableWidget), as shown now."""
        return self.results.tables

    @property
    def shown_artifact(self) -> str | None:
        """The candidate path the tables are narrowed to, or None for all artifacts."""
        return self._shown

    def clear(self) -> None:
        self.comparisons = []
        self.selected, self._user_selected = None, False
        self._shown = None
        self._rebuild()

    def add_comparison(self, comparison: dict) -> None:
        """One artifact's result, as it arrives; the tables grow row by row."""
        self.comparisons.append(comparison)
        self._rebuild()

    def show_artifact(self, candidate: str | None) -> None:
        """Narrow the tables to the artifact at `candidate` (its path), or show all of them (None)."""
        candidate = str(candidate) if candidate else None
        if candidate == self._shown:
            return
        self._shown = candidate
        self._fill_artifact_combo()
        self._artifact_chosen()

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
        diff_export.export_json(path, self.comparisons)

    def export_html(self, path: str | os.PathLike) -> None:
        """A self-contained page: tables with PASS/FAIL colours, tolerances, and every pair's plots inline."""
        diff_export.export_html(path, self.comparisons, self.inputs, self._tolerance_override)

    def render_plot_images(self) -> dict[tuple[int, str], bytes]:
        """PNG of the plots of every pair that has samples, drawn on a light, never-shown panel."""
        return diff_export.render_plot_images(self.comparisons)

    # ---- building

    def _build(self) -> None:
        title = tab_heading("Output diff")
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)       # "4 of 5 artifacts pass — 1 FAIL: …" wraps, never widens the tab
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.artifact_combo = QComboBox()
        self.artifact_combo.setMinimumContentsLength(18)   # long names are elided; the popup shows them whole
        self.artifact_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.artifact_combo.currentIndexChanged.connect(self._combo_changed)
        self.export_html_button = QPushButton("Export HTML…")
        self.export_json_button = QPushButton("Export JSON…")
        self.export_html_button.clicked.connect(lambda: self._ask_export("HTML report", "html", self.export_html))
        self.export_json_button.clicked.connect(lambda: self._ask_export("JSON", "json", self.export_json))
        header = QHBoxLayout()          # title, verdict, exports
        header.addWidget(title)
        header.addSpacing(12)
        header.addWidget(self.summary_label, 1)
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

        self.results = ResultsTables()
        self.results.pair_clicked.connect(self.select)
        self.results.height_changed.connect(self._fit_tables_pane)
        self.tables_layout = self.results.tables_layout
        self.tables_scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.results)
        scroll.setMinimumHeight(TABLES_MIN_HEIGHT)   # grows with the tables: see _fit_tables_pane
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
        combo = self.artifact_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(f"All artifacts ({len(self.comparisons)})" if self.comparisons else "All artifacts")
        for comparison in self.comparisons:
            candidate = str(comparison.get("candidate"))
            combo.addItem(verdict_icon(combo, bool(comparison.get("passed"))),
                          f"{artifact_label(comparison)}  ({comparison.get('variant', '')})", candidate)
            combo.setItemData(combo.count() - 1, candidate, Qt.ItemDataRole.ToolTipRole)
        if self._shown and combo.findData(self._shown, CANDIDATE_ROLE) < 0:   # its result is still to come
            combo.addItem(f"{Path(self._shown).name}  (no result yet)", self._shown)
        combo.setCurrentIndex(max(0, combo.findData(self._shown, CANDIDATE_ROLE)) if self._shown else 0)
        combo.blockSignals(False)
        popup = combo.view()     # the box elides long names; its list shows them whole
        popup.setMinimumWidth(popup.sizeHintForColumn(0) + popup.verticalScrollBar().sizeHint().width())

    def _show_summary(self) -> None:
        """The verdict of every comparison of the source, whatever "Show" narrows the tables to."""
        if not self.comparisons:
            self.summary_label.setText(f"<span style='color:{_muted(self)}'>No comparisons yet</span>")
            return
        failed = [c for c in self.comparisons if not c.get("passed")]
        color = verdict_color(self, not failed).name()
        text = f"<b style='color:{color}'>{FAIL_TEXT if failed else PASS_TEXT}</b>&nbsp;&nbsp;" \
               f"{html.escape(verdict_summary(self.comparisons))}"
        if failed:
            names = ", ".join(artifact_label(c) for c in failed[:MAX_NAMED_FAILURES])
            more = " …" if len(failed) > MAX_NAMED_FAILURES else ""
            text += f" — <b style='color:{color}'>{len(failed)} {FAIL_TEXT}</b>: {html.escape(names)}{more}"
        self.summary_label.setText(text)

    def _show_tolerances(self) -> None:
        lines = self._tolerance_override.splitlines() if self._tolerance_override else tolerance_lines(
            self.comparisons)
        text = " · ".join(lines) if lines else "shown once results arrive"
        self.tolerance_label.setText(f"<span style='color:{_muted(self)}'>Tolerances:</span> {html.escape(text)}")

    def _visible_indexes(self) -> set[int]:
        if self._shown is None:
            return set(range(len(self.comparisons)))
        return {i for i, c in enumerate(self.comparisons) if str(c.get("candidate")) == self._shown}

    def _fill_tables(self) -> None:
        empty = "No result for this artifact yet: compare it again (Run again)." if self._shown else \
            "Convert a model, or compare two, to see how their outputs differ."
        self.results.fill(self.comparisons, self._visible_indexes(), empty)
        self._fit_tables_pane()

    def _fit_tables_pane(self) -> None:
        """Numbers first: the tables' pane is at least as tall as its tables and their reasons (up to
        TABLES_MAX_MIN_HEIGHT), the plots keep their own minimum, and in a window too small for both the Compare tab
        scrolls as a whole. Until the user drags the splitter, the tables get up to half the height."""
        wanted = self.results.wanted_height() + 4
        self.tables_scroll.setMinimumHeight(max(TABLES_MIN_HEIGHT, min(wanted, TABLES_MAX_MIN_HEIGHT)))
        total = sum(self.splitter.sizes())
        if self._splitter_dragged or total <= 0:
            return
        top = max(self.tables_scroll.minimumHeight(), min(wanted, total // 2))
        self.splitter.setSizes([top, total - top])

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._fit_tables_pane()

    # ---- selection and plots

    def _combo_changed(self, combo_index: int) -> None:
        self._shown = self.artifact_combo.itemData(combo_index, CANDIDATE_ROLE) if combo_index > 0 else None
        self._artifact_chosen()

    def _artifact_chosen(self) -> None:
        self._fill_tables()
        visible = sorted(self._visible_indexes())
        if self._shown is None or not visible:
            self._plot_selected()
            return
        index = visible[0]
        names = [o.get("name") for o in self.comparisons[index].get("outputs") or []]
        keep = self.selected[1] if self.selected and self.selected[1] in names else (names[0] if names else None)
        if keep is not None:
            self.select(index, keep)

    def _pick_default_selection(self) -> None:
        """Until the user picks a row, plot the first failing pair that has samples (else the first one)."""
        if self._user_selected and self.selected and self.selected[0] < len(self.comparisons):
            return
        visible = self._visible_indexes()
        with_samples = [(i, output) for _, rows in outputs_by_name(self.comparisons).items() for i, output in rows
                        if i in visible and has_samples(self.comparisons[i], output)]
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
        plot_pair(self.plot_panel, self.comparisons[index], output)
        self.results.highlight(index, name)

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
        if dropped_inputs_file(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()          # models dropped here go on to the main window

    def dropEvent(self, event) -> None:  # noqa: N802
        path = dropped_inputs_file(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.use_inputs_file(path)
        else:
            event.ignore()

    def changeEvent(self, event) -> None:  # noqa: N802
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "results"):
            self._rebuild()

"""What the Compare tab is fed: the inputs the comparisons ran on, and the output samples it plots.

- `InputsBar`: seeded random inputs or a file (.npy/.npz/image, chosen or dropped); emits `changed` with
  {"inputs_path": str | None, "seed": int} when the user picks others.
- `load_sample_pair`: a comparison's saved outputs, the candidate laid onto the reference's shape with the
  output's `permutation` (studio.compare.align) unless the sample says `aligned`; `load_samples`, the one loader
  of a saved .npy pair, also reads the Layers tab's per-layer tensors. `plot_pair` draws one on a PlotPanel. See
  studio/gui/diff_view.py for the `samples` a comparison may carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QFileDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QRadioButton, \
    QSpinBox

from studio.compare_html import artifact_label, output_label
from studio.gui.plots import PlotPanel, muted_color
from studio.inputs import INPUT_SUFFIXES, INPUTS_FILE_FILTER, SUPPORTED_FILES   # the one list of input files

FILE_NAME_WIDTH = 160           # px of an inputs file's name before it is elided (the tooltip has the path)


# ---------------------------------------------------------------- output samples

class SampleError(ValueError):
    """Why a pair's sample outputs can't be plotted, in one line."""


def has_samples(comparison: dict, output: dict) -> bool:
    return bool((comparison.get("samples") or {}).get(output.get("name")))


def load_sample_pair(comparison: dict, output: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(reference, candidate in the reference's shape), or None when the comparison carries no samples."""
    return load_samples((comparison.get("samples") or {}).get(output.get("name")), output.get("permutation"))


def load_samples(samples: dict | None, permutation=None, aligned: bool = False) \
        -> tuple[np.ndarray, np.ndarray] | None:
    """The one loader of a saved {"reference": .npy, "candidate": .npy} pair (a comparison's output, a per-layer
    report's layer): (reference, candidate in the reference's shape), or None when there is none. The candidate is
    laid onto the reference's shape with `permutation` unless it was saved so (`aligned`, or the pair says so)."""
    if not samples:
        return None
    try:
        reference = np.load(samples["reference"], allow_pickle=False)
        candidate = np.load(samples["candidate"], allow_pickle=False)
    except FileNotFoundError:
        raise SampleError("the saved tensors are gone (they live only as long as the job's temporary folder)") \
            from None
    except (OSError, ValueError, KeyError) as exc:
        raise SampleError(f"sample outputs unreadable: {exc}") from None
    if not isinstance(reference, np.ndarray) or not isinstance(candidate, np.ndarray):
        raise SampleError("sample outputs must be .npy arrays")
    if aligned or samples.get("aligned"):
        if candidate.shape != reference.shape:
            raise SampleError(f"candidate {list(candidate.shape)} is not in the reference's shape "
                              f"{list(reference.shape)}")
        return reference, candidate
    if permutation is None and candidate.shape == reference.shape:
        return reference, candidate
    from studio.compare import align   # pure numpy

    try:
        return reference, align(candidate, reference.shape, tuple(permutation) if permutation else None)
    except ValueError as exc:
        raise SampleError(f"can't lay candidate {list(candidate.shape)} onto reference "
                          f"{list(reference.shape)}: {exc}") from None


def plot_pair(panel: PlotPanel, comparison: dict, output: dict) -> bool:
    """Draw one artifact's output against the reference on `panel`; False (and a message) when there is no data."""
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


# ---------------------------------------------------------------- the inputs picker

def dropped_inputs_file(mime) -> str | None:
    """The first local file in a drop that can be the comparison's inputs."""
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in INPUT_SUFFIXES:
            return url.toLocalFile()
    return None


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
        self.choose_button.setToolTip(f"Inputs for the comparison: {SUPPORTED_FILES}")
        self.rerun_button = QPushButton("Run again")
        self.rerun_button.setToolTip("Rerun every comparison on these inputs")
        self.hint = hint = QLabel("or drop an image, .npy or .npz here")   # until a file is chosen
        hint.setStyleSheet(f"color: {muted_color(self).name()}")
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
            raise ValueError(f"{Path(path).name}: inputs must be {SUPPORTED_FILES}")
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
                                              INPUTS_FILE_FILTER)
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

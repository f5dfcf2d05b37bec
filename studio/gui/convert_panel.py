"""The Convert panel: what to make (targets, variants, opset, backend, output folder), the input shapes, and Convert.

Its controls read and write studio.options.ConvertOptions, the schema the CLI's flags come from: the request is
the CLI's request, and "Copy command" is that schema's command line, so whatever a user does here can be
scripted later.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItemModel
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFileDialog, QFormLayout, QFrame,
                               QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton,
                               QScrollArea, QSizePolicy, QSpinBox, QTableWidget, QTableWidgetItem, QToolButton,
                               QVBoxLayout, QWidget)

from studio.errors import StudioError
from studio.formats import Format, Source
from studio.jobs.protocol import ConvertRequest
from studio.options import OPSET_RANGE, ConvertOptions, option_of, to_argv
from studio.signature import parse_dtype, shape_text

LABELS = {"onnx": "ONNX", "savedmodel": "SavedModel", "tflite": "TFLite", "tfjs": "TF.js",
          "dynamic_int8": "dynamic-range int8", "int8": "int8 (calibrated)"}
DEFAULTS = ConvertOptions()
TARGETS = tuple((key, LABELS.get(key, key)) for key in option_of(ConvertOptions, "targets").choices)
VARIANTS = tuple((key, LABELS.get(key, key)) for key in option_of(ConvertOptions, "variants").choices)
OPSET_DEFAULT = OPSET_RANGE[0] - 1   # the spin box's minimum stands for "the exporter's choice"
OPSET_MAX = OPSET_RANGE[1]
DEFAULT_BACKEND = DEFAULTS.backend
# Translucent tints read on light and dark palettes alike; the text keeps the palette's own colour.
NEEDS_INPUT = QColor(230, 140, 0, 90)
WAS_DYNAMIC = QColor(70, 130, 230, 60)


def backend_status() -> dict[str, tuple[bool, str]]:
    """The engine's ONNX->TF backends and why one is unavailable; never imports TensorFlow."""
    try:
        from studio.stages.registry import backend_status as engine_status

        return dict(engine_status())
    except Exception as exc:  # the engine's registry is missing or broken: offer only the default
        return {DEFAULT_BACKEND: (True, ""), "onnx-tf": (False, f"backend registry unavailable ({exc})")}


def tfjs_problem() -> str | None:
    """Why TF.js cannot be made here (studio.tfjs.env: stamps and `node --version`, no framework), or None."""
    try:
        from studio.tfjs.env import status

        return status().problem
    except Exception as exc:  # noqa: BLE001 - a broken check must not keep the window from opening
        return f"the TF.js check failed ({exc})"


def setup_command() -> list[str]:
    """`studio setup tfjs` as this app runs it: the frozen app is its own `studio` command."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "setup", "tfjs"]
    return [sys.executable, "-m", "studio", "setup", "tfjs"]


def parse_dims(text: str) -> list[int | None]:
    """ "1, 3, ?, 224" or "1x3x224x224" -> [1, 3, None, 224]; raises ValueError naming the bad part."""
    dims: list[int | None] = []
    for token in (t for t in re.split(r"[,\s×x]+", text.strip()) if t):
        if token == "?":
            dims.append(None)
            continue
        if not token.isdigit() or int(token) <= 0:
            raise ValueError(f"{token!r} is not a positive whole number or ?")
        dims.append(int(token))
    return dims


def dims_text(dims) -> str:
    return shape_text(dims, sep=", ", brackets=False)


class ShapeEditor(QTableWidget):
    """One row per model input: name, dtype, and an editable shape where dynamic dims show as "?"."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(0, 3, parent)
        self.setObjectName("shapeEditor")
        self.setHorizontalHeaderLabels(["Input", "dtype", "Shape"])
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.setTabKeyNavigation(False)   # Tab leaves the table, arrows move inside: keyboard users can get out
        self.setAccessibleName("Input shapes: type the dims marked ?")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._model_shapes: list[tuple[str, list | None]] = []   # (name, model dims or None when unknown)
        self._filling = False
        self.itemChanged.connect(self._on_item_changed)
        self.set_inputs(None)

    def set_inputs(self, inputs: list[dict] | None, placeholder: str = "Open a model to see its inputs") -> None:
        """Fill from an inspect result's "inputs"; a dynamic leading batch dim starts at 1, other dynamic dims at ?."""
        self._filling = True
        self.clearContents()
        self._model_shapes = []
        if not inputs:
            self.setRowCount(1)
            item = QTableWidgetItem(placeholder)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.setItem(0, 0, item)
            self.setSpan(0, 0, 1, 3)
        else:
            self.clearSpans()
            self.setRowCount(len(inputs))
            for row, spec in enumerate(inputs):
                dims = spec.get("shape")
                dims = list(dims) if dims else None
                self._model_shapes.append((spec["name"], dims))
                for col, text in ((0, spec["name"]), (1, spec.get("dtype", ""))):
                    item = QTableWidgetItem(text)
                    flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                    if col == 1 and dims is None:   # the format stores no dtype either (TorchScript): editable
                        flags |= Qt.ItemFlag.ItemIsEditable
                        item.setToolTip("This format stores no dtypes: type one (int64 for token ids)")
                    item.setFlags(flags)
                    self.setItem(row, col, item)
                start = [1 if (i == 0 and d is None) else d for i, d in enumerate(dims)] if dims else []
                shape = QTableWidgetItem(dims_text(start) if dims else "")
                shape.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEditable)
                self.setItem(row, 2, shape)
        self._filling = False
        self._restyle()
        self.setFixedHeight(self._ideal_height())
        self.changed.emit()

    def _ideal_height(self) -> int:
        rows = max(1, self.rowCount())
        row_h = self.verticalHeader().defaultSectionSize()
        return self.horizontalHeader().sizeHint().height() + row_h * min(rows, 6) + 2 * self.frameWidth() + 2

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() not in (1, 2):
            return
        self._restyle()
        self.changed.emit()

    def _row_problem(self, row: int) -> str | None:
        name, model = self._model_shapes[row]
        if model is None:
            try:
                parse_dtype(self.item(row, 1).text())
            except StudioError as exc:
                return f"{name}: {exc}"
        text = self.item(row, 2).text()
        try:
            dims = parse_dims(text)
        except ValueError as exc:
            return f"{name}: {exc}"
        if model is None:
            if not dims:
                return f"{name}: give its shape (the model does not store it)"
        elif len(dims) != len(model):
            return f"{name}: needs {len(model)} dims ({dims_text(model)})"
        else:
            for i, (have, want) in enumerate(zip(model, dims)):
                if have is not None and want is not None and have != want:
                    return f"{name}: dim {i} is fixed to {have} by the model"
        if any(d is None for d in dims):
            return f"{name}: fill the dims marked ?"
        return None

    def _restyle(self) -> None:
        self._filling = True
        for row, (name, model) in enumerate(self._model_shapes):
            item = self.item(row, 2)
            dynamic = model is None or any(d is None for d in model)
            problem = self._row_problem(row)
            brush = QBrush(NEEDS_INPUT) if problem else QBrush(WAS_DYNAMIC) if dynamic else QBrush()
            item.setBackground(brush)
            font = QFont(self.font())
            font.setBold(dynamic)
            item.setFont(font)
            if model is None:
                tip = "This format stores no shape for this input: type it, e.g. 1, 3, 224, 224."
            elif dynamic:
                tip = (f"The model leaves some dims dynamic: [{dims_text(model)}]. Fill every ? "
                       f"(a dynamic batch dim starts at 1).")
            else:
                tip = "Fixed by the model."
            item.setToolTip(f"{problem}\n\n{tip}" if problem else tip)
        self._filling = False

    def problems(self) -> list[str]:
        return [p for p in (self._row_problem(r) for r in range(len(self._model_shapes))) if p]

    def shapes(self) -> dict[str, list[int]]:
        """The filled shapes of the inputs the model leaves dynamic (the fixed ones need no --input-shape)."""
        out: dict[str, list[int]] = {}
        for row, (name, model) in enumerate(self._model_shapes):
            if model is not None and all(d is not None for d in model):
                continue
            try:
                dims = parse_dims(self.item(row, 2).text())
            except ValueError:
                continue
            if dims and all(d is not None for d in dims):
                out[name] = [int(d) for d in dims]
        return out

    def dtypes(self) -> dict[str, str]:
        """The dtypes typed for inputs whose format stores none (TorchScript), where they are valid."""
        out: dict[str, str] = {}
        for row, (name, model) in enumerate(self._model_shapes):
            if model is None:
                try:
                    out[name] = parse_dtype(self.item(row, 1).text())
                except StudioError:
                    continue
        return out

    def stores_no_shapes(self) -> bool:
        """True when the format stores no shape for some input (TorchScript, Python factories, pickled modules)."""
        return any(model is None for _, model in self._model_shapes)

    def has_inputs(self) -> bool:
        return bool(self._model_shapes)


class PathField(QWidget):
    """A line edit with browse buttons: for the output folder and the calibration data."""

    changed = Signal(str)

    def __init__(self, placeholder: str, buttons: list[tuple[str, object]], parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self.changed)
        layout.addWidget(self.edit, 1)
        self.buttons = []
        for text, slot in buttons:
            button = QToolButton()
            button.setText(text)
            button.clicked.connect(slot)
            layout.addWidget(button)
            self.buttons.append(button)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self.edit.setText(text)


class ConvertPanel(QScrollArea):
    """The dock's content. Emits convert_requested / copy_requested; the window owns sources and jobs."""

    convert_requested = Signal()
    copy_requested = Signal()
    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("convertPanel")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setMinimumWidth(320)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(8, 8, 8, 8)
        self._source: Source | None = None
        self._state = "none"            # none | reading | ready | error
        self._signature_note = ""

        self.source_label = QLabel("No model open")
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.source_label)

        targets_box = QGroupBox("&Targets")
        targets_layout = QVBoxLayout(targets_box)
        self.target_boxes = self._checkboxes(TARGETS)
        boxes = list(self.target_boxes.values())
        for start in range(0, len(boxes), 3):   # three a row: the dock's narrowest width shows them all
            row = QHBoxLayout()
            for box in boxes[start:start + 3]:
                row.addWidget(box)
            row.addStretch(1)
            targets_layout.addLayout(row)
        self.tfjs_row = QHBoxLayout()
        self.tfjs_note = QLabel("")
        self.tfjs_note.setWordWrap(True)
        self.tfjs_setup = QPushButton("Set up TF.js…")
        self.tfjs_setup.clicked.connect(self._ask_tfjs_setup)
        self.tfjs_row.addWidget(self.tfjs_note, 1)
        self.tfjs_row.addWidget(self.tfjs_setup)
        targets_layout.addLayout(self.tfjs_row)
        self._tfjs_process: QProcess | None = None
        self._tfjs_problem: str | None = None
        layout.addWidget(targets_box)

        self.variants_box = QGroupBox("TFLite &variants")
        self.variants_box.setToolTip("TFLite variants; TF.js makes float32, float16, and uint8 weights for "
                                     "dynamic-range int8 (it has no int8 model)")
        grid = QVBoxLayout(self.variants_box)
        self.variant_boxes = self._checkboxes(VARIANTS)
        for box in self.variant_boxes.values():
            grid.addWidget(box)
        self.calibration = PathField("calibration .npy/.npz or image folder (optional)",
                                     [("File…", self._pick_calibration_file), ("Folder…", self._pick_calibration_dir)])
        self.calibration.changed.connect(self._on_changed)
        grid.addWidget(self.calibration)
        layout.addWidget(self.variants_box)

        options = QGroupBox("&Options")
        form = QFormLayout(options)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.opset = QSpinBox()
        self.opset.setRange(OPSET_DEFAULT, OPSET_MAX)
        self.opset.setSpecialValueText("exporter default")
        self.opset.setToolTip("ONNX opset of the exported model; the lowest value means the exporter's choice")
        self.opset.valueChanged.connect(self._on_changed)
        form.addRow("O&pset:", self.opset)
        self.backend = QComboBox()
        self.backend.setToolTip("How ONNX becomes a TensorFlow SavedModel / TFLite")
        self.backend.currentIndexChanged.connect(self._on_changed)
        form.addRow("&Backend:", self.backend)
        self.keep_layout = QCheckBox("Keep NCHW image inputs")
        self.keep_layout.setToolTip("By default image inputs become NHWC, as TFLite expects")
        self.keep_layout.toggled.connect(self._on_changed)
        form.addRow("", self.keep_layout)
        self.explain = QCheckBox("Explain failures per layer")
        self.explain.setToolTip("For an artifact that fails its comparison, find the first layer where it drifts "
                                "(per-layer errors in the report)")
        self.explain.toggled.connect(self._on_changed)
        form.addRow("", self.explain)
        layout.addWidget(options)

        output_box = QGroupBox("Output &folder")
        output_layout = QVBoxLayout(output_box)
        self.output = PathField("where converted models go", [("Browse…", self._pick_output)])
        self.output.changed.connect(self._on_changed)
        output_layout.addWidget(self.output)
        self.output_hint = QLabel("")
        self.output_hint.setWordWrap(True)
        self.output_hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        output_layout.addWidget(self.output_hint)
        layout.addWidget(output_box)

        shapes_box = QGroupBox("&Input shapes")
        shapes_layout = QVBoxLayout(shapes_box)
        self.shapes = ShapeEditor()
        self.shapes.changed.connect(self._on_changed)
        shapes_layout.addWidget(self.shapes)
        self.shape_hint = QLabel("")
        self.shape_hint.setWordWrap(True)
        shapes_layout.addWidget(self.shape_hint)
        layout.addWidget(shapes_box)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setObjectName("convertStatus")
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.copy_button = QPushButton("&Copy command")
        self.copy_button.setToolTip("Copy the equivalent `studio convert ...` command line (Ctrl+Shift+C)")
        self.copy_button.clicked.connect(self.copy_requested)
        self.convert_button = QPushButton("Con&vert")
        self.convert_button.setDefault(True)
        self.convert_button.setToolTip("Convert the selected model (Ctrl+Return)")
        self.convert_button.clicked.connect(self.convert_requested)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.convert_button)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self._fill_backends()
        self.refresh_tfjs()
        self._refresh()

    # ------------------------------------------------------------ TF.js: available, or "needs set-up"
    def refresh_tfjs(self) -> None:
        """Label the TF.js checkbox from the set-up's state; offer the set-up where it is missing."""
        self._tfjs_problem = tfjs_problem()
        box = self.target_boxes["tfjs"]
        running = self._tfjs_process is not None
        box.setText("TF.js" if self._tfjs_problem is None else "TF.js (needs set-up)")
        box.setEnabled(self._tfjs_problem is None)
        box.setToolTip("TF.js graph model, verified in Node" if self._tfjs_problem is None else
                       f"{self._tfjs_problem[0].upper()}{self._tfjs_problem[1:]}")
        node_missing = self._tfjs_problem is not None and "Node" in self._tfjs_problem
        self.tfjs_setup.setVisible(self._tfjs_problem is not None and not node_missing or running)
        self.tfjs_setup.setEnabled(not running)
        if not running:
            self.tfjs_note.setText("" if self._tfjs_problem is None else
                                   f"TF.js: {self._tfjs_problem}." if node_missing else
                                   "TF.js needs a one-time set-up of its converter and Node runner.")
        self.tfjs_note.setVisible(bool(self.tfjs_note.text()))

    def setup_summary(self) -> str:
        from studio.tfjs import env

        return (f"Set up TF.js conversion? This installs {env.INSTALL_SUMMARY}, into {env.tfjs_home()}.\n\n"
                f"It runs `{env.setup_command()}` in the background (a few minutes); the studio stays usable.")

    def _ask_tfjs_setup(self) -> None:
        answer = QMessageBox.question(self, "Set up TF.js", self.setup_summary())
        if answer == QMessageBox.StandardButton.Yes:
            self.start_tfjs_setup()

    def start_tfjs_setup(self, command: list[str] | None = None) -> None:
        """Run `studio setup tfjs` as a child process (pip and npm; nothing is imported here), its lines shown."""
        if self._tfjs_process is not None:
            return
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._tfjs_output)
        process.finished.connect(self._tfjs_finished)
        process.errorOccurred.connect(self._tfjs_error)
        self._tfjs_process = process
        self._tfjs_last = "starting…"
        self.tfjs_setup.setText("Setting up TF.js…")
        self.tfjs_note.setText("Setting up TF.js: starting…")
        self.refresh_tfjs()
        command = command or setup_command()
        process.start(command[0], command[1:])

    def _tfjs_output(self) -> None:
        text = bytes(self._tfjs_process.readAllStandardOutput()).decode(errors="replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            self._tfjs_last = lines[-1]
            self.tfjs_note.setText(f"Setting up TF.js: {self._tfjs_last}")
            self.tfjs_note.setVisible(True)

    def _tfjs_error(self, error) -> None:
        """The set-up could not even start (no `finished` follows then)."""
        if error == QProcess.ProcessError.FailedToStart and self._tfjs_process is not None:
            self._tfjs_last = f"could not start {' '.join(setup_command()[:1])}"
            self._tfjs_finished(-1)

    def _tfjs_finished(self, code: int, _status=None) -> None:
        if self._tfjs_process is None:
            return
        self._tfjs_output()
        self._tfjs_process = None
        self.tfjs_setup.setText("Set up TF.js…")
        self.refresh_tfjs()
        if code != 0:
            self.tfjs_note.setText(f"TF.js set-up failed: {self._tfjs_last}")
            self.tfjs_note.setVisible(True)
        self._refresh()
        self.changed.emit()

    # ------------------------------------------------------------ settings
    def load(self, targets: list[str], variants: list[str], output_folder: str) -> None:
        for key, box in self.target_boxes.items():
            box.setChecked(key in targets)
        for key, box in self.variant_boxes.items():
            box.setChecked(key in variants)
        self.output.setText(output_folder)

    def targets(self) -> list[str]:
        return [key for key, box in self.target_boxes.items() if box.isChecked()]

    def variants(self) -> list[str]:
        return [key for key, box in self.variant_boxes.items() if box.isChecked()]

    def output_folder(self) -> str:
        return self.output.text()

    def set_targets(self, targets: list[str], variants: list[str] | None = None) -> None:
        for key, box in self.target_boxes.items():
            box.setChecked(key in targets)
        if variants is not None:
            for key, box in self.variant_boxes.items():
                box.setChecked(key in variants)

    def _fill_backends(self) -> None:
        self.backend.clear()
        status = backend_status()
        model = self.backend.model()
        for name, (ok, reason) in status.items():
            self.backend.addItem(name if ok else f"{name} (unavailable)", name)
            index = self.backend.count() - 1
            self.backend.setItemData(index, reason or f"use {name}", Qt.ItemDataRole.ToolTipRole)
            if not ok and isinstance(model, QStandardItemModel):
                model.item(index).setEnabled(False)
        default = self.backend.findData(DEFAULT_BACKEND)
        self.backend.setCurrentIndex(max(0, default))

    def backend_name(self) -> str:
        return self.backend.currentData() or DEFAULT_BACKEND

    # ------------------------------------------------------------ the model
    def set_source(self, source: Source | None, inputs: list[dict] | None = None, state: str = "ready",
                   note: str = "") -> None:
        """state: "reading" while the inspect job runs, "ready" with its inputs, "error" when it failed."""
        self._source, self._state, self._signature_note = source, state, note
        if source is None:
            self.source_label.setText("No model open")
            self.shapes.set_inputs(None)
        else:
            self.source_label.setText(f"<b>{source.path.name}</b> · {source.format.value}")
            self.source_label.setToolTip(source.spec)
            placeholder = {"reading": "Reading the model's inputs…",
                           "error": "The model's inputs could not be read"}.get(state, "The model has no inputs")
            self.shapes.set_inputs(inputs if state == "ready" else None, placeholder)
        self._refresh()

    def source(self) -> Source | None:
        return self._source

    # ------------------------------------------------------------ readiness
    def problems(self) -> list[str]:
        """Why Convert is disabled, in the order a user would fix them."""
        found = []
        if self._source is None:
            return ["Open a model first (Ctrl+O, or drop it on the window)."]
        if self._state == "reading":
            found.append("Reading the model's inputs…")
        if not self.targets():
            found.append("Choose at least one target.")
        if "tflite" in self.targets() and not self.variants():
            found.append("Choose at least one TFLite variant.")
        if "tfjs" in self.targets() and self._tfjs_problem:
            found.append(f"TF.js needs set-up: {self._tfjs_problem}.")
        if not self.output_folder():
            found.append("Choose an output folder.")
        route = self._route_problem()
        if route:
            found.append(route)
        found += self.shapes.problems()
        return found

    def _route_problem(self) -> str | None:
        """Ask the engine's planner (no framework import) whether these targets can be made from this format."""
        if self._source is None or not self.targets():
            return None
        try:
            from studio.stages.registry import plan
        except Exception:
            return None
        try:
            plan(self._source.format, tuple(self.targets()))
        except StudioError as exc:
            return f"Cannot convert: {exc}"
        except Exception:
            return None
        return None

    def is_ready(self) -> bool:
        return not self.problems()

    def _checkboxes(self, items) -> dict[str, QCheckBox]:
        """One checkbox per (key, label); any toggle refreshes the panel."""
        boxes = {}
        for key, label in items:
            boxes[key] = box = QCheckBox(label)
            box.toggled.connect(self._on_changed)
        return boxes

    def _on_changed(self, *_) -> None:
        self._refresh()
        self.changed.emit()

    def _refresh(self) -> None:
        tflite = self.target_boxes["tflite"].isChecked()
        self.variants_box.setEnabled(tflite or self.target_boxes["tfjs"].isChecked())
        self.calibration.setEnabled(tflite and self.variant_boxes["int8"].isChecked())
        problems = self.problems()
        shape_problems = self.shapes.problems()
        others = [p for p in problems if p not in shape_problems]   # shape problems show in their own box
        self.convert_button.setEnabled(not problems)
        self.copy_button.setEnabled(self._source is not None)
        self.status.setText(others[0] if others else "")
        self.status.setVisible(bool(others))
        self.convert_button.setToolTip("\n".join(problems) if problems else "Convert the selected model (Ctrl+Return)")
        self.shape_hint.setText(self._shape_hint())
        self.output_hint.setText(f"Each conversion writes a new folder here, e.g. "
                                 f"{self._source.stem}_converted" if self._source and self.output_folder() else "")

    def _shape_hint(self) -> str:
        if self._state == "error":
            return f"Inputs unknown: {self._signature_note}" if self._signature_note else "Inputs unknown."
        if not self.shapes.has_inputs():
            return ""
        problems = self.shapes.problems()
        stores_none = self.shapes.stores_no_shapes()    # TorchScript: no ? to replace, nothing left dynamic
        if problems:
            how = "Type each input's shape, e.g. 1, 3, 224, 224 (this format stores none)." if stores_none else \
                "Replace each ? with a size (dynamic in the model)."
            return "\n".join(problems) + "\n" + how
        if self.shapes.shapes():
            return "This format stores no input shapes; these are used to convert and compare." if stores_none \
                else "The model leaves some dims dynamic; these sizes are used to convert and compare."
        return "All input shapes are fixed by the model."

    # ------------------------------------------------------------ the request
    def options(self, inputs_path: str | None = None, seed: int = 0) -> ConvertOptions:
        """The choices made here, as the schema the CLI parses into (inputs_path and seed: the Compare tab's)."""
        opset = self.opset.value()
        calibration = self.calibration.text() if self.calibration.isEnabled() and self.calibration.text() else None
        return ConvertOptions(targets=self.targets(), variants=self.variants() or ["float32"],
                              input_shapes=self.shapes.shapes(), input_dtypes=self.shapes.dtypes(),
                              inputs_path=inputs_path, seed=seed,
                              opset=None if opset == OPSET_DEFAULT else opset, backend=self.backend_name(),
                              keep_layout=self.keep_layout.isChecked(), explain=self.explain.isChecked(),
                              calibration=str(Path(calibration).resolve()) if calibration else None)

    def set_options(self, options: ConvertOptions) -> None:
        """Show these choices (the input shapes stay the model's: they are set with set_source)."""
        self.set_targets(options.targets, options.variants)
        self.opset.setValue(options.opset or OPSET_DEFAULT)
        self.backend.setCurrentIndex(max(0, self.backend.findData(options.backend)))
        self.keep_layout.setChecked(options.keep_layout)
        self.explain.setChecked(options.explain)
        self.calibration.setText(options.calibration or "")

    def build_request(self, out_dir: str, inputs_path: str | None = None, seed: int = 0) -> ConvertRequest:
        """The ConvertRequest the CLI would build from the same choices (see command_line)."""
        problems = self.problems()
        if problems:
            raise StudioError(problems[0])
        assert self._source is not None
        options = self.options(inputs_path, seed)
        if options.calibration and not Path(options.calibration).exists():
            raise StudioError(f"calibration data {options.calibration}: no such file or folder")
        return ConvertRequest(source=self._source.to_dict(), out_dir=str(Path(out_dir).resolve()), options=options)

    def command_line(self, out_dir: str, inputs_path: str | None = None, seed: int = 0) -> str:
        """`studio convert ...` with exactly the choices made here (the schema writes the flags)."""
        source = self._source
        if source is None:
            return ""
        args = ["studio", "convert", source.spec, "--out", str(Path(out_dir).resolve())]
        if source.weights:
            args += ["--weights", str(source.weights)]
        if source.format is Format.TORCH_PICKLE:
            args.append("--allow-pickle")
        return shlex.join(args + to_argv(self.options(inputs_path, seed)))

    # ------------------------------------------------------------ pickers
    def _pick_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.output.text() or str(Path.home()))
        if folder:
            self.output.setText(folder)

    def _pick_calibration_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Calibration data", self.calibration.text() or str(Path.home()),
                                              "Arrays (*.npy *.npz);;All files (*)")
        if path:
            self.calibration.setText(path)

    def _pick_calibration_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Calibration images", self.calibration.text() or str(Path.home()))
        if folder:
            self.calibration.setText(folder)

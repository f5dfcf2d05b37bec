"""The main window: Models sidebar, Graph / Compare / Log tabs, Convert and Jobs panels, menus and shortcuts.

It holds what the user opened (SourceState) and turns user actions into jobs; every job runs in a worker
process through the JobQueue, and its events come back here as signals.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QFrame, QInputDialog, QLabel, QMainWindow,
                               QPlainTextEdit, QScrollArea, QSplitter, QTabWidget, QTreeWidget, QTreeWidgetItem, QWidget)

from studio.errors import StudioError
from studio.formats import SUPPORTED, Format, Source, detect
from studio.gui.convert_panel import ConvertPanel, unique_out_dir
from studio.gui.dialogs import APP_NAME, AboutDialog, ask_pickle_consent, show_error
from studio.gui.job_worker import CANCELLED, DONE, FAILED_STATE, Job, JobQueue
from studio.gui.jobs_panel import JobsPanel
from studio.gui.settings import Settings
from studio.gui.sidebar import Sidebar, artifact_label
from studio.jobs.protocol import (COMPARISON, FAILED, LOG, RESULT, STAGE_FINISHED, STAGE_STARTED, CompareRequest,
                                  InspectRequest, VersionsRequest)

log = logging.getLogger(__name__)
TAB_GRAPH, TAB_COMPARE, TAB_LOG = range(3)
LOG_TAIL = 60                # converter output lines kept per job for its error dialog's details
MAX_LOG_LINES = 20000
NETRON_FORMATS = {Format.ONNX, Format.TFLITE, Format.SAVEDMODEL, Format.KERAS, Format.H5, Format.TORCHSCRIPT,
                  Format.EXPORTED_PROGRAM, Format.TORCH_PICKLE}
INPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".npy", ".npz")   # drops the Compare tab takes as inputs


@dataclass
class SourceState:
    """One opened model: what it is, what inspect said, what was made from it and how those compared."""

    source: Source
    info: dict | None = None
    inspect_state: str = "reading"          # reading | ready | error
    inspect_error: str = ""
    artifacts: list[dict] = field(default_factory=list)
    comparisons: dict[str, dict] = field(default_factory=dict)   # candidate path -> latest COMPARISON data
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # shapes of the last conversion
    input_dtypes: dict[str, str] = field(default_factory=dict)        # and dtypes, where the format has none

    @property
    def key(self) -> str:
        return self.source.spec


# ---------------------------------------------------------------- the other engineer's widgets, or stand-ins

class _GraphPlaceholder(QLabel):
    """Stands in for GraphView (Netron) when it is not available here."""

    def __init__(self, reason: str = "", parent=None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self._reason = reason
        self.setText(f"Graph view unavailable{': ' + reason if reason else ''}")

    def show_model(self, path: str) -> None:
        self.setText(f"{Path(path).name}\n\n(graph view unavailable{': ' + self._reason if self._reason else ''})")

    def show_side_by_side(self, left: str, right: str) -> None:
        self.setText(f"{Path(left).name}  ↔  {Path(right).name}\n\n(graph view unavailable)")


class _SummaryPlaceholder(QPlainTextEdit):
    """Stands in for SummaryView: the inspect summary as text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

    def set_summary(self, info: dict) -> None:
        lines = [f"{info.get('format', '?')} · {info.get('parameters', 0):,} parameters · {info.get('bytes', 0):,} bytes"]
        for title in ("inputs", "outputs"):
            lines.append(f"\n{title}:")
            for t in info.get(title, []):
                dims = ",".join("?" if d is None else str(d) for d in t.get("shape") or [])
                lines.append(f"  {t['name']}  {t.get('dtype', '')}[{dims}]  {t.get('layout', '')}")
        lines.append("\nops:")
        lines += [f"  {op}  {n}" for op, n in list(info.get("ops", {}).items())[:40]]
        self.setPlainText("\n".join(lines))


class _ComparisonList(QTreeWidget):
    """Stands in for DiffView: one row per output with the verdict."""

    inputs_changed = Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Artifact", "Output", "max abs", "cosine", "Verdict"])
        self.setRootIsDecorated(False)

    def add_comparison(self, comparison: dict) -> None:
        name = Path(str(comparison.get("candidate", ""))).name
        outputs = comparison.get("outputs") or [{}]
        for out in outputs:
            verdict = "PASS" if out.get("passed", comparison.get("passed")) else "FAIL"
            max_abs = out.get("max_abs")
            cosine = out.get("cosine")
            QTreeWidgetItem(self, [name, str(out.get("name", comparison.get("error") or "")),
                                   "" if max_abs is None else f"{max_abs:.3g}",
                                   "" if cosine is None else f"{cosine:.6f}", verdict])

    def set_tolerance_text(self, text: str) -> None:
        self.setToolTip(text)


def _make_widget(module: str, name: str, fallback):
    """The real widget when its module is there and works; a stand-in otherwise (the app must still open)."""
    try:
        cls = getattr(__import__(f"studio.gui.{module}", fromlist=[name]), name)
        return cls(), True
    except Exception as exc:  # a broken QtWebEngine / pyqtgraph install: the rest of the studio still works
        from studio.errors import one_line

        log.warning("studio.gui.%s.%s unavailable, using a stand-in: %s", module, name, one_line(exc))
        return fallback(one_line(exc)) if fallback is _GraphPlaceholder else fallback(), False


# ---------------------------------------------------------------- the window

class MainWindow(QMainWindow):
    """Wires the panels to the JobQueue; keeps no model in memory, only what the workers reported."""

    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.sources: dict[str, SourceState] = {}
        self.jobs = JobQueue(self)
        self.versions: dict[str, str] | None = None
        self._about: AboutDialog | None = None
        self._reserved_out_dirs: set[str] = set()
        self._job_output: dict[int, deque] = {}
        self._compare_inputs: dict = {"inputs_path": None, "seed": 0}
        self._graph_shown: tuple[str, ...] | None = None
        self._diff_filter: str | None = None      # show only this artifact's comparison (its path), or all
        self.confirm_quit = True                  # ask before closing kills running conversions (tests: off)

        self._build_tabs()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self.jobs.job_added.connect(self.jobs_panel.add_job)
        self.jobs.job_changed.connect(self.jobs_panel.update_job)
        self.jobs.job_changed.connect(lambda _job: self._update_actions())
        self.jobs.job_event.connect(self._on_job_event)
        self.jobs.job_finished.connect(self._on_job_finished)
        self.jobs_panel.cancel_requested.connect(self.jobs.cancel)
        self.jobs_panel.clear_requested.connect(self.clear_finished_jobs)
        self.jobs_panel.job_activated.connect(self._on_job_activated)
        self.sidebar.source_selected.connect(self._show_source)
        self.sidebar.artifact_selected.connect(self._show_artifact)
        self.sidebar.close_requested.connect(self.close_source)
        self.convert_panel.convert_requested.connect(self.convert)
        self.convert_panel.copy_requested.connect(self.copy_command)
        self.convert_panel.changed.connect(self._update_actions)
        self.statusBar().showMessage("Drop a model anywhere on the window, or press Ctrl+O to open one.")

        self.resize(_default_size())
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self.convert_panel.load(self.settings.targets(), self.settings.variants(), self.settings.output_folder())
        self._rebuild_recent_menu()
        self._update_actions()
        self._watch_drops(self)

    # ------------------------------------------------------------ layout
    def _build_tabs(self) -> None:
        self.graph_view, self.has_graph_view = _make_widget("graph_view", "GraphView", _GraphPlaceholder)
        self.summary_view, self.has_summary_view = _make_widget("summary_view", "SummaryView", _SummaryPlaceholder)
        self.diff_view, self.has_diff_view = _make_widget("diff_view", "DiffView", _ComparisonList)
        self.graph_view.setObjectName("graphView")
        self.summary_view.setObjectName("summaryView")
        self.diff_view.setObjectName("diffView")
        self.diff_view.inputs_changed.connect(self.rerun_comparisons)
        if not self.has_diff_view:   # the real DiffView states the tolerances of the comparisons it shows
            self.diff_view.set_tolerance_text(_tolerance_text())

        graph_split = QSplitter(Qt.Orientation.Horizontal)
        graph_split.setObjectName("graphSplitter")
        graph_split.addWidget(self.graph_view)
        graph_split.addWidget(self.summary_view)
        graph_split.setStretchFactor(0, 3)
        graph_split.setStretchFactor(1, 2)
        graph_split.setSizes([560, 340])
        graph_split.setChildrenCollapsible(False)

        self.log_view = QPlainTextEdit()
        self.log_view.setObjectName("logView")
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setMaximumBlockCount(MAX_LOG_LINES)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setPlaceholderText("Job logs and converter output appear here.")

        self.tabs = QTabWidget()
        self.tabs.setObjectName("centralTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(graph_split, "&Graph")
        # The Compare tab fits the default 1400x900 window with every dock open (its tables scroll sideways
        # inside themselves, its plots shrink); it scrolls as a whole only in a window smaller than that.
        self.compare_scroll = compare_scroll = QScrollArea()
        compare_scroll.setObjectName("compareScroll")
        compare_scroll.setWidgetResizable(True)
        compare_scroll.setFrameShape(QFrame.Shape.NoFrame)
        compare_scroll.setWidget(self.diff_view)
        self.tabs.addTab(compare_scroll, "C&ompare")
        self.tabs.addTab(self.log_view, "&Log")
        self.setCentralWidget(self.tabs)

    def _build_docks(self) -> None:
        self.sidebar = Sidebar()
        self.convert_panel = ConvertPanel()
        self.jobs_panel = JobsPanel()
        self.models_dock = self._dock("Models", "modelsDock", self.sidebar, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.convert_dock = self._dock("Convert", "convertDock", self.convert_panel,
                                       Qt.DockWidgetArea.RightDockWidgetArea)
        self.jobs_dock = self._dock("Jobs", "jobsDock", self.jobs_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self._docks_sized = False

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if not self._docks_sized and self.settings.window_state() is None:
            self._docks_sized = True   # sizes stick only once the window is laid out; saved state wins
            self.resizeDocks([self.models_dock, self.convert_dock], [230, 340], Qt.Orientation.Horizontal)
            self.resizeDocks([self.jobs_dock], [170], Qt.Orientation.Vertical)

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetClosable |
                         QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcuts=(), tip: str = "") -> QAction:
        action = QAction(text, self)
        keys = [QKeySequence(s) if isinstance(s, str) else QKeySequence(s) for s in shortcuts]
        if keys:
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)   # shortcuts work even when the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.open_action = a("&Open Model…", self.open_dialog, [QKeySequence.StandardKey.Open],
                             "Open a model file")
        self.open_folder_action = a("Open &Folder…", self.open_folder_dialog, ["Ctrl+Shift+O"],
                                    "Open a SavedModel folder")
        self.close_action = a("&Close Model", lambda: self.close_source(self.sidebar.current_source_key()),
                              [QKeySequence.StandardKey.Close], "Close the selected model")
        self.quit_action = a("&Quit", self.close, [QKeySequence.StandardKey.Quit])
        self.export_html_action = a("Export Comparison as &HTML…", lambda: self.export_comparison("html"),
                                    ["Ctrl+E"])
        self.export_json_action = a("Export Comparison as &JSON…", lambda: self.export_comparison("json"),
                                    ["Ctrl+Shift+E"])
        self.convert_action = a("&Convert", self.convert, ["Ctrl+Return", "Ctrl+Enter"],
                                "Convert the selected model with the Convert panel's choices")
        self.copy_command_action = a("Copy &Command Line", self.copy_command, ["Ctrl+Shift+C"],
                                     "Copy the equivalent `studio convert ...` command")
        self.cancel_action = a("C&ancel Current Job", self.cancel_current_job, ["Esc", "Ctrl+."],
                               "Cancel the running job (its worker is killed; nothing half-written is kept)")
        self.cancel_all_action = a("Cancel A&ll Jobs", self.jobs.cancel_all, ["Ctrl+Shift+."])
        self.clear_jobs_action = a("C&lear Finished Jobs", self.clear_finished_jobs, ["Ctrl+Shift+L"])
        self.tab_actions = [a(f"&{title}", lambda i=i: self.show_tab(i), [f"Ctrl+{i + 1}"])
                            for i, title in enumerate(("Graph", "Compare", "Log"))]
        self.focus_models_action = a("Focus &Models", lambda: self._focus_dock(self.models_dock, self.sidebar),
                                     ["Ctrl+Shift+M"])
        self.focus_convert_action = a("Focus Con&vert Panel",
                                      lambda: self._focus_dock(self.convert_dock, self.convert_panel.target_boxes["onnx"]),
                                      ["Ctrl+Shift+K"])
        self.focus_jobs_action = a("Focus &Jobs", lambda: self._focus_dock(self.jobs_dock, self.jobs_panel.tree),
                                   ["Ctrl+J"])
        self.about_action = a("&About", self.show_about, [QKeySequence.StandardKey.HelpContents, "F1"])
        self.shortcuts_action = a("&Keyboard Shortcuts", self.show_shortcuts, ["Ctrl+F1"])

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction(self.close_action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_html_action)
        file_menu.addAction(self.export_json_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        convert_menu = bar.addMenu("&Convert")
        convert_menu.addAction(self.convert_action)
        convert_menu.addAction(self.copy_command_action)
        convert_menu.addSeparator()
        convert_menu.addAction(self.cancel_action)
        convert_menu.addAction(self.cancel_all_action)
        convert_menu.addAction(self.clear_jobs_action)

        view_menu = bar.addMenu("&View")
        for action in self.tab_actions:
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.focus_models_action)
        view_menu.addAction(self.focus_convert_action)
        view_menu.addAction(self.focus_jobs_action)
        view_menu.addSeparator()
        for dock in (self.models_dock, self.convert_dock, self.jobs_dock):
            toggle = dock.toggleViewAction()
            toggle.setText(f"{dock.windowTitle()} Panel")
            view_menu.addAction(toggle)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.shortcuts_action)
        help_menu.addAction(self.about_action)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for i, path in enumerate(recent):
            label = f"&{i + 1} {path}" if i < 9 else path
            action = self.recent_menu.addAction(label)
            action.triggered.connect(lambda _checked=False, p=path: self._open_recent(p))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Recent", self._clear_recent)
        self.recent_menu.setEnabled(bool(recent))

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self._rebuild_recent_menu()

    def _open_recent(self, path: str) -> None:
        spec_file = path.rsplit(":", 1)[0] if path.rsplit(":", 1)[0].endswith(".py") else path
        if not Path(spec_file).exists():
            self.settings.remove_recent(path)
            self._rebuild_recent_menu()
            self.show_error(f"{path} no longer exists; it was removed from Open Recent.", title="Open Recent")
            return
        self.open_paths([path])

    def _update_actions(self) -> None:
        current = self.jobs.current()
        self.cancel_action.setEnabled(current is not None)
        self.cancel_all_action.setEnabled(current is not None)
        self.convert_action.setEnabled(self.convert_panel.is_ready())
        has_source = self.current_state() is not None
        self.copy_command_action.setEnabled(has_source)
        self.close_action.setEnabled(has_source)
        exports = has_source and hasattr(self.diff_view, "export_html")
        self.export_html_action.setEnabled(exports)
        self.export_json_action.setEnabled(exports)

    def show_tab(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        widget = self.tabs.currentWidget()
        if widget is not None:
            widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _focus_dock(self, dock: QDockWidget, widget: QWidget) -> None:
        dock.show()
        dock.raise_()
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ------------------------------------------------------------ errors
    def show_error(self, message: str, details: str | None = None, title: str = "Error",
                   informative: str | None = None):
        """Tests may replace this; by default a real, non-blocking QMessageBox."""
        return show_error(self, message, details, title, informative)

    # ------------------------------------------------------------ opening models
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open Model", self.settings.last_open_folder(),
            "Models (*.onnx *.tflite *.keras *.h5 *.pt *.pth *.pt2 *.py saved_model.pb);;All files (*)")
        if paths:
            self.settings.set_last_open_folder(str(Path(paths[0]).parent))
            self.open_paths([str(Path(p).parent) if Path(p).name in ("saved_model.pb", "saved_model.pbtxt") else p
                             for p in paths])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open SavedModel Folder", self.settings.last_open_folder())
        if folder:
            self.settings.set_last_open_folder(str(Path(folder).parent))
            self.open_paths([folder])

    def open_paths(self, paths: list[str]) -> list[SourceState]:
        """Open each path; the ones that are not models are reported together in one dialog."""
        opened, problems = [], []
        for path in paths:
            try:
                state = self.open_source(path)
            except StudioError as exc:
                problems.append((path, str(exc)))
                continue
            if state is not None:
                opened.append(state)
        if opened:
            self.sidebar.select_source(opened[-1].key)
        if problems:
            self._report_open_problems(paths, problems)
        return opened

    def _report_open_problems(self, paths: list[str], problems: list[tuple[str, str]]) -> None:
        if len(problems) == 1:
            message = problems[0][1]
            if "supported:" in message:
                message = message.split("; supported:")[0]
        else:
            names = ", ".join(Path(p).name for p, _ in problems[:4]) + (" …" if len(problems) > 4 else "")
            message = f"{len(problems)} of {len(paths)} items could not be opened: {names}"
        details = "\n".join(f"{path}: {why}" for path, why in problems)
        self.show_error(message, details, title="Not a model", informative=f"Supported: {SUPPORTED}.")

    def open_source(self, path: str) -> SourceState | None:
        """detect() the path, add it to the sidebar, start its inspect job. None when the user declined."""
        source = self._detect(str(path))
        if source is None:
            return None
        key = source.spec
        if key in self.sources:
            self.sidebar.select_source(key)
            return self.sources[key]
        state = SourceState(source)
        self.sources[key] = state
        self.sidebar.add_source(key, source.path.name if not source.factory else f"{source.path.name}:{source.factory}",
                                f"{key}\n{source.format.value} ({source.framework})")
        self.settings.add_recent(key)
        self._rebuild_recent_menu()
        self.jobs.submit(InspectRequest(source=source.to_dict()), f"inspect {source.path.name}", key)
        self.statusBar().showMessage(f"Opened {key}", 5000)
        self._update_actions()
        return state

    def _detect(self, path: str) -> Source | None:
        """detect(); a pickled torch module needs the user's explicit consent; a .py asks for its factory."""
        if path.endswith(".py") and Path(path).is_file():
            name, ok = QInputDialog.getText(self, "Python model", f"Factory function in {Path(path).name} "
                                            "that returns the model:", text="build_model")
            if not ok or not name.strip():
                return None
            return detect(f"{path}:{name.strip()}")
        try:
            return detect(path)
        except StudioError as refused:
            try:   # classifying never unpickles anything; loading it later would, so we ask first
                source = detect(path, allow_pickle=True)
            except StudioError:
                raise refused from None
            if source.format is not Format.TORCH_PICKLE:
                raise refused from None
            return source if ask_pickle_consent(self, path) else None

    def close_source(self, key: str | None) -> None:
        if not key or key not in self.sources:
            return
        for job in self.jobs.jobs:
            if job.source_key == key and not job.finished and job.kind in ("inspect", "compare"):
                self.jobs.cancel(job)
        del self.sources[key]
        self.sidebar.remove_source(key)
        if not self.sources:
            self._graph_shown = None
            self.convert_panel.set_source(None)
            self.diff_view.clear()
            self._show_summary(None)
            self.setWindowTitle(APP_NAME)
        self._update_actions()

    # ------------------------------------------------------------ drag and drop (anywhere on the window)
    def _watch_drops(self, widget: QWidget) -> None:
        """Filter this widget and every descendant, now and later: a drop is ours wherever it lands (even on
        Netron's page, which would otherwise open the file itself). Per widget, not application-wide: a Python
        filter on the QApplication crashes QtWebEngine."""
        widget.installEventFilter(self)
        for child in widget.findChildren(QWidget):
            child.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        kind = event.type()
        if kind in (QEvent.Type.ChildAdded, QEvent.Type.ChildPolished):
            child = event.child()
            if isinstance(child, QWidget):
                self._watch_drops(child)
            return False
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop) and isinstance(obj, QWidget):
            paths = _local_paths(event.mimeData())
            if not paths or self._diff_view_takes(obj, paths):
                return False
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            if kind == QEvent.Type.Drop:
                # After the drop returns: dialogs (errors, consent) must not run inside the drag's own loop.
                QTimer.singleShot(0, lambda: self.open_paths(paths))
            return True
        return super().eventFilter(obj, event)

    def _diff_view_takes(self, obj: QWidget, paths: list[str]) -> bool:
        """Images and arrays dropped on the Compare tab are inputs for the comparison, not models."""
        inside = obj is self.diff_view or self.diff_view.isAncestorOf(obj)
        return inside and self.has_diff_view and all(p.lower().endswith(INPUT_SUFFIXES) for p in paths)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (reached only if the filter is gone)
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = _local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    # ------------------------------------------------------------ showing a source / an artifact
    def current_state(self) -> SourceState | None:
        key = self.sidebar.current_source_key()
        return self.sources.get(key) if key else None

    def _show_source(self, key: str) -> None:
        state = self.sources.get(key)
        if state is None:
            return
        self.setWindowTitle(f"{state.source.path.name} — {APP_NAME}")
        self._show_graph((str(state.source.path),), state.source)
        self._show_summary(state)
        self._sync_convert_panel(state)
        self._diff_filter = None
        self._refill_diff(state)
        self._update_actions()

    def _show_artifact(self, key: str, artifact: dict) -> None:
        state = self.sources.get(key)
        if state is None:
            return
        self.setWindowTitle(f"{state.source.path.name} → {artifact_label(artifact)} — {APP_NAME}")
        self._show_graph((str(state.source.path), artifact["path"]), state.source)
        self._show_summary(state)
        self._sync_convert_panel(state)
        self._diff_filter = artifact["path"]
        self._refill_diff(state)
        self._update_actions()

    def _show_graph(self, paths: tuple[str, ...], source: Source) -> None:
        if paths == self._graph_shown:
            return
        self._graph_shown = paths
        if source.format not in NETRON_FORMATS:
            if isinstance(self.graph_view, _GraphPlaceholder):
                self.graph_view.setText(f"{source.spec}\n\nNetron cannot draw a Python factory source.")
            if len(paths) == 1:
                return
        try:
            if len(paths) == 1:
                self.graph_view.show_model(paths[0])
            else:
                self.graph_view.show_side_by_side(paths[0], paths[1])
        except Exception as exc:   # the graph is a view: a failure there must not stop anything else
            from studio.errors import one_line

            self.statusBar().showMessage(f"Graph view: {one_line(exc)}", 8000)

    def _show_summary(self, state: SourceState | None) -> None:
        if state is not None and state.info:
            self.summary_view.set_summary(state.info)
        elif hasattr(self.summary_view, "clear"):
            self.summary_view.clear()

    def _sync_convert_panel(self, state: SourceState) -> None:
        inputs = (state.info or {}).get("inputs")
        self.convert_panel.set_source(state.source, inputs, state.inspect_state, state.inspect_error)

    def _refill_diff(self, state: SourceState) -> None:
        self.diff_view.clear()
        for candidate, comparison in state.comparisons.items():
            if self._diff_filter in (None, candidate):
                self.diff_view.add_comparison(comparison)

    def comparisons(self, key: str | None = None) -> list[dict]:
        """The latest comparison per artifact of a source (the selected one by default)."""
        state = self.sources.get(key) if key else self.current_state()
        return list(state.comparisons.values()) if state else []

    # ------------------------------------------------------------ convert
    def _new_samples_dir(self) -> str:
        """Where a job saves its outputs as .npy for the plots; removed with the window."""
        import tempfile

        if not hasattr(self, "_samples_root"):
            self._samples_root = tempfile.TemporaryDirectory(prefix="studio-samples-")
        return tempfile.mkdtemp(dir=self._samples_root.name)

    def convert(self) -> Job | None:
        state = self.current_state()
        if state is None:
            self.statusBar().showMessage("Open a model first (Ctrl+O, or drop it on the window).", 5000)
            return None
        problems = self.convert_panel.problems()
        if problems:
            self.statusBar().showMessage(problems[0], 8000)
            return None
        try:
            out_dir = unique_out_dir(self.convert_panel.output_folder(), state.source.stem, self._reserved_out_dirs)
            request = self.convert_panel.build_request(str(out_dir), **self._compare_inputs)
            request.samples_dir = self._new_samples_dir()
        except StudioError as exc:
            self.show_error(str(exc), title="Cannot convert")
            return None
        targets = ", ".join(self.convert_panel.targets())
        job = self.jobs.submit(request, f"convert {state.source.path.name} → {targets}", state.key,
                               {"out_dir": str(out_dir)})
        self._reserved_out_dirs.add(str(out_dir))
        self.settings.set_targets(self.convert_panel.targets(), self.convert_panel.variants())
        self.settings.set_output_folder(self.convert_panel.output_folder())
        self._log(job, f"$ {self.convert_panel.command_line(str(out_dir), **self._compare_inputs)}")
        self.statusBar().showMessage(f"Converting {state.source.path.name} into {out_dir} "
                                     "— results fill the Compare tab (Ctrl+2)", 8000)
        return job

    def copy_command(self) -> str:
        state = self.current_state()
        if state is None:
            return ""
        out_dir = unique_out_dir(self.convert_panel.output_folder() or ".", state.source.stem, self._reserved_out_dirs)
        line = self.convert_panel.command_line(str(out_dir), **self._compare_inputs)
        QGuiApplication.clipboard().setText(line)
        self.statusBar().showMessage(f"Copied: {line}", 8000)
        return line

    def cancel_current_job(self) -> None:
        job = self.jobs.current()
        if job is not None:
            self.jobs.cancel(job)
            self.statusBar().showMessage(f"Cancelling {job.title}…", 4000)

    def clear_finished_jobs(self) -> None:
        gone = self.jobs.clear_finished()
        self.jobs_panel.remove_jobs(gone)
        for job in gone:
            self._job_output.pop(job.id, None)

    def rerun_comparisons(self, inputs: dict) -> list[Job]:
        """New inputs from the Compare tab: compare the selected source against its artifacts again, in the background."""
        self._compare_inputs = {"inputs_path": inputs.get("inputs_path"), "seed": int(inputs.get("seed") or 0)}
        state = self.current_state()
        if state is None or not state.artifacts:
            self.statusBar().showMessage("Convert the model first: there is nothing to compare yet.", 5000)
            return []
        for job in self.jobs.jobs:   # earlier reruns of this source are stale now
            if job.kind == "compare" and job.source_key == state.key and not job.finished:
                self.jobs.cancel(job)
        artifacts = [a for a in state.artifacts if self._diff_filter in (None, a["path"])]
        for artifact in artifacts:
            state.comparisons.pop(artifact["path"], None)
        self._refill_diff(state)
        started = []
        for artifact in artifacts:
            candidate = Source(Path(artifact["path"]), Format(artifact["kind"]))
            request = CompareRequest(reference=state.source.to_dict(), candidate=candidate.to_dict(),
                                     inputs_path=self._compare_inputs["inputs_path"],
                                     input_shapes=dict(state.input_shapes), input_dtypes=dict(state.input_dtypes),
                                     seed=self._compare_inputs["seed"],
                                     variant=artifact.get("variant") if artifact["kind"] == "tflite" else "float32",
                                     samples_dir=self._new_samples_dir())
            started.append(self.jobs.submit(request, f"compare {state.source.path.name} ↔ {artifact_label(artifact)}",
                                            state.key, {"artifact": artifact["path"]}))
        return started

    def export_comparison(self, kind: str) -> None:
        exporter = getattr(self.diff_view, f"export_{kind}", None)
        if exporter is None:
            return
        state = self.current_state()
        stem = state.source.stem if state else "comparison"
        default = str(Path(self.convert_panel.output_folder() or Path.home()) / f"{stem}_comparison.{kind}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export Comparison as {kind.upper()}", default,
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return
        try:
            exporter(path)
        except Exception as exc:
            from studio.errors import one_line

            self.show_error(f"Could not export {path}: {one_line(exc)}", title="Export failed")
            return
        self.statusBar().showMessage(f"Exported {path}", 5000)

    # ------------------------------------------------------------ job events
    def _log(self, job: Job, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            self.log_view.appendPlainText(f"[{job.id}] {line}")

    def _on_job_event(self, job: Job, event) -> None:
        d = event.data
        if event.type == LOG:
            message = str(d.get("message", ""))
            self._log(job, message)
            if d.get("level") == "output":
                self._job_output.setdefault(job.id, deque(maxlen=LOG_TAIL)).append(message)
            elif d.get("level") == "warning":   # e.g. the job may not fit in free memory: say so where it shows
                self.statusBar().showMessage(f"⚠ {message}", 30000)
        elif event.type == STAGE_STARTED and job.kind in ("convert", "compare"):
            self._log(job, f"▶ {d.get('name')}")
        elif event.type == STAGE_FINISHED and job.kind in ("convert", "compare"):
            mark = "✓" if d.get("ok") else "✗"
            self._log(job, f"{mark} {d.get('name')} ({float(d.get('seconds') or 0):.1f} s)"
                      + ("" if d.get("ok") else f": {d.get('error')}"))
        elif event.type == COMPARISON:
            self._on_comparison(job, d)
        elif event.type == RESULT:
            if "inspect" in d:
                self._on_inspected(job, d["inspect"])
            if "versions" in d:
                self.versions = dict(d["versions"])
                if self._about is not None:
                    self._about.set_versions(self.versions)
        elif event.type == FAILED and not d.get("cancelled"):
            self._log(job, f"✗ failed: {d.get('error')}")

    def _on_comparison(self, job: Job, comparison: dict) -> None:
        state = self.sources.get(job.source_key or "")
        if state is None:
            return
        candidate = str(comparison.get("candidate"))
        state.comparisons[candidate] = comparison
        verdict = "PASS" if comparison.get("passed") else "FAIL"
        self._log(job, f"{verdict} {Path(candidate).name}" + (f": {comparison['error']}" if comparison.get("error") else ""))
        if state is self.current_state() and self._diff_filter in (None, candidate):
            self.diff_view.add_comparison(comparison)

    def _on_inspected(self, job: Job, info: dict) -> None:
        state = self.sources.get(job.source_key or "")
        if state is None:
            return
        state.info, state.inspect_state = info, "ready"
        self.sidebar.set_source_size(state.key, info.get("bytes"))
        if state is self.current_state():
            self.summary_view.set_summary(info)
            self._sync_convert_panel(state)

    def _on_job_finished(self, job: Job) -> None:
        self._reserved_out_dirs.discard(job.context.get("out_dir", ""))
        state = self.sources.get(job.source_key or "")
        if job.kind == "inspect" and state is not None and state.inspect_state == "reading":
            state.inspect_state, state.inspect_error = "error", job.error or "cancelled"
            self.sidebar.set_source_problem(state.key, job.error)
            if state is self.current_state():
                self._sync_convert_panel(state)
        if job.kind == "convert" and job.state == DONE and state is not None:
            state.artifacts += [a for a in job.artifacts if a["path"] not in {b["path"] for b in state.artifacts}]
            state.input_shapes = dict(getattr(job.request, "input_shapes", {}) or {})
            state.input_dtypes = dict(getattr(job.request, "input_dtypes", {}) or {})
            self.sidebar.add_artifacts(state.key, job.artifacts)
            self.statusBar().showMessage(f"{job.title}: {job.status_text()} — {job.result.get('out_dir', '')}", 10000)
        if job.kind == "versions" and job.state != DONE and self._about is not None:
            self._about.set_failed(job.error or "cancelled")
        if job.state == CANCELLED:
            self._log(job, "cancelled")
            self.statusBar().showMessage(f"Cancelled: {job.title}", 5000)
        elif job.state == FAILED_STATE:
            self._report_failed_job(job)
        self._update_actions()

    def _report_failed_job(self, job: Job) -> None:
        details = []
        if job.details:
            details.append(job.details.rstrip())
        tail = self._job_output.get(job.id)
        if tail:
            details.append("Last output of the worker:\n" + "\n".join(tail))
        titles = {"inspect": "Could not read the model", "convert": "Conversion failed",
                  "compare": "Comparison failed", "versions": "Could not read versions"}
        self.show_error(job.error or "the job failed", "\n\n".join(details) or None,
                        title=titles.get(job.kind, "Job failed"), informative=f"Job: {job.title}")

    def _on_job_activated(self, job: Job) -> None:
        if job.source_key in self.sources:
            self.sidebar.select_source(job.source_key)
        self.show_tab(TAB_COMPARE if job.comparisons else TAB_LOG)

    # ------------------------------------------------------------ help
    def show_about(self) -> AboutDialog:
        if self._about is not None and self._about.isVisible():
            self._about.raise_()
            self._about.activateWindow()
            return self._about
        self._about = AboutDialog(self)
        self._about.finished.connect(self._about_closed)
        if self.versions is not None:
            self._about.set_versions(self.versions)
        elif not any(j.kind == "versions" and not j.finished for j in self.jobs.jobs):
            self.jobs.submit(VersionsRequest(), "read package versions")
        self._about.open()
        return self._about

    def _about_closed(self) -> None:
        dialog, self._about = self._about, None
        if dialog is not None:
            dialog.deleteLater()

    def show_shortcuts(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        rows = []
        for action in self.actions():
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
            if keys:
                rows.append(f"<tr><td>{action.text().replace('&', '')}</td><td><b>{keys}</b></td></tr>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, f"Keyboard Shortcuts — {APP_NAME}",
                          "<table cellspacing='6'>" + "".join(rows) + "</table>"
                          "<p>Drop models anywhere on the window. In the Models list, Delete closes a model; "
                          "in the Jobs list, Delete cancels the selected job.</p>", QMessageBox.StandardButton.Close,
                          self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ------------------------------------------------------------ closing
    def _confirm_cancel_on_quit(self, count: int) -> bool:
        from PySide6.QtWidgets import QMessageBox

        box = QMessageBox(QMessageBox.Icon.Question, f"Quit — {APP_NAME}",
                          f"{count} conversion job{'s are' if count > 1 else ' is'} still running or queued.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("studioConfirmQuit")
        box.setInformativeText("Quit and cancel? Nothing half-written is kept.")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        busy = [j for j in self.jobs.jobs if not j.finished and j.kind in ("convert", "compare")]
        if busy and self.confirm_quit and not self._confirm_cancel_on_quit(len(busy)):
            event.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        if self.convert_panel.output_folder():
            self.settings.set_output_folder(self.convert_panel.output_folder())
        self.settings.sync()
        self.jobs.shutdown()
        try:
            self.graph_view.close()   # stops its Netron servers
        except Exception:
            pass
        super().closeEvent(event)


def _default_size() -> QSize:
    """1400x900, or 90% of a smaller screen (offscreen renders keep the full size for screenshots)."""
    size = QSize(1400, 900)
    screen = QGuiApplication.primaryScreen()
    if screen is None or QGuiApplication.platformName() == "offscreen":
        return size
    available = screen.availableGeometry().size()
    return size.boundedTo(QSize(int(available.width() * 0.9), int(available.height() * 0.9)))


def _local_paths(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def _tolerance_text() -> str:
    """The default tolerance of each variant, as the Compare tab shows it (studio.compare is numpy only)."""
    try:
        from studio.compare import DEFAULT_TOLERANCES
    except Exception:
        return ""
    return "; ".join(f"{variant}: {tol.describe()}" for variant, tol in DEFAULT_TOLERANCES.items())

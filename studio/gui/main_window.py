"""The main window: Models sidebar, Graph / Compare / Layers / Matrix / Log tabs, Convert and Jobs panels, menus and
shortcuts.

Layout only. The app's state is `workspace` (studio.workspace, no Qt); what the window does is in its controllers
(studio.gui.controllers: opener, selection, converter, compare, job_events, help, explainer, matrix); its actions and
menus are the table in studio.gui.actions; drops anywhere on it go through studio.gui.drop_filter. Every job runs in a
worker process through the JobQueue (`jobs`), whose signals the controllers handle. One set of Netron panes serves
the Graph tab and, while it is shown, the Layers tab (`_place_graph`).
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QDockWidget, QFrame, QMainWindow, QMessageBox, QPlainTextEdit, QScrollArea,
                               QSplitter, QTabWidget, QWidget)

from studio.gui import actions
from studio.gui.controllers.compare import CompareController
from studio.gui.controllers.convert import ConvertController
from studio.gui.controllers.explain import ExplainController
from studio.gui.controllers.help import HelpController
from studio.gui.controllers.jobs import JobsController
from studio.gui.controllers.matrix import MatrixController
from studio.gui.controllers.opening import OpenController
from studio.gui.controllers.selection import SelectionController
from studio.gui.convert_panel import ConvertPanel
from studio.gui.dialogs import APP_NAME, show_error
from studio.gui.diff_view import DiffView
from studio.gui.drop_filter import DropFilter
from studio.gui.graph_view import create_graph_view
from studio.gui.job_worker import JobQueue, PoolRunners, QueuedJob
from studio.gui.jobs_panel import JobsPanel
from studio.gui.layers_view import LayersView
from studio.gui.matrix_view import MatrixView
from studio.gui.settings import Settings
from studio.gui.sidebar import Sidebar
from studio.gui.summary_view import SummaryView
from studio.workspace import SourceState, Workspace

MAX_LOG_LINES = 20000


class MainWindow(QMainWindow):
    """Lays out the panels and hands them to the controllers; keeps no model in memory."""

    TAB_GRAPH, TAB_COMPARE, TAB_LAYERS, TAB_MATRIX, TAB_LOG = range(5)

    def __init__(self, settings: Settings | None = None, make_runner: Callable[[Any], Any] | None = None):
        """make_runner: how a job's worker is started (default: the warm pool; tests pass a fake; see JobQueue)."""
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)
        self.settings = settings or Settings()
        self.workspace = Workspace()
        workers = self.settings.worker_pool_size()
        self.jobs = JobQueue(self, make_runner=make_runner or PoolRunners(workers), convert_lane_size=workers)
        self.confirm_quit = True                  # ask before closing kills running conversions (tests: off)

        self._build_tabs()
        self._build_docks()
        self.opener, self.selection = OpenController(self), SelectionController(self)
        self.converter, self.compare = ConvertController(self), CompareController(self)
        self.job_events, self.help = JobsController(self), HelpController(self)
        self.explainer, self.matrix = ExplainController(self), MatrixController(self)
        self.actions_by_name = actions.build_actions(self)
        self.tab_actions = [self.tab_graph_action, self.tab_compare_action, self.tab_layers_action,
                            self.tab_matrix_action, self.tab_log_action]
        actions.build_menus(self, self.actions_by_name, [self.models_dock, self.convert_dock, self.jobs_dock])
        self._connect()
        self.statusBar().showMessage("Drop a model anywhere on the window, or press Ctrl+O to open one.")

        self.resize(_default_size())
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self.convert_panel.load(self.settings.targets(), self.settings.variants(), self.settings.output_folder())
        self.opener.rebuild_recent_menu()
        self.update_actions()
        self.drop_filter = DropFilter(self, self.opener.open_dropped, inputs_target=self.diff_view)

    def _connect(self) -> None:
        jobs, events = self.jobs, self.job_events
        jobs.job_added.connect(self.jobs_panel.add_job)
        jobs.job_changed.connect(self.jobs_panel.update_job)
        jobs.job_changed.connect(lambda _job: self.update_actions())
        jobs.job_event.connect(events.on_event)
        jobs.job_finished.connect(events.on_finished)
        jobs.job_finished.connect(self.matrix.on_finished)    # after the fold: the tab reads the workspace
        self.jobs_panel.cancel_requested.connect(events.cancel)
        self.jobs_panel.clear_requested.connect(events.clear_finished)
        self.jobs_panel.job_activated.connect(events.on_activated)
        self.sidebar.source_selected.connect(self.selection.show_source)
        self.sidebar.artifact_selected.connect(self.selection.show_artifact)
        self.sidebar.close_requested.connect(self.opener.close_source)
        self.convert_panel.convert_requested.connect(self.converter.convert)
        self.convert_panel.copy_requested.connect(self.converter.copy_command)
        self.convert_panel.changed.connect(self.update_actions)
        self.diff_view.inputs_changed.connect(self.compare.rerun)
        self.tabs.currentChanged.connect(self._place_graph)
        self.explainer.bind_actions()
        self.matrix.bind_actions()

    # ------------------------------------------------------------ layout
    def _build_tabs(self) -> None:
        self.graph_view = create_graph_view()
        self.summary_view = SummaryView()
        self.diff_view = DiffView()
        self.graph_view.setObjectName("graphView")
        self.summary_view.setObjectName("summaryView")
        self.diff_view.setObjectName("diffView")

        self.graph_split = graph_split = QSplitter(Qt.Orientation.Horizontal)
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
        self.layers_view = LayersView()          # the graph panes move under its table while it is shown
        self.layers_view.setObjectName("layersView")
        self.layers_scroll = layers_scroll = QScrollArea()     # like Compare: scrolls only in a very small window
        layers_scroll.setObjectName("layersScroll")
        layers_scroll.setWidgetResizable(True)
        layers_scroll.setFrameShape(QFrame.Shape.NoFrame)
        layers_scroll.setWidget(self.layers_view)
        self.tabs.addTab(layers_scroll, "La&yers")
        self.matrix_view = MatrixView()
        self.matrix_view.setObjectName("matrixView")
        self.matrix_scroll = matrix_scroll = QScrollArea()     # like Compare: scrolls only in a very small window
        matrix_scroll.setObjectName("matrixScroll")
        matrix_scroll.setWidgetResizable(True)
        matrix_scroll.setFrameShape(QFrame.Shape.NoFrame)
        matrix_scroll.setWidget(self.matrix_view)
        self.tabs.addTab(matrix_scroll, "Ma&trix")
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

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetClosable |
                         QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if not self._docks_sized and self.settings.window_state() is None:
            self._docks_sized = True   # sizes stick only once the window is laid out; saved state wins
            self.resizeDocks([self.models_dock, self.convert_dock], [230, 340], Qt.Orientation.Horizontal)
            self.resizeDocks([self.jobs_dock], [170], Qt.Orientation.Vertical)

    def _place_graph(self, index: int) -> None:
        """One set of Netron panes: in the Graph tab beside the summary, under the table in the Layers tab."""
        if index == self.TAB_LAYERS and self.graph_view.parent() is not self.layers_view.graph_holder:
            self._graph_sizes = self.graph_split.sizes()
            self.layers_view.put_graph(self.graph_view)
            self.graph_view.set_legends_visible(False)      # the Layers tab shows the legend above its table
        elif index == self.TAB_GRAPH and self.graph_view.parent() is not self.graph_split:
            self.graph_split.insertWidget(0, self.graph_view)
            self.graph_split.setSizes(getattr(self, "_graph_sizes", [560, 340]))
            self.graph_view.set_legends_visible(True)

    def show_tab(self, index: int) -> None:
        self.tabs.setCurrentIndex(index)
        widget = self.tabs.currentWidget()
        if widget is not None:
            widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_panel(self, name: str) -> None:
        dock, widget = {"models": (self.models_dock, self.sidebar),
                        "convert": (self.convert_dock, self.convert_panel.target_boxes["onnx"]),
                        "jobs": (self.jobs_dock, self.jobs_panel.tree)}[name]
        dock.show()
        dock.raise_()
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def update_actions(self) -> None:
        actions.update_actions(self, self.actions_by_name)

    def show_error(self, message: str, details: str | None = None, title: str = "Error",
                   informative: str | None = None):
        """Tests may replace this; by default a real, non-blocking QMessageBox."""
        return show_error(self, message, details, title, informative)

    # ------------------------------------------------------------ what scripts and tests drive
    @property
    def sources(self) -> dict[str, SourceState]:
        return self.workspace.sources

    @property
    def versions(self) -> dict[str, str] | None:
        return self.help.versions

    def current_state(self) -> SourceState | None:
        return self.selection.current_state()

    def open_paths(self, paths: list[str]) -> list[SourceState]:
        return self.opener.open_paths(paths)

    def convert(self) -> QueuedJob | None:
        return self.converter.convert()

    def copy_command(self) -> str:
        return self.converter.copy_command()

    def comparisons(self, key: str | None = None) -> list[dict]:
        return self.compare.comparisons(key)

    def show_about(self):
        return self.help.show_about()

    def clear_finished_jobs(self) -> None:
        self.job_events.clear_finished()

    # ------------------------------------------------------------ closing
    def _confirm_cancel_on_quit(self, count: int) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, f"Quit — {APP_NAME}",
                          f"{count} conversion job{'s are' if count > 1 else ' is'} still running or queued.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("studioConfirmQuit")
        box.setInformativeText("Quit and cancel? Nothing half-written is kept.")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        busy = [j for j in self.jobs.jobs if not j.finished and j.kind in ("convert", "compare", "explain")]
        if busy and self.confirm_quit and not self._confirm_cancel_on_quit(len(busy)):
            event.ignore()
            return
        self.settings.save_window(self.saveGeometry(), self.saveState())
        if self.convert_panel.output_folder():
            self.settings.set_output_folder(self.convert_panel.output_folder())
        self.settings.sync()
        self.jobs.shutdown()
        self.workspace.close()
        try:
            self.graph_view.shutdown()   # stops its Netron servers
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

"""The Models sidebar: each opened source, with the artifacts converted from it as children.

An artifact shows how its comparison with the source went: a green tick or a red cross (drawn, with PASS/FAIL
and the reason in its tooltip and accessible text), once `set_verdict` has it — before or after the artifact
itself is listed."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QMenu, QStyle, QTreeWidget, QTreeWidgetItem

from studio.artifacts import human_bytes
from studio.gui.plots import verdict_icon

ROLE_KEY = Qt.ItemDataRole.UserRole          # source key on every item
ROLE_ARTIFACT = Qt.ItemDataRole.UserRole + 1  # artifact dict on artifact items
ROLE_VERDICT = Qt.ItemDataRole.UserRole + 2   # True (PASS) / False (FAIL) on compared artifact items
ROLE_RUN = Qt.ItemDataRole.UserRole + 3       # the output folder's name of the conversion that made the artifact


def human_size(n: int | None) -> str:
    return human_bytes(n) if n else ""


def artifact_label(artifact: dict) -> str:
    kind, variant = artifact.get("kind", "?"), artifact.get("variant", "")
    label = {"onnx": "ONNX", "savedmodel": "SavedModel", "tflite": "TFLite", "tfjs": "TF.js"}.get(kind, kind)
    if kind in ("tflite", "tfjs") and variant:
        label += " " + variant.replace("dynamic_int8", "dynamic-range int8")
    return label


def _folder_of(artifact: dict) -> str:
    """The output folder an artifact was written into (its files and folders sit at its top level)."""
    return str(Path(artifact.get("path", "")).parent)


def _failure_reason(comparison: dict) -> str:
    """Why a comparison failed, in one line: its error, or its first failing output's reason."""
    if comparison.get("error"):
        return str(comparison["error"])
    for output in comparison.get("outputs") or []:
        if not output.get("passed"):
            return f"{output.get('name')}: {output.get('reason') or 'outside the tolerance'}"
    return "outside the tolerance"


class Sidebar(QTreeWidget):
    """Sources at the top level; selecting one shows its graph, selecting an artifact shows both side by side."""

    source_selected = Signal(str)            # source key
    artifact_selected = Signal(str, dict)    # source key, artifact
    close_requested = Signal(str)            # source key

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelsTree")
        self.setHeaderLabels(["Model", "Size"])
        self.setColumnCount(2)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, self.header().ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, self.header().ResizeMode.ResizeToContents)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformRowHeights(True)
        self.setIndentation(14)   # artifacts sit two levels deep once a source has several runs
        self.setAccessibleName("Opened models and their converted artifacts")
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.currentItemChanged.connect(self._on_current)
        self._sources: dict[str, QTreeWidgetItem] = {}
        self._verdicts: dict[str, tuple[bool, str]] = {}    # artifact path -> (passed, why it failed)

    # ------------------------------------------------------------ content
    def add_source(self, key: str, title: str, tooltip: str, size: int | None = None) -> QTreeWidgetItem:
        item = self._sources.get(key)
        if item is None:
            item = QTreeWidgetItem(self, [title, human_size(size)])
            item.setData(0, ROLE_KEY, key)
            item.setIcon(0, self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon))
            self._sources[key] = item
        item.setToolTip(0, tooltip)
        return item

    def set_source_size(self, key: str, size: int | None) -> None:
        if key in self._sources:
            self._sources[key].setText(1, human_size(size))

    def set_source_problem(self, key: str, problem: str | None) -> None:
        item = self._sources.get(key)
        if item is None:
            return
        icon = QStyle.StandardPixmap.SP_MessageBoxWarning if problem else QStyle.StandardPixmap.SP_FileIcon
        item.setIcon(0, self.style().standardIcon(icon))
        base = item.toolTip(0).split("\n\n")[0]
        item.setToolTip(0, f"{base}\n\n{problem}" if problem else base)

    def add_artifacts(self, key: str, artifacts: list[dict], run: str = "") -> None:
        """`run`: what tells the conversion that made them from the source's others (its output folder). While a
        source has artifacts of one run they are its children; from a second run on (another conversion, a
        variant matrix) each run is a node of its own with its artifacts under it."""
        parent = self._sources.get(key)
        if parent is None:
            return
        existing = {artifact.get("path") for artifact in self.artifacts_of(key)}
        fresh = [artifact for artifact in artifacts if artifact.get("path") not in existing]
        flat = [parent.child(i) for i in range(parent.childCount()) if parent.child(i).data(0, ROLE_ARTIFACT)]
        if fresh and flat and any(item.data(0, ROLE_RUN) != run for item in flat):
            current = self.currentItem()
            for item in flat:
                parent.removeChild(item)
                self._run_node(parent, key, item.data(0, ROLE_RUN), _folder_of(item.data(0, ROLE_ARTIFACT))).addChild(item)
            if current in flat:
                self.setCurrentItem(current)   # it moved under its run's node: still the one selected
        grouped = parent.childCount() > 0 and not parent.child(0).data(0, ROLE_ARTIFACT)
        home = self._run_node(parent, key, run, _folder_of(fresh[0] if fresh else {})) if grouped else parent
        for artifact in fresh:
            child = QTreeWidgetItem(home, [artifact_label(artifact), human_size(artifact.get("bytes"))])
            child.setData(0, ROLE_KEY, key)
            child.setData(0, ROLE_ARTIFACT, dict(artifact))
            child.setData(0, ROLE_RUN, run)
            self._show_verdict(child)       # icon, tooltip and accessible text
        parent.setExpanded(True)
        for i in range(parent.childCount()):
            parent.child(i).setExpanded(True)

    def _run_node(self, parent: QTreeWidgetItem, key: str, run: str, folder: str) -> QTreeWidgetItem:
        """The node of one run's artifacts under its source (made the first time)."""
        for i in range(parent.childCount()):
            child = parent.child(i)
            if not child.data(0, ROLE_ARTIFACT) and child.data(0, ROLE_RUN) == run:
                return child
        node = QTreeWidgetItem(parent, [run or "converted", ""])
        node.setData(0, ROLE_KEY, key)
        node.setData(0, ROLE_RUN, run)
        node.setIcon(0, self.style().standardIcon(QStyle.StandardPixmap.SP_DirIcon))
        node.setToolTip(0, f"{folder}\n\nthe artifacts of one conversion")
        return node

    @staticmethod
    def _artifact_items(parent: QTreeWidgetItem) -> list[QTreeWidgetItem]:
        """A source's artifact rows, whether they are its children or under its runs' nodes."""
        items = []
        for i in range(parent.childCount()):
            child = parent.child(i)
            if child.data(0, ROLE_ARTIFACT):
                items.append(child)
            else:
                items += [child.child(j) for j in range(child.childCount())]
        return items

    def artifact_item(self, key: str, path: str) -> QTreeWidgetItem | None:
        parent = self._sources.get(key)
        for item in self._artifact_items(parent) if parent is not None else []:
            if item.data(0, ROLE_ARTIFACT).get("path") == str(path):
                return item
        return None

    def set_verdict(self, key: str, path: str, comparison: dict | None) -> None:
        """Mark the artifact at `path` with its comparison's verdict (None: not compared, e.g. being rerun)."""
        if comparison is None:
            self._verdicts.pop(str(path), None)
        else:
            self._verdicts[str(path)] = (bool(comparison.get("passed")), _failure_reason(comparison))
        parent = self._sources.get(key)
        for item in self._artifact_items(parent) if parent is not None else []:
            if item.data(0, ROLE_ARTIFACT).get("path") == str(path):
                self._show_verdict(item)

    def verdict_of(self, path: str) -> bool | None:
        """True (PASS), False (FAIL) or None (not compared) for the artifact at `path`."""
        verdict = self._verdicts.get(str(path))
        return None if verdict is None else verdict[0]

    def _show_verdict(self, item: QTreeWidgetItem) -> None:
        artifact = item.data(0, ROLE_ARTIFACT) or {}
        path = str(artifact.get("path", ""))
        verdict = self._verdicts.get(path)
        label = artifact_label(artifact)
        if verdict is None:
            item.setData(0, ROLE_VERDICT, None)
            item.setIcon(0, self.style().standardIcon(
                QStyle.StandardPixmap.SP_DirIcon if Path(path).suffix == "" else QStyle.StandardPixmap.SP_FileIcon))
            item.setToolTip(0, f"{path}\n\nnot compared yet")
            item.setData(0, Qt.ItemDataRole.AccessibleTextRole, label)
            return
        passed, reason = verdict
        word = "PASS" if passed else "FAIL"
        item.setData(0, ROLE_VERDICT, passed)
        item.setIcon(0, verdict_icon(self, passed))
        item.setToolTip(0, f"{path}\n\n{word}: " + ("its outputs match the source's" if passed else reason))
        item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{label}, {word}")

    def artifacts_of(self, key: str) -> list[dict]:
        parent = self._sources.get(key)
        if parent is None:
            return []
        return [item.data(0, ROLE_ARTIFACT) for item in self._artifact_items(parent)]

    def remove_source(self, key: str) -> None:
        item = self._sources.pop(key, None)
        if item is not None:
            for child in self._artifact_items(item):
                self._verdicts.pop(str(child.data(0, ROLE_ARTIFACT).get("path")), None)
            self.takeTopLevelItem(self.indexOfTopLevelItem(item))

    def select_source(self, key: str) -> None:
        item = self._sources.get(key)
        if item is not None:
            self.setCurrentItem(item)

    def source_keys(self) -> list[str]:
        return list(self._sources)

    def current_source_key(self) -> str | None:
        item = self.currentItem()
        return item.data(0, ROLE_KEY) if item else None

    def current_artifact(self) -> dict | None:
        item = self.currentItem()
        return item.data(0, ROLE_ARTIFACT) if item else None

    # ------------------------------------------------------------ events
    def _on_current(self, item: QTreeWidgetItem | None, _previous) -> None:
        if item is None:
            return
        key = item.data(0, ROLE_KEY)
        artifact = item.data(0, ROLE_ARTIFACT)
        if artifact:
            self.artifact_selected.emit(key, artifact)
        else:
            self.source_selected.emit(key)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        item = self.currentItem()
        if item is not None and event.matches(QKeySequence.StandardKey.Delete) and item.parent() is None:
            self.close_requested.emit(item.data(0, ROLE_KEY))
            return
        super().keyPressEvent(event)

    def _menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        path = (item.data(0, ROLE_ARTIFACT) or {}).get("path") or item.toolTip(0).split("\n")[0]
        menu.addAction("Copy Path", lambda: self._copy(path))
        if item.parent() is None:
            menu.addAction("Close", lambda: self.close_requested.emit(item.data(0, ROLE_KEY)))
        menu.exec(self.viewport().mapToGlobal(pos))

    @staticmethod
    def _copy(text: str) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(text)

"""The studio's dialogs: errors (one-line cause, details on demand), pickle consent, About."""

from __future__ import annotations

import platform

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QMessageBox, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from studio import __version__

APP_NAME = "Model Conversion Studio"
MAX_CAUSE_CHARS = 600
# What About lists first, in this order: the stack a conversion depends on.
ABOUT_PACKAGES = ("torch", "tensorflow", "onnx", "onnxruntime", "onnx2tf", "tf2onnx")


def one_line_cause(message: str) -> str:
    """The cause a dialog shows: one line, never a traceback (those go in the details)."""
    lines = [ln.strip() for ln in str(message).strip().splitlines() if ln.strip()]
    if not lines:
        return "Something went wrong."
    if lines[0].startswith("Traceback"):
        text = lines[-1]
    else:
        text = " ".join(lines)
    return text if len(text) <= MAX_CAUSE_CHARS else text[: MAX_CAUSE_CHARS - 3] + "..."


def show_error(parent: QWidget | None, message: str, details: str | None = None, title: str = "Error",
               informative: str | None = None) -> QMessageBox:
    """A window-modal error box that does not block the event loop (jobs keep streaming behind it)."""
    box = QMessageBox(QMessageBox.Icon.Critical, f"{title} — {APP_NAME}", one_line_cause(message),
                      QMessageBox.StandardButton.Close, parent)
    box.setObjectName("studioErrorBox")
    box.setTextFormat(Qt.TextFormat.PlainText)
    if informative:
        box.setInformativeText(informative)
    if details and details.strip() and details.strip() != message.strip():
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


def ask_pickle_consent(parent: QWidget | None, path: str) -> bool:
    """torch.save(model) files run code when loaded: the user must say yes, knowingly, every time."""
    box = QMessageBox(QMessageBox.Icon.Warning, f"Load a pickled model? — {APP_NAME}",
                      f"{path} is a pickled PyTorch module (torch.save of a whole model).",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setObjectName("studioPickleConsent")
    box.setInformativeText("Loading a pickle can run any code it contains, with your permissions. Open it only "
                           "if you trust where it came from. Files saved with torch.export.save or torch.jit.save "
                           "are safe to open.\n\nLoad it anyway?")
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes


class AboutDialog(QDialog):
    """The app version at once; the conversion stack's versions as soon as a worker has read them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("studioAbout")
        self.setWindowTitle(f"About {APP_NAME}")
        layout = QVBoxLayout(self)
        title = QLabel(f"<h2>{APP_NAME} {__version__}</h2>"
                       "<p>Convert PyTorch and TensorFlow models through ONNX to SavedModel and TFLite, and prove "
                       "each result with a side-by-side output diff.</p>")
        title.setWordWrap(True)
        title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(title)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Package", "Version"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self._rows: dict[str, QTreeWidgetItem] = {}
        for name in ABOUT_PACKAGES:
            self._set_row(name, "reading…")
        self._set_row("Python", platform.python_version())
        self._set_row("Qt", qVersion())
        layout.addWidget(self.tree)
        self.status = QLabel("Reading versions from a worker process…")
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        self.resize(440, 420)

    def _set_row(self, name: str, version: str) -> None:
        item = self._rows.get(name)
        if item is None:
            item = QTreeWidgetItem(self.tree, [name, version])
            self._rows[name] = item
        item.setText(1, version)

    def set_versions(self, versions: dict[str, str]) -> None:
        """The conversion stack first, then everything else the worker reported, then this process's Python/Qt."""
        local = {name: self._rows[name].text(1) for name in ("Python", "Qt")}
        self.tree.clear()
        self._rows = {}
        for name in ABOUT_PACKAGES:
            self._set_row(name, versions.get(name, "not installed"))
        for name, version in versions.items():
            if name not in ABOUT_PACKAGES:
                self._set_row(name, version)
        for name, version in local.items():
            self._set_row(name, version)
        self.tree.resizeColumnToContents(0)
        self.status.setText("Versions as a worker process sees them.")

    def set_failed(self, cause: str) -> None:
        for name in ABOUT_PACKAGES:
            if self._rows[name].text(1) == "reading…":
                self._set_row(name, "unknown")
        self.status.setText(f"Could not read versions: {one_line_cause(cause)}")

    def version_of(self, name: str) -> str | None:
        item = self._rows.get(name)
        return item.text(1) if item else None

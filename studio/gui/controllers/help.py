"""Help: About (the package versions, read once by a worker: the GUI never imports the frameworks) and the
keyboard shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from studio.gui.dialogs import APP_NAME, AboutDialog
from studio.jobs.protocol import VersionsRequest


class HelpController:
    def __init__(self, window):
        self.window = window
        self.versions: dict[str, str] | None = None
        self.about: AboutDialog | None = None

    def show_about(self) -> AboutDialog:
        w = self.window
        if self.about is not None and self.about.isVisible():
            self.about.raise_()
            self.about.activateWindow()
            return self.about
        self.about = AboutDialog(w)
        self.about.finished.connect(self._about_closed)
        if self.versions is not None:
            self.about.set_versions(self.versions)
        elif not any(j.kind == "versions" and not j.finished for j in w.jobs.jobs):
            w.jobs.submit(VersionsRequest(), "read package versions")
        self.about.open()
        return self.about

    def set_versions(self, versions: dict[str, str]) -> None:
        self.versions = dict(versions)
        if self.about is not None:
            self.about.set_versions(self.versions)

    def versions_failed(self, cause: str) -> None:
        if self.about is not None:
            self.about.set_failed(cause)

    def _about_closed(self) -> None:
        dialog, self.about = self.about, None
        if dialog is not None:
            dialog.deleteLater()

    def show_shortcuts(self) -> None:
        rows = []
        for action in self.window.actions():
            keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts())
            if keys:
                rows.append(f"<tr><td>{action.text().replace('&', '')}</td><td><b>{keys}</b></td></tr>")
        box = QMessageBox(QMessageBox.Icon.NoIcon, f"Keyboard Shortcuts — {APP_NAME}",
                          "<table cellspacing='6'>" + "".join(rows) + "</table>"
                          "<p>Drop models anywhere on the window. In the Models list, Delete closes a model; "
                          "in the Jobs list, Delete cancels the selected job. Cancelling a job that has run for "
                          "a while asks first.</p>", QMessageBox.StandardButton.Close, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

"""The Jobs panel: one row per job with its stage, a progress bar, the elapsed time and a Cancel button; under the
rows, "Cancel all" (every queued and running job, as Convert > Cancel All Jobs) and "Clear finished".

Readable in light and dark palettes: the bar draws its own percentage, in a colour that contrasts with what is
under each part of the text (the filled part or the empty groove); a failed or cancelled job's bar keeps full
contrast, its fill red or grey instead of a disabled widget's washed-out look; rows of failed jobs carry a red
cross and a tint, cancelled ones are in italics.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QKeySequence, QPainter, QPalette, QPen
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QStyle, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from studio.gui.job_worker import QueuedJob
from studio.gui.plots import verdict_color, verdict_icon
from studio.jobs.record import CANCELLED, DONE, FAILED, QUEUED, RUNNING

COL_JOB, COL_STATUS, COL_PROGRESS, COL_ELAPSED, COL_CANCEL = range(5)
FAILED_TINT = QColor(220, 50, 50, 70)      # translucent: readable on light and dark palettes
WARN_TINT = QColor(230, 140, 0, 70)
ROLE_JOB = Qt.ItemDataRole.UserRole


def readable_on(background: QColor) -> QColor:
    """Black or white, whichever contrasts more with `background` (WCAG relative luminance)."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    luminance = 0.2126 * channel(background.redF()) + 0.7152 * channel(background.greenF()) + \
        0.0722 * channel(background.blueF())
    return QColor("black") if (luminance + 0.05) / 0.05 >= 1.05 / (luminance + 0.05) else QColor("white")


class JobProgressBar(QProgressBar):
    """A progress bar that paints its own fill and percentage: the text over the fill and over the empty groove
    each get a colour that reads on it (the platform style may draw white text on the white groove). `tone`:
    "normal", "failed" (red fill) or "cancelled" (grey fill); a busy bar (range 0, 0) is left to the style."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tone = "normal"
        self.setRange(0, 1000)
        self.setFormat("%p%")

    def set_tone(self, tone: str) -> None:
        if tone != self.tone:
            self.tone = tone
            self.update()

    def fill_color(self) -> QColor:
        if self.tone == "failed":
            return verdict_color(self, False)
        if self.tone == "cancelled":
            return self.palette().color(QPalette.ColorRole.Mid)
        return self.palette().color(QPalette.ColorRole.Highlight)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self.maximum() == self.minimum():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(0.5, 1.5, -0.5, -1.5)
        groove = self.palette().color(QPalette.ColorRole.Base)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1))
        painter.setBrush(groove)
        painter.drawRoundedRect(frame, 3, 3)
        span = self.maximum() - self.minimum()
        fraction = (self.value() - self.minimum()) / span if span else 0.0
        filled = QRectF(frame.left(), frame.top(), frame.width() * max(0.0, min(1.0, fraction)), frame.height())
        fill = self.fill_color()
        if filled.width() > 0:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(fill)
            painter.drawRoundedRect(filled, 3, 3)
        text = self.text()
        if text:
            painter.setClipRect(filled)
            painter.setPen(readable_on(fill))
            painter.drawText(frame, Qt.AlignmentFlag.AlignCenter, text)
            painter.setClipRect(QRectF(filled.right(), frame.top(), frame.right() - filled.right() + 1,
                                       frame.height()))
            painter.setPen(self.palette().color(QPalette.ColorRole.Text))
            painter.drawText(frame, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


def elapsed_text(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class JobsPanel(QWidget):
    """Draws the JobQueue; asks it to cancel. Delete cancels the selected job, Esc the current one (window)."""

    cancel_requested = Signal(object)       # QueuedJob
    cancel_all_requested = Signal()         # every queued and running job (the window's Cancel All Jobs)
    clear_requested = Signal()
    job_activated = Signal(object)          # QueuedJob: double-click / Enter shows it (its log, its source)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("jobsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setObjectName("jobsTree")
        self.tree.setHeaderLabels(["Job", "Stage", "Progress", "Elapsed", ""])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setAccessibleName("Jobs")
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_JOB, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(COL_STATUS, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(COL_ELAPSED, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_CANCEL, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setColumnWidth(COL_JOB, 240)
        self.tree.setColumnWidth(COL_PROGRESS, 140)
        self.tree.itemActivated.connect(lambda item, _col: self.job_activated.emit(item.data(0, ROLE_JOB)))
        self.tree.installEventFilter(self)
        layout.addWidget(self.tree)

        bar = QHBoxLayout()
        self.summary = QLabel("No jobs yet")
        bar.addWidget(self.summary, 1)
        self.cancel_all_button = QPushButton("Cancel &all")
        self.cancel_all_button.setObjectName("cancelAllJobs")
        self.cancel_all_button.setToolTip("Cancel every queued and running job (Ctrl+Shift+.): their workers are "
                                          "killed, nothing half-written is kept. Jobs that have run for a while "
                                          "ask first.")
        self.cancel_all_button.setEnabled(False)            # until some job is queued or running
        self.cancel_all_button.clicked.connect(self.cancel_all_requested)
        bar.addWidget(self.cancel_all_button)
        self.clear_button = QPushButton("C&lear finished")
        self.clear_button.setToolTip("Remove the finished jobs from this list (Ctrl+Shift+L)")
        self.clear_button.clicked.connect(self.clear_requested)
        bar.addWidget(self.clear_button)
        layout.addLayout(bar)

        self._items: dict[int, QTreeWidgetItem] = {}
        self._jobs: dict[int, QueuedJob] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._tick)

    # ------------------------------------------------------------ rows
    def add_job(self, job: QueuedJob) -> None:
        item = QTreeWidgetItem([job.title, "queued", "", ""])
        item.setData(0, ROLE_JOB, job)
        item.setToolTip(0, job.title)
        self.tree.addTopLevelItem(item)
        bar = JobProgressBar()
        self.tree.setItemWidget(item, COL_PROGRESS, bar)
        button = QPushButton("Cancel")
        button.setToolTip("Cancel this job (kills its worker; nothing half-written is kept)")
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # keyboard: select the row and press Delete
        button.clicked.connect(lambda: self.cancel_requested.emit(job))
        self.tree.setItemWidget(item, COL_CANCEL, button)
        self._items[job.id] = item
        self._jobs[job.id] = job
        self.update_job(job)
        self.tree.scrollToItem(item)

    def update_job(self, job: QueuedJob) -> None:
        item = self._items.get(job.id)
        if item is None:
            return
        status = job.status_text()
        item.setText(COL_STATUS, status)
        item.setToolTip(COL_STATUS, status)
        item.setText(COL_ELAPSED, "" if job.state == QUEUED else elapsed_text(job.elapsed))
        bar = self.tree.itemWidget(item, COL_PROGRESS)
        if isinstance(bar, QProgressBar):
            if job.state == RUNNING and job.fraction <= 0:
                bar.setRange(0, 0)                 # busy until the first progress event
            else:
                bar.setRange(0, 1000)
                bar.setValue(int(1000 * (1.0 if job.state == DONE else job.fraction)))
            if isinstance(bar, JobProgressBar):
                bar.set_tone("failed" if job.state == FAILED else "cancelled" if job.state == CANCELLED else "normal")
        button = self.tree.itemWidget(item, COL_CANCEL)
        if job.finished and isinstance(button, QPushButton):
            button.hide()                                   # gone now, not when its deferred delete runs
            self.tree.removeItemWidget(item, COL_CANCEL)   # a finished job has nothing to cancel
        tint = FAILED_TINT if job.state == FAILED else \
            WARN_TINT if (job.state == DONE and job.failed_comparisons) else None
        for col in range(self.tree.columnCount()):
            item.setBackground(col, QBrush(tint) if tint else QBrush())
        item.setIcon(COL_JOB, self._state_icon(job))
        if job.state == CANCELLED:
            font = item.font(COL_STATUS)
            font.setItalic(True)
            item.setFont(COL_STATUS, font)
        self._update_summary()
        if any(j.state == RUNNING for j in self._jobs.values()):
            if not self._timer.isActive():
                self._timer.start()
        else:
            self._timer.stop()

    def remove_jobs(self, jobs: list[QueuedJob]) -> None:
        for job in jobs:
            item = self._items.pop(job.id, None)
            self._jobs.pop(job.id, None)
            if item is not None:
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
        self._update_summary()

    def row_of(self, job: QueuedJob) -> QTreeWidgetItem | None:
        return self._items.get(job.id)

    def selected_job(self) -> QueuedJob | None:
        item = self.tree.currentItem()
        return item.data(0, ROLE_JOB) if item else None

    # ------------------------------------------------------------ internals
    def _state_icon(self, job: QueuedJob) -> QIcon:
        """A red cross for a failed job, a warning for one whose comparisons failed, a tick when all went well."""
        if job.state == FAILED:
            return verdict_icon(self.tree, False)
        if job.state == DONE:
            if job.failed_comparisons:
                return self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            return verdict_icon(self.tree, True)
        return QIcon()

    def _tick(self) -> None:
        for job in self._jobs.values():
            if job.state == RUNNING:
                item = self._items[job.id]
                item.setText(COL_ELAPSED, elapsed_text(job.elapsed))

    def _update_summary(self) -> None:
        jobs = list(self._jobs.values())
        self.cancel_all_button.setEnabled(any(not job.finished for job in jobs))
        if not jobs:
            self.summary.setText("No jobs yet")
            return
        counts = {state: sum(1 for j in jobs if j.state == state) for state in (RUNNING, QUEUED, FAILED)}
        parts = [f"{counts[RUNNING]} running"] if counts[RUNNING] else []
        if counts[QUEUED]:
            parts.append(f"{counts[QUEUED]} queued")
        if counts[FAILED]:
            parts.append(f"{counts[FAILED]} failed")
        self.summary.setText(", ".join(parts) or "All jobs finished")

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        if obj is self.tree and event.type() == event.Type.KeyPress and event.matches(QKeySequence.StandardKey.Delete):
            job = self.selected_job()
            if job is not None and not job.finished:
                self.cancel_requested.emit(job)
                return True
        return super().eventFilter(obj, event)

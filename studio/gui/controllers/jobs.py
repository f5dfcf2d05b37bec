"""Every job's events as they arrive: the Log tab, the status bar, a failed job's dialog; and cancelling.

What a job amounts to is folded by its JobRecord (the QueuedJob itself); what it changes in a source is folded by
the workspace when it finishes. Worker output that is known noise (studio.jobs.noise) is left out of the Log tab
and of the error dialog's "last output": it says nothing to the user and would crowd out the real lines.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from studio.gui.dialogs import APP_NAME
from studio.gui.job_worker import QueuedJob
from studio.jobs.events import Compared, Failed, Inspected, Log, StageFinished, StageStarted, VersionsRead
from studio.jobs.noise import is_noise
from studio.jobs.record import CANCELLED, DONE, FAILED, RUNNING
from studio.workspace import ERROR

LOG_TAIL = 60                      # worker output lines kept per job for its error dialog's details
CONFIRM_CANCEL_AFTER_S = 5.0       # a job that has run longer is cancelled only once the user confirms
FAILED_TITLES = {"inspect": "Could not read the model", "convert": "Conversion failed",
                 "compare": "Comparison failed", "explain": "Could not explain the layers",
                 "versions": "Could not read versions"}


class JobsController:
    def __init__(self, window):
        self.window = window
        self.output: dict[int, deque] = {}          # job number -> its last worker output lines
        self.confirm_after = CONFIRM_CANCEL_AFTER_S
        # the Jobs panel's "Cancel all" is the Convert menu's Cancel All Jobs (looked up when clicked: the window
        # builds its actions after its controllers), so it asks the same question before killing long jobs
        window.jobs_panel.cancel_all_requested.connect(lambda: window.cancel_all_action.trigger())

    # ------------------------------------------------------------ the Log tab
    def log(self, job: QueuedJob, text: str) -> None:
        for line in str(text).splitlines() or [""]:
            self.window.log_view.appendPlainText(f"[{job.id}] {line}")

    def on_event(self, job: QueuedJob, event) -> None:
        """Show an event as it arrives."""
        w = self.window
        if isinstance(event, Log):
            if event.level == "output":
                if is_noise(event.message):
                    return
                self.output.setdefault(job.id, deque(maxlen=LOG_TAIL)).append(event.message)
            self.log(job, event.message)
            if event.level == "warning":   # e.g. the job may not fit in free memory: say so where it shows
                w.statusBar().showMessage(f"⚠ {event.message}", 30000)
        elif isinstance(event, StageStarted) and job.kind in ("convert", "compare"):
            self.log(job, f"▶ {event.name}")
        elif isinstance(event, StageFinished) and job.kind in ("convert", "compare"):
            mark = "✓" if event.ok else "✗"
            self.log(job, f"{mark} {event.name} ({event.seconds:.1f} s)" + ("" if event.ok else f": {event.error}"))
        elif isinstance(event, Compared):
            w.compare.on_comparison(job, event.comparison)
        elif isinstance(event, Inspected):
            self._on_inspected(job, event.summary)
        elif isinstance(event, VersionsRead):
            w.help.set_versions(event.versions)
        elif isinstance(event, Failed) and not event.cancelled:
            self.log(job, f"✗ failed: {event.error}")

    def _on_inspected(self, job: QueuedJob, info: dict) -> None:
        w = self.window
        state = w.workspace.set_summary(job.source_key, info)
        if state is None:
            return
        w.sidebar.set_source_size(state.key, info.get("bytes"))
        if w.selection.shows(state):
            w.summary_view.set_summary(info)
            w.selection.sync_convert_panel(state)

    # ------------------------------------------------------------ finished jobs
    def on_finished(self, job: QueuedJob) -> None:
        w = self.window
        state = w.workspace.fold_finished(job.source_key, job)
        if state is not None and job.kind == "inspect" and state.inspect_state == ERROR:
            w.sidebar.set_source_problem(state.key, job.error)
            if w.selection.shows(state):
                w.selection.sync_convert_panel(state)
        if state is not None and job.kind == "convert" and job.state == DONE:
            out_dir = (job.outcome or {}).get("out_dir", "")
            w.sidebar.add_artifacts(state.key, job.artifacts, run=run_label(out_dir, state.source.stem))
            w.statusBar().showMessage(f"{job.title}: {job.status_text()} — {out_dir}", 10000)
        if job.kind == "versions" and job.state != DONE:
            w.help.versions_failed(job.error or "cancelled")
        if job.state == CANCELLED:
            self.log(job, "cancelled")
            w.statusBar().showMessage(f"Cancelled: {job.title}", 5000)
        elif job.state == FAILED and not w.converter.waits_for(job):   # a dropped model's: told with its drop
            self.report_failed(job)
        w.explainer.on_finished(job)      # after the fold: the Layers tab reads the workspace's reports
        w.converter.on_finished(job)      # after the fold: a dropped model that is read now is queued or skipped
        w.update_actions()

    def report_failed(self, job: QueuedJob) -> None:
        details = [job.details.rstrip()] if job.details else []
        tail = self.output.get(job.id)
        if tail:
            details.append("Last output of the worker:\n" + "\n".join(tail))
        self.window.show_error(job.error or "the job failed", "\n\n".join(details) or None,
                               title=FAILED_TITLES.get(job.kind, "Job failed"), informative=f"Job: {job.title}")

    def on_activated(self, job: QueuedJob) -> None:
        """A job double-clicked in the Jobs panel: its source, and its results (or its log)."""
        w = self.window
        if w.workspace.get(job.source_key) is not None:
            w.sidebar.select_source(job.source_key)
        w.show_tab(w.TAB_COMPARE if job.comparisons else w.TAB_LOG)

    def clear_finished(self) -> None:
        gone = self.window.jobs.clear_finished()
        self.window.jobs_panel.remove_jobs(gone)
        for job in gone:
            self.output.pop(job.id, None)

    # ------------------------------------------------------------ cancelling
    def cancel_current(self) -> None:
        """Esc: the running conversion (else the next queued job)."""
        job = self.window.jobs.current()
        if job is not None:
            self.cancel(job)

    def choose_workers(self) -> None:
        """How many conversions run at once, each in a warm worker: kept in the settings, applied at once."""
        from PySide6.QtWidgets import QInputDialog

        from studio.jobs.pool import WORKER_ESTIMATE, default_pool_size

        w = self.window
        current = w.jobs.capacity["convert"]
        size, ok = QInputDialog.getInt(
            w, "Parallel Conversions", f"Conversions that run at once, each in its own warm worker\n(about "
            f"{WORKER_ESTIMATE / 1e9:.0f} GB of memory each; this machine's default: {default_pool_size()}):",
            current, 1, 16)
        if ok and size != current:
            w.settings.set_worker_pool_size(size)
            w.jobs.set_convert_workers(size)
            w.statusBar().showMessage(f"Up to {size} conversions run at once", 5000)

    def cancel_all(self) -> None:
        jobs = [job for job in self.window.jobs.jobs if not job.finished]
        if jobs and self._confirmed(jobs):
            self.window.jobs.cancel_all()

    def cancel(self, job: QueuedJob) -> bool:
        """Cancel a job the user asked to; one that has run for a while only once they confirm. True if cancelled."""
        if job.finished or not self._confirmed([job]):
            return False
        self.window.jobs.cancel(job)
        self.window.statusBar().showMessage(f"Cancelling {job.title}…", 4000)
        return True

    def _confirmed(self, jobs: list[QueuedJob]) -> bool:
        """Quick and queued jobs go at once; a question (default: keep running) guards minutes of work."""
        long = [job for job in jobs if job.state == RUNNING and job.elapsed > self.confirm_after]
        return not long or self.ask_cancel(long)

    def ask_cancel(self, jobs: list[QueuedJob]) -> bool:
        job = jobs[0]
        box = QMessageBox(QMessageBox.Icon.Question, f"Cancel — {APP_NAME}",
                          f"Cancel “{job.title}”?" if len(jobs) == 1 else f"Cancel {len(jobs)} running jobs?",
                          parent=self.window)
        box.setObjectName("studioConfirmCancel")
        minutes, seconds = divmod(int(job.elapsed), 60)
        ran = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        box.setInformativeText(f"It has been running for {ran}; its work so far is lost "
                               "(nothing half-written is kept)." if len(jobs) == 1 else
                               "Their work so far is lost (nothing half-written is kept).")
        # Standard buttons, renamed: the answer is exec()'s value (a custom button's wrapper may not outlive exec).
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Cancel Job" if len(jobs) == 1 else "Cancel Jobs")
        box.button(QMessageBox.StandardButton.No).setText("Keep Running")
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setEscapeButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes


def run_label(out_dir: str, stem: str) -> str:
    """What tells a conversion's output folder from the source's other runs: tiny_cnn_matrix -> "matrix",
    tiny_cnn_converted-2 -> "converted-2" (the model's own name is already on the row above)."""
    name = Path(out_dir).name if out_dir else ""
    short = name[len(stem):].lstrip("_-. ") if stem and name.startswith(stem) else name
    return short or name

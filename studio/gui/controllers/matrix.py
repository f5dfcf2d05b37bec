"""The Matrix tab: the variant matrix of the selected model (`studio matrix` in the window) and its job.

The job is the request `studio matrix` builds (studio.matrix.matrix_convert_request: the SavedModel and every TFLite
variant, each compared and timed), with the Convert panel's inputs, calibration, opset, backend and layout and the
Compare tab's inputs, into a folder of its own under the panel's output folder. It is a conversion like any other:
its artifacts join the Models list and its comparisons the Compare tab. The tab shows the selected model's running
matrix job as its rows arrive, else its latest finished one (SourceState.matrix).
"""

from __future__ import annotations

from studio.errors import StudioError, one_line
from studio.gui.controllers.tab_wiring import button_runs_action, follow_selection
from studio.gui.job_worker import QueuedJob
from studio.gui.matrix_view import EMPTY_TEXT
from studio.jobs.events import ArtifactWritten, Compared, LatencyMeasured
from studio.jobs.record import CANCELLED, FAILED
from studio.matrix import matrix_convert_request, matrix_options
from studio.workspace import READY

LIVE_EVENTS = (ArtifactWritten, Compared, LatencyMeasured)   # what adds to a row


class MatrixController:
    def __init__(self, window):
        self.window = window
        follow_selection(window, self.refresh, self.on_event)
        # on_finished: connected by the window after JobsController.on_finished (which folds the job first)

    def bind_actions(self) -> None:
        w = self.window
        button_runs_action(w.matrix_view.run_button, w.matrix_action)
        w.jobs_panel.job_activated.connect(self.on_activated)
        self.refresh()

    # ------------------------------------------------------------ the job
    def running(self, key: str | None) -> QueuedJob | None:
        return next((job for job in self.window.jobs.jobs if job.context.get("matrix") and not job.finished
                     and job.source_key == key), None)

    def can_run(self) -> bool:
        """A model is selected, its inputs are read and complete, and no matrix of it is running."""
        w = self.window
        state = w.current_state()
        return (state is not None and state.inspect_state == READY and bool(w.convert_panel.output_folder())
                and not w.convert_panel.shapes.problems() and self.running(state.key) is None)

    def run(self) -> QueuedJob | None:
        """Make the selected model's variant matrix in a worker; the Matrix tab shows its rows."""
        w, workspace, panel = self.window, self.window.workspace, self.window.convert_panel
        state = w.current_state()
        if state is None:
            w.statusBar().showMessage("Open a model first (Ctrl+O, or drop it on the window).", 5000)
            return None
        running = self.running(state.key)
        if running is not None:
            w.show_tab(w.TAB_MATRIX)
            return running
        try:
            options = matrix_options(panel.options(**workspace.compare_inputs))
            out_dir = workspace.next_out_dir(panel.output_folder(), state.source.stem, "matrix")
            request = matrix_convert_request(state.source, out_dir, options)
        except StudioError as exc:
            w.show_error(one_line(exc), title="Cannot make the variant matrix")
            return None
        request.samples_dir = workspace.new_samples_dir()
        workspace.reserve(request.job_id, request.out_dir)
        job = w.jobs.submit(request, f"matrix {state.source.path.name}", state.key,
                            {"out_dir": request.out_dir, "matrix": True})
        w.job_events.log(job, f"variant matrix of {state.source.path.name} into {request.out_dir}")
        w.statusBar().showMessage(f"Making the variant matrix of {state.source.path.name} into {request.out_dir}",
                                  8000)
        w.show_tab(w.TAB_MATRIX)
        self.refresh()
        return job

    def on_event(self, job: QueuedJob, event) -> None:
        """A row grows as its file is written, compared and timed: the tab redraws from the job's record."""
        if job.context.get("matrix") and isinstance(event, LIVE_EVENTS) and self._shows(job.source_key):
            self.refresh()

    def on_finished(self, job: QueuedJob) -> None:
        if job.context.get("matrix"):
            if self._shows(job.source_key):
                self.refresh()
            self.window.update_actions()

    def on_activated(self, job: QueuedJob) -> None:
        """A matrix job double-clicked in the Jobs panel (its source is selected by then): the Matrix tab."""
        if job.context.get("matrix"):
            self.window.show_tab(self.window.TAB_MATRIX)

    # ------------------------------------------------------------ what is shown
    def _shows(self, key: str | None) -> bool:
        state = self.window.current_state()
        return state is not None and state.key == key

    def refresh(self) -> None:
        """The selected model's running matrix (rows so far), else its latest one, else how to make one."""
        w, view = self.window, self.window.matrix_view
        state = w.current_state()
        if state is None:
            view.set_busy(None)
            view.show_message("Open a model, then choose Convert ▸ Variant Matrix (Ctrl+Shift+V) to compare every "
                              "variant's size, accuracy and LiteRT latency.")
            return
        name = state.source.path.name
        job = self.running(state.key)
        view.set_busy("Making the matrix…" if job else None)
        if job is not None:
            view.show_report(job.report(), name)
            return
        last = next((j for j in reversed(w.jobs.jobs) if j.context.get("matrix") and j.source_key == state.key), None)
        if last is not None and last.state in (FAILED, CANCELLED):
            what = "was cancelled" if last.state == CANCELLED else f"failed: {last.error or 'see the Log tab'}"
            view.show_message(f"The variant matrix of {name} {what}\n\nRun Variant Matrix (Ctrl+Shift+V) to try "
                              "again.", name)
        elif state.matrix is not None:
            view.show_report(state.matrix, name)
        else:
            view.show_message(EMPTY_TEXT, name)

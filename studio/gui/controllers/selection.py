"""What the panels show for the selection in the Models list: a source, or one of its artifacts."""

from __future__ import annotations

from pathlib import Path

from studio.errors import one_line
from studio.formats import Format, Source
from studio.gui.dialogs import APP_NAME
from studio.gui.sidebar import artifact_label
from studio.jobs.protocol import InspectRequest
from studio.jobs.record import DONE
from studio.workspace import SourceState

NETRON_FORMATS = {Format.ONNX, Format.TFLITE, Format.SAVEDMODEL, Format.KERAS, Format.H5, Format.TORCHSCRIPT,
                  Format.EXPORTED_PROGRAM, Format.TORCH_PICKLE}


class SelectionController:
    def __init__(self, window):
        self.window = window
        self.graph_shown: tuple[str, ...] | None = None   # the paths the Graph tab shows
        self.diff_filter: str | None = None               # the Compare tab shows only this artifact (its path), or all
        self.artifact_summaries: dict[str, dict] = {}     # artifact path -> its inspect summary, read once
        window.jobs.job_finished.connect(self._artifact_read)

    def current_state(self) -> SourceState | None:
        return self.window.workspace.get(self.window.sidebar.current_source_key())

    def show_source(self, key: str) -> None:
        self._show(key, None)

    def show_artifact(self, key: str, artifact: dict) -> None:
        self._show(key, artifact)

    def _show(self, key: str, artifact: dict | None) -> None:
        w = self.window
        state = w.workspace.get(key)
        if state is None:
            return
        name = state.source.path.name + (f" → {artifact_label(artifact)}" if artifact else "")
        w.setWindowTitle(f"{name} — {APP_NAME}")
        paths = (str(state.source.path),) + ((artifact["path"],) if artifact else ())
        self.show_graph(paths, state.source)
        self.show_summary(state, artifact)
        self.sync_convert_panel(state)
        self.diff_filter = artifact["path"] if artifact else None
        self.refill_diff(state)
        w.update_actions()

    def clear(self) -> None:
        """Nothing is open any more."""
        w = self.window
        self.graph_shown = None
        w.convert_panel.set_source(None)
        w.diff_view.clear()
        self.show_summary(None)
        w.setWindowTitle(APP_NAME)

    def show_graph(self, paths: tuple[str, ...], source: Source) -> None:
        if paths == self.graph_shown:
            return
        self.graph_shown = paths
        graph = self.window.graph_view
        if source.format not in NETRON_FORMATS and len(paths) == 1:
            return   # Netron cannot draw a Python factory source
        try:
            if len(paths) == 1:
                graph.show_model(paths[0])
            else:
                graph.show_side_by_side(paths[0], paths[1])
        except Exception as exc:   # the graph is a view: a failure there must not stop anything else
            self.window.statusBar().showMessage(f"Graph view: {one_line(exc)}", 8000)

    def show_summary(self, state: SourceState | None, artifact: dict | None = None) -> None:
        """The selected model's summary: the source's, or the artifact's own (see show_artifact_summary)."""
        view = self.window.summary_view
        if artifact is not None:
            self.show_artifact_summary(artifact)
        elif state is not None and state.info:
            view.set_summary(state.info)
        else:
            view.clear()

    def show_artifact_summary(self, artifact: dict) -> None:
        """An artifact's summary beside its graph: read by an inspect job of its own (no source's state is touched:
        the job has no source key) the first time the artifact is selected, then kept."""
        w, path = self.window, artifact["path"]
        if path in self.artifact_summaries:
            w.summary_view.set_summary(self.artifact_summaries[path])
            return
        w.summary_view.show_reading(path)
        if not any(job.context.get("summary_of") == path and not job.finished for job in w.jobs.jobs):
            source = Source(Path(path), Format(artifact["kind"]))
            w.jobs.submit(InspectRequest(source=source.to_dict()), f"inspect {Path(path).name}", None,
                          {"summary_of": path})

    def _artifact_read(self, job) -> None:
        path = job.context.get("summary_of")
        if not path:
            return
        if job.state == DONE and job.summary is not None:
            self.artifact_summaries[path] = job.summary
        shown = self.window.sidebar.current_artifact()
        if shown and shown.get("path") == path:
            if path in self.artifact_summaries:
                self.window.summary_view.set_summary(self.artifact_summaries[path])
            else:
                self.window.summary_view.show_reading(path, f"Could not read it: {job.error or 'cancelled'}")

    def sync_convert_panel(self, state: SourceState) -> None:
        inputs = (state.info or {}).get("inputs")
        self.window.convert_panel.set_source(state.source, inputs, state.inspect_state, state.inspect_error)

    def refill_diff(self, state: SourceState, keep_shown: bool = False) -> None:
        """The Compare tab holds every comparison of the source, narrowed to the artifact selected in the Models
        list (or, keep_shown, to the one its own "Show" box narrows it to now)."""
        view = self.window.diff_view
        shown = view.shown_artifact if keep_shown else self.diff_filter
        view.clear()
        for comparison in state.comparisons.values():
            view.add_comparison(comparison)
        view.show_artifact(shown)

    def shows(self, state: SourceState) -> bool:
        """Whether the panels show this source now."""
        return state is self.current_state()

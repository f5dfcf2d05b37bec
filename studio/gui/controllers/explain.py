"""The Layers tab: explaining an artifact layer by layer (a worker job like any other), showing its report, colouring
the graphs by error, selecting a row's node in both graph panes, and the Model Explorer export.

The artifact explained is the one selected in the Models list (the tab's artifact box mirrors that selection), so
the graphs, the Compare tab and the Layers tab always show the same pair. Reports are the workspace's
(SourceState.layers: one per artifact, from any finished job that brought one: explain, convert --explain); a new
explanation of the same pair replaces its report.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from studio.errors import one_line
from studio.formats import Format
from studio.gui import layers_data
from studio.gui.controllers.tab_wiring import button_runs_action, follow_selection
from studio.gui.job_worker import QueuedJob
from studio.gui.sidebar import artifact_label
from studio.jobs.events import LayersExplained, StageFinished, StageStarted
from studio.jobs.protocol import ExplainRequest
from studio.jobs.record import DONE
from studio.options import ExplainOptions
from studio.report import write_text_atomic

EXPLAINABLE_KINDS = ("onnx", "tflite")


def explainable(artifact: dict | None) -> bool:
    return bool(artifact) and artifact.get("kind") in EXPLAINABLE_KINDS


def model_explorer_files(source: Path, artifact: Path, folder: Path) -> dict[str, Path]:
    """Where the export writes each graph's node data: named after the graph it colours (the source's file also
    names the artifact, since its errors are against that artifact)."""
    return {layers_data.SOURCE: folder / f"{source.name}.vs_{artifact.stem}.node_data.json",
            layers_data.ARTIFACT: folder / f"{artifact.name}.node_data.json"}


class ExplainController:
    def __init__(self, window):
        self.window = window
        view = window.layers_view
        view.row_selected.connect(self.select_in_graphs)
        view.artifact_chosen.connect(self.choose_artifact)
        follow_selection(window, self.refresh, self.on_event)
        # on_finished is called by JobsController.on_finished once the workspace has folded the job

    def bind_actions(self) -> None:
        """The tab's buttons are the window's actions (enabled as they are)."""
        w = self.window
        for button, action in ((w.layers_view.explain_button, w.explain_action),
                               (w.layers_view.export_button, w.export_layers_action)):
            button_runs_action(button, action)
        w.jobs_panel.job_activated.connect(self.on_activated)

    # ------------------------------------------------------------ what is shown
    def target(self) -> tuple[object, dict] | tuple[None, None]:
        """(source state, artifact) the Layers tab is about: the Models list's selection, if it is explainable."""
        w = self.window
        state = w.current_state()
        artifact = w.sidebar.current_artifact()
        if state is None or not explainable(artifact):
            return None, None
        return state, artifact

    def can_explain(self) -> bool:
        state, artifact = self.target()
        return state is not None and self.running(state.key, artifact["path"]) is None

    def running(self, key: str, path: str) -> QueuedJob | None:
        for job in self.window.jobs.jobs:
            if job.kind == "explain" and not job.finished and job.source_key == key and \
                    job.context.get("artifact") == path:
                return job
        return None

    def report_of(self, key: str, path: str) -> dict | None:
        state = self.window.workspace.get(key)
        return None if state is None else state.layers.get(path)

    def refresh(self) -> None:
        """Show what the Models list's selection has: its report, the reason there is none, or a job running."""
        w, view = self.window, self.window.layers_view
        state = w.current_state()
        artifact = w.sidebar.current_artifact()
        if state is None:
            view.set_artifacts([], None)
            view.set_busy(None)
            view.show_message("Open a model and convert it; then choose one of its ONNX or TFLite artifacts and "
                              "Explain Layers to see where it drifts from its source.")
            w.update_actions()
            return
        choices = [a for a in state.artifacts if explainable(a)]
        view.set_artifacts(choices, artifact["path"] if explainable(artifact) else None)
        source_name = state.source.path.name
        if artifact is None or not explainable(artifact):
            view.set_busy(None)
            if artifact is not None:
                view.show_message(f"{artifact_label(artifact)}: per-layer explanation reads ONNX and TFLite "
                                  "artifacts. Choose one of those.")
            elif choices:
                view.show_message(f"Choose one of {source_name}'s ONNX or TFLite artifacts (above, or in the Models "
                                  "list) to see where it drifts from its source.")
            else:
                view.show_message(f"Convert {source_name} to ONNX or TFLite first: Explain Layers then compares "
                                  "every layer of an artifact with its source.")
            self._color(state, None, None)
            w.update_actions()
            return
        path = artifact["path"]
        job = self.running(state.key, path)
        view.set_busy("Explaining… (progress in the Jobs panel)" if job else None)
        report = self.report_of(state.key, path)
        if report is None:
            inputs = Path(w.workspace.inputs_path).name if w.workspace.inputs_path else \
                f"random inputs, seed {w.workspace.seed}"
            view.show_message("Explaining… the report appears here when the job is done." if job else
                              f"{Path(path).name} is not explained yet. Explain Layers runs {source_name} and "
                              f"{Path(path).name} layer by layer on the Compare tab's inputs ({inputs}) and "
                              "shows where they drift apart.")
        elif view.report is not report:
            view.show_report(report, source_path=str(state.source.path))
        self._color(state, artifact, report)
        w.update_actions()

    def _color(self, state, artifact: dict | None, report: dict | None) -> None:
        """Colour both graphs by the report's errors, or take the colours off."""
        graph = self.window.graph_view
        legend = layers_data.legend()
        source_is_onnx = state.source.format is Format.ONNX
        source = str(state.source.path)
        graph.set_error_colors(source, layers_data.node_colors(report, layers_data.SOURCE, source_is_onnx)
                               if report else None, legend)
        if artifact is not None:
            graph.set_error_colors(artifact["path"], layers_data.node_colors(report, layers_data.ARTIFACT)
                                   if report else None, legend)

    def select_in_graphs(self, row: dict | None) -> None:
        """A row was selected: select (and scroll to) its node in the source's and the artifact's graph."""
        state, artifact = self.target()
        if state is None:
            return
        source_is_onnx = state.source.format is Format.ONNX
        names = {str(state.source.path): layers_data.node_name(row, layers_data.SOURCE, source_is_onnx)
                 if row else None,
                 artifact["path"]: layers_data.node_name(row, layers_data.ARTIFACT) if row else None}
        self.window.graph_view.select_nodes(names)

    def choose_artifact(self, path: str) -> None:
        """The tab's artifact box: select that artifact in the Models list (which then updates every tab)."""
        sidebar = self.window.sidebar
        item = sidebar.artifact_item(sidebar.current_source_key(), path)
        if item is not None:
            sidebar.setCurrentItem(item)

    # ------------------------------------------------------------ the job
    def explain(self) -> QueuedJob | None:
        """Explain the selected artifact against its source, in a worker (the Jobs panel shows it)."""
        w = self.window
        state, artifact = self.target()
        if state is None:
            w.statusBar().showMessage("Select an ONNX or TFLite artifact of a model to explain it.", 5000)
            return None
        path = artifact["path"]
        running = self.running(state.key, path)
        if running is not None:
            w.statusBar().showMessage(f"Already explaining {Path(path).name}.", 5000)
            return running
        workspace = w.workspace
        options = ExplainOptions(inputs_path=workspace.inputs_path, seed=workspace.seed,
                                 input_shapes=dict(state.input_shapes), input_dtypes=dict(state.input_dtypes),
                                 variant=state.tolerance_of(artifact))
        request = ExplainRequest(source=state.source.to_dict(), artifacts=[path], options=options,
                                 samples_dir=workspace.new_samples_dir())
        job = w.jobs.submit(request, f"explain {state.source.path.name} ↔ {artifact_label(artifact)}", state.key,
                            {"artifact": path})
        w.show_tab(w.TAB_LAYERS)
        self.refresh()
        return job

    def on_event(self, job: QueuedJob, event) -> None:
        """The Log tab: an explain job's stages, and every per-layer report's verdict (convert --explain too). The
        reports themselves reach the workspace when the job finishes (Workspace.fold_finished)."""
        if isinstance(event, LayersExplained):
            self.window.job_events.log(job, self.verdict_line(event.layers))
        elif job.kind != "explain":
            return
        elif isinstance(event, StageStarted):
            self.window.job_events.log(job, f"▶ {event.name}")
        elif isinstance(event, StageFinished):
            mark = "✓" if event.ok else "✗"
            self.window.job_events.log(job, f"{mark} {event.name} ({event.seconds:.1f} s)" +
                                       ("" if event.ok else f": {event.error}"))

    @staticmethod
    def verdict_line(report: dict) -> str:
        name = Path(str(report.get("candidate") or "?")).name
        first = layers_data.first_divergent(report)
        rows = layers_data.rows(report)
        if first is not None:
            layer = first.get("reference_node") or first.get("name")
            return (f"{name}: first divergent layer #{first.get('index')} {layer} ({first.get('op')}, "
                    f"{layers_data.ratio_text(first.get('error_ratio'))}× its tolerance)")
        failing = sum(1 for row in rows if not row.get("passed"))
        return f"{name}: {len(rows)} layers compared, " + (f"{failing} over tolerance" if failing else
                                                           "no divergent layer")

    def on_finished(self, job: QueuedJob) -> None:
        """A job finished and the workspace has folded it (JobsController.on_finished calls this): an explain job's
        verdict in the status bar; the tab shows what any job with per-layer reports brought."""
        if job.kind != "explain" and not job.layers:
            return
        if job.kind == "explain" and job.state == DONE:
            self.window.statusBar().showMessage(f"{job.title}: " + (self.verdict_line(job.layers[-1]) if job.layers
                                                                    else "the job reported no layers"), 10000)
        self.refresh()

    def on_activated(self, job: QueuedJob) -> None:
        """An explain job double-clicked in the Jobs panel: its artifact, in the Layers tab."""
        if job.kind != "explain":
            return
        if job.context.get("artifact"):
            self.choose_artifact(job.context["artifact"])
        self.window.show_tab(self.window.TAB_LAYERS)

    # ------------------------------------------------------------ Model Explorer
    def export_model_explorer(self, folder: str | None = None) -> list[Path]:
        """Write the shown report's per-layer errors as Model Explorer node data, one file per graph (source and
        artifact), into `folder` (asked for when not given). Returns the files written."""
        w, report = self.window, self.window.layers_view.report
        state, artifact = self.target()
        if report is None or state is None:
            w.statusBar().showMessage("Explain an artifact first: there are no per-layer errors to export.", 5000)
            return []
        if folder is None:
            start = str(Path(artifact["path"]).parent)
            folder = QFileDialog.getExistingDirectory(w, "Export for Model Explorer: choose a folder", start)
            if not folder:
                return []
        from studio.explain import model_explorer_json   # numpy only

        files = model_explorer_files(state.source.path, Path(artifact["path"]), Path(folder))
        sides = {layers_data.SOURCE: "reference", layers_data.ARTIFACT: "candidate"}
        written = []
        try:
            for side, path in files.items():
                text = json.dumps(model_explorer_json(report, sides[side]), indent=2, allow_nan=False) + "\n"
                written.append(write_text_atomic(path, text))
        except (OSError, ValueError) as exc:
            w.show_error(f"Could not export the Model Explorer node data: {one_line(exc)}", title="Export failed")
            return written
        w.statusBar().showMessage("Model Explorer node data: " + ", ".join(p.name for p in written) +
                                  f" in {folder}", 10000)
        return written

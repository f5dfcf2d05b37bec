"""The Compare tab: comparisons as jobs report them, comparing again with new inputs, exporting what it shows."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from studio.errors import one_line
from studio.gui.job_worker import QueuedJob
from studio.gui.sidebar import artifact_label


def verdict_line(comparison: dict) -> str:
    """The Log tab's line for a comparison: "PASS model.tflite", or FAIL with every reason (studio.compare's text)."""
    name = Path(str(comparison.get("candidate"))).name
    if comparison.get("passed"):
        return f"PASS {name}"
    reasons = []
    try:
        from studio.compare import ComparisonResult, failure_lines   # numpy only

        result = ComparisonResult.from_dict(comparison)
        for line in failure_lines([result]):
            for prefix in (f"{result.candidate} / ", f"{result.candidate}: "):   # the name is already said
                if line.startswith(prefix):
                    line = line[len(prefix):]
                    break
            reasons.append(line)
    except (KeyError, TypeError, ValueError):   # not a ComparisonResult's dict: say what it says
        reasons = [str(comparison["error"])] if comparison.get("error") else []
    return f"FAIL {name}" + (f": {'; '.join(reasons)}" if reasons else "")


class CompareController:
    def __init__(self, window):
        self.window = window

    def comparisons(self, key: str | None = None) -> list[dict]:
        """The latest comparison per artifact of a source (the selected one by default)."""
        w = self.window
        state = w.workspace.get(key) if key else w.current_state()
        return list(state.comparisons.values()) if state else []

    def on_comparison(self, job: QueuedJob, comparison: dict) -> None:
        w = self.window
        state = w.workspace.get(job.source_key)
        if state is None:
            return
        replaces = str(comparison.get("candidate")) in state.comparisons
        w.workspace.add_comparison(state.key, comparison)
        w.sidebar.set_verdict(state.key, str(comparison.get("candidate")), comparison)   # its ✓/✗ in the Models list
        w.job_events.log(job, verdict_line(comparison))
        if w.selection.shows(state):
            if replaces:   # a newer result for an artifact the tab already shows
                w.selection.refill_diff(state, keep_shown=True)
            else:
                w.diff_view.add_comparison(comparison)

    def rerun(self, inputs: dict) -> list[QueuedJob]:
        """New inputs from the Compare tab: compare the selected source against its artifacts again, in the
        background (only the selected artifact when one is)."""
        w = self.window
        w.workspace.set_compare_inputs(inputs)
        state = w.current_state()
        if state is None or not state.artifacts:
            w.statusBar().showMessage("Convert the model first: there is nothing to compare yet.", 5000)
            return []
        for job in w.jobs.jobs:   # earlier reruns of this source are stale now
            if job.kind == "compare" and job.source_key == state.key and not job.finished:
                w.jobs.cancel(job)
        requests = w.workspace.rerun_requests(state.key, w.diff_view.shown_artifact)
        for _, artifact in requests:           # their verdicts are stale until the new comparisons arrive
            w.sidebar.set_verdict(state.key, artifact["path"], None)
        w.selection.refill_diff(state, keep_shown=True)
        return [w.jobs.submit(request, f"compare {state.source.path.name} ↔ {artifact_label(artifact)}", state.key,
                              {"artifact": artifact["path"]})
                for request, artifact in requests]

    def export(self, kind: str) -> None:
        """Save what the Compare tab shows as HTML or JSON."""
        w = self.window
        exporter = getattr(w.diff_view, f"export_{kind}")
        state = w.current_state()
        stem = state.source.stem if state else "comparison"
        default = str(Path(w.convert_panel.output_folder() or Path.home()) / f"{stem}_comparison.{kind}")
        path, _ = QFileDialog.getSaveFileName(w, f"Export Comparison as {kind.upper()}", default,
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return
        try:
            exporter(path)
        except Exception as exc:
            w.show_error(f"Could not export {path}: {one_line(exc)}", title="Export failed")
            return
        w.statusBar().showMessage(f"Exported {path}", 5000)

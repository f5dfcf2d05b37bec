"""A conversion from the Convert panel's choices (the CLI's own request), into a folder nothing else writes; and the
conversions of a drop of several models, each queued once its inspection has read it, the ones that cannot be
converted skipped and told once."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from PySide6.QtGui import QGuiApplication

from studio.errors import StudioError
from studio.gui.convert_panel import ShapeEditor
from studio.gui.job_worker import QueuedJob
from studio.jobs.protocol import ConvertRequest
from studio.options import ConvertOptions
from studio.workspace import ERROR, READING, SourceState

SKIPPED_NAMES_SHOWN = 3          # the status bar names this many skipped models; the Log tab lists them all


@dataclass
class DropBatch:
    """The models of one drop (several files, or a folder): each waits for its inspection, then is queued for
    conversion with the choices the Convert panel had when they were dropped, or skipped."""

    options: ConvertOptions
    out_folder: str
    waiting: list[SourceState]                     # not read yet (their inspect job has not finished)
    other_files: int = 0                           # files in the dropped folders that are no model
    jobs: list[QueuedJob] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (model, why it cannot be converted)


class ConvertController:
    def __init__(self, window):
        self.window = window
        self.batches: list[DropBatch] = []     # drops with models still being read

    def convert(self) -> QueuedJob | None:
        w, panel, workspace = self.window, self.window.convert_panel, self.window.workspace
        state = w.current_state()
        if state is None:
            w.statusBar().showMessage("Open a model first (Ctrl+O, or drop it on the window).", 5000)
            return None
        problems = panel.problems()
        if problems:
            w.statusBar().showMessage(problems[0], 8000)
            return None
        try:
            out_dir = str(workspace.next_out_dir(panel.output_folder(), state.source.stem))
            request = panel.build_request(out_dir, **workspace.compare_inputs)
            request.samples_dir = workspace.new_samples_dir()
        except StudioError as exc:
            w.show_error(str(exc), title="Cannot convert")
            return None
        workspace.reserve(request.job_id, request.out_dir)
        job = w.jobs.submit(request, f"convert {state.source.path.name} → {', '.join(panel.targets())}", state.key,
                            {"out_dir": out_dir})
        w.settings.set_targets(panel.targets(), panel.variants())
        w.settings.set_output_folder(panel.output_folder())
        w.job_events.log(job, f"$ {panel.command_line(out_dir, **workspace.compare_inputs)}")
        w.statusBar().showMessage(f"Converting {state.source.path.name} into {out_dir} "
                                  "— results fill the Compare tab (Ctrl+2)", 8000)
        return job

    def convert_each(self, states: list[SourceState], other_files: int = 0) -> DropBatch:
        """Queue a conversion of each model with the panel's choices (targets, variants, backend...), each into a
        folder of its own, once its inspect job has read it. Input shapes and inputs are each model's own (an inputs
        file fits one model). A model the single-model Convert would refuse (see problem_of) is skipped, not queued
        to fail; when the last model has been read, the queued and the skipped ones are told once (status bar, and
        the Log tab says why each was skipped), never in a dialog per model."""
        w, panel, workspace = self.window, self.window.convert_panel, self.window.workspace
        options = replace(panel.options(None, workspace.compare_inputs["seed"]), input_shapes={}, input_dtypes={})
        batch = DropBatch(options, panel.output_folder(), list(states), other_files)
        self.batches.append(batch)
        self._advance(batch)
        if batch.waiting:
            count = len(batch.waiting)
            w.statusBar().showMessage(f"Reading {count} model{'s' if count > 1 else ''}: each is queued for "
                                      "conversion once its inputs are read", 10000)
        return batch

    def problem_of(self, state: SourceState, targets: list[str]) -> str | None:
        """Why this (read) model cannot be converted to `targets` by itself, or None: the Convert panel's own rules
        for a model (no route from its format, as the CLI's batch also skips; inputs whose shapes the conversion
        cannot know without someone typing them), and inputs its inspection could not read."""
        from studio.stages.registry import plan

        try:
            plan(state.source.format, tuple(targets))
        except StudioError as exc:
            return f"cannot convert: {exc}"
        if state.inspect_state == ERROR:
            return f"its inputs could not be read: {' '.join(state.inspect_error.split())}"
        editor = ShapeEditor()           # the panel's shape rules, on the inputs as they start for this model
        editor.set_inputs((state.info or {}).get("inputs"))
        problems = editor.problems()
        editor.deleteLater()
        if problems:
            return f"{'; '.join(problems)} — select it, type its shapes in the Convert panel and Convert"
        return None

    def waits_for(self, job: QueuedJob) -> bool:
        """Whether `job` reads a dropped model that waits in a batch: if it fails, the batch's one message says so
        (with the other skipped models), not a dialog of its own."""
        return job.kind == "inspect" and job.source_key is not None and \
            any(state.key == job.source_key for batch in self.batches for state in batch.waiting)

    def on_finished(self, job: QueuedJob) -> None:
        """A job ended and the workspace has folded it: a model it read may now be queued or skipped."""
        if job.kind == "inspect" and self.batches:
            for batch in list(self.batches):
                self._advance(batch)

    def _advance(self, batch: DropBatch) -> None:
        w = self.window
        for state in list(batch.waiting):
            if w.workspace.get(state.key) is not state:
                batch.waiting.remove(state)              # closed before it was read
                batch.skipped.append((state.title, "closed before its inputs were read"))
            elif state.inspect_state != READING:
                batch.waiting.remove(state)
                problem = self.problem_of(state, batch.options.targets)
                if problem:
                    batch.skipped.append((state.title, problem))
                else:
                    batch.jobs.append(self._queue(state, batch))
        if not batch.waiting:
            self.batches.remove(batch)
            self._report(batch)

    def _queue(self, state: SourceState, batch: DropBatch) -> QueuedJob:
        w, workspace = self.window, self.window.workspace
        out_dir = str(workspace.next_out_dir(batch.out_folder, state.source.stem))
        request = ConvertRequest(source=state.source.to_dict(), out_dir=out_dir, options=batch.options,
                                 samples_dir=workspace.new_samples_dir())
        workspace.reserve(request.job_id, request.out_dir)
        return w.jobs.submit(request, f"convert {state.source.path.name} → {', '.join(batch.options.targets)}",
                             state.key, {"out_dir": out_dir})

    def _report(self, batch: DropBatch) -> None:
        """One message for the whole drop: what was queued, and which models were skipped (the Log tab: why)."""
        w = self.window
        queued, skipped = len(batch.jobs), batch.skipped
        if not queued and not skipped:
            return
        other = f" ({batch.other_files} other file{'s' if batch.other_files > 1 else ''} skipped)" \
            if batch.other_files else ""
        message = f"Queued {queued} conversion{'s' if queued != 1 else ''}{other}" if queued else \
            f"No conversion queued{other}"
        if skipped:
            names = ", ".join(name for name, _ in skipped[:SKIPPED_NAMES_SHOWN]) + \
                (" …" if len(skipped) > SKIPPED_NAMES_SHOWN else "")
            count = len(skipped)
            message += (f"; skipped {count} model{'s' if count > 1 else ''} that cannot be converted: {names} "
                        "— the Log tab says why")
            total = queued + count
            w.log_view.appendPlainText(
                f"Skipped {count} of the {total} dropped model{'s' if total > 1 else ''} (not converted):\n"
                + "\n".join(f"  {name}: {why}" for name, why in skipped))
        elif queued:
            message += " — the Jobs panel shows each one"
        w.statusBar().showMessage(message, 15000 if skipped else 10000)

    def copy_command(self) -> str:
        """The `studio convert ...` line of the Convert panel's choices, on the clipboard."""
        w = self.window
        state = w.current_state()
        if state is None:
            return ""
        out_dir = w.workspace.next_out_dir(w.convert_panel.output_folder() or ".", state.source.stem)
        line = w.convert_panel.command_line(str(out_dir), **w.workspace.compare_inputs)
        QGuiApplication.clipboard().setText(line)
        w.statusBar().showMessage(f"Copied: {line}", 8000)
        return line

"""A conversion from the Convert panel's choices (the CLI's own request), into a folder nothing else writes."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QGuiApplication

from studio.errors import StudioError
from studio.gui.job_worker import QueuedJob
from studio.jobs.protocol import ConvertRequest


class ConvertController:
    def __init__(self, window):
        self.window = window

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

    def convert_each(self, states: list) -> list[QueuedJob]:
        """Queue a conversion of each model with the panel's choices (targets, variants, backend...), each into a
        folder of its own. Input shapes and inputs are each model's own (an inputs file fits one model): a model
        that stores no shapes fails alone, saying so."""
        w, panel, workspace = self.window, self.window.convert_panel, self.window.workspace
        options = replace(panel.options(None, workspace.compare_inputs["seed"]), input_shapes={}, input_dtypes={})
        jobs = []
        for state in states:
            out_dir = str(workspace.next_out_dir(panel.output_folder(), state.source.stem))
            request = ConvertRequest(source=state.source.to_dict(), out_dir=out_dir, options=options,
                                     samples_dir=workspace.new_samples_dir())
            workspace.reserve(request.job_id, request.out_dir)
            jobs.append(w.jobs.submit(request, f"convert {state.source.path.name} → {', '.join(options.targets)}",
                                      state.key, {"out_dir": out_dir}))
        return jobs

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

"""Opening models: detect() what a path holds (asking before a pickle, asking a .py for its factory), the Models
list, Open Recent, the inspect job that reads the model; and closing a model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog

from studio.errors import StudioError
from studio.formats import SUPPORTED, Format, Source, detect
from studio.gui.dialogs import ask_pickle_consent
from studio.jobs.protocol import InspectRequest
from studio.workspace import SourceState

MODEL_FILES = "Models (*.onnx *.tflite *.keras *.h5 *.pt *.pth *.pt2 *.py saved_model.pb);;All files (*)"


class OpenController:
    def __init__(self, window):
        self.window = window

    # ------------------------------------------------------------ dialogs
    def open_dialog(self) -> None:
        w = self.window
        paths, _ = QFileDialog.getOpenFileNames(w, "Open Model", w.settings.last_open_folder(), MODEL_FILES)
        if paths:
            w.settings.set_last_open_folder(str(Path(paths[0]).parent))
            self.open_paths([str(Path(p).parent) if Path(p).name in ("saved_model.pb", "saved_model.pbtxt") else p
                             for p in paths])

    def open_folder_dialog(self) -> None:
        w = self.window
        folder = QFileDialog.getExistingDirectory(w, "Open SavedModel Folder", w.settings.last_open_folder())
        if folder:
            w.settings.set_last_open_folder(str(Path(folder).parent))
            self.open_paths([folder])

    # ------------------------------------------------------------ opening
    def open_paths(self, paths: list[str]) -> list[SourceState]:
        """Open each path; the ones that are not models are reported together in one dialog."""
        opened, problems = [], []
        for path in paths:
            try:
                state = self.open_source(path)
            except StudioError as exc:
                problems.append((path, str(exc)))
                continue
            if state is not None:
                opened.append(state)
        if opened:
            self.window.sidebar.select_source(opened[-1].key)
        if problems:
            self._report_problems(paths, problems)
        return opened

    def open_dropped(self, paths: list[str]) -> list[SourceState]:
        """A drop: one model opens; several files or a folder of models open each and queue a conversion of each
        with the Convert panel's choices once its inspection has read it (files in the folder that are no model are
        skipped, and counted; models that cannot be converted are skipped too, and named: see convert_each)."""
        from studio.batch import is_folder_of_models

        folders = [p for p in paths if is_folder_of_models(p)]
        if not folders and len(paths) == 1:
            return self.open_paths(paths)
        files = [p for p in paths if p not in folders]
        skipped = 0
        for folder in folders:
            for entry in sorted(Path(folder).iterdir()):
                if entry.name.startswith("."):
                    continue
                try:
                    detect(entry)
                    files.append(str(entry))
                except StudioError:
                    skipped += 1
        opened = self.open_paths(files) if files else []
        if folders and not files:
            self.window.show_error(f"No model in {Path(folders[0]).name}", title="Not a model",
                                   informative=f"Supported: {SUPPORTED}.")
        if folders or len(opened) > 1:
            self.window.converter.convert_each(opened, other_files=skipped)   # each once read; tells what it did
        return opened

    def _report_problems(self, paths: list[str], problems: list[tuple[str, str]]) -> None:
        if len(problems) == 1:
            message = problems[0][1]
            if "supported:" in message:
                message = message.split("; supported:")[0]
        else:
            names = ", ".join(Path(p).name for p, _ in problems[:4]) + (" …" if len(problems) > 4 else "")
            message = f"{len(problems)} of {len(paths)} items could not be opened: {names}"
        details = "\n".join(f"{path}: {why}" for path, why in problems)
        self.window.show_error(message, details, title="Not a model", informative=f"Supported: {SUPPORTED}.")

    def open_source(self, path: str) -> SourceState | None:
        """detect() the path, add it to the Models list, start its inspect job. None when the user declined."""
        w = self.window
        source = self._detect(str(path))
        if source is None:
            return None
        state, new = w.workspace.add(source)
        if not new:
            w.sidebar.select_source(state.key)
            return state
        w.sidebar.add_source(state.key, state.title, f"{state.key}\n{source.format.value} ({source.framework})")
        w.settings.add_recent(state.key)
        self.rebuild_recent_menu()
        w.jobs.submit(InspectRequest(source=source.to_dict()), f"inspect {source.path.name}", state.key)
        w.statusBar().showMessage(f"Opened {state.key}", 5000)
        w.update_actions()
        return state

    def _detect(self, path: str) -> Source | None:
        """detect(); a pickled torch module needs the user's explicit consent; a .py asks for its factory."""
        if path.endswith(".py") and Path(path).is_file():
            name, ok = QInputDialog.getText(self.window, "Python model", f"Factory function in {Path(path).name} "
                                            "that returns the model:", text="build_model")
            if not ok or not name.strip():
                return None
            return detect(f"{path}:{name.strip()}")
        try:
            return detect(path)
        except StudioError as refused:
            try:   # classifying never unpickles anything; loading it later would, so we ask first
                source = detect(path, allow_pickle=True)
            except StudioError:
                raise refused from None
            if source.format is not Format.TORCH_PICKLE:
                raise refused from None
            return source if ask_pickle_consent(self.window, path) else None

    # ------------------------------------------------------------ closing
    def close_current(self) -> None:
        self.close_source(self.window.sidebar.current_source_key())

    def close_source(self, key: str | None) -> None:
        w = self.window
        if not key or w.workspace.get(key) is None:
            return
        for job in w.jobs.jobs:
            if job.source_key == key and not job.finished and job.kind in ("inspect", "compare", "explain"):
                w.jobs.cancel(job)
        w.workspace.remove(key)
        w.sidebar.remove_source(key)
        if not w.workspace.sources:
            w.selection.clear()
        w.update_actions()

    # ------------------------------------------------------------ Open Recent
    def rebuild_recent_menu(self) -> None:
        menu, recent = self.window.recent_menu, self.window.settings.recent_files()
        menu.clear()
        for i, path in enumerate(recent):
            action = menu.addAction(f"&{i + 1} {path}" if i < 9 else path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_recent(p))
        if recent:
            menu.addSeparator()
            menu.addAction("Clear Recent", self.clear_recent)
        menu.setEnabled(bool(recent))

    def clear_recent(self) -> None:
        self.window.settings.clear_recent()
        self.rebuild_recent_menu()

    def open_recent(self, path: str) -> None:
        spec_file = path.rsplit(":", 1)[0] if path.rsplit(":", 1)[0].endswith(".py") else path
        if not Path(spec_file).exists():
            self.window.settings.remove_recent(path)
            self.rebuild_recent_menu()
            self.window.show_error(f"{path} no longer exists; it was removed from Open Recent.", title="Open Recent")
            return
        self.open_paths([path])

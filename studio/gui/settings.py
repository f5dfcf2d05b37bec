"""What the studio remembers between runs (QSettings): geometry, recent files, last output folder and targets."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths

MAX_RECENT = 10


def _as_list(value) -> list[str]:
    """QSettings returns a str for one-element lists and None for missing keys on some backends."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [str(v) for v in value]


class Settings:
    """Typed accessors over QSettings, so keys and defaults live in one place."""

    def __init__(self, qsettings: QSettings | None = None):
        self.q = qsettings or QSettings()

    # window
    def geometry(self) -> QByteArray | None:
        value = self.q.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self.q.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    # recent files
    def recent_files(self) -> list[str]:
        return _as_list(self.q.value("recent/files"))

    def add_recent(self, path: str) -> list[str]:
        items = [path] + [p for p in self.recent_files() if p != path]
        self.q.setValue("recent/files", items[:MAX_RECENT])
        return items[:MAX_RECENT]

    def remove_recent(self, path: str) -> None:
        self.q.setValue("recent/files", [p for p in self.recent_files() if p != path])

    def clear_recent(self) -> None:
        self.q.setValue("recent/files", [])

    # convert options
    def output_folder(self) -> str:
        value = self.q.value("convert/output_folder")
        if value:
            return str(value)
        docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
        return str(Path(docs) / "Model Conversion Studio")

    def set_output_folder(self, folder: str) -> None:
        self.q.setValue("convert/output_folder", folder)

    def targets(self) -> list[str]:
        value = self.q.value("convert/targets")
        return _as_list(value) if value is not None else ["onnx", "savedmodel", "tflite"]

    def variants(self) -> list[str]:
        value = self.q.value("convert/variants")
        return _as_list(value) if value is not None else ["float32", "float16"]

    def set_targets(self, targets: list[str], variants: list[str]) -> None:
        self.q.setValue("convert/targets", list(targets))
        self.q.setValue("convert/variants", list(variants))

    # jobs
    def worker_pool_size(self) -> int:
        """How many conversions run at once, each in a warm worker (default: as cores and free memory allow).
        Kept in studio.user_settings, not QSettings: `studio convert` with several models uses it too."""
        from studio import user_settings
        from studio.jobs.pool import default_pool_size

        return user_settings.worker_pool_size() or default_pool_size()

    def set_worker_pool_size(self, size: int) -> None:
        from studio import user_settings

        user_settings.set_worker_pool_size(size)

    def last_open_folder(self) -> str:
        return str(self.q.value("open/folder") or Path.home())

    def set_last_open_folder(self, folder: str) -> None:
        self.q.setValue("open/folder", folder)

    def sync(self) -> None:
        self.q.sync()

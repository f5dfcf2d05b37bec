"""Settings the CLI and the window share, kept as JSON in the user's data folder: today, how many conversions
run at once (the warm worker pool's size). The window's own state (geometry, recent files) stays in QSettings.

$STUDIO_SETTINGS names another file (the tests use their own)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SETTINGS_ENV = "STUDIO_SETTINGS"


def settings_file() -> Path:
    given = os.environ.get(SETTINGS_ENV)
    if given:
        return Path(given).expanduser()
    from studio.tfjs.env import data_dir

    return data_dir() / "settings.json"


def load() -> dict:
    """The saved settings; {} when there are none or the file is unreadable (the defaults then apply)."""
    try:
        value = json.loads(settings_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save(**changes) -> None:
    """Merge `changes` into the file, written whole by rename: a crash never leaves half a file."""
    path = settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**load(), **changes}
    fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(merged, f, indent=2)
    os.replace(tmp, path)


def worker_pool_size() -> int | None:
    """How many conversions run at once, as the user set it (None: as cores and free memory allow)."""
    try:
        return max(1, int(load()["workers"]))
    except (KeyError, TypeError, ValueError):
        return None


def set_worker_pool_size(size: int) -> None:
    save(workers=int(size))

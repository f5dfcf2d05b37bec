"""Writing the report: JobRecord.report() (studio.jobs.record) is the whole story of one job; this saves it
without ever leaving a half-written file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """The report (or any JSON) written atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write to a temp file beside the target, then rename: never a half-written file, never a lost old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

"""Writing the report: JobRecord.report() (studio.jobs.record) is the whole story of one job; this saves it
without ever leaving a half-written file."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """The report (or any JSON) written atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write to a temp file beside the target, then rename: never a half-written file, never a lost old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)   # the user's umask applies, as to any file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

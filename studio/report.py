"""The report: the whole story of one job, built from its event stream, saved as JSON."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from studio import __version__
from studio.jobs.protocol import (ARTIFACT, COMPARISON, FAILED, FINISHED, JOB_STARTED, RESULT, STAGE_FINISHED,
                                  Event)


class ReportBuilder:
    """Feed it every event of a job; to_dict() is the report. The CLI, GUI and worker all use this one."""

    def __init__(self) -> None:
        self.report: dict[str, Any] = {"studio_version": __version__, "source": None, "plan": [], "inputs": None,
                                       "stages": [], "artifacts": [], "comparisons": [], "error": None,
                                       "exit_code": None, "started": None, "seconds": None}

    def add(self, event: Event) -> None:
        r, d = self.report, event.data
        if event.type == JOB_STARTED:
            r["started"] = event.time
            for key in ("source", "plan", "request", "signature"):
                if key in d:
                    r[key] = d[key]
        elif event.type == STAGE_FINISHED:
            r["stages"].append({k: d.get(k) for k in ("name", "seconds", "ok", "error")})
        elif event.type == ARTIFACT:
            r["artifacts"].append(d)
        elif event.type == COMPARISON:
            r["comparisons"].append(d)
        elif event.type == RESULT and "inputs" in d:
            r["inputs"] = d["inputs"]
        elif event.type == FAILED:
            r["error"] = {k: d.get(k) for k in ("error", "stage", "exit_code")}
        elif event.type == FINISHED:
            r["exit_code"] = d.get("exit_code")
            if r["started"]:
                r["seconds"] = round(event.time - r["started"], 3)

    def to_dict(self) -> dict[str, Any]:
        return self.report


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write to a temp file beside the target, then rename: never a half-written report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path

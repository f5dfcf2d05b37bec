"""The events a job emits: one dataclass per kind, each stamped with its job's id.

On the wire (worker stdout, one JSON object per line) an event is {"type", "job_id", "time", "data"}.
Consumers never interpret events themselves: they feed them to a JobRecord (studio.jobs.record) and read it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass(kw_only=True)
class Event:
    type: ClassVar[str] = "event"
    job_id: str = ""
    time: float = field(default_factory=time.time)

    def payload(self) -> dict[str, Any]:
        """The event's own fields (what "data" holds on the wire)."""
        d = asdict(self)
        d.pop("job_id"), d.pop("time")
        return d

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "job_id": self.job_id, "time": self.time, "data": self.payload()},
                          default=_jsonable)


@dataclass(kw_only=True)
class JobStarted(Event):
    type: ClassVar[str] = "job_started"
    kind: str
    source: dict | None = None          # Source.to_dict() of the model (the reference, for compare)
    candidate: dict | None = None       # compare: the other model
    plan: list[str] = field(default_factory=list)
    request: dict | None = None


@dataclass(kw_only=True)
class StageStarted(Event):
    type: ClassVar[str] = "stage_started"
    name: str


@dataclass(kw_only=True)
class StageFinished(Event):
    type: ClassVar[str] = "stage_finished"
    name: str
    seconds: float = 0.0
    ok: bool = True
    error: str | None = None


@dataclass(kw_only=True)
class Progress(Event):
    type: ClassVar[str] = "progress"
    fraction: float
    message: str = ""


@dataclass(kw_only=True)
class Log(Event):
    type: ClassVar[str] = "log"
    message: str
    level: str = "info"                 # "info", "warning", or "output" (a converter's own output)


@dataclass(kw_only=True)
class InputsChosen(Event):
    """The inputs every model of the job is fed (described, not the arrays)."""
    type: ClassVar[str] = "inputs"
    inputs: dict


@dataclass(kw_only=True)
class ArtifactWritten(Event):
    type: ClassVar[str] = "artifact"
    artifact: dict                      # Artifact.to_dict(), with its final path


@dataclass(kw_only=True)
class Compared(Event):
    type: ClassVar[str] = "comparison"
    comparison: dict                    # ComparisonResult.to_dict() plus "kind" and, for the GUI, "samples"


@dataclass(kw_only=True)
class LatencyMeasured(Event):
    """One TFLite file's CPU latency in LiteRT: studio.latency.measure_latency() plus "artifact", "kind", "variant"
    (or "error" when it could not be measured)."""
    type: ClassVar[str] = "latency"
    latency: dict


@dataclass(kw_only=True)
class LayersExplained(Event):
    """Where one artifact drifts from its source: studio.explain's LayerReport.to_dict()."""
    type: ClassVar[str] = "layers"
    layers: dict


@dataclass(kw_only=True)
class Converted(Event):
    """A convert job's outcome: everything is in place."""
    type: ClassVar[str] = "converted"
    report_path: str
    out_dir: str
    passed: bool


@dataclass(kw_only=True)
class Inspected(Event):
    type: ClassVar[str] = "inspected"
    summary: dict                       # studio's model summary (format, signature, operators, size)


@dataclass(kw_only=True)
class VersionsRead(Event):
    type: ClassVar[str] = "versions"
    versions: dict[str, str]


@dataclass(kw_only=True)
class Failed(Event):
    type: ClassVar[str] = "failed"
    error: str
    exit_code: int = 3
    stage: str | None = None
    details: str | None = None          # a converter's log tail and the traceback, for --debug
    cancelled: bool = False
    crashed: bool = False               # the worker died without a word


@dataclass(kw_only=True)
class Finished(Event):
    """Always the last event of a job."""
    type: ClassVar[str] = "finished"
    exit_code: int


EVENT_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in (
    JobStarted, StageStarted, StageFinished, Progress, Log, InputsChosen, ArtifactWritten, Compared, LatencyMeasured,
    LayersExplained, Converted, Inspected, VersionsRead, Failed, Finished)}


def event_from_json(line: str) -> Event:
    """Parse one wire line; a line that is not an event raises ValueError."""
    d = json.loads(line)
    if not isinstance(d, dict) or d.get("type") not in EVENT_TYPES:
        raise ValueError(f"not an event: {line[:80]!r}")
    cls = EVENT_TYPES[d["type"]]
    names = {f.name for f in fields(cls)}
    data = {k: v for k, v in (d.get("data") or {}).items() if k in names}
    return cls(job_id=str(d.get("job_id") or ""), time=float(d.get("time") or time.time()), **data)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)

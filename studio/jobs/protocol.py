"""One event protocol for every job: a small JSON request in, a stream of JSON events out.

The CLI prints the stream, the GUI draws it, and the report is built from it. Plain dicts on the wire,
so a worker process (or a frozen app re-launched in worker mode) speaks it over a pipe.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# Event types, in the order a convert job emits them.
JOB_STARTED = "job_started"
STAGE_STARTED = "stage_started"
STAGE_FINISHED = "stage_finished"
PROGRESS = "progress"
LOG = "log"
ARTIFACT = "artifact"
COMPARISON = "comparison"
RESULT = "result"        # the job's payload: an inspect summary, versions, or the final report
FAILED = "failed"
FINISHED = "finished"    # always last when the worker ends on its own: carries exit_code

EVENT_TYPES = (JOB_STARTED, STAGE_STARTED, STAGE_FINISHED, PROGRESS, LOG, ARTIFACT, COMPARISON, RESULT, FAILED, FINISHED)


@dataclass
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> str:
        return json.dumps({"type": self.type, "time": self.time, "data": self.data}, default=_jsonable)

    @classmethod
    def from_json(cls, line: str) -> "Event":
        d = json.loads(line)
        return cls(d["type"], d.get("data", {}), d.get("time", time.time()))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


@dataclass
class ConvertRequest:
    source: dict                              # Source.to_dict()
    out_dir: str
    targets: list[str] = field(default_factory=lambda: ["onnx", "savedmodel", "tflite"])
    variants: list[str] = field(default_factory=lambda: ["float32", "float16"])
    report_path: str | None = None            # default <out_dir>/report.json
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # "" key = the single input
    input_dtypes: dict[str, str] = field(default_factory=dict)        # numpy names ("int64"), keyed like input_shapes
    inputs_path: str | None = None
    input_range: list[float] | None = None    # [low, high] for random inputs
    seed: int = 0
    opset: int | None = None
    backend: str = "auto"                     # studio.stages.backends.DEFAULT_BACKEND
    keep_layout: bool = False
    calibration: str | None = None
    atol: float | None = None
    rtol: float | None = None
    force: bool = False
    staging_dir: str | None = None            # set by the runner: the job writes only here until it succeeds
    samples_dir: str | None = None            # if set, outputs are saved here as .npy for the GUI's plots
    kind: str = "convert"


@dataclass
class InspectRequest:
    source: dict
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    input_dtypes: dict[str, str] = field(default_factory=dict)
    kind: str = "inspect"


@dataclass
class CompareRequest:
    reference: dict                           # Source.to_dict()
    candidate: dict
    inputs_path: str | None = None
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    input_dtypes: dict[str, str] = field(default_factory=dict)
    input_range: list[float] | None = None
    seed: int = 0
    atol: float | None = None
    rtol: float | None = None
    variant: str | None = None                # tolerance class; guessed from the candidate's name when None
    samples_dir: str | None = None            # if set, outputs are saved here as .npy for the GUI's plots
    kind: str = "compare"


@dataclass
class VersionsRequest:
    kind: str = "versions"


REQUEST_TYPES = {"convert": ConvertRequest, "inspect": InspectRequest, "compare": CompareRequest,
                 "versions": VersionsRequest}


def request_to_json(request: Any) -> str:
    return json.dumps(asdict(request))


def request_from_json(line: str) -> Any:
    d = json.loads(line)
    cls = REQUEST_TYPES.get(d.get("kind"))
    if cls is None:
        raise ValueError(f"unknown job kind {d.get('kind')!r}")
    return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

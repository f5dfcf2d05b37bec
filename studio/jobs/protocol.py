"""The requests a job starts from: small dataclasses, one JSON line on the wire.

A job's events are in studio.jobs.events; a JobRecord (studio.jobs.record) folds them. The options of a request
are studio.options' schema, so the CLI, the GUI and the stages read the same fields.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import PurePath
from typing import Any

from studio.options import CompareOptions, ConvertOptions, ExplainOptions


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


def staging_name(out_dir: str, tag: str) -> str:
    """The hidden folder a convert job writes in until it succeeds, beside its output (so the final move is a
    rename): `.<out>.studio-tmp-<tag>`. Every executor spells it this way, so leftovers are recognisable."""
    return f".{PurePath(out_dir).name}.studio-tmp-{tag}"


@dataclass
class ConvertRequest:
    source: dict                              # Source.to_dict()
    out_dir: str
    options: ConvertOptions = field(default_factory=ConvertOptions)
    report_path: str | None = None            # default <out_dir>/report.json
    force: bool = False
    staging_dir: str | None = None            # set by the runner: the job writes only here until it succeeds
    samples_dir: str | None = None            # if set, outputs are saved here as .npy for the GUI's plots
    job_id: str = field(default_factory=new_job_id)
    kind: str = "convert"


@dataclass
class InspectRequest:
    source: dict
    job_id: str = field(default_factory=new_job_id)
    kind: str = "inspect"


@dataclass
class CompareRequest:
    reference: dict                           # Source.to_dict()
    candidate: dict
    options: CompareOptions = field(default_factory=CompareOptions)   # variant None: guessed from the file name
    samples_dir: str | None = None            # if set, outputs are saved here as .npy for the GUI's plots
    job_id: str = field(default_factory=new_job_id)
    kind: str = "compare"


@dataclass
class ExplainRequest:
    source: dict                              # Source.to_dict()
    artifacts: list[str] = field(default_factory=list)   # none: the source's ONNX and float32 TFLite are made first
    options: ExplainOptions = field(default_factory=ExplainOptions)
    staging_dir: str | None = None            # set by the runner: the ONNX and TFLite it makes go here, removed after
    samples_dir: str | None = None            # if set, the tensors of a few layers are saved here for the GUI's plots
    job_id: str = field(default_factory=new_job_id)
    kind: str = "explain"


@dataclass
class VersionsRequest:
    job_id: str = field(default_factory=new_job_id)
    kind: str = "versions"


REQUEST_TYPES = {"convert": ConvertRequest, "inspect": InspectRequest, "compare": CompareRequest,
                 "explain": ExplainRequest, "versions": VersionsRequest}


def request_to_json(request: Any) -> str:
    return json.dumps(asdict(request))


def request_from_json(line: str) -> Any:
    d = json.loads(line)
    cls = REQUEST_TYPES.get(d.get("kind"))
    if cls is None:
        raise ValueError(f"unknown job kind {d.get('kind')!r}")
    values = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
    if "options" in values:
        options_cls = cls.__dataclass_fields__["options"].default_factory
        values["options"] = options_cls(**{k: v for k, v in values["options"].items()
                                           if k in options_cls.__dataclass_fields__})
    return cls(**values)

"""The Stage interface: one conversion step from one format to another."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from studio.artifacts import Artifact
from studio.formats import Source
from studio.options import ConvertOptions
from studio.signature import Signature


@dataclass
class StageContext:
    source: Source                    # the user's model
    signature: Signature              # the source's signature, shapes resolved (no None dims)
    input_path: Path                  # what this stage reads: the source path, or the previous artifact
    work_dir: Path                    # an empty folder this stage writes into (inside the job's staging dir)
    options: ConvertOptions           # the job's options (studio.options): targets, variants, opset, backend...
    log: Callable[[str], None] = print                     # one line of log for the user
    progress: Callable[[float, str], None] = lambda f, m: None  # fraction within this stage, message
    previous: list[Artifact] = field(default_factory=list)  # artifacts of earlier stages
    model: Any = None                 # the source, already loaded by the job (loaded once per job), or None
    log_dir: Path | None = None       # where converters' full logs go; kept with the job's output


class Stage(Protocol):
    name: str                  # e.g. "torch->onnx"; shown to the user and named in errors
    consumes: tuple[str, ...]  # Format values (or "onnx") this stage reads
    produces: tuple[str, ...]  # artifact kinds it writes

    def run(self, ctx: StageContext) -> list[Artifact]:
        """Convert ctx.input_path into ctx.work_dir. Raise StageError(self.name, cause) on failure."""
        ...

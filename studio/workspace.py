"""The desktop app's state in plain Python (no Qt): the models a user opened, what was made from them, and how
those compared. The window's controllers change it and draw it; tests drive it without a window.

A job's events are folded by its JobRecord (studio.jobs.record); the workspace only reads finished records
(`fold_finished`) and the comparisons / model summaries as they arrive.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from studio.artifacts import tolerance_class
from studio.errors import StudioError
from studio.formats import Format, Source
from studio.jobs.protocol import CompareRequest
from studio.jobs.record import DONE, JobRecord
from studio.options import CompareOptions

READING, READY, ERROR = "reading", "ready", "error"   # SourceState.inspect_state


@dataclass
class SourceState:
    """One opened model: what it is, what inspect said, what was made from it and how those compared."""

    source: Source
    info: dict | None = None                # the inspect job's model summary
    inspect_state: str = READING            # reading | ready | error
    inspect_error: str = ""
    artifacts: list[dict] = field(default_factory=list)
    comparisons: dict[str, dict] = field(default_factory=dict)       # artifact path -> its latest comparison
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # shapes of the last conversion
    input_dtypes: dict[str, str] = field(default_factory=dict)        # and dtypes, where the format has none
    layers: dict[str, dict] = field(default_factory=dict)            # artifact path -> its latest per-layer report
    matrix: dict | None = None              # the report of its latest finished job that timed its files (matrix)

    @property
    def key(self) -> str:
        return self.source.spec

    @property
    def title(self) -> str:
        """What the Models list shows: the file name, and the factory of a Python source."""
        name = self.source.path.name
        return f"{name}:{self.source.factory}" if self.source.factory else name

    def artifact(self, path: str) -> dict | None:
        return next((a for a in self.artifacts if a["path"] == path), None)

    def tolerance_of(self, artifact: dict) -> str:
        """The tolerance class an artifact is held to (studio.artifacts' one rule)."""
        return tolerance_class(artifact["kind"], artifact.get("variant") or "float32")

    def comparisons_of(self, only: str | None = None) -> list[dict]:
        """The latest comparison of every artifact, or of the one whose path is `only`."""
        return [c for path, c in self.comparisons.items() if only in (None, path)]

    def verdict_of(self, path: str) -> bool | None:
        """Did this artifact's latest comparison pass? None while it has none."""
        comparison = self.comparisons.get(path)
        return None if comparison is None else bool(comparison.get("passed"))

    def add_layers(self, reports: list[dict]) -> list[str]:
        """Per-layer reports (a finished job's `layers`: studio explain, convert --explain), each kept as its
        artifact's latest (keyed by its "candidate", spelled as the artifact list spells that path). Returns the
        artifact paths that got one."""
        paths = []
        for report in reports or []:
            candidate = report.get("candidate") if isinstance(report, dict) else None
            if not candidate:
                continue
            path = next((a["path"] for a in self.artifacts if Path(a["path"]) == Path(str(candidate))), str(candidate))
            self.layers[path] = report
            paths.append(path)
        return paths


def unique_out_dir(folder: str | Path, stem: str, taken: set[str] | frozenset[str] = frozenset(),
                   suffix: str = "converted") -> Path:
    """<folder>/<stem>_converted (or _<suffix>), or _2, _3... when that exists or a queued job will write it: never
    overwrite."""
    base = Path(folder).expanduser().resolve()
    for n in range(1, 1000):
        candidate = base / (f"{stem}_{suffix}" if n == 1 else f"{stem}_{suffix}_{n}")
        if str(candidate) in taken:
            continue
        if not candidate.exists() or (candidate.is_dir() and not any(candidate.iterdir())):
            return candidate
    raise StudioError(f"{base}: too many {stem}_{suffix} folders; choose another output folder")


class Workspace:
    """Every opened source, keyed by its spec, plus the app-wide choices that outlive a selection."""

    def __init__(self) -> None:
        self.sources: dict[str, SourceState] = {}
        self.reserved: dict[str, str] = {}        # job id -> the output folder a queued/running conversion writes
        self.inputs_path: str | None = None       # the Compare tab's inputs: a file, or random with this seed
        self.seed: int = 0
        self._samples_root: tempfile.TemporaryDirectory | None = None

    # ------------------------------------------------------------ sources
    def get(self, key: str | None) -> SourceState | None:
        return self.sources.get(key) if key else None

    def add(self, source: Source) -> tuple[SourceState, bool]:
        """The state of this source, and whether it is new (an already opened one is returned as is)."""
        state = self.sources.get(source.spec)
        if state is not None:
            return state, False
        state = self.sources[source.spec] = SourceState(source)
        return state, True

    def remove(self, key: str) -> SourceState | None:
        return self.sources.pop(key, None)

    # ------------------------------------------------------------ inputs
    @property
    def compare_inputs(self) -> dict:
        """inputs_path and seed: what every new job (convert or compare) feeds the models."""
        return {"inputs_path": self.inputs_path, "seed": self.seed}

    def set_compare_inputs(self, inputs: dict) -> None:
        self.inputs_path = inputs.get("inputs_path") or None
        self.seed = int(inputs.get("seed") or 0)

    # ------------------------------------------------------------ output folders
    def next_out_dir(self, folder: str | Path, stem: str, suffix: str = "converted") -> Path:
        """Where the next conversion of `stem` goes (<stem>_<suffix>): never an existing folder, nor one a queued job
        will write."""
        return unique_out_dir(folder or ".", stem, set(self.reserved.values()), suffix)

    def reserve(self, job_id: str, out_dir: str | Path) -> None:
        self.reserved[job_id] = str(Path(out_dir).expanduser().resolve())

    def release(self, job_id: str) -> None:
        self.reserved.pop(job_id, None)

    # ------------------------------------------------------------ samples (the plots' arrays)
    def new_samples_dir(self) -> str:
        """A fresh folder where a job saves its outputs as .npy for the plots; all removed by close()."""
        if self._samples_root is None:
            self._samples_root = tempfile.TemporaryDirectory(prefix="studio-samples-")
        return tempfile.mkdtemp(dir=self._samples_root.name)

    def close(self) -> None:
        if self._samples_root is not None:
            shutil.rmtree(self._samples_root.name, ignore_errors=True)
            self._samples_root = None

    # ------------------------------------------------------------ comparing again
    def rerun_requests(self, key: str, only: str | None = None,
                       samples_dir: Callable[[], str | None] | None = None) -> list[tuple[CompareRequest, dict]]:
        """A CompareRequest per artifact of the source (or only the one at path `only`), with the Compare tab's
        inputs and the shapes of the conversion that made them; their old comparisons are dropped."""
        state = self.sources.get(key)
        if state is None:
            return []
        make_dir = samples_dir or self.new_samples_dir
        requests = []
        for artifact in state.artifacts:
            if only not in (None, artifact["path"]):
                continue
            state.comparisons.pop(artifact["path"], None)
            candidate = Source(Path(artifact["path"]), Format(artifact["kind"]))
            options = CompareOptions(inputs_path=self.inputs_path, seed=self.seed,
                                     input_shapes=dict(state.input_shapes), input_dtypes=dict(state.input_dtypes),
                                     variant=state.tolerance_of(artifact))
            requests.append((CompareRequest(reference=state.source.to_dict(), candidate=candidate.to_dict(),
                                            options=options, samples_dir=make_dir()), artifact))
        return requests

    # ------------------------------------------------------------ what jobs report
    def add_comparison(self, key: str | None, comparison: dict) -> SourceState | None:
        """A comparison as it arrives: the latest one per artifact is kept."""
        state = self.get(key)
        if state is not None:
            state.comparisons[str(comparison.get("candidate"))] = comparison
        return state

    def set_summary(self, key: str | None, info: dict) -> SourceState | None:
        """The inspect job read the model."""
        state = self.get(key)
        if state is not None:
            state.info, state.inspect_state, state.inspect_error = info, READY, ""
        return state

    def fold_finished(self, key: str | None, record: JobRecord) -> SourceState | None:
        """Fold a finished job's record into its source's state (None when the source was closed meanwhile).

        - its output folder is no longer reserved;
        - an inspect job that ended without a summary leaves the source unreadable, with the job's error;
        - a conversion that succeeded adds its artifacts and remembers the input shapes they were made with;
        - a finished job's comparisons are kept even if none arrived live (the ones that did stay as they are);
        - a finished job's per-layer reports (any kind: explain, convert --explain) replace their artifacts' old ones;
        - a conversion that timed its files (the variant matrix, convert --latency) becomes the source's matrix.
        """
        self.release(record.job_id)
        state = self.get(key)
        if state is None:
            return None
        if record.kind == "inspect":
            if record.summary is not None and record.state == DONE:
                self.set_summary(key, record.summary)
            elif state.inspect_state == READING:
                state.inspect_state, state.inspect_error = ERROR, record.error or "cancelled"
        if record.kind == "convert" and record.state == DONE:
            known = {a["path"] for a in state.artifacts}
            state.artifacts += [a for a in record.artifacts if a["path"] not in known]
            options = _options_of(getattr(record, "request", None) or record.requested)   # QueuedJob | JobRecord
            state.input_shapes = dict(options.get("input_shapes") or {})
            state.input_dtypes = dict(options.get("input_dtypes") or {})
            if record.latency:
                state.matrix = record.report()
        if record.state == DONE:
            for comparison in record.comparisons:
                state.comparisons.setdefault(str(comparison.get("candidate")), comparison)
            state.add_layers(record.layers)
        return state


def _options_of(request) -> dict:
    """A request's options as a dict: from the request object (the GUI's jobs) or its JSON form (a report)."""
    options = request.get("options") if isinstance(request, dict) else getattr(request, "options", None)
    if options is None:
        return {}
    return options if isinstance(options, dict) else vars(options)

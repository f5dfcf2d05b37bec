"""JobRecord: everything known about one job, folded from its events. The only place events are folded.

The worker's report, the CLI, the self-test and the GUI's jobs all read a JobRecord; none of them looks
inside an event.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import singledispatchmethod
from typing import Any

from studio import __version__
from studio.jobs.events import (ArtifactWritten, Compared, Converted, Event, Failed, Finished, Inspected,
                                InputsChosen, JobStarted, LatencyMeasured, LayersExplained, Log, Progress, StageFinished, StageStarted,
                                VersionsRead)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)


@dataclass
class JobRecord:
    job_id: str = ""
    kind: str = ""
    state: str = QUEUED
    stage: str = ""                     # the stage running now (or the last one)
    message: str = ""                   # what the job is doing, for a status line
    fraction: float = 0.0
    source: dict | None = None
    candidate: dict | None = None
    plan: list[str] = field(default_factory=list)
    requested: dict | None = None      # the request as the job received it (JSON data)
    inputs: dict | None = None
    stages: list[dict] = field(default_factory=list)
    artifacts: list[dict] = field(default_factory=list)
    comparisons: list[dict] = field(default_factory=list)
    layers: list[dict] = field(default_factory=list)   # per-layer reports (studio explain, convert --explain)
    latency: list[dict] = field(default_factory=list)  # per TFLite file (convert --latency, studio matrix)
    outcome: dict | None = None         # a convert job's Converted: report_path, out_dir, passed
    summary: dict | None = None         # an inspect job's model summary
    versions: dict | None = None
    error: str | None = None
    failed_stage: str | None = None
    details: str | None = None
    cancelled: bool = False
    cancel_requested: bool = False      # someone asked to cancel it: how it ends is then a cancel
    crashed: bool = False
    exit_code: int | None = None
    started: float | None = None        # JobStarted's wall-clock time
    seconds: float | None = None        # JobStarted to Finished
    started_at: float | None = None     # time.monotonic() when it started running here (for a live clock)
    ended_at: float | None = None

    # ------------------------------------------------------------ folding
    @singledispatchmethod
    def apply(self, event: Event) -> None:
        """Fold one event into the record (unknown kinds are ignored, so old readers survive new events)."""

    @apply.register
    def _(self, event: JobStarted) -> None:
        self.job_id = self.job_id or event.job_id
        self.kind, self.source, self.candidate = event.kind, event.source, event.candidate
        self.plan, self.requested, self.started = list(event.plan), event.request, event.time
        self.message = "started"
        self.mark_running()

    @apply.register
    def _(self, event: StageStarted) -> None:
        self.stage = self.message = event.name

    @apply.register
    def _(self, event: StageFinished) -> None:
        self.stages.append({"name": event.name, "seconds": event.seconds, "ok": event.ok, "error": event.error})
        if not event.ok:
            self.message = f"{event.name} failed"

    @apply.register
    def _(self, event: Progress) -> None:
        self.fraction = float(event.fraction or 0.0)
        self.message = event.message or self.stage

    @apply.register
    def _(self, event: Log) -> None:
        pass   # log lines are shown as they come, not kept

    @apply.register
    def _(self, event: InputsChosen) -> None:
        self.inputs = event.inputs

    @apply.register
    def _(self, event: ArtifactWritten) -> None:
        self.artifacts.append(event.artifact)

    @apply.register
    def _(self, event: Compared) -> None:
        self.comparisons.append(event.comparison)

    @apply.register
    def _(self, event: LatencyMeasured) -> None:
        self.latency.append(event.latency)

    @apply.register
    def _(self, event: LayersExplained) -> None:
        self.layers.append(event.layers)

    @apply.register
    def _(self, event: Converted) -> None:
        self.outcome = {"report_path": event.report_path, "out_dir": event.out_dir, "passed": event.passed}

    @apply.register
    def _(self, event: Inspected) -> None:
        self.summary = event.summary

    @apply.register
    def _(self, event: VersionsRead) -> None:
        self.versions = event.versions

    @apply.register
    def _(self, event: Failed) -> None:
        self.error, self.failed_stage, self.details = event.error or "the job failed", event.stage, event.details
        self.exit_code = event.exit_code
        self.crashed = event.crashed
        if event.cancelled or self.cancel_requested:
            self.cancelled = True     # the state turns final at Finished: `finished` means Finished has been folded

    @apply.register
    def _(self, event: Finished) -> None:
        self.exit_code = int(event.exit_code)
        self.ended_at = time.monotonic()
        if self.started is not None:
            self.seconds = round(event.time - self.started, 3)
        if self.cancelled:
            self.state = CANCELLED
        else:
            self.state = FAILED if self.error is not None else DONE
        if self.state == DONE:
            self.fraction = 1.0

    # ------------------------------------------------------------ state outside events
    def mark_running(self) -> None:
        if self.state == QUEUED:
            self.state = RUNNING
            self.started_at = time.monotonic()
            self.message = self.message or "starting worker"

    def mark_cancelled(self) -> None:
        """Cancelled before a worker ever ran it."""
        self.state, self.error, self.cancelled = CANCELLED, "cancelled", True
        self.ended_at = time.monotonic()
        self.started_at = self.started_at or self.ended_at

    # ------------------------------------------------------------ reading
    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.ended_at or time.monotonic()) - self.started_at

    @property
    def failed_comparisons(self) -> int:
        return sum(1 for c in self.comparisons if not c.get("passed"))

    @property
    def passed(self) -> bool:
        return self.state == DONE and self.failed_comparisons == 0

    def status_text(self) -> str:
        if self.state == QUEUED:
            return "queued"
        if self.state == RUNNING:
            return self.message or self.stage or "starting worker"
        if self.state == CANCELLED:
            return "cancelled"
        if self.state == FAILED:
            return f"failed: {self.error}" if self.error else "failed"
        if self.comparisons:
            bad = self.failed_comparisons
            return f"done, {bad} of {len(self.comparisons)} comparisons failed" if bad else "done, all comparisons passed"
        return "done"

    def report(self) -> dict[str, Any]:
        """The job's report (report.json): the whole story, as JSON-ready data."""
        error = None
        if self.error is not None:
            error = {"error": self.error, "stage": self.failed_stage, "exit_code": self.exit_code}
        return {"studio_version": __version__, "job_id": self.job_id, "source": self.source, "plan": self.plan,
                "request": self.requested, "inputs": self.inputs, "stages": self.stages, "artifacts": self.artifacts,
                "comparisons": self.comparisons, "layers": self.layers, "latency": self.latency, "error": error, "exit_code": self.exit_code,
                "started": self.started, "seconds": self.seconds}

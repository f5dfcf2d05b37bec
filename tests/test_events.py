"""Typed events: each kind survives the wire; a JobRecord folds a stream into the job's state and report."""

from __future__ import annotations

import json

import pytest

from studio.jobs.events import (EVENT_TYPES, ArtifactWritten, Compared, Converted, Failed, Finished, InputsChosen,
                                JobStarted, LatencyMeasured, LayersExplained, Log, Progress, StageFinished, StageStarted, event_from_json)
from studio.jobs.record import CANCELLED, DONE, FAILED, QUEUED, RUNNING, JobRecord


def a_convert_stream(job_id: str = "j1", failed_comparison: bool = False) -> list:
    return [JobStarted(job_id=job_id, time=100.0, kind="convert", source={"path": "m.pt2"}, plan=["torch->onnx"]),
            StageStarted(job_id=job_id, name="torch->onnx"),
            Progress(job_id=job_id, fraction=0.5, message="exporting"),
            Log(job_id=job_id, message="inputs: x"),
            StageFinished(job_id=job_id, name="torch->onnx", seconds=1.25),
            InputsChosen(job_id=job_id, inputs={"from": "seeded random (seed 0)", "tensors": []}),
            ArtifactWritten(job_id=job_id, artifact={"kind": "onnx", "variant": "float32", "path": "out/m.onnx"}),
            Compared(job_id=job_id, comparison={"candidate": "out/m.onnx", "passed": not failed_comparison}),
            Converted(job_id=job_id, report_path="out/report.json", out_dir="out", passed=not failed_comparison),
            Finished(job_id=job_id, time=103.5, exit_code=1 if failed_comparison else 0)]


def test_every_event_kind_round_trips_through_json():
    stream = a_convert_stream() + [Failed(job_id="j1", error="boom", stage="onnx->tf", exit_code=3, crashed=True)]
    stream.append(LayersExplained(job_id="j1", layers={"rows": [], "first_divergent": None}))
    stream.append(LatencyMeasured(job_id="j1", latency={"artifact": "out/m.tflite", "method": "timed invoke()",
                                                        "threads": {"1": {"median_ms": 0.5, "p95_ms": 0.7}}}))
    assert {type(e) for e in stream} >= set(EVENT_TYPES.values()) - {EVENT_TYPES["inspected"],
                                                                        EVENT_TYPES["versions"]}
    for event in stream:
        again = event_from_json(event.to_json())
        assert again == event and type(again) is type(event)
        assert json.loads(event.to_json())["job_id"] == "j1"


def test_a_line_that_is_not_an_event_is_a_value_error():
    for line in ("hello", "[1, 2]", json.dumps({"type": "no_such_event", "data": {}})):
        with pytest.raises(ValueError):
            event_from_json(line)


def test_the_record_folds_a_convert_job_into_its_state_and_report():
    record = JobRecord()
    assert record.state == QUEUED
    states = []
    for event in a_convert_stream():
        record.apply(event)
        states.append(record.state)
    assert states[0] == RUNNING and record.state == DONE and record.exit_code == 0 and record.passed
    assert record.job_id == "j1" and record.fraction == 1.0
    assert record.outcome == {"report_path": "out/report.json", "out_dir": "out", "passed": True}
    report = record.report()
    assert report["stages"] == [{"name": "torch->onnx", "seconds": 1.25, "ok": True, "error": None}]
    assert [a["path"] for a in report["artifacts"]] == ["out/m.onnx"] and report["seconds"] == 3.5
    assert report["inputs"]["from"].startswith("seeded random") and report["error"] is None
    assert record.status_text() == "done, all comparisons passed"


def test_a_failed_comparison_a_failure_and_a_cancel_read_differently():
    record = JobRecord()
    for event in a_convert_stream(failed_comparison=True):
        record.apply(event)
    assert record.state == DONE and not record.passed and record.status_text() == "done, 1 of 1 comparisons failed"

    failed = JobRecord()
    for event in (JobStarted(kind="convert"), Failed(error="onnx->tf: Unsupported op CastLike", stage="onnx->tf"),
                  Finished(exit_code=3)):
        failed.apply(event)
    assert failed.state == FAILED and failed.report()["error"]["stage"] == "onnx->tf"
    assert failed.status_text() == "failed: onnx->tf: Unsupported op CastLike"

    cancelled = JobRecord()
    for event in (JobStarted(kind="convert"), Failed(error="cancelled", cancelled=True, exit_code=130)):
        cancelled.apply(event)
    assert not cancelled.finished      # final only once Finished is folded: the window reacts to Finished alone
    cancelled.apply(Finished(exit_code=130))
    assert cancelled.state == CANCELLED and cancelled.finished and cancelled.exit_code == 130


def test_a_job_asked_to_cancel_ends_cancelled_whatever_its_failure_says():
    record = JobRecord(cancel_requested=True)
    for event in (JobStarted(kind="convert"), Failed(error="the worker process died with SIGKILL", exit_code=3),
                  Finished(exit_code=3)):
        record.apply(event)
    assert record.state == CANCELLED and record.cancelled

"""The desktop app's state without Qt: sources, artifacts, comparisons, re-runs, output folders, finished jobs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from studio.formats import Format, Source
from studio.jobs.events import (ArtifactWritten, Compared, Converted, Failed, Finished, Inspected, JobStarted,
                                LayersExplained)
from studio.jobs.protocol import CompareRequest, ConvertRequest
from studio.jobs.record import JobRecord
from studio.options import ConvertOptions
from studio.workspace import ERROR, READING, READY, Workspace, unique_out_dir


def artifact(path: str, kind: str, variant: str = "float32") -> dict:
    return {"path": path, "kind": kind, "variant": variant, "bytes": 10}


@pytest.fixture
def ws(tmp_path) -> Workspace:
    workspace = Workspace()
    yield workspace
    workspace.close()


@pytest.fixture
def source(tmp_path) -> Source:
    path = tmp_path / "tiny.pt2"
    path.write_bytes(b"x")
    return Source(path, Format.EXPORTED_PROGRAM)


def finished_convert(source: Source, artifacts: list[dict], comparisons: list[dict] = (),
                     request: ConvertRequest | None = None, fail: str | None = None) -> JobRecord:
    request = request or ConvertRequest(source=source.to_dict(), out_dir="/out/tiny_converted",
                                        options=ConvertOptions(input_shapes={"x": [1, 3, 8, 8]},
                                                               input_dtypes={"x": "float32"}))
    record = JobRecord(job_id=request.job_id)
    record.request = request
    events = [JobStarted(kind="convert", source=source.to_dict())]
    events += [ArtifactWritten(artifact=a) for a in artifacts]
    events += [Compared(comparison=c) for c in comparisons]
    if fail:
        events += [Failed(error=fail), Finished(exit_code=3)]
    else:
        events += [Converted(report_path="/out/r.json", out_dir="/out", passed=True), Finished(exit_code=0)]
    for event in events:
        record.apply(event)
    record.request = request        # the GUI's QueuedJob keeps its request object
    return record


def test_the_workspace_imports_no_qt():
    import subprocess

    code = "import sys, studio.workspace; print(sorted(m for m in sys.modules if m.startswith('PySide6')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


def test_opening_the_same_source_twice_gives_one_state(ws, source):
    state, new = ws.add(source)
    again, new_again = ws.add(Source(source.path, Format.EXPORTED_PROGRAM))
    assert new and not new_again and again is state
    assert state.key == source.spec and state.title == "tiny.pt2" and state.inspect_state == READING
    assert ws.get(state.key) is state and ws.get(None) is None
    assert ws.remove(state.key) is state and not ws.sources


def test_a_python_source_is_titled_with_its_factory(ws, tmp_path):
    path = tmp_path / "model.py"
    path.write_text("def build(): pass\n")
    state, _ = ws.add(Source(path, Format.PYTHON_FACTORY, factory="build"))
    assert state.title == "model.py:build"


def test_summary_and_failed_inspect(ws, source):
    state, _ = ws.add(source)
    ws.set_summary(state.key, {"inputs": [], "bytes": 3})
    assert state.inspect_state == READY and state.info["bytes"] == 3

    other, _ = ws.add(Source(source.path.with_name("b.onnx"), Format.ONNX))
    record = JobRecord(kind="inspect")
    for event in (JobStarted(kind="inspect"), Failed(error="bad zip"), Finished(exit_code=3)):
        record.apply(event)
    assert ws.fold_finished(other.key, record) is other
    assert other.inspect_state == ERROR and other.inspect_error == "bad zip"

    done = JobRecord(kind="inspect")
    for event in (JobStarted(kind="inspect"), Inspected(summary={"bytes": 9}), Finished(exit_code=0)):
        done.apply(event)
    third, _ = ws.add(Source(source.path.with_name("c.onnx"), Format.ONNX))
    ws.fold_finished(third.key, done)
    assert third.inspect_state == READY and third.info == {"bytes": 9}


def test_a_finished_conversion_adds_its_artifacts_and_shapes_once(ws, source):
    state, _ = ws.add(source)
    arts = [artifact("/out/tiny.onnx", "onnx"), artifact("/out/tiny_float16.tflite", "tflite", "float16")]
    comparison = {"candidate": "/out/tiny.onnx", "passed": True}
    record = finished_convert(source, arts, [comparison])
    assert ws.fold_finished(state.key, record) is state
    assert state.artifacts == arts
    assert state.input_shapes == {"x": [1, 3, 8, 8]} and state.input_dtypes == {"x": "float32"}
    assert state.comparisons == {"/out/tiny.onnx": comparison}
    assert state.verdict_of("/out/tiny.onnx") is True and state.verdict_of("/out/tiny_float16.tflite") is None
    ws.fold_finished(state.key, finished_convert(source, arts))   # the same files again: no duplicates
    assert len(state.artifacts) == 2


def test_a_failed_conversion_adds_nothing(ws, source):
    state, _ = ws.add(source)
    ws.fold_finished(state.key, finished_convert(source, [artifact("/out/a.onnx", "onnx")], fail="onnx2tf died"))
    assert state.artifacts == [] and state.input_shapes == {}


def test_a_report_request_dict_works_too(ws, source):
    state, _ = ws.add(source)
    record = finished_convert(source, [artifact("/out/a.onnx", "onnx")])
    record.request = {"options": {"input_shapes": {"": [2, 3]}, "input_dtypes": {}}}
    ws.fold_finished(state.key, record)
    assert state.input_shapes == {"": [2, 3]}


def test_a_plain_job_record_reads_the_request_it_was_started_with(ws, source):
    """A JobRecord has no request object (only a QueuedJob does): the options come from JobStarted's request."""
    state, _ = ws.add(source)
    record = JobRecord(kind="convert")
    request = {"options": {"input_shapes": {"x": [1, 3, 4, 4]}, "input_dtypes": {"x": "float16"}}}
    for event in (JobStarted(kind="convert", source=source.to_dict(), request=request),
                  ArtifactWritten(artifact=artifact("/out/a.onnx", "onnx")),
                  Converted(report_path="/out/r.json", out_dir="/out", passed=True), Finished(exit_code=0)):
        record.apply(event)
    assert not hasattr(record, "request")
    assert ws.fold_finished(state.key, record) is state
    assert state.input_shapes == {"x": [1, 3, 4, 4]} and state.input_dtypes == {"x": "float16"}


def layers_record(kind: str, reports: list[dict], fail: str | None = None) -> JobRecord:
    record = JobRecord(kind=kind)
    events = [JobStarted(kind=kind), *(LayersExplained(layers=r) for r in reports)]
    events += [Failed(error=fail), Finished(exit_code=3)] if fail else [Finished(exit_code=1)]
    for event in events:
        record.apply(event)
    return record


def test_per_layer_reports_of_any_finished_job_are_kept_per_artifact(ws, source):
    state, _ = ws.add(source)
    arts = [artifact("/out/tiny.onnx", "onnx"), artifact("/out/tiny_float16.tflite", "tflite", "float16")]
    ws.fold_finished(state.key, finished_convert(source, arts))
    assert state.layers == {}

    first = {"candidate": "/out//tiny_float16.tflite", "first_divergent": 2, "rows": []}   # spelled otherwise
    convert = layers_record("convert", [first])                                         # convert --explain
    assert ws.fold_finished(state.key, convert) is state
    assert state.layers == {"/out/tiny_float16.tflite": first}       # keyed as the artifact list spells it

    again = {"candidate": "/out/tiny_float16.tflite", "first_divergent": None, "rows": []}
    onnx = {"candidate": "/out/tiny.onnx", "first_divergent": None, "rows": []}
    ws.fold_finished(state.key, layers_record("explain", [again, onnx]))
    assert state.layers == {"/out/tiny_float16.tflite": again, "/out/tiny.onnx": onnx}   # the latest wins

    ws.fold_finished(state.key, layers_record("explain", [first], fail="worker died"))
    assert state.layers["/out/tiny_float16.tflite"] is again         # a failed job's reports are not kept
    assert state.add_layers([{"rows": []}, "junk"]) == []            # no candidate: nothing to key it by


def test_a_closed_source_ignores_its_jobs(ws, source):
    record = finished_convert(source, [artifact("/out/a.onnx", "onnx")])
    assert ws.fold_finished("gone", record) is None
    assert ws.add_comparison("gone", {"candidate": "x"}) is None
    assert ws.set_summary(None, {}) is None


def test_latest_comparison_per_artifact(ws, source):
    state, _ = ws.add(source)
    ws.add_comparison(state.key, {"candidate": "/out/a.onnx", "passed": False})
    ws.add_comparison(state.key, {"candidate": "/out/b.tflite", "passed": True})
    ws.add_comparison(state.key, {"candidate": "/out/a.onnx", "passed": True})
    assert [c["passed"] for c in state.comparisons_of()] == [True, True]
    assert state.comparisons_of("/out/b.tflite") == [{"candidate": "/out/b.tflite", "passed": True}]


def test_each_artifact_is_held_to_its_tolerance_class(ws, source):
    state, _ = ws.add(source)
    assert state.tolerance_of(artifact("/a.onnx", "onnx")) == "float32"
    assert state.tolerance_of(artifact("/a_sm", "savedmodel")) == "float32"
    assert state.tolerance_of(artifact("/a.tflite", "tflite", "float16")) == "float16"
    assert state.tolerance_of(artifact("/a.tflite", "tflite", "dynamic_int8")) == "dynamic_int8"
    assert state.tolerance_of({"path": "/a.tflite", "kind": "tflite"}) == "float32"


def test_rerun_requests_use_the_compare_inputs_and_the_conversion_shapes(ws, source, tmp_path):
    state, _ = ws.add(source)
    arts = [artifact("/out/tiny.onnx", "onnx"), artifact("/out/tiny_int8.tflite", "tflite", "int8")]
    ws.fold_finished(state.key, finished_convert(source, arts, [{"candidate": "/out/tiny.onnx", "passed": True},
                                                               {"candidate": "/out/tiny_int8.tflite",
                                                                "passed": False}]))
    inputs = tmp_path / "inputs.npz"
    ws.set_compare_inputs({"inputs_path": str(inputs), "seed": "7"})
    assert ws.compare_inputs == {"inputs_path": str(inputs), "seed": 7}

    requests = ws.rerun_requests(state.key, samples_dir=lambda: "/samples")
    assert [a["path"] for _, a in requests] == ["/out/tiny.onnx", "/out/tiny_int8.tflite"]
    assert state.comparisons == {}                                  # stale now: re-run
    onnx, tflite = (r for r, _ in requests)
    assert isinstance(onnx, CompareRequest) and onnx.samples_dir == "/samples"
    assert onnx.reference == source.to_dict()
    assert Source.from_dict(tflite.candidate).format is Format.TFLITE
    assert (onnx.options.variant, tflite.options.variant) == ("float32", "int8")
    assert tflite.options.inputs_path == str(inputs) and tflite.options.seed == 7
    assert tflite.options.input_shapes == {"x": [1, 3, 8, 8]}

    ws.add_comparison(state.key, {"candidate": "/out/tiny.onnx", "passed": True})
    only = ws.rerun_requests(state.key, only="/out/tiny_int8.tflite")
    assert [a["path"] for _, a in only] == ["/out/tiny_int8.tflite"]
    assert list(state.comparisons) == ["/out/tiny.onnx"]             # the other artifact's result stays
    assert Path(only[0][0].samples_dir).is_dir()                     # the workspace's own samples folder
    assert ws.rerun_requests("nothing open") == []


def test_output_folders_are_never_reused_while_reserved(ws, tmp_path):
    out = tmp_path / "out"
    first = ws.next_out_dir(out, "tiny")
    assert first == out.resolve() / "tiny_converted"
    ws.reserve("job1", first)
    second = ws.next_out_dir(out, "tiny")
    assert second.name == "tiny_converted_2"
    ws.reserve("job2", second)
    (out / "tiny_converted_3").mkdir(parents=True)
    (out / "tiny_converted_3" / "report.json").write_text("{}")   # written by someone: skipped
    assert ws.next_out_dir(out, "tiny").name == "tiny_converted_4"
    ws.release("job1")
    assert ws.next_out_dir(out, "tiny") == first

    record = JobRecord(job_id="job2", kind="convert")
    ws.fold_finished(None, record)                                 # a finished job frees its folder
    assert "job2" not in ws.reserved


def test_unique_out_dir_takes_an_empty_folder(tmp_path):
    (tmp_path / "m_converted").mkdir()
    assert unique_out_dir(tmp_path, "m") == tmp_path.resolve() / "m_converted"


def test_samples_folders_go_with_the_workspace(ws):
    folder = Path(ws.new_samples_dir())
    assert folder.is_dir()
    ws.close()
    assert not folder.exists()

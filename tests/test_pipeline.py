"""The convert and compare jobs run in this process (no worker): events, the record, the report on disk."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper

from models import plain_onnx
from studio.formats import detect
from studio.jobs.events import Compared, Failed, Finished
from studio.jobs.handlers import run_request
from studio.jobs.protocol import CompareRequest, ConvertRequest
from studio.jobs.record import DONE, FAILED, JobRecord
from studio.options import CompareOptions, ConvertOptions


def run(request) -> tuple[JobRecord, list]:
    events = []
    code = run_request(request, events.append)
    events.append(Finished(job_id=request.job_id, exit_code=code))
    record = JobRecord()
    for event in events:
        record.apply(event)
    assert {e.job_id for e in events} == {request.job_id}
    return record, events


def perturbed(source: Path, target: Path, scale: float) -> Path:
    """The same graph with its weight scaled: a candidate that drifts by a known amount."""
    model = onnx.load(str(source))
    for i, init in enumerate(model.graph.initializer):
        if init.name == "w":
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * scale, "w"))
    onnx.save(model, str(target))
    return target


@pytest.fixture()
def onnx_pair(tmp_path):
    reference = plain_onnx(tmp_path / "plain.onnx")
    return reference, tmp_path


def test_compare_passes_on_the_same_model_and_fails_on_a_drifted_one(onnx_pair):
    reference, tmp = onnx_pair
    same = perturbed(reference, tmp / "same.onnx", 1.0)
    drifted = perturbed(reference, tmp / "drifted.onnx", 1.5)

    record, events = run(CompareRequest(reference=detect(reference).to_dict(), candidate=detect(same).to_dict()))
    assert record.state == DONE and record.exit_code == 0 and record.passed
    [comparison] = [e.comparison for e in events if isinstance(e, Compared)]
    assert comparison["outputs"][0]["max_abs"] == 0.0

    record, _ = run(CompareRequest(reference=detect(reference).to_dict(), candidate=detect(drifted).to_dict(),
                                   options=CompareOptions(seed=3)))
    assert record.exit_code == 1 and not record.passed
    assert record.comparisons[0]["outputs"][0]["max_abs"] > 1e-3
    assert record.inputs["from"] == "seeded random (seed 3)"


def test_convert_writes_the_report_the_record_gives(tmp_path):
    import torch

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()
    source = tmp_path / "tiny.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 8, 8),)), source)
    out = tmp_path / "out"
    request = ConvertRequest(source=detect(source).to_dict(), out_dir=str(out),
                             options=ConvertOptions(targets=["onnx"]))
    record, _ = run(request)
    assert record.state == DONE and record.exit_code == 0, record.error
    assert [a["kind"] for a in record.artifacts] == ["onnx"] and Path(record.artifacts[0]["path"]).is_file()
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["job_id"] == request.job_id and on_disk["exit_code"] == 0
    assert on_disk["artifacts"] == record.artifacts and on_disk["comparisons"] == record.comparisons
    assert on_disk["request"]["options"]["targets"] == ["onnx"]
    assert record.comparisons[0]["passed"] and record.comparisons[0]["outputs"][0]["max_abs"] < 1e-5
    assert not list(tmp_path.glob(".out.studio-tmp*")), "the staging folder is gone"


def test_a_bad_request_fails_with_one_line_and_writes_nothing(onnx_pair):
    reference, tmp = onnx_pair
    out = tmp / "out"
    out.mkdir()
    (out / "keep.txt").write_text("the user's file")
    record, events = run(ConvertRequest(source=detect(reference).to_dict(), out_dir=str(out),
                                        options=ConvertOptions(targets=["tflite"])))
    assert record.state == FAILED and record.exit_code == 2
    assert "--force" in record.error and "\n" not in record.error
    assert isinstance(events[-2], Failed)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "the user's file"

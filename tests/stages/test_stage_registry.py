"""The registry and planner (routes through the format graph) and the backend status, all framework-free."""

from __future__ import annotations

import subprocess
import sys

import pytest

from studio.errors import StudioError
from studio.formats import Format
from studio.stages.registry import STAGES, TARGETS, plan

ALL = ("onnx", "savedmodel", "tflite")
TORCH = (Format.TORCHSCRIPT, Format.EXPORTED_PROGRAM, Format.PYTHON_FACTORY, Format.TORCH_PICKLE)
TF = (Format.KERAS, Format.H5, Format.SAVEDMODEL)


def names(stages) -> list[str]:
    return [stage.name for stage in stages]


@pytest.mark.parametrize("source", TORCH)
def test_torch_sources_go_through_torch_to_onnx(source):
    assert names(plan(source, ALL)) == ["torch->onnx", "onnx->tf"]
    assert names(plan(source, ["tflite"])) == ["torch->onnx", "onnx->tf"]
    assert names(plan(source, ["onnx"])) == ["torch->onnx"]          # a target of only onnx stops there


@pytest.mark.parametrize("source", TF)
def test_tf_sources_go_through_tf_to_onnx(source):
    assert names(plan(source, ALL)) == ["tf->onnx", "onnx->tf"]
    assert names(plan(source, ["onnx"])) == ["tf->onnx"]
    assert names(plan(source.value, ["savedmodel"])) == ["tf->onnx", "onnx->tf"]


def test_an_onnx_source_needs_no_stage_for_onnx():
    assert names(plan(Format.ONNX, ALL)) == ["onnx->tf"]
    assert names(plan(Format.ONNX, ["tflite"])) == ["onnx->tf"]
    assert plan(Format.ONNX, ["onnx"]) == []


@pytest.mark.parametrize("targets, message", [
    (["tflite"], "tflite models are not converted here"),
    (["onnx", "savedmodel"], "tflite models are not converted here"),
])
def test_a_tflite_source_has_no_route(targets, message):
    with pytest.raises(StudioError, match=message) as err:
        plan(Format.TFLITE, targets)
    assert "\n" not in str(err.value) and err.value.exit_code == 2


@pytest.mark.parametrize("targets, message", [([], "no target given"), (["coreml"], "unknown target 'coreml'")])
def test_bad_targets_are_one_line_errors(targets, message):
    with pytest.raises(StudioError, match=message):
        plan(Format.KERAS, targets)


def test_every_stage_names_what_it_reads_and_writes():
    formats = {f.value for f in Format}
    for name, stage in STAGES.items():
        assert stage.name == name and callable(stage.run)
        assert set(stage.consumes) <= formats | set(TARGETS)
        assert set(stage.produces) <= set(TARGETS)


def test_input_for_prefers_the_newest_float32_artifact(tmp_path):
    from studio.artifacts import Artifact
    from studio.formats import Source
    from studio.stages.registry import input_for

    source = Source(tmp_path / "m.pt2", Format.EXPORTED_PROGRAM)
    onnx = Artifact("onnx", "float32", str(tmp_path / "m.onnx"))
    assert input_for(STAGES["torch->onnx"], source, []) == source.path
    assert input_for(STAGES["onnx->tf"], source, [onnx]) == tmp_path / "m.onnx"


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_registry_and_backend_status_import_no_framework():
    """The GUI imports the registry and asks for backend status; neither may load torch or TensorFlow."""
    out = run_python(
        "import sys, json\n"
        "from studio.stages.registry import STAGES, plan, backend_status\n"
        "status = backend_status()\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'onnx2tf', 'tf2onnx', 'onnxruntime')\n"
        "         if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'status': status}))\n")
    import json

    result = json.loads(out)
    assert result["heavy"] == []
    assert result["status"]["onnx2tf"] == [True, "onnx2tf 2.6.9 (flatbuffer_direct)"]
    assert result["status"]["onnx2tf-plain-layernorm"] == \
        [True, "onnx2tf 2.6.9 (flatbuffer_direct, its LayerNorm layout passes off)"]
    assert result["status"]["onnx2tf-tf-converter"] == [True, "onnx2tf 2.6.9 (tf_converter)"]
    assert result["status"]["auto"][0] is True
    available, reason = result["status"]["onnx-tf"]
    assert available is False and "onnx.mapping" in reason


def test_an_unknown_backend_is_a_usage_error():
    from studio.stages.backends import get_backend

    with pytest.raises(StudioError, match="unknown backend 'tflite-magic'; choose from auto, onnx2tf, onnx2tf-plain-layernorm, onnx2tf-tf-converter, onnx-tf"):
        get_backend("tflite-magic")

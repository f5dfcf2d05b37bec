"""TF.js without converting anything: the target and its variants, the set-up's state, the one-line failures.

The conversions themselves (TF, tensorflowjs, Node, for real) are in test_tfjs_convert.py.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import pytest

from studio.artifacts import DEFAULT_TARGETS, KINDS, TFJS_VARIANTS, Artifact, tolerance_class
from studio.errors import StudioError
from studio.options import ConvertOptions, to_argv
from studio.resources import sample_model_path
from studio.stages.registry import plan
from studio.stages.tfjs import tfjs_variants
from studio.tfjs import env
from studio_cli import run_studio


def tfjs_ready() -> bool:
    """The environment ./scripts/test prepares; there (STUDIO_TFJS_REQUIRED) its absence is a failure, not a skip."""
    found = env.status()
    if not found.available and os.environ.get("STUDIO_TFJS_REQUIRED"):
        pytest.fail(f"./scripts/test set TF.js up, yet: {found.problem}")
    return found.available


needs_tfjs = pytest.mark.skipif("not tfjs_ready()", reason="TF.js is not set up here: run `studio setup tfjs` "
                                                           "(./scripts/test does)")


def without_node_path() -> str:
    """A PATH holding this Python but no node."""
    return os.path.dirname(sys.executable)


def test_tfjs_is_a_target_asked_for_by_name_and_brings_its_savedmodel():
    assert "tfjs" in KINDS and "tfjs" not in DEFAULT_TARGETS
    assert ConvertOptions().targets == list(DEFAULT_TARGETS)
    options = ConvertOptions(targets=["onnx", "tfjs"])
    assert options.targets == ["onnx", "savedmodel", "tfjs"]
    assert to_argv(options) == ["--to", "onnx,savedmodel,tfjs"]
    assert [s.name for s in plan("exported_program", ["tfjs"])] == ["torch->onnx", "onnx->tf", "savedmodel->tfjs"]
    assert [s.name for s in plan("keras", options.targets)] == ["tf->onnx", "onnx->tf", "savedmodel->tfjs"]


def test_quantize_maps_to_tfjs_variants_with_tolerances_of_their_own():
    assert TFJS_VARIANTS == {"float32": "float32", "float16": "float16", "dynamic_int8": "uint8"}
    said = []
    assert tfjs_variants(["float32", "float16", "dynamic_int8", "int8"], said.append) == ["float32", "float16", "uint8"]
    assert "int8" in said[0]
    assert tfjs_variants(["int8"]) == ["float32"]
    assert [tolerance_class("tfjs", v) for v in ("float32", "float16", "uint8")] == \
        ["float32", "float16", "dynamic_int8"]
    assert Artifact(kind="tfjs", variant="uint8", path="/x").label == "tfjs uint8"


def test_status_says_how_to_set_it_up(monkeypatch, tmp_path):
    monkeypatch.setenv(env.DATA_ENV, str(tmp_path))
    found = env.status()
    assert not found.available and env.venv_dir() == tmp_path / "tfjs" / "venv"
    assert "studio setup tfjs" in found.message() and "\n" not in found.message()


def test_the_packaged_app_names_its_own_command_for_the_set_up(monkeypatch, tmp_path):
    monkeypatch.setenv(env.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "argv", ["/home/me/.local/bin/model-conversion-studio", "convert"])
    assert "run `model-conversion-studio setup tfjs`" in env.status().message()


def test_status_without_node_says_to_install_node(monkeypatch):
    monkeypatch.setenv("PATH", without_node_path())
    monkeypatch.delenv(env.NODE_ENV, raising=False)
    found = env.status()
    assert found.problem == found.node and "Node 18 or later" in found.message()


def test_to_tfjs_alone_without_node_fails_at_once_in_one_line(tmp_path):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    done = run_studio("convert", sample_model_path(), "--to", "tfjs", "--out", out,
                      env={"PATH": without_node_path(), env.NODE_ENV: ""})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == ["studio: error: --to tfjs is unavailable: Node.js is not installed (install Node 18 or later: "
                     "https://nodejs.org)"]
    assert not out.exists() and time.perf_counter() - t0 < 30


def test_to_tfjs_without_its_environment_names_the_setup_command(tmp_path):
    done = run_studio("convert", sample_model_path(), "--to", "tfjs", "--out", tmp_path / "out",
                      env={env.DATA_ENV: str(tmp_path / "empty")})
    assert done.returncode == 2
    assert "studio setup tfjs" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_corrupt_model_json_is_a_comparison_failure_not_a_traceback(tmp_path):
    """The convert job's own comparison step (pipeline._compare_all) on a TF.js folder whose model.json is cut."""
    from studio.formats import detect
    from studio.jobs.protocol import ConvertRequest
    from studio.pipeline import JobSteps, _compare_all
    from studio.signature import Signature, TensorSpec

    model = tmp_path / "final" / "m_tfjs_float32"
    model.mkdir(parents=True)
    (model / "model.json").write_text('{"format": "graph-model", "modelTopology": {"node": [')
    source = detect(sample_model_path())
    signature = Signature((TensorSpec("image", "float32", (1, 3, 64, 64), "NCHW"),), ())
    feeds = {"image": np.zeros((1, 3, 64, 64), np.float32)}
    events = []
    job = JobSteps("t", events.append)
    artifact = Artifact(kind="tfjs", variant="float32", path=str(model), input_layout={"image": "NHWC"})
    request = ConvertRequest(source=source.to_dict(), out_dir=str(tmp_path / "out"), options=ConvertOptions())
    failed = _compare_all(job, request, source, feeds, {"output_0": np.zeros((1, 10), np.float32)}, signature,
                          [artifact], tmp_path / "final", tmp_path / "out")
    assert failed == [artifact]
    comparison = job.record.comparisons[0]
    assert not comparison["passed"] and comparison["kind"] == "tfjs"
    assert "could not load TF.js model" in comparison["error"] and "model.json" in comparison["error"]
    assert "\n" not in comparison["error"]


def test_opening_a_model_json_that_is_no_graph_model_is_one_line(tmp_path):
    from studio.runtimes import open_runtime

    (tmp_path / "model.json").write_text(json.dumps({"format": "layers-model"}))
    with pytest.raises(StudioError, match="could not load TF.js model") as err:
        open_runtime(tmp_path)
    assert "\n" not in str(err.value)


@needs_tfjs
def test_setup_is_idempotent_a_second_run_only_checks():
    first = run_studio("setup", "tfjs", timeout=3600)
    assert first.returncode == 0, first.stderr
    t0 = time.perf_counter()
    again = run_studio("setup", "tfjs")
    took = time.perf_counter() - t0
    assert again.returncode == 0, again.stderr
    assert "converter: ready (protobuf 6.31.1, tensorflowjs 4.22.0)" in again.stderr
    assert "runner: ready (@tensorflow/tfjs 4.22.0)" in again.stderr
    assert "creating" not in again.stderr and "installing" not in again.stderr
    assert took < 20, f"a second set-up took {took:.1f} s"


def test_the_window_offers_the_setup_while_tfjs_needs_it(tmp_path):
    """In a fresh process, as the app starts: the TF.js checkbox says "needs set-up", the button says what it
    installs and how large it is, and neither torch nor TensorFlow is imported."""
    import subprocess

    code = """if True:
        import json, sys
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from studio.gui.convert_panel import ConvertPanel
        panel = ConvertPanel()
        box = panel.target_boxes["tfjs"]
        print(json.dumps({"text": box.text(), "enabled": box.isEnabled(), "tip": box.toolTip(),
                          "button": panel.tfjs_setup.isVisibleTo(panel), "summary": panel.setup_summary(),
                          "heavy": sorted(m for m in ("torch", "tensorflow") if m in sys.modules)}))
    """
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, env.DATA_ENV: str(tmp_path), "QT_QPA_PLATFORM": "offscreen"})
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["text"] == "TF.js (needs set-up)" and not shown["enabled"] and shown["button"]
    assert "studio setup tfjs" in shown["tip"]
    assert "GB on disk" in shown["summary"]
    assert "tensorflowjs 4.22.0" in shown["summary"] and str(tmp_path) in shown["summary"]
    assert shown["heavy"] == []


@needs_tfjs
def test_the_window_runs_the_setup_in_the_background_and_enables_tfjs(qtbot):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from studio.gui.convert_panel import ConvertPanel

    panel = ConvertPanel()
    qtbot.addWidget(panel)
    assert panel.target_boxes["tfjs"].text() == "TF.js" and panel.target_boxes["tfjs"].isEnabled()
    panel.start_tfjs_setup()   # the real `studio setup tfjs`: here it checks the prepared set-up
    assert not panel.tfjs_setup.isEnabled()
    qtbot.waitUntil(lambda: panel._tfjs_process is None, timeout=120_000)
    assert panel.target_boxes["tfjs"].isEnabled() and "failed" not in panel.tfjs_note.text()
    panel.target_boxes["tfjs"].setChecked(True)
    assert "tfjs" in panel.options().targets and panel.variants_box.isEnabled()

"""Real TF.js conversions: the studio's SavedModel through tensorflowjs (its own venv), each model run in Node.

Nothing is mocked: TF, the converter and Node all run. These need the environment ./scripts/test prepares
(`studio setup tfjs`); a dev run without it skips them with that reason, ./scripts/test fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from studio.resources import sample_model_path
from studio_cli import run_studio
from test_tfjs import needs_tfjs, tfjs_ready, without_node_path  # noqa: F401 - tfjs_ready: the skipif evaluates it

pytestmark = pytest.mark.slow


def convert(source, out: Path, *args, env=None):
    done = run_studio("convert", source, "--out", out, *args, timeout=1800, env=env)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else None
    return done, report


def tfjs_rows(report: dict) -> dict[str, dict]:
    return {c["variant"]: c for c in report["comparisons"] if c["kind"] == "tfjs"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("tfjs") / "sample"
    return convert(sample_model_path(), out, "--to", "tfjs", "--quantize", "float32,float16,dynamic_int8") + (out,)


@needs_tfjs
def test_sample_cnn_every_variant_is_verified_in_node(sample):
    done, report, out = sample
    assert done.returncode == 0, done.stderr[-2000:]
    rows = tfjs_rows(report)
    assert set(rows) == {"float32", "float16", "uint8"}
    assert all(row["passed"] for row in rows.values()), rows
    assert rows["float32"]["outputs"][0]["max_abs"] < 1e-5            # float32 weights: TF's numbers
    assert rows["uint8"]["tolerance"]["min_cosine"] == 0.99          # 8-bit weights: judged as dynamic_int8
    made = {a["variant"]: a for a in report["artifacts"] if a["kind"] == "tfjs"}
    assert made["float32"]["input_layout"] == {"image": "NHWC"}       # the SavedModel's signature
    assert made["float16"]["bytes"] < made["float32"]["bytes"] and made["uint8"]["bytes"] < made["float16"]["bytes"]
    for artifact in made.values():
        assert (Path(artifact["path"]) / "model.json").is_file() and Path(artifact["path"]).parent == out
    assert [s["name"] for s in report["stages"]][-2:] == ["savedmodel->tfjs", "compare outputs"]
    assert any(c["kind"] == "savedmodel" and c["passed"] for c in report["comparisons"])
    assert "tfjs" in done.stdout                                     # the side-by-side table


@needs_tfjs
def test_a_tfjs_model_is_inspected_compared_and_refused_as_a_source(sample):
    done, report, out = sample
    folder = out / "tiny_cnn_tfjs_float32"
    inspected = run_studio("inspect", folder, "--json")
    assert inspected.returncode == 0, inspected.stderr
    info = json.loads(inspected.stdout)
    assert info["source"]["format"] == "tfjs" and info["parameters"] > 1000
    assert [i["name"] for i in info["inputs"]] == ["image"] and info["inputs"][0]["shape"] == [1, 64, 64, 3]
    compared = run_studio("compare", sample_model_path(), folder)
    assert compared.returncode == 0 and "PASS" in compared.stdout, compared.stderr
    refused = run_studio("convert", folder, "--out", out.parent / "again")
    assert refused.returncode == 2 and "tfjs models are not converted here" in refused.stderr


@needs_tfjs
def test_keras_cnn_to_tfjs(models, tmp_path):
    done, report = convert(models["keras"], tmp_path / "keras", "--to", "tfjs")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = tfjs_rows(report)
    assert set(rows) == {"float32", "float16"} and all(r["passed"] for r in rows.values())
    assert rows["float32"]["outputs"][0]["max_abs"] < 1e-4


@needs_tfjs
def test_small_transformer_to_tfjs(models, tmp_path):
    """LayerNorm, multi-head attention and an exact GELU (Erf), through ONNX, the SavedModel and TF.js."""
    done, report = convert(models["transformer_pt2"], tmp_path / "block", "--to", "tfjs", "--quantize", "float32")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = tfjs_rows(report)
    assert list(rows) == ["float32"] and rows["float32"]["passed"]
    assert rows["float32"]["outputs"][0]["shape"] == [1, 10, 32]


@needs_tfjs
def test_a_corrupt_weight_shard_is_a_clear_comparison_failure(sample, tmp_path):
    """model.json promises more weights than the shard holds: Node says so, the comparison fails in one line."""
    from studio.formats import detect
    from studio.jobs.protocol import ConvertRequest
    from studio.options import ConvertOptions
    from studio.pipeline import JobSteps, _compare_all
    from studio.runtimes import open_runtime
    from studio.artifacts import Artifact

    _, report, out = sample
    model = tmp_path / "final" / "cut_tfjs_float32"
    shutil.copytree(out / "tiny_cnn_tfjs_float32", model)
    shard = next(model.glob("*.bin"))
    shard.write_bytes(shard.read_bytes()[:100])
    source = detect(sample_model_path())
    reference = open_runtime(source)
    feeds = {"image": np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)}
    ref_out = reference.run(feeds)
    job = JobSteps("t", lambda event: None)
    artifact = Artifact(kind="tfjs", variant="float32", path=str(model), input_layout={"image": "NHWC"})
    request = ConvertRequest(source=source.to_dict(), out_dir=str(tmp_path / "out"), options=ConvertOptions())
    failed = _compare_all(job, request, source, feeds, ref_out, reference.signature, [artifact],
                          tmp_path / "final", tmp_path / "out")
    comparison = job.record.comparisons[0]
    assert failed and not comparison["passed"]
    assert comparison["error"].startswith("TF.js could not run cut_tfjs_float32: ")
    assert "\n" not in comparison["error"] and "Traceback" not in comparison["error"]


@needs_tfjs
def test_the_compare_tab_shows_the_tfjs_rows(sample, qtbot):
    from studio.gui.diff_view import DiffView

    _, report, _ = sample
    view = DiffView()
    qtbot.addWidget(view)
    for comparison in report["comparisons"]:
        view.add_comparison(comparison)
    items = [view.artifact_combo.itemText(i) for i in range(view.artifact_combo.count())]
    assert any("tfjs_uint8" in text and "(uint8)" in text for text in items), items
    table = next(iter(view.tables.values()))
    shown = [table.item(row, 0).text() for row in range(table.rowCount())]
    assert sum("tfjs" in text for text in shown) == 3, shown


def test_without_node_the_other_targets_still_convert_and_verify(tmp_path):
    out = tmp_path / "out"
    done, report = convert(sample_model_path(), out, "--to", "onnx,tfjs",
                           env={"PATH": without_node_path(), "STUDIO_NODE": ""})
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines()[0] == ("studio: error: --to tfjs is unavailable: Node.js is not installed "
                                           "(install Node 18 or later: https://nodejs.org); converting onnx without it")
    assert [(c["kind"], c["passed"]) for c in report["comparisons"]] == [("onnx", True)]
    assert report["exit_code"] == 0   # the job itself passed; the command's exit code says tfjs is missing

"""`convert --serving`: the SavedModel laid out for TF Serving (<out>/<name>/<version>/) with a serving_default
signature that keeps the source's input and output names. Real conversions, nothing mocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import plain_onnx
from studio.resources import sample_model_path
from studio_cli import run_studio
from test_tfjs import needs_tfjs, tfjs_ready  # noqa: F401 - tfjs_ready: the skipif evaluates it

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    import torch

    from models import keras_two_in_two_out, torch_cnn

    root = tmp_path_factory.mktemp("serving-sources")
    keras_two_in_two_out().save(root / "two.keras")   # inputs image, meta; outputs logits, value
    cnn, image = torch_cnn()                          # forward(self, image); the exporter names its output output_0
    torch.export.save(torch.export.export(cnn, (image,)), root / "cnn.pt2")
    return {"keras": root / "two.keras", "torch": root / "cnn.pt2"}


def convert(source: Path, out: Path, *args: str, version: int = 1) -> dict:
    """Convert with --serving --serving-version VERSION; the job's report (<name>_v<version>_report.json)."""
    done = run_studio("convert", source, "--out", out, "--to", "savedmodel", "--serving", "--serving-version",
                      version, *args, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / f"{source.stem}_v{version}_report.json").read_text())


def serving_default(path: Path) -> tuple[set[str], set[str]]:
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    return set(fn.structured_input_signature[1]), set(fn.structured_outputs)


def check_layout(report: dict, out: Path, name: str, version: int, inputs: set[str], outputs: set[str]) -> None:
    folder = out / name / str(version)
    assert (folder / "saved_model.pb").is_file() and (folder / "variables").is_dir()
    assert not (out / f"{name}_savedmodel").exists() and sorted(p.name for p in (out / name).iterdir()) == [str(version)]
    [artifact] = [a for a in report["artifacts"] if a["kind"] == "savedmodel"]
    assert artifact["path"] == str(folder) and artifact["bytes"] > 0
    [compared] = [c for c in report["comparisons"] if c["kind"] == "savedmodel"]
    assert compared["passed"] and compared["candidate"] == str(folder), compared
    assert serving_default(folder) == (inputs, outputs)
    info = json.loads(run_studio("inspect", folder, "--json").stdout)
    served = info["signatures"]["serving_default"]
    assert {t["name"] for t in served["inputs"]} == inputs and {t["name"] for t in served["outputs"]} == outputs
    assert all(t["dtype"] == "float32" and t["shape"][0] == 1 for t in served["inputs"] + served["outputs"])
    text = run_studio("inspect", folder).stdout
    assert "signature serving_default:" in text
    for tensor in sorted(inputs):
        assert any(line.split()[:2] == ["input", tensor] for line in text.splitlines()), text
    for tensor in sorted(outputs):
        assert any(line.split()[:2] == ["output", tensor] for line in text.splitlines()), text


def test_keras_two_inputs_two_outputs_keep_their_names(sources, tmp_path):
    out = tmp_path / "out"
    report = convert(sources["keras"], out)
    check_layout(report, out, "two", 1, {"image", "meta"}, {"logits", "value"})


def test_torch_cnn_with_a_version_through_the_tf_converter_backend(sources, tmp_path):
    out = tmp_path / "out"
    report = convert(sources["torch"], out, "--backend", "onnx2tf-tf-converter", version=3)
    assert report["artifacts"][0]["backend"] == "onnx2tf-tf-converter"
    check_layout(report, out, "cnn", 3, {"image"}, {"output_0"})


@needs_tfjs
def test_tfjs_is_converted_from_the_serving_folder(tmp_path):
    out = tmp_path / "out"
    done = run_studio("convert", sample_model_path(), "--out", out, "--to", "tfjs", "--serving", "--quantize",
                      "float32", timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "tiny_cnn_v1_report.json").read_text())
    assert (out / "tiny_cnn" / "1" / "saved_model.pb").is_file() and (out / "tiny_cnn_tfjs_float32" / "model.json").is_file()
    assert {c["kind"]: c["passed"] for c in report["comparisons"]} == {"savedmodel": True, "tfjs": True}
    assert "tiny_cnn/1" in done.stdout   # the table names the version folder with its model's name


@pytest.mark.parametrize("version", ["0", "-2"])
def test_a_bad_version_is_one_line_and_exit_2(sources, tmp_path, version):
    done = run_studio("convert", sources["torch"], "--out", tmp_path / "out", "--serving", f"--serving-version={version}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"studio: error: --serving-version {version}: give 1 or more"]
    assert not (tmp_path / "out").exists()


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_versions_are_added_to_the_same_out_and_force_replaces_only_its_own(tmp_path):
    source = plain_onnx(tmp_path / "plain.onnx")   # the smallest model: a Gemm, a Relu, a Softmax
    out = tmp_path / "out"

    def serve(version: int, *args: str):
        return run_studio("convert", source, "--out", out, "--to", "savedmodel", "--serving", "--serving-version",
                          version, *args, timeout=1800)

    def report(version: int) -> dict:
        return json.loads((out / f"plain_v{version}_report.json").read_text())

    first = serve(1)
    assert first.returncode == 0, first.stderr[-3000:]
    (out / "notes.txt").write_text("the user's own file")
    (out / "plain" / "README").write_text("the user's file beside the versions")
    before = files_under(out)
    assert any(name.startswith("plain/1/") for name in before)

    second = serve(2)   # added beside version 1, nothing of it touched
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in (out / "plain").iterdir()) == ["1", "2", "README"]
    now = files_under(out)
    assert {name: now[name] for name in before} == before, "version 1, its report and the user's files are as they were"
    assert report(1)["artifacts"][0]["path"] == str(out / "plain" / "1")
    assert report(2)["artifacts"][0]["path"] == str(out / "plain" / "2") and report(2)["comparisons"][0]["passed"]
    assert (out / "plain" / "2" / "saved_model.pb").is_file()
    assert not list(tmp_path.glob(".out.studio-tmp*"))

    again = serve(2)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"studio: error: {out / 'plain' / '2'} already exists: pass --force to replace that version, "
        f"or choose another --serving-version"]
    assert files_under(out) == now and not list(tmp_path.glob(".out.studio-tmp*"))

    (out / "plain" / "2" / "stale.txt").write_text("left by the version 2 that --force replaces")
    replaced = serve(2, "--force")
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert report(2)["job_id"] != json.loads(now["plain_v2_report.json"])["job_id"]
    assert report(2)["comparisons"][0]["passed"]
    assert not (out / "plain" / "2" / "stale.txt").exists() and (out / "plain" / "2" / "saved_model.pb").is_file()
    after = files_under(out)
    kept = {name: data for name, data in now.items() if not name.startswith(("plain/2/", "plain_v2_"))}
    assert {name: after[name] for name in kept} == kept, "version 1 and every other file are kept"
    assert sorted(p.name for p in (out / "plain").iterdir()) == ["1", "2", "README"]
    assert not list(tmp_path.glob(".out.studio-tmp*"))

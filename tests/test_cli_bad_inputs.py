"""Malformed or hostile inputs: each gives exit code 2, one line on stderr, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from studio_cli import run_studio

RANDOM = os.urandom(4096)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _cases(tmp: Path, models: dict[str, Path]) -> list[tuple[str, list[str]]]:
    onnx_bytes = models["onnx"].read_bytes()
    not_saved_model = tmp / "just_a_folder"
    not_saved_model.mkdir()
    (not_saved_model / "weights.bin").write_bytes(b"\0" * 64)
    fake_saved_model = tmp / "fake_savedmodel"
    fake_saved_model.mkdir()
    (fake_saved_model / "saved_model.pb").write_bytes(RANDOM[:300])
    plain_zip = tmp / "archive.keras"
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("readme.txt", "not a model")
    cases = [
        ("empty .onnx", [_write(tmp / "empty.onnx", b"")]),
        ("empty .pt", [_write(tmp / "empty.pt", b"")]),
        ("truncated .onnx", [_write(tmp / "truncated.onnx", onnx_bytes[: len(onnx_bytes) // 2])]),
        ("truncated .pt2", [_write(tmp / "truncated.pt2", models["cnn_pt2"].read_bytes()[:5000])]),
        ("truncated .keras", [_write(tmp / "truncated.keras", models["keras"].read_bytes()[:3000])]),
        ("a folder that is not a SavedModel", [not_saved_model]),
        ("a SavedModel folder with a garbage saved_model.pb", [fake_saved_model]),
        ("a zip that is no model", [plain_zip]),
        ("a pickle without --allow-pickle", [models["pickle"]]),
        ("a state_dict alone", [models["factory_weights"]]),
        ("a missing path", [tmp / "nowhere" / "model.onnx"]),
        ("a .py without its factory name", [models["factory"]]),
        ("a factory name the file lacks", [f"{models['factory']}:no_such_factory", "--to", "onnx"]),
        ("TorchScript without --input-shape", [models["torchscript"], "--to", "onnx"]),
        ("a bad --input-shape", [models["cnn_pt2"], "--input-shape", "image=1,three,32,32"]),
        ("a zero in --input-shape", [models["cnn_pt2"], "--input-shape", "0,3,32,32"]),
        ("an --input-shape for an unknown input", [models["cnn_pt2"], "--input-shape", "nope=1,3,32,32"]),
        ("an unknown --to target", [models["onnx"], "--to", "coreml"]),
        ("an unknown --quantize variant", [models["onnx"], "--quantize", "int4"]),
        ("the unavailable onnx-tf backend", [models["onnx"], "--backend", "onnx-tf"]),
        ("a missing --inputs file", [models["onnx"], "--inputs", tmp / "missing.npz"]),
        ("a TFLite file as a conversion source", [_write(tmp / "fake.tflite", b"\x1c\0\0\0TFL3" + RANDOM[:500])]),
        ("a negative --atol", [models["onnx"], "--atol", "-1"]),
        ("an --out inside a file", [models["onnx"], "--out", _write(tmp / "a_file", b"x") / "out"]),
        ("an --out where nothing can be written", [models["onnx"], "--out", "/proc/studio-out"]),
    ]
    for ext in (".onnx", ".tflite", ".pt", ".pt2", ".keras", ".h5", ".pb", ".bin"):
        cases.append((f"random bytes as {ext}", [_write(tmp / f"random{ext}", RANDOM)]))
    return cases


def test_bad_inputs_exit_2_with_one_line_and_leave_nothing(tmp_path, models):
    work = tmp_path / "work"
    work.mkdir()
    cases = _cases(tmp_path, models)
    assert len(cases) >= 15
    before = sorted(p.name for p in tmp_path.iterdir())
    for label, args in cases:
        result = run_studio("convert", *args, cwd=work)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, f"{label}: exit {result.returncode}\n{result.stderr}"
        assert len(lines) == 1 and lines[0].startswith("studio: error: "), f"{label}: {result.stderr!r}"
        assert "Traceback" not in result.stderr + result.stdout, label
        assert list(work.iterdir()) == [], f"{label} left {list(work.iterdir())}"
        assert sorted(p.name for p in tmp_path.iterdir()) == before, f"{label} left files beside the source"


def test_pickle_refusal_says_why_and_how_to_opt_in(models, tmp_path):
    result = run_studio("convert", models["pickle"], cwd=tmp_path)
    assert result.returncode == 2
    assert "can run arbitrary code" in result.stderr and "--allow-pickle" in result.stderr


def test_torchscript_without_shapes_says_how_to_give_them(models, tmp_path):
    result = run_studio("convert", models["torchscript"], "--to", "onnx", cwd=tmp_path)
    assert result.returncode == 2
    assert "--input-shape" in result.stderr


def test_inspect_and_compare_reject_bad_input_too(models, tmp_path):
    junk = _write(tmp_path / "junk.onnx", RANDOM)
    for args in (["inspect", junk], ["compare", models["onnx"], junk], ["compare", junk, models["onnx"]],
                 ["inspect", tmp_path / "missing.pt2"]):
        result = run_studio(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_usage_errors_exit_2(tmp_path):
    for args in ([], ["convert"], ["frobnicate"], ["convert", "x.onnx", "--opset", "nine"]):
        result = run_studio(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.returncode, result.stderr)
        assert "Traceback" not in result.stderr


def test_existing_output_is_never_overwritten_without_force(models, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    keep = out / "precious.txt"
    keep.write_text("mine")
    result = run_studio("convert", models["onnx"], "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and "--force" in result.stderr
    assert [p.name for p in out.iterdir()] == ["precious.txt"] and keep.read_text() == "mine"
    shutil.rmtree(out)

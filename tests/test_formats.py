"""Format detection reads content, never imports a framework, and refuses what it can't read."""

import subprocess
import sys

import pytest

from studio.errors import StudioError
from studio.formats import Format, detect
from studio.signature import TensorSpec, parse_input_shapes, resolve_shapes


def test_each_source_format_is_detected(models):
    expected = {"torchscript": Format.TORCHSCRIPT, "cnn_pt2": Format.EXPORTED_PROGRAM, "keras": Format.KERAS,
                "h5": Format.H5, "savedmodel": Format.SAVEDMODEL, "onnx": Format.ONNX}
    for name, fmt in expected.items():
        assert detect(models[name]).format is fmt, name
    assert detect(models["pickle"], allow_pickle=True).format is Format.TORCH_PICKLE
    factory = detect(f"{models['factory']}:build_model", weights=models["factory_weights"])
    assert factory.format is Format.PYTHON_FACTORY and factory.factory == "build_model"


def test_extension_does_not_fool_detection(models, tmp_path):
    renamed = tmp_path / "actually_onnx.pt"
    renamed.write_bytes(models["onnx"].read_bytes())
    assert detect(renamed).format is Format.ONNX
    keras_as_bin = tmp_path / "model.bin"
    keras_as_bin.write_bytes(models["keras"].read_bytes())
    assert detect(keras_as_bin).format is Format.KERAS


def test_pickles_need_consent_and_state_dicts_need_code(models):
    with pytest.raises(StudioError, match="arbitrary code"):
        detect(models["pickle"])
    with pytest.raises(StudioError, match="state_dict"):
        detect(models["factory_weights"], allow_pickle=True)


def test_detect_imports_no_framework(models):
    code = (f"import sys; from studio.formats import detect; detect({str(models['cnn_pt2'])!r}); "
            f"detect({str(models['keras'])!r}); detect({str(models['onnx'])!r}); "
            "print(any(m in sys.modules for m in ('torch', 'tensorflow', 'keras')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_the_engine_imports_no_qt():
    """Every module outside studio/gui imports without PySide6, the frozen entry point included (its --smoke-gui
    window lives in studio.gui.frozen_support)."""
    code = ("import importlib, pkgutil, sys, studio; "
            "names = [m.name for m in pkgutil.walk_packages(studio.__path__, 'studio.') "
            "         if not m.name.startswith('studio.gui') and m.name != 'studio.__main__']; "
            "[importlib.import_module(n) for n in names]; "
            "import studio.frozen; studio.frozen.main(['--version']); "
            "print(len(names), sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    count, _, qt = result.stdout.strip().splitlines()[-1].partition(" ")
    assert int(count) > 30 and qt == "[]", result.stdout + result.stderr
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "studio"
    for path in root.rglob("*.py"):
        if "gui" not in path.relative_to(root).parts:
            imported = {alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import)
                        for alias in node.names} | {node.module or "" for node in ast.walk(ast.parse(path.read_text()))
                                                    if isinstance(node, ast.ImportFrom)}
            assert not {name for name in imported if name.split(".")[0] == "PySide6"}, f"{path} imports Qt"


def test_input_shapes_parse_and_resolve():
    assert parse_input_shapes(["x=1,3,8,8", "y=2,4"]) == {"x": (1, 3, 8, 8), "y": (2, 4)}
    assert parse_input_shapes(["1,3,8,8"]) == {None: (1, 3, 8, 8)}
    for bad in (["x=1,a"], ["=1,2"], ["x=0,2"], ["x=1", "x=2"]):
        with pytest.raises(StudioError):
            parse_input_shapes(bad)
    dynamic = (TensorSpec("x", "float32", (None, 3, None, 8)),)
    with pytest.raises(StudioError, match="--input-shape x="):
        resolve_shapes(dynamic, {})
    assert resolve_shapes(dynamic, {None: (2, 3, 5, 8)})[0].shape == (2, 3, 5, 8)
    with pytest.raises(StudioError, match="fixes it"):
        resolve_shapes(dynamic, {"x": (1, 4, 5, 8)})
    assert resolve_shapes((TensorSpec("t", "int64", (None, 10)),), {})[0].shape == (1, 10)

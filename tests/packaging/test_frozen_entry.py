"""The frozen app's entry point and self-test, in development (no PyInstaller build): fast, except the self-test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from studio import __version__, frozen

ROOT = Path(__file__).resolve().parents[2]


def run_entry(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio.frozen", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_version_and_help(capsys):
    assert frozen.main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out
    assert frozen.main(["--help"]) == 0
    assert "--self-test" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error(capsys):
    assert frozen.main(["--bogus"]) == 2
    assert "unknown option --bogus" in capsys.readouterr().err


def test_cli_commands_go_to_the_studio_cli(monkeypatch):
    seen = {}

    def fake_cli(argv):
        seen["argv"] = argv
        return 7

    monkeypatch.setattr("studio.cli.main", fake_cli)
    for command in frozen.CLI_COMMANDS:
        assert frozen.main([command, "model.onnx", "--json"]) == 7
        assert seen["argv"] == [command, "model.onnx", "--json"]


def test_worker_flag_runs_the_worker(monkeypatch):
    import studio.jobs.launch
    import studio.jobs.worker

    monkeypatch.setattr(studio.jobs.worker, "main", lambda: 5)
    assert frozen.main([frozen.WORKER_FLAG]) == 5
    # the runner's frozen command line uses the very flag the entry point dispatches on
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert studio.jobs.launch.worker_command() == [sys.executable, frozen.WORKER_FLAG]


def test_a_path_opens_the_gui_with_it(monkeypatch):
    opened = []
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(frozen, "_load_run_gui", lambda: (lambda path: opened.append(path) or 0, ""))
    assert frozen.main(["/models/a b.onnx"]) == 0
    assert frozen.main(["file:///models/a%20b.tflite"]) == 0   # desktops that pass %u hand out URIs
    assert frozen.main([]) == 0
    assert opened == ["/models/a b.onnx", "/models/a b.tflite", None]


def test_without_a_display_it_says_so_in_one_line(monkeypatch, capsys):
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert frozen.main(["model.onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no display found" in err and "\n" not in err


def test_a_missing_gui_is_reported_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(frozen, "_load_run_gui", lambda: (None, "No module named 'studio.gui.app'"))
    assert frozen.main([]) == 2
    assert "not available in this build" in capsys.readouterr().err


def test_entry_module_runs_as_a_script():
    result = run_entry("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Model Conversion Studio {__version__}"


@pytest.mark.slow
def test_self_test_passes_in_development():
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)
    result = run_entry("--self-test", env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "self-test PASSED" in out
    assert out.count("PASS") >= 5 and "FAIL" not in out          # 4 table rows + the closing line
    for artifact in ("tiny_cnn.onnx", "tiny_cnn_savedmodel", "tiny_cnn_float32.tflite", "tiny_cnn_float16.tflite"):
        assert artifact in out
    assert "versions: torch" in out
    assert "torch->onnx" in result.stderr                          # the stage progress


@pytest.mark.gui
def test_smoke_gui_opens_the_sample_and_reports_the_graph(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               STUDIO_DATA_DIR=str(tmp_path / "data"))   # TF.js not set up: the app starts all the same
    result = run_entry("--smoke-gui", "90", env=env, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert re.search(r"window shown in [0-9.]+ s; graph loaded: True", result.stdout), result.stdout + result.stderr
    tfjs = re.search(r"^TF\.js: needs set-up: (.*)$", result.stdout, re.M)
    assert tfjs and ("studio setup tfjs" in tfjs.group(1) or "Node" in tfjs.group(1)), result.stdout

"""./scripts/studio on a machine with no display: one line saying so, then the sample converted headless."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_studio_script_without_display_converts_the_sample():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([str(ROOT / "scripts" / "studio")], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.splitlines()[0].startswith("No display found")
    assert "platform plugin" not in result.stderr
    assert result.stdout.count("PASS") == 4 and "FAIL" not in result.stdout

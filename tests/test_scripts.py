"""./scripts/studio on a machine with no display: one line saying so, then the sample converted headless."""

import os
import sys
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


def test_qt_system_libs_names_the_debian_package_of_each_missing_library():
    import subprocess

    sys.path.insert(0, str(ROOT / "scripts"))
    from qt_system_libs import missing_libraries, package_for

    assert package_for("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert package_for("libX11-xcb.so.1") == "libx11-xcb1" and package_for("libnss3.so") == "libnss3"
    import PySide6

    known = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for name in missing_libraries(Path(PySide6.__file__).parent / "Qt"):   # what this machine really lacks
        assert f"{name} " not in known

#!/usr/bin/env python3
"""Which system libraries Qt's X11 platform plugin and QtWebEngine need and this machine lacks.

PySide6 ships Qt but not the X11/xcb, OpenGL and NSS libraries Qt loads from the system. Without one,
`studio gui` aborts with Qt's own message, which names libxcb-cursor0 whatever is missing. We ask the
dynamic loader (ldd) instead, and print the one command that installs what is missing (Debian/Ubuntu
package names, which follow the library's soname). Exit code 1 when something is missing.

    .venv/bin/python scripts/qt_system_libs.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

# The Qt files a window with the Netron graph loads: the xcb platform plugin and the web engine.
QT_FILES = ("plugins/platforms/libqxcb.so", "lib/libQt6XcbQpa.so.6", "lib/libQt6Gui.so.6",
            "lib/libQt6WebEngineCore.so.6")
# Debian packages whose names do not follow the soname rule below.
PACKAGES = {"libGL.so.1": "libgl1", "libEGL.so.1": "libegl1", "libGLX.so.0": "libglx0",
            "libnss3.so": "libnss3", "libnssutil3.so": "libnss3", "libsmime3.so": "libnss3",
            "libnspr4.so": "libnspr4", "libplc4.so": "libnspr4", "libplds4.so": "libnspr4",
            "libasound.so.2": "libasound2", "libdbus-1.so.3": "libdbus-1-3", "libX11-xcb.so.1": "libx11-xcb1"}


def package_for(soname: str) -> str:
    """libxcb-cursor.so.0 -> libxcb-cursor0, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0 (Debian's rule)."""
    if soname in PACKAGES:
        return PACKAGES[soname]
    match = re.fullmatch(r"(lib[\w+.-]+?)\.so\.(\d+)", soname)
    if not match:
        return soname
    stem, version = match.groups()
    return f"{stem.lower()}{'-' if stem[-1].isdigit() else ''}{version}"


def missing_libraries(qt_dir: Path) -> list[str]:
    missing: set[str] = set()
    for relative in QT_FILES:
        target = qt_dir / relative
        if not target.is_file():
            continue
        result = subprocess.run(["ldd", str(target)], capture_output=True, text=True)
        missing.update(m.group(1) for m in re.finditer(r"^\s*(\S+) => not found", result.stdout, re.M))
    return sorted(missing)


def main() -> int:
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        return 0
    import PySide6

    missing = missing_libraries(Path(PySide6.__file__).parent / "Qt")
    if not missing:
        return 0
    packages = sorted({package_for(name) for name in missing})
    print(f"Qt needs system libraries this machine lacks: {', '.join(missing)}", file=sys.stderr)
    print(f"Install them with:  sudo apt-get install {' '.join(packages)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

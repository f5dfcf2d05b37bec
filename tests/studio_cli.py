"""Run the real `studio` command in a fresh process, as a user does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_studio(*args, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)

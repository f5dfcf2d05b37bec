"""Run the real `studio` command in a fresh process, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_studio(*args, cwd: Path | None = None, timeout: float = 600,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """env: variables set on top of this process's environment (e.g. a TMPDIR of the test's own)."""
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})

"""How to start a worker process, in development and in the frozen (PyInstaller) app."""

from __future__ import annotations

import os
import sys

WORKER_FLAG = "--worker"


def worker_command() -> list[str]:
    """A frozen app re-launches itself in worker mode; otherwise run the worker module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_FLAG]
    return [sys.executable, "-m", "studio.jobs.worker"]


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")     # TF's C++ banner lines are noise to our users
    env.setdefault("CUDA_VISIBLE_DEVICES", "")       # CPU-only stack; skip GPU probing
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    return env

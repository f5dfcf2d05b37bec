"""How to start a worker process, in development and in the frozen (PyInstaller) app."""

from __future__ import annotations

import os
import sys

WORKER_FLAG = "--worker"

# glibc's malloc, fixed instead of adaptive, for the worker. By default it gives every freed block of more than a
# few MB back to the OS (mmap'ed, or trimmed off the heap's top), so the next allocation of that size faults its pages
# in again. A conversion frees and reallocates its weights over and over (onnx2tf copies its whole IR before each
# of its passes): on ViT-B/16, 3.4 million page faults and 12 s of the 27 s onnx2tf took were the kernel's. With
# blocks up to 32 MB (glibc's largest) taken from the heap and the heap's free top kept, the same run takes 22 s
# with 2.0 million faults, at the same peak (3.9 GB; onnx2tf still trims the heap itself between its phases, and a
# warm worker trims it after each job: worker_reset). A user's own MALLOC_* settings win.
MALLOC_TUNING = {"MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024), "MALLOC_TRIM_THRESHOLD_": str(16 * 1024 ** 3)}


def worker_command() -> list[str]:
    """A frozen app re-launches itself in worker mode; otherwise run the worker module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_FLAG]
    return [sys.executable, "-m", "studio.jobs.worker"]


def worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")     # TF's C++ banner lines are noise to our users
    env.setdefault("CUDA_VISIBLE_DEVICES", "")       # CPU-only stack; skip GPU probing
    if "glibc.malloc" not in env.get("GLIBC_TUNABLES", ""):   # the user tunes malloc there: leave it
        env.update({k: v for k, v in MALLOC_TUNING.items() if k not in env})
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)
    return env

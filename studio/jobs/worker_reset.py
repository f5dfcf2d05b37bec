"""What one job may change in a warm worker, put back before the next job runs.

A warm worker keeps torch and TensorFlow imported between jobs (that is its point); everything else a
job can touch is restored: the working folder, sys.path, the user's modules, environment variables (a
scratch job's TMPDIR), sys.stdout/sys.stderr and the file descriptors under them, tempfile's folder; and the caches that grow per model
(torch.compile's, Keras' graph names) are cleared.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any, Iterator

import studio
from studio.loaders import USER_MODULE_PREFIX
from studio.memory import give_back_heap

_LIBRARY_ROOTS = tuple({str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sysconfig.get_paths()["purelib"],
                                                          sysconfig.get_paths()["stdlib"], Path(studio.__file__).parent)})


@contextlib.contextmanager
def job_scope(request: Any) -> Iterator[None]:
    cwd, path, modules = os.getcwd(), list(sys.path), set(sys.modules)
    environ, streams, tempdir = dict(os.environ), (sys.stdout, sys.stderr), tempfile.tempdir
    descriptors = {fd: os.dup(fd) for fd in (1, 2)}   # a job may redirect them below Python (os.dup2)
    scratch = getattr(request, "staging_dir", None) if getattr(request, "kind", "") != "convert" else None
    if scratch:   # the libraries' temp files go into the job's scratch folder, removed with it
        os.environ["TMPDIR"] = scratch
        tempfile.tempdir = None
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
        sys.path[:] = path
        for name in [n for n in sys.modules if n not in modules and _is_user_module(n, sys.modules[n])]:
            del sys.modules[name]
        os.environ.clear()
        os.environ.update(environ)
        sys.stdout, sys.stderr = streams
        for fd, saved in descriptors.items():
            with contextlib.suppress(OSError):
                os.dup2(saved, fd)
            os.close(saved)
        tempfile.tempdir = tempdir
        _clear_caches()


def _is_user_module(name: str, module: Any) -> bool:
    """A module the job's user code brought in: not the interpreter's, not an installed library's, not ours."""
    if name.startswith(USER_MODULE_PREFIX):
        return True
    file = getattr(module, "__file__", None)
    if not file:
        return False
    try:
        resolved = str(Path(file).resolve())
    except (OSError, ValueError):
        return False
    return not resolved.startswith(_LIBRARY_ROOTS)


def _clear_caches() -> None:
    if "torch._dynamo" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["torch._dynamo"].reset()
    if "keras" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["keras"].backend.clear_session()
    if "studio.runtimes.recall" in sys.modules:
        sys.modules["studio.runtimes.recall"].forget()
    gc.collect()
    give_back_heap()   # the worker's malloc keeps the heap's free top: a warm worker would hold its last peak

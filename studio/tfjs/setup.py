"""`studio setup tfjs`: make (or check) the TF.js converter's venv and the Node runner in the user's data folder.

Idempotent: when both stamps match what this studio ships (the pins, the lock, the runner's files) it checks the
installed versions (one quick subprocess, no TensorFlow import) and returns. Otherwise it rebuilds what is missing:

- the converter: `python -m venv`, then `pip install --no-deps -r resources/tfjs_converter/requirements.txt` (the
  full known-good tree: tensorflowjs 4.22.0, TF 2.19, protobuf 6.31.1...), then the converter is imported once in
  that venv to prove protobuf's gencode and runtime agree;
- the runner: resources/tfjs_runner copied into the data folder (the packaged app's resources are read-only), then
  `npm ci --ignore-scripts` from its lock (pure-JS @tensorflow/tfjs; nothing is fetched outside the registry).

A stamp is written last, so an interrupted set-up is never taken for a finished one: the next run starts that
part again from scratch. The venv needs a Python 3.9-3.12 on this machine (TF 2.19's range): this one when it
fits, else python3.11/3.12/3.10/python3 on PATH, or $STUDIO_TFJS_PYTHON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from studio.errors import StudioError
from studio.tfjs import env

PYTHON_ENV = "STUDIO_TFJS_PYTHON"
PYTHON_RANGE = ((3, 9), (3, 12))
PYTHON_NAMES = ("python3.11", "python3.12", "python3.10", "python3.9", "python3")
Log = Callable[[str], None]


def setup_tfjs(force: bool = False, log: Log = print) -> env.Status:
    """Make both parts ready (or check them); returns the final status. Raises StudioError with one line."""
    t0 = time.perf_counter()
    node_problem = env.node_problem()
    if node_problem:
        raise StudioError(f"cannot set up TF.js: {node_problem}")
    _converter(force, log)
    _runner(force, log)
    status = env.status()
    if not status.available:
        raise StudioError(f"TF.js set-up did not finish: {status.problem}")
    log(f"TF.js is ready ({time.perf_counter() - t0:.1f} s): converter in {env.venv_dir()}, "
        f"runner in {env.runner_dir()}")
    return status


# ---------------------------------------------------------------- the converter's venv

def _converter(force: bool, log: Log) -> None:
    venv = env.venv_dir()
    if not force and env.converter_problem() is None:
        found = _installed_versions(env.venv_python())
        if found == env.PINS:
            log(f"converter: ready ({_pins_text(found)}) in {venv}")
            return
        log(f"converter: found {_pins_text(found) if found else 'no readable versions'}, want "
            f"{_pins_text(env.PINS)}: rebuilding")
    python = find_python()
    log(f"converter: creating {venv} with {python} (downloads about 1.3 GB, takes a few minutes)")
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "venv", str(venv)], "creating the converter's venv", log)
    _run([str(env.venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-deps",
          "-r", str(env.converter_lock())], "installing the converter (pip)", log)
    checked = _run([str(env.venv_python()), str(env.converter_script()), "--check"], "checking the converter",
                   log, quiet=True)
    try:
        found = json.loads(checked.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise StudioError(f"checking the converter printed no versions: {checked.strip()[-300:]}") from None
    if {k: found.get(k) for k in env.PINS} != env.PINS:
        raise StudioError(f"the converter's venv has {_pins_text(found)}, expected {_pins_text(env.PINS)}")
    (venv / env.VENV_STAMP).write_text(json.dumps(env.venv_stamp()))
    log(f"converter: ready ({_pins_text(found)}, TensorFlow {found.get('tensorflow')}) in {venv}")


def _installed_versions(python: Path) -> dict | None:
    """The pinned packages' versions from the venv's metadata (no import of TensorFlow: quick)."""
    code = ("import importlib.metadata as m, json; "
            f"print(json.dumps({{n: m.version(n) for n in {sorted(env.PINS)!r}}}))")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def find_python() -> str:
    """A Python TensorFlow 2.19 supports (3.9-3.12) to build the venv with."""
    candidates = [os.environ.get(PYTHON_ENV)]
    if not getattr(sys, "frozen", False):
        candidates.append(sys.executable)
    candidates += [shutil.which(name) for name in PYTHON_NAMES]
    for candidate in filter(None, candidates):
        version = _python_version(candidate)
        if version and PYTHON_RANGE[0] <= version <= PYTHON_RANGE[1]:
            return candidate
    raise StudioError(f"cannot set up the TF.js converter: no Python 3.9-3.12 found (install python3.11, or set "
                      f"{PYTHON_ENV} to one)")


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                             text=True, timeout=30)
        major, minor = map(int, out.stdout.split())
        return major, minor
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


# ---------------------------------------------------------------- the Node runner

def _runner(force: bool, log: Log) -> None:
    runner = env.runner_dir()
    if not force and env.runner_problem() is None:
        log(f"runner: ready (@tensorflow/tfjs {env.TFJS_NPM_VERSION}) in {runner}")
        return
    npm = shutil.which("npm", path=str(Path(env.node_executable() or "node").parent) + os.pathsep
                       + os.environ.get("PATH", ""))
    if npm is None:
        raise StudioError("cannot set up the TF.js runner: npm is not installed (it comes with Node.js: "
                          "https://nodejs.org)")
    log(f"runner: installing @tensorflow/tfjs {env.TFJS_NPM_VERSION} in {runner} (about 300 MB)")
    (runner / env.RUNNER_STAMP).unlink(missing_ok=True)
    runner.mkdir(parents=True, exist_ok=True)
    for name in env.RUNNER_FILES:
        shutil.copyfile(env.runner_source() / name, runner / name)
    _run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"], "npm ci", log, cwd=runner)
    (runner / env.RUNNER_STAMP).write_text(json.dumps(env.runner_stamp()))
    log(f"runner: ready (@tensorflow/tfjs {env.TFJS_NPM_VERSION}) in {runner}")


# ---------------------------------------------------------------- helpers

def _run(cmd: list[str], what: str, log: Log, cwd: Path | None = None, quiet: bool = False) -> str:
    """Run a set-up step; its output goes to the set-up log. A failure is one line naming the step."""
    log_path = env.tfjs_home() / "setup.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        log(f"  {what}...")
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.SubprocessError) as exc:
        raise StudioError(f"{what} failed: {exc}") from None
    with open(log_path, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-1:] or ["no output"]
        raise StudioError(f"{what} failed (exit {done.returncode}): {last[0].strip()[:300]} (log: {log_path})")
    if not quiet:
        log(f"  {what}: {time.perf_counter() - t0:.0f} s")
    return done.stdout


def _pins_text(versions: dict) -> str:
    return ", ".join(f"{name} {versions.get(name)}" for name in sorted(env.PINS))

"""Where the TF.js converter's environment and the Node runner live, and whether they are ready.

tensorflowjs 4.22.0 needs TensorFlow 2.19 (through tensorflow-decision-forests), which cannot share the studio's
environment (TF 2.21), so its converter lives in a venv of its own in the user's data folder, made by
`studio setup tfjs` (studio.tfjs.setup). TF.js models are verified in Node with the pure-JavaScript
@tensorflow/tfjs, installed by `npm ci` beside a copy of resources/tfjs_runner (the packaged app's resources are
read-only, and its bundle has no room for node_modules).

Import-light and quick on purpose: the window asks `status()` to label its TF.js checkbox, and the CLI asks it
before a job, so this module reads stamps and file names and runs `node --version`; it never imports TF.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from studio.resources import resource_path

DATA_ENV = "STUDIO_DATA_DIR"            # overrides the whole data folder (tests, CI, a shared install)
NODE_ENV = "STUDIO_NODE"                # a node executable to use instead of the one on PATH
PINS = {"tensorflowjs": "4.22.0", "protobuf": "6.31.1"}   # the known-good pair; the lock pins the rest
TFJS_NPM_VERSION = "4.22.0"
NODE_MIN = 18
# Measured on Linux x86_64 (README "TF.js"): what `studio setup tfjs` downloads and leaves on disk.
INSTALL_SUMMARY = ("tensorflowjs 4.22.0 with TensorFlow 2.19 and protobuf 6.31.1 in a Python venv (about 1.3 GB "
                   "to download, 2.9 GB on disk), and @tensorflow/tfjs 4.22.0 for Node (about 300 MB)")


def data_dir() -> Path:
    """The user's data folder for the studio: $STUDIO_DATA_DIR, else the platform's (XDG on Linux).

    Written out rather than taken from platformdirs: the studio does not ship it, and the packaged app has no
    room to add anything; these three rules are all it would do here.
    """
    given = os.environ.get(DATA_ENV)
    if given:
        return Path(given).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "model-conversion-studio"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "model-conversion-studio"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "model-conversion-studio"


def setup_command() -> str:
    """`studio setup tfjs` as the user types it: the packaged app is its own `studio` command, under the name
    it was started by (`model-conversion-studio` once installed)."""
    if getattr(sys, "frozen", False):
        return f"{Path(sys.argv[0]).name} setup tfjs"
    return "studio setup tfjs"


def tfjs_home() -> Path:
    return data_dir() / "tfjs"


def venv_dir() -> Path:
    return tfjs_home() / "venv"


def venv_python(venv: Path | None = None) -> Path:
    venv = venv or venv_dir()
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def runner_dir() -> Path:
    return tfjs_home() / "runner"


def converter_lock() -> Path:
    """The converter environment's full pinned tree (pip freeze of a known-good install), installed --no-deps."""
    return resource_path("tfjs_converter", "requirements.txt")


def converter_script() -> Path:
    """Run by the converter venv's Python: a file, because the packaged app's own modules are not files."""
    return resource_path("tfjs_converter", "convert.py")


def runner_source() -> Path:
    return resource_path("tfjs_runner")


RUNNER_FILES = ("runner.js", "package.json", "package-lock.json")
VENV_STAMP = ".studio-tfjs.json"
RUNNER_STAMP = ".studio-runner.json"


def _digest(paths: list[Path]) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes() if path.is_file() else b"-")
    return sha.hexdigest()


def venv_stamp() -> dict:
    """What a ready converter venv records: the pins and the lock it was built from."""
    return {"pins": PINS, "lock": _digest([converter_lock()])}


def runner_stamp() -> dict:
    return {"tfjs": TFJS_NPM_VERSION, "files": _digest([runner_source() / name for name in RUNNER_FILES])}


def read_stamp(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def node_executable() -> str | None:
    return os.environ.get(NODE_ENV) or shutil.which("node")


@functools.lru_cache(maxsize=8)
def _node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
        return tuple(int(part) for part in out.lstrip("v").split(".")[:3])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def node_problem() -> str | None:
    """Why Node cannot run the verifier, as the end of a one-line message; None when it can."""
    node = node_executable()
    if node is None:
        return f"Node.js is not installed (install Node {NODE_MIN} or later: https://nodejs.org)"
    version = _node_version(node)
    if version is None:
        return f"{node} does not run (install Node {NODE_MIN} or later: https://nodejs.org)"
    if version[0] < NODE_MIN:
        return (f"Node {'.'.join(map(str, version))} is too old (install Node {NODE_MIN} or later: "
                f"https://nodejs.org)")
    return None


def converter_problem() -> str | None:
    """Why the converter's venv is not ready; None when its stamp matches the pins and the lock."""
    if not venv_python().exists():
        return f"the TF.js converter is not set up (run `{setup_command()}`)"
    if read_stamp(venv_dir() / VENV_STAMP) != venv_stamp():
        return f"the TF.js converter's environment is incomplete or out of date (run `{setup_command()}`)"
    return None


def runner_problem() -> str | None:
    """Why the Node runner is not ready (no `npm ci` yet, or resources changed since)."""
    if read_stamp(runner_dir() / RUNNER_STAMP) != runner_stamp() or not (
            runner_dir() / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file():
        return f"the TF.js runner for Node is not set up (run `{setup_command()}`)"
    return None


@dataclass(frozen=True)
class Status:
    converter: str | None   # each: None when ready, else why not (one line that says how to get it)
    node: str | None
    runner: str | None

    @property
    def available(self) -> bool:
        return not (self.converter or self.node or self.runner)

    @property
    def problem(self) -> str | None:
        """The first thing to fix: Node first (setting up without it cannot finish), then the set-up."""
        return self.node or self.converter or self.runner

    def message(self) -> str:
        """The one line `--to tfjs` fails with."""
        return f"--to tfjs is unavailable: {self.problem}" if self.problem else "TF.js is available"


def status() -> Status:
    """Is TF.js conversion and verification ready on this machine? Quick: stamps, file names, `node --version`."""
    return Status(converter=converter_problem(), node=node_problem(), runner=runner_problem())

"""The PyInstaller bundle, built for real: --self-test, the CLI, the GUI offscreen, install and uninstall.

Marked `packaging` (minutes: the build alone takes 5-15 min on 2 cores). The bundle is built once per session
with scripts/package; an existing dist/ModelConversionStudio is reused only when its BUILD-STAMP equals the
fingerprint of the current code, resources, spec and installed packages (packaging/bundle_stamp.py), so a
stale bundle is never tested. STUDIO_BUNDLE_DIR=path tests a bundle built elsewhere as it is.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = "ModelConversionStudio"
NAME = "model-conversion-studio"
# The target is "<= 2 GB" against a 2.4 GB reference: met in decimal bytes, the stricter reading.
# Measured here: 1.85e9 bytes (packaging/README.md has the breakdown).
MAX_BUNDLE_BYTES = 2_000_000_000

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(3600)]


def _current_stamp() -> str:
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from bundle_stamp import stamp
    finally:
        sys.path.pop(0)
    return stamp()


@pytest.fixture(scope="session")
def bundle() -> Path:
    given = os.environ.get("STUDIO_BUNDLE_DIR")
    if given:
        return Path(given).resolve()
    app_dir = ROOT / "dist" / APP
    stamp_file = app_dir / "BUILD-STAMP"
    (ROOT / "build").mkdir(exist_ok=True)
    with open(ROOT / "build" / ".packaging-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # another test session may be building it right now
        fresh = (app_dir / APP).exists() and stamp_file.exists() and \
            stamp_file.read_text().strip() == _current_stamp()
        if not fresh:
            started = time.monotonic()
            result = subprocess.run(["bash", str(ROOT / "scripts" / "package"), "--no-tar"], cwd=ROOT,
                                    capture_output=True, text=True, timeout=3000)
            assert result.returncode == 0, \
                f"scripts/package failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
            print(f"\nbuilt the bundle in {time.monotonic() - started:.0f} s\n{result.stdout}")
    return app_dir


def app_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "QT_"))}
    env["PATH"] = "/usr/bin:/bin"          # the app must not need the venv
    env.update(extra)
    return env


def run_app(bundle: Path, *args: str, timeout: float = 900, cwd: Path | None = None, **env: str):
    started = time.monotonic()
    result = subprocess.run([str(bundle / APP), *args], capture_output=True, text=True, timeout=timeout,
                            env=app_env(**env), cwd=cwd or bundle.parent)
    result.seconds = time.monotonic() - started
    return result


def test_bundle_layout_and_size(bundle):
    internal = bundle / "_internal"
    assert (bundle / APP).is_file() and os.access(bundle / APP, os.X_OK)
    assert (internal / "resources" / "samples" / "tiny_cnn.pt2").is_file()
    assert (internal / "resources" / NAME).with_suffix(".desktop").is_file()
    assert (internal / "resources" / "icons" / f"{NAME}.svg").is_file()
    assert (internal / "netron" / "index.html").is_file()                  # netron's web assets
    assert list((internal / "PySide6" / "Qt" / "libexec").glob("QtWebEngineProcess*"))
    assert (internal / "PySide6" / "Qt" / "resources" / "qtwebengine_resources.pak").is_file()
    assert (internal / "PySide6" / "Qt" / "translations" / "qtwebengine_locales" / "en-US.pak").is_file()
    assert not (internal / "torch" / "test").exists() and not (internal / "tensorflow" / "include").exists()
    assert not list(internal.glob("nvidia*"))
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"\nbundle: {size} bytes = {size / 1e9:.3f} GB ({size / 2**30:.2f} GiB)")
    assert size <= MAX_BUNDLE_BYTES, f"bundle is {size / 1e9:.3f} GB, the target is 2.000 GB"


def test_tensorflow_cuda_kernels_are_cut(bundle):
    """packaging/elf_fatbin.py: .nv_fatbin left as a NOBITS section, the rest of the layout consistent."""
    sys.path.insert(0, str(ROOT / "packaging"))
    try:
        from elf_fatbin import EHDR, PHDR, SHDR, SHT_NOBITS
    finally:
        sys.path.pop(0)
    for rel in ("tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"):
        lib = bundle / "_internal" / rel
        data = lib.read_bytes()
        head = EHDR.unpack_from(data)
        phoff, shoff, phnum, shnum, shstrndx = head[5], head[6], head[10], head[12], head[13]
        shdrs = [SHDR.unpack_from(data, shoff + i * SHDR.size) for i in range(shnum)]
        names = data[shdrs[shstrndx][4]:shdrs[shstrndx][4] + shdrs[shstrndx][5]]
        by_name = {names[sh[0]:names.index(b"\0", sh[0])].decode(): sh for sh in shdrs}
        assert by_name[".nv_fatbin"][1] == SHT_NOBITS, rel
        for p in (PHDR.unpack_from(data, phoff + i * PHDR.size) for i in range(phnum)):
            if p[0] == 1:    # PT_LOAD: inside the file, and vaddr == offset (mod align)
                assert p[2] + p[5] <= len(data) and (p[3] - p[2]) % p[7] == 0, (rel, p)
        for name, sh in by_name.items():
            if sh[1] != SHT_NOBITS and name:
                assert sh[4] + sh[5] <= len(data), (rel, name)


def test_version(bundle):
    result = run_app(bundle, "--version", timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Model Conversion Studio ")


def test_self_test_passes_in_the_frozen_app(bundle, tmp_path):
    result = run_app(bundle, "--self-test", TMPDIR=str(tmp_path))
    print(f"\nself-test wall time {result.seconds:.1f} s\n{result.stdout}")
    assert result.returncode == 0, result.stdout + result.stderr[-6000:]
    out = result.stdout
    assert "(frozen app," in out
    assert "self-test PASSED" in out and "FAIL" not in out
    rows = [line for line in out.splitlines() if "output_0" in line]
    assert len(rows) == 4 and all("PASS" in row for row in rows), out
    assert "torch 2." in out and "tensorflow 2." in out
    assert "torch->onnx" in result.stderr and "onnx->tf" in result.stderr
    assert list(tmp_path.iterdir()) == [], "the self-test left files behind"


def test_frozen_cli_inspects_the_sample(bundle):
    sample = bundle / "_internal" / "resources" / "samples" / "tiny_cnn.pt2"
    result = run_app(bundle, "inspect", str(sample), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert '"exported_program"' in result.stdout


def test_frozen_cli_bad_input_is_one_line(bundle, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    result = run_app(bundle, "convert", str(bad), "--out", str(tmp_path / "out"), timeout=600)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


def test_frozen_gui_opens_the_sample_and_draws_the_graph(bundle, tmp_path):
    result = run_app(bundle, "--smoke-gui", "120", timeout=400, QT_QPA_PLATFORM="offscreen",
                     HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
                     STUDIO_DATA_DIR=str(tmp_path / "data"))   # TF.js not set up: the app starts all the same
    print(f"\n{result.stdout.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr[-6000:]
    match = re.search(r"window shown in ([0-9.]+) s; graph loaded: (True|False)", result.stdout)
    assert match, result.stdout + result.stderr[-4000:]
    assert match.group(2) == "True", result.stdout + result.stderr[-4000:]
    tfjs = re.search(r"^TF\.js: needs set-up: (.*)$", result.stdout, re.M)   # and names its own command
    assert tfjs and (f"{APP} setup tfjs" in tfjs.group(1) or "Node" in tfjs.group(1)), result.stdout


def test_install_and_uninstall_the_real_bundle(bundle, tmp_path):
    prefix = tmp_path / "prefix"
    result = subprocess.run(["bash", str(bundle / "install.sh"), "--prefix", str(prefix)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    manifest = (prefix / "lib" / f"{NAME}.manifest").read_text().splitlines()
    paths = [p for p in manifest if p and not p.startswith("#")]
    assert all(os.path.lexists(p) for p in paths)
    launcher = prefix / "bin" / NAME
    version = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, timeout=120,
                             env=app_env())
    assert version.returncode == 0 and "Model Conversion Studio" in version.stdout, version.stderr
    result = subprocess.run(["bash", str(prefix / "lib" / NAME / "uninstall.sh"), "--prefix", str(prefix)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert not any(os.path.lexists(p) for p in paths)
    assert list(prefix.iterdir()) == []

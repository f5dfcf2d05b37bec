"""packaging/install.sh and uninstall.sh on a stand-in app folder (no build needed), and the desktop files."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "model-conversion-studio"
APP = "ModelConversionStudio"
MIME_TYPES = {"application/x-onnx": "*.onnx", "application/x-tflite": "*.tflite",
              "application/x-pytorch-exported-program": "*.pt2", "application/x-keras": "*.keras"}


def make_app(folder: Path) -> Path:
    """An app folder laid out like dist/ModelConversionStudio, with a shell script for the executable."""
    app = folder / APP
    (app / "_internal" / "lib").mkdir(parents=True)
    shutil.copytree(ROOT / "resources", app / "_internal" / "resources")
    exe = app / APP
    exe.write_text('#!/bin/sh\necho "Model Conversion Studio (stand-in) $*"\n')
    exe.chmod(0o755)
    (app / "_internal" / "lib" / "libfake.so.1").write_bytes(b"\x7fELF")
    (app / "_internal" / "lib" / "libfake.so").symlink_to("libfake.so.1")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(ROOT / "packaging" / script, app / script)
    return app


def run(script: Path, *args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(script), *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=env)


def manifest_paths(prefix: Path) -> list[str]:
    text = (prefix / "lib" / f"{NAME}.manifest").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def snapshot(prefix: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(prefix)): (p.read_bytes() if p.is_file() else None) for p in prefix.rglob("*")}


def test_install_then_uninstall_leaves_the_prefix_as_it_was(tmp_path):
    app = make_app(tmp_path / "unpacked")
    prefix = tmp_path / "prefix"
    # Someone else's files, in the very folders the installer writes to.
    for rel, text in {"bin/other-tool": "#!/bin/sh\n", "share/applications/other.desktop": "[Desktop Entry]\n",
                      "share/icons/hicolor/48x48/apps/other.png": "png", "lib/other/keep.txt": "keep",
                      "share/mime/packages/other.xml": "<mime-info/>"}.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_text(text)
    before = snapshot(prefix)

    result = run(app / "install.sh", "--prefix", prefix)
    assert result.returncode == 0, result.stderr
    paths = manifest_paths(prefix)
    assert all(p.startswith(str(prefix) + "/") for p in paths)
    missing = [p for p in paths if not os.path.lexists(p)]
    assert not missing, missing
    launcher = prefix / "bin" / NAME
    assert launcher.is_symlink() and os.readlink(launcher) == str(prefix / "lib" / NAME / APP)
    assert subprocess.run([str(launcher), "--version"], capture_output=True, text=True).returncode == 0
    for expected in (f"share/applications/{NAME}.desktop", f"share/icons/hicolor/scalable/apps/{NAME}.svg",
                     f"share/icons/hicolor/16x16/apps/{NAME}.png", f"share/icons/hicolor/256x256/apps/{NAME}.png",
                     f"share/mime/packages/{NAME}.xml", f"lib/{NAME}/_internal/lib/libfake.so"):
        assert str(prefix / expected) in paths, expected
    desktop = prefix / "share" / "applications" / f"{NAME}.desktop"
    assert f'Exec="{launcher}" %f' in desktop.read_text()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert check.returncode == 0 and "error:" not in check.stdout, check.stdout
    if shutil.which("update-mime-database"):
        globs = (prefix / "share" / "mime" / "globs2").read_text()
        assert "application/x-tflite:*.tflite" in globs
    # the unrelated files are untouched by the install
    for rel, content in before.items():
        if content is not None:
            assert (prefix / rel).read_bytes() == content, rel

    result = run(app / "uninstall.sh", "--prefix", prefix)
    assert result.returncode == 0, result.stderr
    left = [p for p in paths if os.path.lexists(p)]
    assert not left, left
    assert not (prefix / "lib" / f"{NAME}.manifest").exists()
    after = snapshot(prefix)
    for rel, content in before.items():
        assert rel in after, f"{rel} was removed"
        if content is not None:
            assert after[rel] == content, rel
    # what is left besides the unrelated files is the caches of the desktop's tools, refreshed without our types
    for rel in set(after) - set(before):
        assert rel.startswith("share/mime/") or rel == "share/applications/mimeinfo.cache", rel
        if after[rel] is not None:
            assert b"x-tflite" not in after[rel] and NAME.encode() not in after[rel], rel


def test_install_into_an_empty_prefix_and_uninstall_leaves_nothing(tmp_path):
    app = make_app(tmp_path / "unpacked")
    prefix = tmp_path / "fresh"
    assert run(app / "install.sh", "--prefix", prefix).returncode == 0
    assert (prefix / "bin" / NAME).exists()
    # installing again replaces the recorded installation
    again = run(app / "install.sh", "--prefix", prefix)
    assert again.returncode == 0, again.stderr
    assert run(app / "uninstall.sh", "--prefix", prefix).returncode == 0
    assert list(prefix.iterdir()) == []


def test_install_defaults_to_home_local_and_refuses_foreign_files(tmp_path):
    app = make_app(tmp_path / "unpacked")
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / NAME).write_text("not ours")
    env = dict(os.environ, HOME=str(home))
    refused = run(app / "install.sh", env=env)
    assert refused.returncode == 1 and "not ours" in refused.stderr
    assert (home / ".local" / "bin" / NAME).read_text() == "not ours"
    (home / ".local" / "bin" / NAME).unlink()
    assert run(app / "install.sh", env=env).returncode == 0
    assert (home / ".local" / "lib" / NAME / APP).exists()
    assert run(app / "uninstall.sh", env=env).returncode == 0
    assert not (home / ".local" / "lib" / NAME).exists()


def test_uninstall_without_a_manifest_removes_nothing(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / NAME).write_text("x")
    result = run(ROOT / "packaging" / "uninstall.sh", "--prefix", tmp_path)
    assert result.returncode == 1 and "nothing to uninstall" in result.stderr
    assert (tmp_path / "bin" / NAME).exists()


def test_uninstall_ignores_manifest_lines_outside_the_prefix(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    prefix = tmp_path / "prefix"
    (prefix / "lib").mkdir(parents=True)
    (prefix / "lib" / f"{NAME}.manifest").write_text(f"# manifest\n{outside}\n{prefix}/lib/../../outside.txt\n")
    assert run(ROOT / "packaging" / "uninstall.sh", "--prefix", prefix).returncode == 0
    assert outside.read_text() == "keep"


def test_desktop_file_is_valid():
    path = ROOT / "resources" / f"{NAME}.desktop"
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(path)], capture_output=True, text=True)
        report = result.stdout + result.stderr
        assert result.returncode == 0 and "error:" not in report and "warning:" not in report, report
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path)
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Model Conversion Studio"
    assert entry["Icon"] == NAME
    assert entry["Exec"].split()[-1] == "%f"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";") and "Development" in entry["Categories"]
    assert set(filter(None, entry["MimeType"].split(";"))) == set(MIME_TYPES)


def test_mime_types_declare_the_four_model_files():
    ns = {"m": "http://www.freedesktop.org/standards/shared-mime-info"}
    root = ET.parse(ROOT / "resources" / "mime" / f"{NAME}.xml").getroot()
    declared = {t.get("type"): t for t in root.findall("m:mime-type", ns)}
    assert set(declared) == set(MIME_TYPES)
    for mime, glob in MIME_TYPES.items():
        assert [g.get("pattern") for g in declared[mime].findall("m:glob", ns)] == [glob]
    match = declared["application/x-tflite"].find("m:magic/m:match", ns)
    assert (match.get("offset"), match.get("value")) == ("4", "TFL3")


def test_icons_cover_the_desktop_sizes():
    icons = ROOT / "resources" / "icons"
    assert (icons / f"{NAME}.svg").read_text().lstrip().startswith("<?xml")
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        png = (icons / f"{NAME}-{size}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        assert (width, height) == (size, size)


@pytest.mark.skipif(not shutil.which("update-mime-database"), reason="update-mime-database not installed")
def test_the_mime_database_recognises_a_tflite_file_by_content(tmp_path):
    mime = tmp_path / "mime"
    (mime / "packages").mkdir(parents=True)
    shutil.copy2(ROOT / "resources" / "mime" / f"{NAME}.xml", mime / "packages")
    subprocess.run(["update-mime-database", str(mime)], check=True, capture_output=True)
    magic = (mime / "magic").read_bytes()
    assert b"application/x-tflite" in magic and b"TFL3" in magic

"""Print a fingerprint of everything that goes into the bundle.

scripts/package writes it to dist/ModelConversionStudio/BUILD-STAMP; the packaging tests rebuild only when the
stamp there differs from a fresh one (the code, resources, spec, installer scripts or installed packages changed).
"""

from __future__ import annotations

import hashlib
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ["studio", "resources", "packaging/studio.spec", "packaging/launch_studio.py", "packaging/elf_fatbin.py", "packaging/stubs", "packaging/install.sh",
          "packaging/uninstall.sh", "pyproject.toml", "requirements.lock", "requirements-nodeps.txt"]


def stamp(root: Path = ROOT) -> str:
    h = hashlib.sha256()
    for item in INPUTS:
        path = root / item
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts or f.suffix == ".pyc" or not f.exists():
                continue
            h.update(str(f.relative_to(root)).encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    site = sysconfig.get_paths()["purelib"]     # the venv's packages only, whatever sys.path holds
    dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions(path=[site])
                    if d.metadata["Name"]})
    h.update("\n".join(dists).encode())
    h.update(sys.version.encode())
    return h.hexdigest()


if __name__ == "__main__":
    print(stamp())

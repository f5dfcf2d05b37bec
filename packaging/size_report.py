"""Print the size of a built app folder and what the spec left out (build/studio/size-report.json).

    python packaging/size_report.py dist/ModelConversionStudio [BUILD_SECONDS] [build/studio/size-report.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def bundle_bytes(app: Path) -> tuple[int, int]:
    files = [p for p in app.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def main(argv: list[str]) -> int:
    app = Path(argv[0])
    seconds = int(argv[1]) if len(argv) > 1 else None
    report = Path(argv[2]) if len(argv) > 2 else Path("build/studio/size-report.json")
    size, count = bundle_bytes(app)
    took = f" in {seconds // 60} min {seconds % 60} s" if seconds is not None else ""
    print(f"built {app}{took}: {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB), {count} files")
    if report.is_file():
        r = json.loads(report.read_text())
        print("left out (sizes as in .venv, measured at build time):")
        for name, d in r["excluded"].items():
            print(f"  {name:<55} {d['bytes'] / 1e6:8.1f} MB  ({d['files']} files)")
        print(f"  {'symbol tables (strip --strip-unneeded)':<55} {r['strip_saved_bytes'] / 1e6:8.1f} MB")
        print(f"  {'TensorFlow CUDA kernels (.nv_fatbin, elf_fatbin.py)':<55} "
              f"{r.get('fatbin_saved_bytes', 0) / 1e6:8.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

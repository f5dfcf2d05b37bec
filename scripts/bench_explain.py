#!/usr/bin/env python3
"""Benchmark: `studio explain` of the ViT-B/16-sized .pt2 (bench_zoo's model) against its float32 TFLite.

Targets (issue 8): <= 60 s and <= 5 GB peak, and >= 95% of the ONNX node outputs paired with the source and
with the TFLite. The baseline, measured in the same run on the same files, is `studio compare` of the same
source and TFLite (the output-only diff explain goes beyond): the ratio says what the per-layer taps cost.

The model is built and converted first (not measured). Each measured command runs alone, in a fresh measuring
process whose only child is the CLI (bench_zoo.measure: wall time, ru_maxrss of the worker, psutil samples).
GB here means 1e9 bytes.

    .venv/bin/python scripts/bench_explain.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_zoo  # noqa: E402  (the ViT builder and the measuring process)

TARGET_SECONDS, TARGET_BYTES, TARGET_PAIRED = 60.0, 5e9, 0.95


def measured(tag: str, work: Path, cmd: list[str]) -> dict:
    result_path, log_path = work / f"{tag}.measure.json", work / f"{tag}.log"
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, __file__, "--_measure", str(result_path), str(log_path), "--", *cmd], check=True)
    result = json.loads(result_path.read_text())
    result["log"] = log_path
    print(f"  exit {result['exit_code']} after {result['seconds']:.1f} s", file=sys.stderr, flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--_measure", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._measure:
        bench_zoo.measure(Path(args._measure[0]), Path(args._measure[1]), args.cmd)
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-explain-"))
    try:
        source = work / "vit_b16.pt2"
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import bench_zoo; "
                        "from pathlib import Path; bench_zoo.build_vit(Path(sys.argv[2]))",
                        str(Path(__file__).resolve().parent), str(source)], check=True)
        out = work / "converted"
        subprocess.run([sys.executable, "-m", "studio", "convert", str(source), "--to", "onnx,tflite", "--quantize",
                        "float32", "--out", str(out)], check=True, capture_output=True)
        tflite = out / "vit_b16_float32.tflite"
        baseline = measured("compare", work, [sys.executable, "-m", "studio", "compare", str(source), str(tflite)])
        explain = measured("explain", work, [sys.executable, "-m", "studio", "explain", str(source), str(tflite),
                                             "--json"])
        text = explain["log"].read_text()
        report = json.loads(text[text.index("["):text.rindex("]") + 1])[0]
        paired = report["paired"]
        first = report["first_divergent"]
        print(f"\nViT-B/16 (.pt2) vs its float32 TFLite, {len(report['rows'])} layers compared, "
              f"{len(report['unpaired'])} tensors unpaired")
        print(f"{'':28}{'seconds':>10}{'peak (worker)':>16}")
        for label, run in (("studio compare (baseline)", baseline), ("studio explain", explain)):
            print(f"{label:28}{run['seconds']:>10.1f}{bench_zoo.gb(run['ru_maxrss']):>16}  exit {run['exit_code']}")
        print(f"ratio explain / compare: {explain['seconds'] / baseline['seconds']:.2f}x time, "
              f"{explain['ru_maxrss'] / baseline['ru_maxrss']:.2f}x peak memory")
        print(f"paired: {paired['reference']:.1%} of ONNX node outputs with the source, "
              f"{paired['candidate']:.1%} with the TFLite; first divergent layer: "
              f"{'none' if first is None else report['rows'][first]['name']}")
        checks = [("time", explain["seconds"] <= TARGET_SECONDS, f"<= {TARGET_SECONDS:.0f} s"),
                  ("peak", explain["ru_maxrss"] <= TARGET_BYTES, f"<= {bench_zoo.gb(TARGET_BYTES)}"),
                  ("paired", min(paired.values()) >= TARGET_PAIRED, f">= {TARGET_PAIRED:.0%}")]
        for name, ok, target in checks:
            print(f"target {name} {target}: {'met' if ok else 'MISSED'}")
        return 0 if explain["exit_code"] in (0, 1) else explain["exit_code"]
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())

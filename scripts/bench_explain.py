#!/usr/bin/env python3
"""Benchmark: `studio explain` of the ViT-B/16-sized .pt2 (bench_zoo's model) against its float32 TFLite.

Targets (issue 8): <= 60 s and <= 5 GB peak, and >= 95% of the ONNX node outputs paired with the source and
with the TFLite. The baseline, measured in the same run on the same files, is `studio compare` of the same
source and TFLite (the output-only diff explain goes beyond): the ratio says what the per-layer taps cost.

The model is built and converted first (not measured). Each measured command runs alone, in a fresh measuring
process whose only child is the CLI (bench_zoo.measure: wall time, ru_maxrss of the worker, psutil samples).
GB here means 1e9 bytes.

--zoo instead explains every case of the test zoo (tests/zoo: keras.applications, HF transformers, Swin, ViT,
...; random weights) against its float32 TFLite, and prints the fraction of ONNX node outputs paired with the
source and with the TFLite per case (target >= 95% for the CNNs and transformers).

    .venv/bin/python scripts/bench_explain.py [--keep] [--zoo]
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
# the zoo's known conversion failures (tests/zoo/test_zoo.py KNOWN_FAILURES): nothing to explain, and ConvNeXtTiny's
# fallback to the TF converter takes over 13 minutes and 7 GB
SKIPPED = {"convnext_tiny": "skipped: a known conversion failure (direct writer's TFLite fails XNNPACK prepare)"}


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
    parser.add_argument("--zoo", action="store_true", help="paired fractions on every case of the test zoo")
    parser.add_argument("--_measure", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._measure:
        bench_zoo.measure(Path(args._measure[0]), Path(args._measure[1]), args.cmd)
        return 0

    work = Path(tempfile.mkdtemp(prefix="bench-explain-"))
    if args.zoo:
        try:
            return zoo(work)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
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


def zoo(work: Path) -> int:
    """Every zoo case: convert to ONNX + float32 TFLite, explain the TFLite, print the paired fractions."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "zoo"))
    from zoo_models import CASES, ZOO, save_zoo_model  # noqa: E402

    rows, saved = [], {}
    for name, fmt in CASES:
        if name in SKIPPED:
            rows.append((f"{name}-{fmt}", None, None, None, SKIPPED[name], 0.0))
            continue
        if name not in saved:
            saved[name] = save_zoo_model(ZOO[name], work / "models" / name)
        case = saved[name]
        extra = ["--inputs", str(case.inputs_file)]
        if fmt == "torchscript":
            for shape in case.model.torchscript_shapes:
                extra += ["--input-shape", shape]
        out = work / "out" / f"{name}-{fmt}"
        converted = subprocess.run([sys.executable, "-m", "studio", "convert", str(case.sources[fmt]), "--to",
                                    "onnx,tflite", "--quantize", "float32", "--out", str(out), *extra],
                                   capture_output=True, text=True)
        tflite = next(out.glob("*_float32.tflite"), None)
        if tflite is None:
            rows.append((f"{name}-{fmt}", None, None, None, "convert failed: " + converted.stderr.strip()[-120:], 0.0))
            continue
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "studio", "explain", str(case.sources[fmt]), str(tflite),
                                 "--json", *extra], capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if result.returncode not in (0, 1):
            rows.append((f"{name}-{fmt}", None, None, None, result.stderr.strip()[-160:], seconds))
            continue
        [report] = json.loads(result.stdout)
        first = report["first_divergent"]
        rows.append((f"{name}-{fmt}", len(report["rows"]), report["paired"]["reference"],
                     report["paired"]["candidate"], "none" if first is None else report["rows"][first]["name"],
                     seconds))
        print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    print(f"\n{'case':34}{'layers':>8}{'source':>9}{'tflite':>9}{'seconds':>9}  first divergent / error")
    for case, layers, ref, cand, first, seconds in rows:
        paired = f"{ref:>9.1%}{cand:>9.1%}" if ref is not None else f"{'-':>9}{'-':>9}"
        print(f"{case:34}{layers if layers is not None else '-':>8}{paired}{seconds:>9.1f}  {first}")
    measured = [(r[2], r[3]) for r in rows if r[2] is not None]
    below = [r[0] for r in rows if r[2] is not None and min(r[2], r[3]) < TARGET_PAIRED]
    print(f"{len(measured)} of {len(rows)} cases explained; below {TARGET_PAIRED:.0%} paired: {', '.join(below) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

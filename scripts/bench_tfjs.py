#!/usr/bin/env python3
"""Benchmark: the TF.js stage and the Node run, for the bundled sample CNN and a ResNet50-sized Keras model.

- sample: resources/samples/tiny_cnn.pt2 (the app's sample, [1, 3, 64, 64]).
- ResNet50: keras.applications.ResNet50(weights=None), 224x224, 1000 classes, BatchNorm recalibrated (as
  scripts/bench_zoo.py builds it), saved as .keras in its own process.

Each is converted with `python -m studio convert X --to tfjs --quantize float32,float16,dynamic_int8 --out DIR`
(the SavedModel comes with it). "TF.js stage" is the report's `savedmodel->tfjs` stage: one converter process in
the TF.js venv (TF 2.19's import included) making all three variants. "Node run" is one run of the float32 TF.js
model as the comparison runs it (studio.runtimes.tfjs: write the inputs, start `node runner.js`, load model.json +
shards with tf.io.fromMemory, run on the CPU backend, write the outputs, read them back), wall time, with the
runner's own load and inference times beside it. Needs `studio setup tfjs`.

    .venv/bin/python scripts/bench_tfjs.py [--only sample|resnet50] [--keep]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))


def build(name: str, folder: Path) -> Path:
    if name == "sample":
        from studio.resources import sample_model_path

        return sample_model_path()
    path = folder / "resnet50.keras"
    code = f"from bench_zoo import build_resnet50; from pathlib import Path; build_resnet50(Path({str(path)!r}))"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "scripts")
    return path


def measure(name: str, source: Path, folder: Path) -> dict:
    import numpy as np

    from studio.runtimes import open_runtime

    out = folder / f"{name}_converted"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "studio", "convert", str(source), "--to", "tfjs", "--quantize",
                           "float32,float16,dynamic_int8", "--out", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if not (out / "report.json").is_file():
        raise SystemExit(f"{name}: convert failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    report = json.loads((out / "report.json").read_text())
    stage = next(s for s in report["stages"] if s["name"] == "savedmodel->tfjs")
    model = next(a for a in report["artifacts"] if a["kind"] == "tfjs" and a["variant"] == "float32")
    runtime = open_runtime(Path(model["path"]))
    rng = np.random.default_rng(0)
    feeds = {s.name: rng.random(s.shape, dtype=np.float32) for s in runtime.signature.inputs}
    t0 = time.perf_counter()
    runtime.run(feeds)
    node = time.perf_counter() - t0
    verdicts = {f"{c['kind']} {c['variant']}": c["passed"] for c in report["comparisons"]}
    return {"model": name, "convert_wall_s": round(wall, 1), "exit_code": done.returncode,
            "tfjs_stage_s": stage["seconds"], "node_run_s": round(node, 2),
            "node_load_ms": round(runtime.last_timing.get("load_ms", 0)),
            "node_inference_ms": round(runtime.last_timing.get("run_ms", 0)),
            "tfjs_float32_bytes": model["bytes"], "verdicts": verdicts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("sample", "resnet50"))
    parser.add_argument("--keep", action="store_true", help="keep the converted files (printed)")
    args = parser.parse_args()
    from studio.tfjs.env import status

    if not status().available:
        raise SystemExit(f"bench_tfjs: {status().message()}")
    folder = Path(tempfile.mkdtemp(prefix="bench_tfjs_"))
    try:
        rows = [measure(name, build(name, folder), folder) for name in ("sample", "resnet50")
                if args.only in (None, name)]
    finally:
        if args.keep:
            print(f"files kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print("| model | TF.js stage (3 variants) | Node run (float32) | of which load / inference | whole convert |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['tfjs_stage_s']:.1f} s | {r['node_run_s']:.2f} s | {r['node_load_ms']} ms / "
              f"{r['node_inference_ms']} ms | {r['convert_wall_s']:.1f} s (exit {r['exit_code']}) |")
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Benchmark: 10 small models through the warm worker pool against 10 separate `studio convert` processes.

The models: five tiny PyTorch CNNs (.pt2) and five tiny Keras CNNs (.keras) of different widths, built once
in a subprocess before anything is timed. Each is converted to ONNX, SavedModel and TFLite float32 +
float16, every artifact verified (the CLI's defaults).

- baseline: `studio convert MODEL --out DIR` ten times, one after another (what a shell loop does; each
  process imports torch and TensorFlow again);
- pool, 1 worker: `studio convert DIR --jobs 1` (one warm worker serves all ten in turn);
- pool, N workers: `studio convert DIR` (default size: the cores, as memory allows).

Every run is timed as a whole, in the same run of this script; the ratios are against the baseline
(target for the pool: <= 0.6x). Peak memory is the largest sum of RSS over the CLI's process tree,
sampled every 0.1 s with psutil (GB = 1e9 bytes).

    .venv/bin/python scripts/bench_batch.py [--keep]
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
TARGET = 0.6
BUILD = """
import sys
from pathlib import Path
import keras, torch
from torch import nn

out = Path(sys.argv[1])
for i, width in enumerate((4, 6, 8, 12, 16)):
    net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                        nn.Conv2d(width, width * 2, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width * 2, 10)).eval()
    image = torch.rand(1, 3, 64, 64)
    torch.export.save(torch.export.export(net, (image,)), out / f"torch_cnn_{i}.pt2")
    model = keras.Sequential([keras.Input((64, 64, 3), name="image"), keras.layers.Conv2D(width, 3, padding="same"),
                              keras.layers.BatchNormalization(), keras.layers.ReLU(),
                              keras.layers.Conv2D(width * 2, 3, strides=2, padding="same", activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    model.save(out / f"keras_cnn_{i}.keras")
"""


def measured(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS of the process tree in bytes, exit code)."""
    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak = 0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    return time.monotonic() - started, peak, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the models and outputs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    models = work / "models"
    models.mkdir()
    subprocess.run([sys.executable, "-c", BUILD, str(models)], check=True, capture_output=True)
    paths = sorted(models.iterdir())
    studio = [sys.executable, "-m", "studio", "convert"]
    rows = []
    try:
        wall, peak, worst = 0.0, 0, 0
        for path in paths:
            seconds, rss, code = measured([*studio, str(path), "--out", str(work / "separate" / path.stem)])
            wall, peak, worst = wall + seconds, max(peak, rss), max(worst, code)
        rows.append(("10 separate processes (baseline)", wall, peak, worst))
        for label, extra in (("pool, 1 warm worker (--jobs 1)", ["--jobs", "1"]), ("pool, default size", [])):
            out = work / ("pool1" if extra else "pool")
            seconds, rss, code = measured([*studio, str(models), "--out", str(out), *extra])
            index = json.loads((out / "index.json").read_text())
            assert len(index["models"]) == len(paths), index
            rows.append((label, seconds, rss, code))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    from studio.jobs.pool import default_pool_size

    base = rows[0][1]
    print(f"{len(paths)} models, each to ONNX, SavedModel, TFLite float32 + float16, verified; "
          f"default pool size here: {default_pool_size()}")
    print(f"{'run':<36} {'wall s':>8} {'ratio':>6} {'peak RSS':>9} {'exit':>5}   target: pool <= {TARGET}x")
    for label, seconds, rss, code in rows:
        print(f"{label:<36} {seconds:>8.1f} {seconds / base:>6.2f} {rss / 1e9:>7.2f} GB {code:>5}")
    if args.keep:
        print(f"kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

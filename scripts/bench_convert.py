#!/usr/bin/env python3
"""Benchmark: `studio convert` against the same steps written by hand, in one fresh process each.

Hand-written baselines: torch.onnx.export + onnx2tf.convert for a PyTorch model, and
tf2onnx + onnx2tf.convert for a Keras model. Both sides make SavedModel + float32/float16 TFLite;
the studio also verifies every artifact. Median of --runs runs, measured in the same run.

    .venv/bin/python scripts/bench_convert.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

HAND_TORCH = """
import sys, numpy as np, torch, onnx2tf
ep = torch.export.load(sys.argv[1])
x = torch.rand(*[int(d) for d in sys.argv[3].split(",")])
torch.onnx.export(ep.module(), (x,), "model.onnx", dynamo=True, input_names=["image"])
onnx2tf.convert(input_onnx_file_path="model.onnx", output_folder_path=sys.argv[2], non_verbose=True,
                output_signaturedefs=True)
"""

HAND_KERAS = """
import sys, keras, tensorflow as tf, tf2onnx, onnx2tf
model = keras.models.load_model(sys.argv[1], compile=False)
spec = [tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32, name="image")]
tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path="model.onnx")
onnx2tf.convert(input_onnx_file_path="model.onnx", output_folder_path=sys.argv[2], non_verbose=True,
                output_signaturedefs=True, keep_nwc_or_nhwc_or_ndhwc_input_names=["image"])
"""


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr[-3000:]}")
    return seconds


def bench(name: str, source: Path, hand: str, hand_args: list[str], runs: int, work: Path) -> tuple[float, float]:
    script = work / f"hand_{name}.py"
    script.write_text(hand)
    studio_times, hand_times = [], []
    for i in range(runs):
        run_dir = work / f"{name}_{i}"
        run_dir.mkdir()
        # onnx2tf fetches this file from the internet unless it is in the working folder; give it ours.
        from studio.stages.calibration import write_onnx2tf_sample

        write_onnx2tf_sample(run_dir)
        hand_times.append(timed([sys.executable, str(script), str(source), str(run_dir / "hand_out"), *hand_args],
                                run_dir))
        studio_times.append(timed([sys.executable, "-m", "studio", "convert", str(source), "--to",
                                   "savedmodel,tflite", "--quantize", "float32,float16", "--out",
                                   str(run_dir / "studio_out")], run_dir))
        shutil.rmtree(run_dir)
    return statistics.median(studio_times), statistics.median(hand_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import torch
    from models import keras_cnn, torch_cnn

    work = Path(tempfile.mkdtemp(prefix="bench_convert_"))
    try:
        cnn, image = torch_cnn()
        pt2 = work / "cnn.pt2"
        torch.export.save(torch.export.export(cnn, (image,)), pt2)
        keras_path = work / "cnn.keras"
        keras_cnn().save(keras_path)
        rows = [("torch CNN (.pt2)", *bench("torch", pt2, HAND_TORCH, ["1,3,32,32"], args.runs, work)),
                ("Keras CNN (.keras)", *bench("keras", keras_path, HAND_KERAS, [], args.runs, work))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'model':<20} {'studio s':>9} {'by hand s':>10} {'ratio':>6}   (median of {args.runs}, target <= 1.15)")
    for name, studio_s, hand_s in rows:
        print(f"{name:<20} {studio_s:>9.2f} {hand_s:>10.2f} {studio_s / hand_s:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark: `studio convert` against the same steps written by hand, in one fresh process each.

Both sides make SavedModel + float32/float16 TFLite from the same source and verify them. The
hand-written baselines do what the studio does, by hand, with onnx2tf 2.x:
- to ONNX, opset 18: torch.onnx.export (dynamo) for the PyTorch model, tf2onnx.from_keras for the Keras one;
- ONNX -> SavedModel + TFLite in one onnx2tf.convert run with its direct writer (tflite_backend=
  "flatbuffer_direct", not_use_onnxsim, flatbuffer_direct_output_saved_model, output_signaturedefs);
- verification: the source and each artifact (SavedModel in TF, float32 and float16 TFLite in
  ai_edge_litert's Interpreter) run on the same random input, max abs error vs the source in numpy
  (and the studio's tolerance applied to it);
- like the studio, a TFLite file that does not run or misses its tolerance is made again with onnx2tf's
  TF-converter path (tflite_backend="tf_converter") and verified the same way.
The studio does a little more: it runs the ONNX in onnxruntime to check each TFLite against it before
choosing a backend, computes its full metric set and writes a report. Its worker ends with os._exit,
skipping the TF/torch teardown at exit (several seconds) that the hand-written scripts pay. Median of
--runs runs, measured in the same run; the hand-written and the studio side run alternately.

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

# The ONNX -> TF step and the verification, shared by both baselines (appended to each of them). Like the
# studio, a TFLite file that does not run in LiteRT or misses its tolerance is made again with onnx2tf's
# TF-converter path (measured: the direct writer's float16 file is float16 throughout, inputs included, and
# LiteRT's CPU kernels cannot run some of its ops, e.g. "Type FLOAT16 not currently supported ... MAX_POOL_2D").
HAND_ONNX2TF_AND_VERIFY = """
common = dict(not_use_onnxsim=True, output_signaturedefs=True, verbosity="error", **layout)
onnx2tf.convert(input_onnx_file_path="model.onnx", output_folder_path=out, tflite_backend="flatbuffer_direct",
                flatbuffer_direct_output_saved_model=True, **common)

from ai_edge_litert.interpreter import Interpreter
TOLERANCE = {"savedmodel": (1e-4, 1e-3), "float32": (1e-4, 1e-3), "float16": (1e-2, 1e-2)}   # atol, rtol


def verdict(what, got):
    atol, rtol = TOLERANCE[what]
    got = np.asarray(got, dtype=np.float32)
    return float(np.max(np.abs(got - ref))), bool(np.allclose(got, ref, atol=atol, rtol=rtol))


def run_tflite(path):
    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (given,) = interpreter.get_input_details()   # the direct writer's float16 file takes float16
    interpreter.set_tensor(given["index"], x_tf.astype(given["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def check_tflite(variant, folder, backend):
    try:
        return (*verdict(variant, run_tflite(f"{folder}/model_{variant}.tflite")), backend)
    except Exception as exc:   # LiteRT could not run it
        print(f"{backend} {variant} does not run: {' '.join(str(exc).split())[:200]}")
        return float("nan"), False, backend


serving = tf.saved_model.load(out).signatures["serving_default"]
(name,) = serving.structured_input_signature[1]
outputs = serving(**{name: tf.constant(x_tf)})
results = {"savedmodel": (*verdict("savedmodel", next(iter(outputs.values()))), "direct")}
results.update({v: check_tflite(v, out, "direct") for v in ("float32", "float16")})
failed = [v for v in ("float32", "float16") if not results[v][1]]
if failed:   # the studio's fallback, by hand
    onnx2tf.convert(input_onnx_file_path="model.onnx", output_folder_path=out + "_tf_converter",
                    tflite_backend="tf_converter", **common)
    results.update({v: check_tflite(v, out + "_tf_converter", "tf_converter") for v in failed})
print("max abs error vs source:", ", ".join(f"{k} {e:.2e} {'ok' if ok else 'FAIL'} ({b})"
                                            for k, (e, ok, b) in results.items()))
"""

HAND_TORCH = """
import sys, numpy as np, torch, onnx2tf, tensorflow as tf
source, out, shape = sys.argv[1], sys.argv[2], [int(d) for d in sys.argv[3].split(",")]
module = torch.export.load(source).module()
x = np.random.default_rng(0).uniform(0.0, 1.0, shape).astype(np.float32)   # an image in [0, 1), NCHW
torch.onnx.export(module, (torch.from_numpy(x),), "model.onnx", dynamo=True, opset_version=18,
                  input_names=["image"])
with torch.no_grad():
    ref = module(torch.from_numpy(x)).numpy()
x_tf = np.ascontiguousarray(x.transpose(0, 2, 3, 1))   # onnx2tf makes image inputs NHWC
layout = {}
""" + HAND_ONNX2TF_AND_VERIFY

HAND_KERAS = """
import sys, numpy as np, keras, tensorflow as tf, tf2onnx, onnx2tf
source, out = sys.argv[1], sys.argv[2]
model = keras.models.load_model(source, compile=False)
spec = [tf.TensorSpec([1, *model.inputs[0].shape[1:]], tf.float32, name="image")]
tf2onnx.convert.from_keras(model, input_signature=spec, opset=18, output_path="model.onnx")
x = np.random.default_rng(0).uniform(0.0, 1.0, spec[0].shape).astype(np.float32)   # an image in [0, 1), NHWC
ref = np.asarray(model(x, training=False))
x_tf = x
layout = dict(keep_nwc_or_nhwc_or_ndhwc_input_names=["image"])   # already NHWC: keep it
""" + HAND_ONNX2TF_AND_VERIFY


def timed(cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,)) -> tuple[float, str]:
    t0 = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode not in ok:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout[-2000:]}\n"
                         f"{result.stderr[-3000:]}")
    if result.returncode:   # the studio's exit code 1: all written, but a comparison failed; timed all the same
        print(f"note: exit code {result.returncode} (a comparison failed): {' '.join(cmd)}", file=sys.stderr)
    return seconds, result.stdout


def bench(name: str, source: Path, hand: str, hand_args: list[str], runs: int, work: Path) -> tuple[float, float]:
    script = work / f"hand_{name}.py"
    script.write_text(hand)
    studio_times, hand_times = [], []
    for i in range(runs):
        run_dir = work / f"{name}_{i}"
        run_dir.mkdir()
        seconds, out = timed([sys.executable, str(script), str(source), str(run_dir / "hand_out"), *hand_args],
                             run_dir)
        hand_times.append(seconds)
        said = [line for line in out.splitlines() if line.startswith("max abs") or "does not run" in line]
        print(f"{name} run {i + 1}: by hand {seconds:.2f} s", *said, sep="\n  ", file=sys.stderr)
        seconds, _ = timed([sys.executable, "-m", "studio", "convert", str(source), "--to", "savedmodel,tflite",
                            "--quantize", "float32,float16", "--out", str(run_dir / "studio_out")], run_dir, ok=(0, 1))
        studio_times.append(seconds)
        print(f"{name} run {i + 1}: studio {seconds:.2f} s", file=sys.stderr)
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
        rows = [("torch CNN (.pt2)", *bench("torch", pt2, HAND_TORCH, [",".join(map(str, image.shape))],
                                             args.runs, work)),
                ("Keras CNN (.keras)", *bench("keras", keras_path, HAND_KERAS, [], args.runs, work))]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'model':<20} {'studio s':>9} {'by hand s':>10} {'ratio':>6}   (median of {args.runs}, target <= 1.15)")
    for name, studio_s, hand_s in rows:
        print(f"{name:<20} {studio_s:>9.2f} {hand_s:>10.2f} {studio_s / hand_s:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

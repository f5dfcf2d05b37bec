"""SavedModel -> TF.js graph models, run by the TF.js converter's own Python (studio setup tfjs), never the studio's.

    python convert.py --check                 print {"tensorflowjs": ..., "protobuf": ..., "tensorflow": ...}
    python convert.py JOB.json RESULT.json    convert; JOB: {"savedmodel": DIR, "outputs": [{"variant", "dir"}]}

One process converts every variant, so TensorFlow is imported once (it takes 10-20 s). Each variant is the same
graph with its weights stored as float32, float16 or affine uint8 (tensorflowjs' weight quantization); TF.js
dequantizes them to float32 when it loads the model. RESULT gets {"seconds": {variant: s}, "ops": [...]} or
{"error": one line}; a failure also exits 1. Everything else printed (TF's and protobuf's noise) is the log.
"""

import json
import sys
import time

QUANTIZATION = {"float32": None, "float16": {"float16": True}, "uint8": {"uint8": True}}


def versions() -> dict:
    import importlib.metadata as metadata

    import tensorflowjs  # noqa: F401 - the check is that it imports (protobuf gencode/runtime agree)

    return {name: metadata.version(name) for name in ("tensorflowjs", "protobuf", "tensorflow")}


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 400 else text[:397] + "..."


def convert(job: dict) -> dict:
    from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    seconds = {}
    for item in job["outputs"]:
        variant = item["variant"]
        t0 = time.perf_counter()
        print(f"studio-tfjs: converting {variant}", flush=True)
        convert_tf_saved_model(job["savedmodel"], item["dir"], signature_def="serving_default",
                               saved_model_tags="serve", quantization_dtype_map=QUANTIZATION[variant])
        seconds[variant] = round(time.perf_counter() - t0, 3)
        print(f"studio-tfjs: {variant} done in {seconds[variant]} s", flush=True)
    return {"seconds": seconds}


def main(argv: list) -> int:
    if argv == ["--check"]:
        print(json.dumps(versions()))
        return 0
    if len(argv) != 2:
        print("usage: convert.py --check | JOB.json RESULT.json", file=sys.stderr)
        return 2
    job_path, result_path = argv
    try:
        result = convert(json.loads(open(job_path).read()))
        code = 0
    except Exception as exc:  # noqa: BLE001 - every failure becomes the one line the studio shows
        result, code = {"error": f"{type(exc).__name__}: {one_line(exc)}"}, 1
    with open(result_path, "w") as f:
        json.dump(result, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

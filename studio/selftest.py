"""`ModelConversionStudio --self-test` (also `python -m studio.frozen --self-test`): prove this install works.

Converts the bundled sample to ONNX, SavedModel and TFLite (float32, float16) in a worker process, exactly as
`studio convert` does, into a temp folder that is removed afterwards; prints the stage progress, the side-by-side
table, the versions and the wall time. Exit 0 only when every artifact was made and every comparison passed;
otherwise non-zero with a one-line reason on stderr.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from studio import __version__

TARGETS = ["onnx", "savedmodel", "tflite"]
VARIANTS = ["float32", "float16"]
# onnx, savedmodel, tflite float32, tflite float16: each is compared against the source.
EXPECTED_COMPARISONS = 4
SHOWN_VERSIONS = ("torch", "tensorflow", "keras", "onnx", "onnxruntime", "onnxscript", "onnx2tf", "tf2onnx",
                  "ai-edge-litert", "numpy", "protobuf", "netron", "PySide6")


def _fail(message: str, code: int, started: float) -> int:
    print(f"self-test FAILED in {time.perf_counter() - started:.1f} s: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    from studio.cli_render import ProgressPrinter, print_comparisons
    from studio.errors import StudioError, one_line
    from studio.formats import detect
    from studio.jobs.handlers import package_versions
    from studio.jobs.protocol import ConvertRequest
    from studio.jobs.record import JobRecord
    from studio.jobs.runner import JobRunner
    from studio.options import ConvertOptions
    from studio.resources import sample_model_path

    argv = list(argv or [])
    debug = "--debug" in argv
    started = time.perf_counter()
    mode = "frozen app" if getattr(sys, "frozen", False) else "development"
    print(f"Model Conversion Studio {__version__} self-test ({mode}, {sys.executable})", flush=True)

    sample = sample_model_path()
    if not sample.is_file():
        return _fail(f"the bundled sample model is missing: {sample}", 2, started)
    try:
        source = detect(sample)
    except StudioError as exc:
        return _fail(f"the bundled sample is not readable: {exc}", 2, started)
    print(f"sample: {sample} ({source.format.value})", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="studio-selftest-"))
    record = JobRecord()
    runner = None
    try:
        request = ConvertRequest(source=source.to_dict(), out_dir=str(tmp / f"{source.stem}_converted"),
                                 options=ConvertOptions(targets=list(TARGETS), variants=list(VARIANTS)))
        record.job_id = request.job_id
        # Libraries drop files into the temp folder (AutoGraph sources, torch's inductor cache): the worker gets
        # ours, so removing it leaves nothing behind.
        worker_tmp = tmp / "tmp"
        worker_tmp.mkdir()
        runner = JobRunner(request, env={"TMPDIR": str(worker_tmp)})
        with ProgressPrinter(debug=debug) as printer:
            for event in runner.events():
                record.apply(event)
                printer.show(event)
    except KeyboardInterrupt:
        if runner is not None:
            runner.cancel()
            for _ in runner.events():
                pass
        return _fail("cancelled", 130, started)
    except Exception as exc:   # the runner itself could not start the worker
        return _fail(f"could not run the worker: {one_line(exc)}", 3, started)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    comparisons, artifacts = record.comparisons, record.artifacts
    if comparisons:
        print_comparisons(comparisons)
    versions = package_versions()
    print("versions: " + ", ".join(f"{k} {versions.get(k, '?')}" for k in SHOWN_VERSIONS), flush=True)
    elapsed = time.perf_counter() - started

    exit_code = record.exit_code if record.exit_code is not None else 3
    if record.error is not None:
        if debug and record.details:
            print(record.details, file=sys.stderr)
        return _fail(record.error, exit_code or 3, started)
    failed = [Path(c.get("candidate", "?")).name for c in comparisons if not c.get("passed")]
    if failed:
        return _fail(f"{len(failed)} of {len(comparisons)} comparisons failed: {', '.join(failed)}", 1, started)
    if len(comparisons) < EXPECTED_COMPARISONS:
        return _fail(f"expected {EXPECTED_COMPARISONS} comparisons (onnx, savedmodel, tflite float32 and float16), "
                     f"got {len(comparisons)} for {len(artifacts)} artifacts", 1, started)
    if exit_code != 0:
        return _fail(f"the worker ended with exit code {exit_code}", exit_code, started)
    print(f"self-test PASSED: {len(artifacts)} artifacts, {len(comparisons)} comparisons in {elapsed:.1f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

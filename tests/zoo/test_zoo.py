"""The zoo: real architectures through every source format they have, with the real `studio convert`.

One test id per model and source format (e.g. ``swin-torchscript``, ``resnet50-keras``). Each runs
``studio convert SRC --to tflite --quantize float32`` on the same inputs the test's own framework run
used, and asserts on report.json: exit 0, the TFLite float32 comparison passed, and every output's
error relative to the output's scale (max_abs / max |ref|) is at most 1e-4. Not the report's per-element
max_rel: on random-weight models many logits sit near zero, where float32's own rounding already exceeds
1e-4 of the element (onnxruntime on the same ONNX gives max_rel 1e-4 to 5e-4 on several of these).

Run only the zoo: ./scripts/test tests/zoo -m zoo      Skip it: ./scripts/test -m "not zoo"
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from zoo_models import CASES, ZOO, Saved, save_zoo_model

pytestmark = [pytest.mark.zoo, pytest.mark.slow]

MAX_REL = 1e-4        # TFLite float32 against the framework, relative to the output's largest magnitude
MIN_STD = 1e-3        # a dead (constant or vanishing) output would pass any comparison
WORKERS = int(os.environ.get("STUDIO_ZOO_WORKERS", "2"))   # conversions running side by side
CASE_TIMEOUT = 300    # seconds per conversion; the slowest (DenseNet121) takes about 100 s on 2 busy cores


@dataclass
class Conversion:
    saved: Saved
    out: Path
    returncode: int | None      # None: timed out
    stdout: str
    stderr: str
    report: dict | None
    seconds: float

    def error_line(self) -> str:
        """Why it failed, in one line: the studio's error, or the failed comparison's reason."""
        if self.report and self.report.get("exit_code") == 1:
            for comp in self.report["comparisons"]:
                if not comp["passed"]:
                    reasons = [comp.get("error")] + [o.get("reason") for o in comp["outputs"] if not o["passed"]]
                    return f"{Path(comp['candidate']).name}: {'; '.join(r for r in reasons if r)}"
        if self.returncode is None:
            progress = [ln.strip() for ln in self.stderr.splitlines() if ln.strip() and "error:" not in ln]
            return f"timed out after {CASE_TIMEOUT} s; last progress: {progress[-1] if progress else '(none)'}"
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("studio: error:")]
        lines = lines or [ln for ln in (self.stderr + self.stdout).splitlines() if ln.strip()]
        return lines[-1].strip() if lines else "(no output)"


class Zoo:
    """Builds each zoo model once (in this process, one at a time) and runs `studio convert` on it.

    The conversions are subprocesses that spend most of their time in single-threaded Python (imports,
    tf2onnx, onnx2tf), so WORKERS of them run side by side: the module fixture queues every selected
    case up front, in test order, and each test waits for its own.
    """

    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self._build_lock = threading.Lock()
        self._built: dict[str, Saved | BaseException] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zoo")
        self._queued: dict[tuple[str, str], Future] = {}
        self._queue_lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.closing = False

    def model(self, name: str) -> Saved:
        with self._build_lock:
            if name not in self._built:
                try:
                    self._built[name] = save_zoo_model(ZOO[name], self.root / "models" / name)
                except Exception as exc:   # remembered: the model's other formats fail the same way, fast
                    self._built[name] = exc
            found = self._built[name]
        if isinstance(found, BaseException):
            raise found
        return found

    def queue(self, name: str, fmt: str) -> Future:
        with self._queue_lock:
            if (name, fmt) not in self._queued:
                self._queued[(name, fmt)] = self._pool.submit(self._convert, name, fmt)
            return self._queued[(name, fmt)]

    def conversion(self, name: str, fmt: str) -> Conversion:
        return self.queue(name, fmt).result()

    def close(self) -> None:
        """Drop the queued cases and Ctrl-C the running ones (pytest -x stopped early, or the module is done)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._queue_lock:
            self.closing = True
            running = list(self._running)
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        self._pool.shutdown(wait=True)

    def _convert(self, name: str, fmt: str) -> Conversion:
        saved = self.model(name)
        out = self.root / "out" / f"{name}-{fmt}"
        args = ["convert", saved.sources[fmt], "--to", "tflite", "--quantize", "float32", "--out", out,
                "--inputs", saved.inputs_file]
        if fmt == "torchscript":     # TorchScript stores no shapes (nor dtypes): the user gives them
            for shape in saved.model.torchscript_shapes:
                args += ["--input-shape", shape]
        if self.closing:
            raise RuntimeError("the zoo is closing")
        t0 = time.perf_counter()
        returncode, stdout, stderr = run_studio_bounded(args, self.root, CASE_TIMEOUT, self._started, self._ended)
        seconds = time.perf_counter() - t0
        report_path = out / "report.json"
        report = json.loads(report_path.read_text()) if report_path.is_file() else None
        return Conversion(saved, out, returncode, stdout, stderr, report, seconds)

    def _started(self, proc: subprocess.Popen) -> None:
        with self._queue_lock:
            self._running.add(proc)
            if self.closing:            # close() already went through the running ones
                proc.send_signal(signal.SIGINT)

    def _ended(self, proc: subprocess.Popen) -> None:
        with self._queue_lock:
            self._running.discard(proc)


def run_studio_bounded(args: list, cwd: Path, timeout: float, started: Callable[[subprocess.Popen], None],
                       ended: Callable[[subprocess.Popen], None]) -> tuple[int | None, str, str]:
    """`python -m studio ARGS` like tests/studio_cli.run_studio, but a hang costs `timeout`, not the CI budget.

    On timeout the CLI gets Ctrl-C (it then kills its worker, which runs in a session of its own); whatever
    is still alive 30 s later is killed by pid. Returns (exit code or None on timeout, stdout, stderr).
    """
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "studio", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    started(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stdout, stderr
    except subprocess.TimeoutExpired:
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        try:
            stdout, stderr = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        return None, stdout, stderr
    finally:
        ended(proc)


@pytest.fixture(scope="module")
def zoo(request, tmp_path_factory) -> Iterator[Zoo]:
    zoo = Zoo(tmp_path_factory.mktemp("zoo"), WORKERS)
    for item in request.session.items:       # queue the selected cases, in the order they will run
        if getattr(item, "originalname", None) == "test_zoo_tflite_float32" and hasattr(item, "callspec") \
                and not item.get_closest_marker("xfail"):
            zoo.queue(item.callspec.params["name"], item.callspec.params["fmt"])
    yield zoo
    zoo.close()


def tflite_float32(report: dict) -> tuple[dict, dict]:
    """(comparison, artifact) of the TFLite float32 artifact."""
    for comp in report["comparisons"]:
        art = next(a for a in report["artifacts"] if a["path"] == comp["candidate"])
        if (art["kind"], art["variant"]) == ("tflite", "float32"):
            return comp, art
    raise AssertionError(f"no tflite float32 comparison in the report: {report['comparisons']}")


def known_backend(name: str) -> bool:
    from studio.stages.backends import BACKENDS

    return any(b in name for b in BACKENDS)


def check_backends(report: dict) -> None:
    """The report says which backend made each artifact; the TFLite ones name a real backend."""
    for art in report["artifacts"]:
        assert isinstance(art.get("backend"), str) and art["backend"], art
        if art["kind"] in ("savedmodel", "tflite"):
            assert known_backend(art["backend"]), art


# Known failures, each with what happens; not run (each would cost its full timeout of CI time).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _case(name: str, fmt: str):
    reason = KNOWN_FAILURES.get((name, fmt))
    marks = [pytest.mark.xfail(run=False, strict=True, reason=reason)] if reason else []
    return pytest.param(name, fmt, marks=marks, id=f"{name}-{fmt}")


@pytest.mark.parametrize(("name", "fmt"), [_case(name, fmt) for name, fmt in CASES])
def test_zoo_tflite_float32(zoo, record_property, name, fmt):
    conv = zoo.conversion(name, fmt)
    record_property("convert_seconds", round(conv.seconds, 1))
    record_property("build_seconds", round(conv.saved.build_seconds, 1))
    for ref in conv.saved.reference:
        assert np.isfinite(ref).all() and float(ref.std()) > MIN_STD, (
            f"dead reference output: std {float(ref.std()):.2e}; the BatchNorm recalibration did not work")
    if conv.report and conv.report["comparisons"] and conv.report["comparisons"][0]["outputs"]:
        record_property("max_rel", max(o["max_rel"] for c in conv.report["comparisons"] for o in c["outputs"]))
    status = "timeout" if conv.returncode is None else f"exit {conv.returncode}"
    assert conv.returncode == 0, f"{status}: {conv.error_line()}"
    report = conv.report
    assert report is not None and report["exit_code"] == 0
    assert report["source"]["path"] == str(conv.saved.sources[fmt])
    assert report["inputs"]["from"] == str(conv.saved.inputs_file)
    comp, art = tflite_float32(report)
    assert art["flex_ops"] == [] and Path(art["path"]).is_file()
    assert comp["passed"], [(o["name"], o["reason"]) for o in comp["outputs"] if not o["passed"]]
    assert [list(o["shape"]) for o in comp["outputs"]] == [list(r.shape) for r in conv.saved.reference]
    for out, ref in zip(comp["outputs"], conv.saved.reference):
        scale = float(np.abs(ref).max())
        assert out["max_abs"] <= MAX_REL * scale, (f"{out['name']}: max_abs {out['max_abs']:.3g} > {MAX_REL} x "
                                                   f"max |ref| {scale:.3g} (per-element max_rel {out['max_rel']:.3g})")
        assert out["cosine"] > 0.99999, out
    check_backends(report)


def test_report_names_backend(zoo):
    """Every artifact's report entry names the backend that made it (checked on every zoo report too)."""
    conv = zoo.conversion("squeeze_excite", "pt2")
    if conv.report is None or not conv.report["artifacts"]:
        pytest.skip(f"the conversion failed ({conv.error_line()}): see test_zoo_tflite_float32[squeeze_excite-pt2]")
    assert all("backend" in art for art in conv.report["artifacts"])
    check_backends(conv.report)


# ---------------------------------------------------------------- per-layer explain on the zoo's conversions

# `studio explain` must pair at least this share of the ONNX hub's values with the source and with the TFLite
# (issue 8), and find no divergent layer in a correct float32 conversion. Cases measured below it
# (scripts/bench_explain.py --zoo) are listed with their figures and not run: each is a known gap.
MIN_PAIRED = 0.95
PAIRING_GAPS = {
    ("mobilenet_v2", "savedmodel"): "a SavedModel gives its outputs only (0.7%)",
}


def _explain_case(name: str, fmt: str):
    reason = KNOWN_FAILURES.get((name, fmt)) or PAIRING_GAPS.get((name, fmt))
    marks = [pytest.mark.xfail(run=False, strict=True, reason=reason)] if reason else []
    return pytest.param(name, fmt, marks=marks, id=f"{name}-{fmt}")


@pytest.mark.parametrize(("name", "fmt"), [_explain_case(name, fmt) for name, fmt in CASES])
def test_zoo_explain_pairs_the_layers_and_finds_no_divergence(zoo, record_property, name, fmt):
    conv = zoo.conversion(name, fmt)
    assert conv.returncode == 0, f"the conversion failed: {conv.error_line()}"
    _, artifact = tflite_float32(conv.report)
    args = ["explain", conv.saved.sources[fmt], artifact["path"], "--inputs", conv.saved.inputs_file, "--json"]
    if fmt == "torchscript":
        for shape in conv.saved.model.torchscript_shapes:
            args += ["--input-shape", shape]
    returncode, stdout, stderr = run_studio_bounded(args, zoo.root, CASE_TIMEOUT, zoo._started, zoo._ended)
    assert returncode == 0, (stderr or stdout)[-2000:]
    [layers] = json.loads(stdout)
    record_property("paired", layers["paired"])
    assert layers["paired"]["reference"] >= MIN_PAIRED and layers["paired"]["candidate"] >= MIN_PAIRED, \
        layers["paired"]
    assert layers["first_divergent"] is None, layers["first_divergent"]

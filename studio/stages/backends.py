"""ONNX -> TensorFlow backends behind one small interface.

- onnx2tf: onnx2tf 2.x's direct writer (flatbuffer_direct): TFLite straight from its own IR, no TF
  converter; fast and light, keeps the source's tensor names, and writes the SavedModel from the same run.
- onnx2tf-plain-layernorm: the direct writer with its two LayerNorm-statistics layout passes off (see
  onnx2tf_fixes): they mislay the scale of a LayerNorm computed by hand over conv features (tf2onnx's
  export of Keras LayerNormalization, as in ConvNeXtTiny), and LiteRT refuses the file.
- onnx2tf-tf-converter: onnx2tf's older path through a Keras model and TF's TFLite converter; slower,
  but it takes some models the direct writer cannot express. The default ("auto") falls back to the two
  others in this order.
- onnx-tf: archived, detected and reported unavailable with its reason.

Importing this module is cheap and backend_status() never imports TensorFlow: the CLI and the GUI
call it to show which backends they can offer. The conversions themselves import their converter
inside convert(), in the worker process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from studio.errors import StudioError, one_line
from studio.stages.capture import captured_output, cause_before_warning, cause_from_log, read_log, strip_ansi
from studio.stages.layouts import CHANNELS_LAST, TfInput
from studio.stages.onnx2tf_fixes import (LAYERNORM_STATISTICS_PASSES, fixed_kernels, has_layernorm_statistics,
                                         missing_passes, passes_off)
from studio.stages.onnx2tf_savedmodel import weights_in_variables
from studio.stages.onnx2tf_shapes import shapes_without_weights
from studio.stages.onnx2tf_writer import float32_shares_weights, lean_serializer, wrote_shared_weights

# Our variant names -> the file suffix onnx2tf gives each TFLite it writes (both of its writers).
ONNX2TF_SUFFIXES = {
    "float32": "_float32.tflite",
    "float16": "_float16.tflite",
    "dynamic_int8": "_dynamic_range_quant.tflite",
    "int8": "_integer_quant.tflite",   # int8 weights and activations, float32 I/O: drop-in for the float model
}
# The warning onnx2tf 1.28.8 prints (after the traceback) when it catches the failure of a quantized variant
# and carries on without writing its file. Float32 and float16 failures are not caught: they raise.
ONNX2TF_FAILURE_WARNINGS = {
    "dynamic_int8": "Dynamic Range Quantization tflite output failed.",
    "int8": "Full INT8 Quantization tflite output failed.",   # sic: the _integer_quant.tflite block
}
# What onnx2tf writes besides the SavedModel's own files (the direct writer also copies its TFLite schema).
_NOT_SAVEDMODEL = (".tflite", ".json", ".h5", ".keras", ".npy", ".onnx", ".pb.txt", ".fbs", ".py")
# The direct writer's map from each ONNX tensor to the TFLite tensor that holds it (kept for per-layer diffs).
ONNX2TF_CORRESPONDENCE_SUFFIX = "_tensor_correspondence_report.json"


@dataclass
class BackendRequest:
    """Everything a backend needs for one conversion; it writes only inside run_dir."""

    onnx_path: Path                  # a private copy: backends may rewrite it (onnx2tf does)
    run_dir: Path                    # the backend's working folder: absolute; the process's cwd is never changed
    inputs: list[TfInput]
    variants: tuple[str, ...]
    calibration: dict[str, np.ndarray] | None = None   # int8: samples per source input name, in TF layout
    pseudo_ops: tuple[str, ...] = ()                   # onnx2tf replace_to_pseudo_operators names
    log_path: Path | None = None
    savedmodel: bool = True                            # also write a SavedModel
    progress: Callable[[float, str], None] | None = None   # fraction of this conversion, message


@dataclass
class BackendResult:
    savedmodel: Path | None = None
    tflite: dict[str, Path] = field(default_factory=dict)   # variant -> file
    notes: list[str] = field(default_factory=list)
    pseudo_ops: tuple[str, ...] = ()                         # the pseudo-operators it was converted with
    backend: str = ""                                        # which backend wrote these files
    correspondence: Path | None = None                       # ONNX tensor -> TFLite tensor report, if written


# The TFLite interpreter's words for a Select-TF op it cannot run; int8 calibration runs the model in it.
FLEX_FAILED_TO_PREPARE = re.compile(r"\((Flex\w+)\) failed to prepare")


# The TFLite converter's words for a TF op it can neither lower to a builtin nor keep as Flex (e.g. tf.Asin).
UNCONVERTIBLE_TF_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


class _NeedsAutograph(Exception):
    """A conversion traced without AutoGraph met graph code that needs it: run it again with AutoGraph."""


class _WroteSharedWeights(Exception):
    """A pass wrote into a weight the float32 file's IR shared read-only: run it again with onnx2tf's copies."""


class BackendFailed(Exception):
    """The converter failed; the message is one line naming the cause (the stage wraps it in a StageError).

    tf_ops names TF ops the TFLite converter could not express at all, when that was the cause;
    calibration_flex_ops names Select-TF ops (FlexErf...) that int8 calibration could not run.
    """

    def __init__(self, message: str, tf_ops: tuple[str, ...] = (), calibration_flex_ops: tuple[str, ...] = (),
                 in_savedmodel_export: bool = False):
        super().__init__(message)
        self.tf_ops = tf_ops
        self.calibration_flex_ops = calibration_flex_ops
        self.in_savedmodel_export = in_savedmodel_export   # the direct writer failed while writing its SavedModel


class OnnxToTfBackend(Protocol):
    name: str
    moves_to_channels_last: bool   # turns channels-first image inputs into NHWC on its own
    pseudo_operators: bool         # understands BackendRequest.pseudo_ops
    fuses_gelu: bool               # fuses Div(sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5) into one GELU
    flex_prone: bool               # may write Select-TF (Flex) ops (TF's converter does; the direct writer never)

    def available(self) -> tuple[bool, str]:
        """(usable, why) from a cheap check that imports no TensorFlow."""
        ...

    def convert(self, request: BackendRequest) -> BackendResult:
        """Write a SavedModel and the requested TFLite variants under request.run_dir."""
        ...

    def could_differ(self, model) -> bool:
        """False when, on this ONNX model, the backend would only repeat an earlier one in the auto chain."""
        ...


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def onnx2tf_name(onnx_name: str) -> str:
    """The name onnx2tf gives a tensor when it writes signature defs (':' and a leading '/' are not allowed)."""
    return re.sub(r"^/", "wa/", onnx_name.replace(":", "__"))


class Onnx2TfBackend:
    """onnx2tf with one of its two TFLite writers: "flatbuffer_direct" or "tf_converter"; passes_off: direct-writer
    passes to turn off for the conversion (onnx2tf_fixes)."""

    def __init__(self, name: str, tflite_backend: str, passes_off: tuple = ()):
        self.name = name
        self.tflite_backend = tflite_backend
        self.passes_off = passes_off
        self.direct = tflite_backend == "flatbuffer_direct"
        self.moves_to_channels_last = True
        # The TF-converter path needs our Flex-op workarounds; the direct writer lowers Erf & co. itself.
        self.pseudo_operators = self.fuses_gelu = self.flex_prone = not self.direct

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("onnx2tf") is None:
            return False, "onnx2tf is not installed"
        version = _version("onnx2tf")
        if self.direct and not version.startswith("2."):
            return False, f"the direct TFLite writer needs onnx2tf 2.x (found {version})"
        passes = ", its LayerNorm layout passes off" if self.passes_off else ""
        return True, f"onnx2tf {version} ({self.tflite_backend}{passes})"

    def could_differ(self, model) -> bool:
        return not self.passes_off or has_layernorm_statistics(model)

    def convert(self, request: BackendRequest) -> BackendResult:
        out_dir = request.run_dir / "tf"
        log_path = request.log_path or request.run_dir / "onnx2tf.log"
        autograph, share = not (self.direct and request.savedmodel), self.direct
        while True:   # each retry turns one of them to onnx2tf's own way for good
            try:
                self._run(request, out_dir, log_path, autograph=autograph, share=share)
                break
            except _NeedsAutograph:
                autograph = True
            except _WroteSharedWeights:
                share = False
            shutil.rmtree(out_dir, ignore_errors=True)
        result = self._collect(request, out_dir, log_path)
        result.backend = self.name
        if self.direct:
            self._finish_direct(result, out_dir / f"{request.onnx_path.stem}{ONNX2TF_SUFFIXES['float32']}")
        return result

    def _run(self, request: BackendRequest, out_dir: Path, log_path: Path, autograph: bool, share: bool) -> None:
        """One onnx2tf run. Without AutoGraph (see tf_autograph) a failure that needed it raises
        _NeedsAutograph, and one that wrote into a shared weight (share: see onnx2tf_writer) _WroteSharedWeights,
        so that convert() runs it again the way it needed."""
        import onnx2tf

        from studio.stages.tf_autograph import needs_autograph, onnx2tf_without_autograph

        kwargs = self._options(request)
        missing = missing_passes(self.passes_off) if self.passes_off else []
        if missing:
            raise BackendFailed(f"this onnx2tf lacks the passes {self.name} turns off: {', '.join(missing)}")
        watcher = _ProgressWatcher(log_path, request.progress) if request.progress else None
        tracing = contextlib.nullcontext() if autograph else onnx2tf_without_autograph()
        without = passes_off(self.passes_off) if self.passes_off else contextlib.nullcontext()
        fixes = _direct_writer_patches(share) if self.direct else contextlib.nullcontext()
        try:
            with captured_output(log_path), tracing, without, fixes:
                if watcher:
                    watcher.start()
                onnx2tf.convert(input_onnx_file_path=str(request.onnx_path), output_folder_path=str(out_dir),
                                **kwargs)
        except SystemExit as exc:   # onnx2tf calls sys.exit(1) after printing "ERROR: ..."
            said = read_log(log_path)
            if not autograph and "OperatorNotAllowedInGraphError" in said:
                raise _NeedsAutograph() from None
            if share and wrote_shared_weights(None, said):
                raise _WroteSharedWeights() from None
            raise BackendFailed(cause_from_log(log_path, f"onnx2tf exited with status {exc.code}")) from None
        except Exception as exc:
            if not autograph and needs_autograph(exc):
                raise _NeedsAutograph() from exc
            if share and wrote_shared_weights(exc):
                raise _WroteSharedWeights() from exc
            tf_ops = tuple(sorted(set(UNCONVERTIBLE_TF_OP.findall(str(exc)))))
            if tf_ops:
                raise BackendFailed(f"the TFLite converter cannot express TF op {', '.join(tf_ops)} "
                                    f"(neither a builtin nor a Flex op)", tf_ops) from exc
            raise BackendFailed(_explain(exc, log_path), in_savedmodel_export=_in_savedmodel_export(exc)) from exc
        finally:
            if watcher:
                watcher.stop()

    @staticmethod
    def _finish_direct(result: BackendResult, float32: Path) -> None:
        """Its float16 file is float16 throughout (I/O included), which LiteRT's CPU kernels often cannot
        run: ours is what TF's converter makes (float16 weights, float32 arithmetic and I/O). Its int8 file
        renames the outputs: they get the float32 file's names (the source's) back."""
        from studio.stages.tflite_rewrites import copy_signature_names, float16_weights

        if "float16" in result.tflite:
            float16_weights(float32, result.tflite["float16"])
        for variant in ("int8", "dynamic_int8"):
            if variant in result.tflite and float32.is_file():
                copy_signature_names(float32, result.tflite[variant])

    def _options(self, request: BackendRequest) -> dict:
        """Layout flags from the source's layouts: nobody should need onnx2tf's expert options.

        Channels-first inputs moving to NHWC need no flag (onnx2tf's default). NHWC sources keep NHWC.
        Every input that keeps its source shape, NCHW images under keep_layout included, is pinned with
        keep_shape_absolutely: onnx2tf's keep_ncw_or_nchw flag reads int8 calibration data as NHWC for
        its ONNX check run while calibrating the NCHW input with it, and fails (measured on 1.28.8).
        Logging is at "warn", not non_verbose ("error"): onnx2tf catches a failed quantized variant, prints
        the traceback and a warning and carries on, so at "error" the log would not say why a file is missing.
        onnxsim stays off: the pinned stack has no onnxsim executable, and the stage already writes static
        shapes into the ONNX it hands over (fix_input_shapes). The direct writer skips onnx2tf's node naming
        (sng4onnx): the stage has named every node already (name_unnamed_nodes).
        """
        keep_nhwc = [i.tf_name for i in request.inputs if i.source_layout in CHANNELS_LAST]
        keep_shape = [i.tf_name for i in request.inputs
                      if i.source_layout not in CHANNELS_LAST and i.tf_layout == i.source_layout]
        options: dict = dict(
            verbosity="warn",
            tflite_backend=self.tflite_backend,
            not_use_onnxsim=True,
            not_use_opname_auto_generate=self.direct,
            output_signaturedefs=True,   # SavedModel / TFLite signatures keep the input and output names
            keep_nwc_or_nhwc_or_ndhwc_input_names=keep_nhwc or None,
            keep_shape_absolutely_input_names=keep_shape or None,
            output_dynamic_range_quantized_tflite="dynamic_int8" in request.variants,
            output_integer_quantized_tflite="int8" in request.variants,
        )
        if self.direct:
            options["flatbuffer_direct_output_saved_model"] = request.savedmodel
        else:
            # copy_onnx_input_output_names_to_tflite is left off: it needs a flatc binary and downloads schema.fbs.
            options["replace_to_pseudo_operators"] = list(request.pseudo_ops) or None
        if "int8" in request.variants:
            options["custom_input_op_name_np_data_path"] = _calibration_files(request)
            options["quant_type"] = "per-channel"
        return options

    @staticmethod
    def _collect(request: BackendRequest, out_dir: Path, log_path: Path) -> BackendResult:
        stem = request.onnx_path.stem
        result = BackendResult()
        for variant in request.variants:
            path = out_dir / f"{stem}{ONNX2TF_SUFFIXES[variant]}"
            if not path.is_file():
                raise _missing_variant(variant, log_path)
            result.tflite[variant] = path
        report = out_dir / f"{stem}{ONNX2TF_CORRESPONDENCE_SUFFIX}"
        if report.is_file():
            result.correspondence = request.run_dir / report.name
            shutil.move(str(report), result.correspondence)
        if not request.savedmodel:
            return result
        if not (out_dir / "saved_model.pb").is_file():
            raise BackendFailed(f"onnx2tf wrote no SavedModel: {cause_from_log(log_path, 'no reason given')}")
        savedmodel = request.run_dir / "savedmodel"
        savedmodel.mkdir()
        for entry in list(out_dir.iterdir()):
            if not entry.name.endswith(_NOT_SAVEDMODEL):
                shutil.move(str(entry), savedmodel / entry.name)
        result.savedmodel = savedmodel
        return result


@contextlib.contextmanager
def _direct_writer_patches(share: bool = True):
    """The direct writer with our fixes to its SavedModel kernels, its SavedModel's weights in variables, and
    without extra copies of the weights in its shape inference, its float32 file's IR (share) and its TFLite
    serialization."""
    shared = float32_shares_weights() if share else contextlib.nullcontext()
    with fixed_kernels(), weights_in_variables(), shapes_without_weights(), lean_serializer(), shared:
        yield


class _ProgressWatcher:
    """Turns the direct writer's progress bars in its log into progress fractions, while it runs.

    It prints tqdm bars ("flatbuffer_direct lowering: 40%|", then post-lowering and export). The TF-converter
    path prints no progress below debug verbosity (whose per-node dumps are too heavy to leave on).
    """

    PHASES = (("flatbuffer_direct lowering", 0.0, 0.6), ("flatbuffer_direct post-lowering", 0.6, 0.75),
              ("flatbuffer_direct export", 0.75, 1.0))
    BAR = re.compile(r"(flatbuffer_direct (?:lowering|post-lowering|export))[^:\n\r]*:\s*(\d+)%")

    def __init__(self, log_path: Path, report: Callable[[float, str], None], interval: float = 0.5):
        self.log_path, self.report, self.interval = log_path, report, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._offset = 0
        self._last = -1.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                with open(self.log_path, "rb") as log:
                    log.seek(self._offset)
                    chunk = log.read().decode("utf-8", "replace")
                    self._offset = log.tell()
            except OSError:
                continue
            fraction, message = self.parse(strip_ansi(chunk))
            if fraction is not None and fraction > self._last + 0.005:
                self._last = fraction
                self.report(fraction, message)

    @classmethod
    def parse(cls, text: str) -> tuple[float | None, str]:
        """The furthest point the text reports: (fraction, message), or (None, "") if it reports none."""
        bars = cls.BAR.findall(text)
        if not bars:
            return None, ""
        phase, percent = bars[-1]
        low, high = next((lo, hi) for name, lo, hi in cls.PHASES if name == phase)
        return low + (high - low) * int(percent) / 100, phase.replace("flatbuffer_direct ", "")


def _missing_variant(variant: str, log_path: Path) -> BackendFailed:
    """Why onnx2tf wrote no file for a variant, from the traceback it printed before its warning."""
    warning = ONNX2TF_FAILURE_WARNINGS.get(variant)
    cause = cause_before_warning(log_path, warning) if warning else None
    if cause is None:
        reason = cause_from_log(log_path, "its log gives no reason")
        return BackendFailed(f"onnx2tf wrote no {variant} TFLite: {reason}")
    flex = tuple(sorted(set(FLEX_FAILED_TO_PREPARE.findall(cause))))
    if flex and variant == "int8":
        # TFLite's calibrator runs the model in the interpreter, which has no Flex delegate there.
        head = cause.split(". ", 1)[0]
        return BackendFailed(f"onnx2tf wrote no int8 TFLite: calibration runs the model in the TFLite interpreter, "
                             f"which cannot run Select-TF op {', '.join(flex)} ({head[:200]})",
                             calibration_flex_ops=flex)
    return BackendFailed(f"onnx2tf wrote no {variant} TFLite: {cause[:300]}")


def _calibration_files(request: BackendRequest) -> list[list]:
    """[[tf input name, .npy path, mean, std]] with mean 0 / std 1: our data is already what the model takes."""
    if not request.calibration:
        raise BackendFailed("int8 needs calibration data and none was prepared")
    entries = []
    for spec in request.inputs:
        path = request.run_dir / f"calibration_{len(entries)}.npy"
        np.save(path, np.ascontiguousarray(request.calibration[spec.name], dtype=np.float32))
        entries.append([spec.tf_name, str(path), np.float32(0.0), np.float32(1.0)])
    return entries


def _in_savedmodel_export(exc: BaseException) -> bool:
    """The direct writer failed while tracing the SavedModel it makes from its TFLite IR (after the TFLite)."""
    text = str(exc)
    return text.lstrip().startswith("in user code:") and "saved_model_exporter" in text


def _explain(exc: BaseException, log_path: Path) -> str:
    """onnx2tf's exceptions, in words: an operator it lacks, or where it failed and why."""
    name = getattr(exc, "name", "") or ""
    if isinstance(exc, ModuleNotFoundError) and name.startswith("onnx2tf.ops."):
        return f"onnx2tf does not support the ONNX operator {name.rsplit('.', 1)[-1]}"
    where = getattr(exc, "onnx_op_name", None)
    text = one_line(exc, 300)
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0] == "in user code:":
        # TF's traced-function error: the frames of onnx2tf's code, then the error on its last line
        kernel = re.findall(r"in _kernel_(\w+)", str(exc))
        step = "its SavedModel export" if _in_savedmodel_export(exc) else "tracing"
        return one_line(StudioError(f"{step} failed{f' in its {kernel[-1]} kernel' if kernel else ''}: {lines[-1]}"),
                        300)
    if where:
        return f"at ONNX node {where}: {text}"
    return cause_from_log(log_path, text) if text == type(exc).__name__ else text


class OnnxTfBackend:
    """onnx-tf (onnx/onnx-tensorflow): archived, and broken with onnx >= 1.16 (it imports onnx.mapping)."""

    name = "onnx-tf"
    moves_to_channels_last = False
    pseudo_operators = False
    fuses_gelu = False
    flex_prone = True

    def could_differ(self, model) -> bool:
        return True

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("onnx_tf") is None:
            return False, "onnx-tf is not installed (and it does not work with this onnx: it imports onnx.mapping)"
        try:
            has_mapping = importlib.util.find_spec("onnx.mapping") is not None
        except (ImportError, ValueError):
            has_mapping = False
        if not has_mapping:
            return False, (f"onnx-tf {_version('onnx-tf')} fails to import: it needs onnx.mapping, "
                           f"which onnx {_version('onnx')} no longer has ('from onnx import mapping')")
        return True, f"onnx-tf {_version('onnx-tf')}"

    def convert(self, request: BackendRequest) -> BackendResult:
        try:
            from onnx_tf.backend import prepare
        except Exception as exc:
            raise BackendFailed(f"onnx-tf cannot be imported: {one_line(exc, 200)}") from exc
        import onnx
        import tensorflow as tf

        log_path = request.log_path or request.run_dir / "onnx_tf.log"
        savedmodel = request.run_dir / "savedmodel"
        try:
            with captured_output(log_path):
                prepare(onnx.load(str(request.onnx_path))).export_graph(str(savedmodel))
                result = BackendResult(savedmodel=savedmodel, notes=["onnx-tf keeps the ONNX layout (NCHW stays NCHW)"])
                for variant in request.variants:
                    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))
                    _configure(converter, variant, request)
                    path = request.run_dir / f"{request.onnx_path.stem}_{variant}.tflite"
                    path.write_bytes(converter.convert())
                    result.tflite[variant] = path
        except Exception as exc:
            raise BackendFailed(cause_from_log(log_path, one_line(exc, 300))) from exc
        return result


def _configure(converter, variant: str, request: BackendRequest) -> None:
    import tensorflow as tf

    if variant == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        data = request.calibration or {}
        count = min(len(v) for v in data.values()) if data else 0

        def samples():
            for i in range(count):
                yield [data[spec.name][i:i + 1] for spec in request.inputs]

        converter.representative_dataset = samples


BACKENDS: dict[str, OnnxToTfBackend] = {backend.name: backend for backend in (
    Onnx2TfBackend("onnx2tf", "flatbuffer_direct"),
    Onnx2TfBackend("onnx2tf-plain-layernorm", "flatbuffer_direct", LAYERNORM_STATISTICS_PASSES),
    Onnx2TfBackend("onnx2tf-tf-converter", "tf_converter"),
    OnnxTfBackend(),
)}
# "auto": each artifact from the first backend in this chain whose result loads, runs and matches the ONNX.
AUTO = "auto"
AUTO_CHAIN = ("onnx2tf", "onnx2tf-plain-layernorm", "onnx2tf-tf-converter")
DEFAULT_BACKEND = AUTO
BACKEND_CHOICES = (AUTO, *BACKENDS)


def backend_chain(name: str) -> list[OnnxToTfBackend]:
    """The backends to try, in order: the auto chain's available ones, or exactly the one named."""
    if name == AUTO:
        chain = [BACKENDS[n] for n in AUTO_CHAIN if BACKENDS[n].available()[0]]
        if not chain:
            raise StudioError(f"no ONNX -> TF backend is available: {BACKENDS[AUTO_CHAIN[0]].available()[1]}")
        return chain
    return [get_backend(name)]


def get_backend(name: str) -> OnnxToTfBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise StudioError(f"unknown backend {name!r}; choose from {', '.join(BACKEND_CHOICES)}") from None


def backend_status() -> dict[str, tuple[bool, str]]:
    """name -> (available, reason) for "auto" and every backend, without importing TensorFlow."""
    status = {name: backend.available() for name, backend in BACKENDS.items()}
    usable = [name for name in AUTO_CHAIN if status[name][0]]
    auto = (bool(usable), " then ".join(usable) + ", per artifact, falling back when a file fails its check"
            if usable else status[AUTO_CHAIN[0]][1])
    return {AUTO: auto, **status}


def require_backend(name: str) -> None:
    """A usage error, before any work, when `--backend name` is unknown or cannot run here."""
    status = backend_status()
    if name not in status:
        raise StudioError(f"--backend {name!r}: choose from {', '.join(status)}")
    ok, reason = status[name]
    if not ok:
        raise StudioError(f"--backend {name} is unavailable: {reason}")

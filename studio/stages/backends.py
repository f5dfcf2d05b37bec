"""ONNX -> TensorFlow backends behind one small interface: onnx2tf (default) and onnx-tf.

Importing this module is cheap and backend_status() never imports TensorFlow: the CLI and the GUI
call it to show which backends they can offer. The conversions themselves import their converter
inside convert(), in the worker process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from studio.errors import StudioError, one_line
from studio.stages.capture import captured_output, cause_before_warning, cause_from_log
from studio.stages.layouts import CHANNELS_LAST, TfInput

# Our variant names -> the file suffix onnx2tf gives each TFLite it writes.
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
# What onnx2tf writes besides the SavedModel's own files.
_NOT_SAVEDMODEL = (".tflite", ".json", ".h5", ".keras", ".npy", ".onnx", ".pb.txt")


@dataclass
class BackendRequest:
    """Everything a backend needs for one conversion; it writes only inside run_dir."""

    onnx_path: Path                  # a private copy: backends may rewrite it (onnx2tf does)
    run_dir: Path                    # the backend's working folder (and its cwd while it runs)
    inputs: list[TfInput]
    variants: tuple[str, ...]
    calibration: dict[str, np.ndarray] | None = None   # int8: samples per source input name, in TF layout
    pseudo_ops: tuple[str, ...] = ()                   # onnx2tf replace_to_pseudo_operators names
    log_path: Path | None = None


@dataclass
class BackendResult:
    savedmodel: Path | None = None
    tflite: dict[str, Path] = field(default_factory=dict)   # variant -> file
    notes: list[str] = field(default_factory=list)
    pseudo_ops: tuple[str, ...] = ()                         # the pseudo-operators it was converted with


# The TFLite interpreter's words for a Select-TF op it cannot run; int8 calibration runs the model in it.
FLEX_FAILED_TO_PREPARE = re.compile(r"\((Flex\w+)\) failed to prepare")


# The TFLite converter's words for a TF op it can neither lower to a builtin nor keep as Flex (e.g. tf.Asin).
UNCONVERTIBLE_TF_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")


class BackendFailed(Exception):
    """The converter failed; the message is one line naming the cause (the stage wraps it in a StageError).

    tf_ops names TF ops the TFLite converter could not express at all, when that was the cause;
    calibration_flex_ops names Select-TF ops (FlexErf...) that int8 calibration could not run.
    """

    def __init__(self, message: str, tf_ops: tuple[str, ...] = (), calibration_flex_ops: tuple[str, ...] = ()):
        super().__init__(message)
        self.tf_ops = tf_ops
        self.calibration_flex_ops = calibration_flex_ops


class OnnxToTfBackend(Protocol):
    name: str
    moves_to_channels_last: bool   # turns channels-first image inputs into NHWC on its own
    pseudo_operators: bool         # understands BackendRequest.pseudo_ops
    fuses_gelu: bool               # fuses Div(sqrt 2) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5) into one GELU

    def available(self) -> tuple[bool, str]:
        """(usable, why) from a cheap check that imports no TensorFlow."""
        ...

    def convert(self, request: BackendRequest) -> BackendResult:
        """Write a SavedModel and the requested TFLite variants under request.run_dir."""
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
    name = "onnx2tf"
    moves_to_channels_last = True
    pseudo_operators = True
    fuses_gelu = True

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("onnx2tf") is None:
            return False, "onnx2tf is not installed"
        return True, f"onnx2tf {_version('onnx2tf')}"

    def convert(self, request: BackendRequest) -> BackendResult:
        import onnx2tf

        out_dir = request.run_dir / "tf"
        kwargs = self._options(request)
        log_path = request.log_path or request.run_dir / "onnx2tf.log"
        cwd = os.getcwd()
        try:
            os.chdir(request.run_dir)   # onnx2tf reads its sample image set from the cwd (see calibration.py)
            with captured_output(log_path):
                onnx2tf.convert(input_onnx_file_path=str(request.onnx_path), output_folder_path=str(out_dir),
                                **kwargs)
        except SystemExit as exc:   # onnx2tf calls sys.exit(1) after printing "ERROR: ..."
            raise BackendFailed(cause_from_log(log_path, f"onnx2tf exited with status {exc.code}")) from None
        except Exception as exc:
            tf_ops = tuple(sorted(set(UNCONVERTIBLE_TF_OP.findall(str(exc)))))
            if tf_ops:
                raise BackendFailed(f"the TFLite converter cannot express TF op {', '.join(tf_ops)} "
                                    f"(neither a builtin nor a Flex op)", tf_ops) from exc
            raise BackendFailed(_explain(exc, log_path)) from exc
        finally:
            os.chdir(cwd)
        return self._collect(request, out_dir, log_path)

    @staticmethod
    def _options(request: BackendRequest) -> dict:
        """Layout flags from the source's layouts: nobody should need onnx2tf's expert options.

        Channels-first inputs moving to NHWC need no flag (onnx2tf's default). NHWC sources keep NHWC.
        Every input that keeps its source shape, NCHW images under keep_layout included, is pinned with
        keep_shape_absolutely: onnx2tf 1.28.8's keep_ncw_or_nchw flag reads int8 calibration data as
        NHWC for its ONNX check run while calibrating the NCHW input with it, and fails (measured).
        Logging is at "warn", not non_verbose ("error"): onnx2tf catches a failed quantized variant, prints
        the traceback and a warning and carries on, so at "error" the log would not say why a file is missing.
        """
        keep_nhwc = [i.tf_name for i in request.inputs if i.source_layout in CHANNELS_LAST]
        keep_shape = [i.tf_name for i in request.inputs
                      if i.source_layout not in CHANNELS_LAST and i.tf_layout == i.source_layout]
        options: dict = dict(
            verbosity="warn",
            output_signaturedefs=True,   # SavedModel signature keeps the input names
            # copy_onnx_input_output_names_to_tflite is left off: it needs a flatc binary and downloads schema.fbs.
            keep_nwc_or_nhwc_or_ndhwc_input_names=keep_nhwc or None,
            keep_shape_absolutely_input_names=keep_shape or None,
            replace_to_pseudo_operators=list(request.pseudo_ops) or None,
            output_dynamic_range_quantized_tflite="dynamic_int8" in request.variants,
            output_integer_quantized_tflite="int8" in request.variants,
        )
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
        if not (out_dir / "saved_model.pb").is_file():
            raise BackendFailed(f"onnx2tf wrote no SavedModel: {cause_from_log(log_path, 'no reason given')}")
        savedmodel = request.run_dir / "savedmodel"
        savedmodel.mkdir()
        for entry in list(out_dir.iterdir()):
            if not entry.name.endswith(_NOT_SAVEDMODEL):
                shutil.move(str(entry), savedmodel / entry.name)
        result.savedmodel = savedmodel
        return result


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


def _explain(exc: BaseException, log_path: Path) -> str:
    """onnx2tf's exceptions, in words: an operator it lacks, or where it failed and why."""
    name = getattr(exc, "name", "") or ""
    if isinstance(exc, ModuleNotFoundError) and name.startswith("onnx2tf.ops."):
        return f"onnx2tf does not support the ONNX operator {name.rsplit('.', 1)[-1]}"
    where = getattr(exc, "onnx_op_name", None)
    text = one_line(exc, 300)
    if where:
        return f"at ONNX node {where}: {text}"
    return cause_from_log(log_path, text) if text == type(exc).__name__ else text


class OnnxTfBackend:
    """onnx-tf (onnx/onnx-tensorflow): archived, and broken with onnx >= 1.16 (it imports onnx.mapping)."""

    name = "onnx-tf"
    moves_to_channels_last = False
    pseudo_operators = False
    fuses_gelu = False

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


BACKENDS: dict[str, OnnxToTfBackend] = {backend.name: backend for backend in (Onnx2TfBackend(), OnnxTfBackend())}
DEFAULT_BACKEND = "onnx2tf"


def get_backend(name: str) -> OnnxToTfBackend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise StudioError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}") from None


def backend_status() -> dict[str, tuple[bool, str]]:
    """name -> (available, reason) for every backend, without importing TensorFlow."""
    return {name: backend.available() for name, backend in BACKENDS.items()}

"""What a stage wrote: a file or folder, with its kind, variant, size and input layout."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

KINDS = ("onnx", "savedmodel", "tflite", "tfjs")
DEFAULT_TARGETS = ("onnx", "savedmodel", "tflite")   # tfjs needs `studio setup tfjs`, so it is asked for by name
VARIANTS = ("float32", "float16", "dynamic_int8", "int8")   # --quantize, in TFLite's names
# --quantize value -> the TF.js graph model it makes. TF.js quantizes weights only (float16, or affine uint8
# dequantized to float32 at load) and computes in float32: dynamic_int8's 8-bit weights are its uint8; full-integer
# int8 has no TF.js form.
TFJS_VARIANTS = {"float32": "float32", "float16": "float16", "dynamic_int8": "uint8"}
# A TF.js variant's tolerance class (studio.compare): float16 weights err as TFLite's float16 weights do; uint8
# weights are judged as 8-bit weights are (cosine and top-1, no element test).
TFJS_TOLERANCES = {"float32": "float32", "float16": "float16", "uint8": "dynamic_int8"}


def artifact_name(stem: str, kind: str, variant: str = "float32") -> str:
    """The one way the stages name what they write in the output folder (and --serving's check reads):
    <stem>.onnx, <stem>_savedmodel, <stem>_<variant>.tflite, <stem>_tfjs_<TF.js variant>."""
    if kind == "onnx":
        return f"{stem}.onnx"
    if kind == "savedmodel":
        return f"{stem}_savedmodel"
    if kind == "tflite":
        return f"{stem}_{variant}.tflite"
    if kind == "tfjs":
        return f"{stem}_tfjs_{variant}"
    raise ValueError(f"no artifact kind {kind!r}")


CORRESPONDENCE_SUFFIX = ".tensor_correspondence.json"   # onnx2tf's ONNX -> TFLite tensor map, kept by a TFLite


def correspondence_name(tflite_name: str) -> str:
    """The file beside a TFLite that keeps its tensor correspondence report:
    <stem>_<variant>.tensor_correspondence.json."""
    return Path(tflite_name).stem + CORRESPONDENCE_SUFFIX


def display_name(path: str | Path) -> str:
    """An artifact's short name on screen: its file name, or <name>/<version> for a SavedModel laid out for TF
    Serving (--serving), whose own folder is only a version number."""
    path = Path(path)
    return f"{path.parent.name}/{path.name}" if path.name.isdigit() and path.parent.name else path.name


def path_bytes(path: Path) -> int:
    """Size on disk of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


BYTE_UNITS = ("B", "kB", "MB", "GB", "TB")   # decimal SI: 1 kB = 1000 bytes, as Linux and macOS file managers count


def human_bytes(n: int | float | None) -> str:
    """The one way a size is written, on every screen (CLI, GUI, memory warnings): decimal SI units, as file
    managers on Linux and macOS show them: "512 B", "23.5 kB", "1.7 GB" (1 kB = 1000 bytes, 1 GB = 10^9)."""
    size = float(n or 0)
    if abs(size) < 1000:
        return f"{size:.0f} B"
    for unit in BYTE_UNITS[1:]:
        size /= 1000
        if abs(round(size, 1)) < 1000 or unit == BYTE_UNITS[-1]:   # 999,960 bytes is "1.0 MB", not "1000.0 kB"
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


@dataclass
class Artifact:
    kind: str                      # onnx | savedmodel | tflite | tfjs
    variant: str                   # float32 | float16 | dynamic_int8 | int8 (tfjs: float32 | float16 | uint8)
    path: str                      # absolute path (in the staging folder while the job runs)
    bytes: int = 0
    input_layout: dict[str, str] = field(default_factory=dict)  # input name -> NCHW | NHWC | other
    produced_by: str = ""          # stage name
    backend: str = ""              # the converter configuration that wrote it (e.g. onnx2tf, tf2onnx)
    flex_ops: list[str] = field(default_factory=list)  # Select-TF ops: needs the Flex delegate, never verified here
    notes: list[str] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)   # companion files, e.g. tensor_correspondence

    @property
    def label(self) -> str:
        return f"{self.kind} {self.variant}" if self.kind in ("tflite", "tfjs") else self.kind

    def to_dict(self) -> dict:
        d = asdict(self)
        d["needs_flex_delegate"] = bool(self.flex_ops)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Artifact":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})


def tolerance_class(kind: str, variant: str) -> str:
    """Which tolerance an artifact is held to: a TFLite file by its variant, a TF.js model by its weights'
    quantization (TFJS_TOLERANCES), everything else as float32."""
    if kind == "tfjs":
        return TFJS_TOLERANCES.get(variant, "float32")
    return variant if kind == "tflite" else "float32"

"""Detect what a path holds from its content (not only its extension), without importing a framework.

Pure Python: the GUI process calls this on every drop, and it must never import torch or tensorflow.
"""

from __future__ import annotations

import pickletools
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from studio.errors import StudioError


class Format(str, Enum):
    ONNX = "onnx"
    TFLITE = "tflite"
    SAVEDMODEL = "savedmodel"
    KERAS = "keras"            # Keras 3 .keras zip
    H5 = "h5"                  # legacy Keras HDF5
    TORCHSCRIPT = "torchscript"
    EXPORTED_PROGRAM = "exported_program"  # torch.export.save, .pt2
    PYTHON_FACTORY = "python_factory"      # path/to/file.py:build_model
    TORCH_PICKLE = "torch_pickle"          # torch.save(model): runs code when loaded
    TFJS = "tfjs"                          # a TF.js graph model: a folder with model.json (an artifact, never a source)

    @property
    def framework(self) -> str:
        return FRAMEWORKS[self]


FRAMEWORKS = {
    Format.ONNX: "onnx", Format.TFLITE: "tflite",
    Format.SAVEDMODEL: "tensorflow", Format.KERAS: "tensorflow", Format.H5: "tensorflow",
    Format.TORCHSCRIPT: "pytorch", Format.EXPORTED_PROGRAM: "pytorch",
    Format.PYTHON_FACTORY: "pytorch", Format.TORCH_PICKLE: "pytorch", Format.TFJS: "tfjs",
}

SUPPORTED = ("ONNX (.onnx), TFLite (.tflite), SavedModel folder, Keras (.keras, .h5), TorchScript (.pt), "
             "ExportedProgram (.pt2), file.py:factory [--weights state_dict.pt], torch.save(model) pickle (--allow-pickle)")

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# Globals a plain state_dict pickle may reference; anything else means a pickled object with code.
_STATE_DICT_GLOBALS = {"collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_parameter",
                       "torch FloatStorage", "torch HalfStorage", "torch LongStorage", "torch IntStorage",
                       "torch BFloat16Storage", "torch DoubleStorage", "torch BoolStorage", "torch ByteStorage",
                       "torch._utils _rebuild_tensor", "torch float32", "torch float16", "torch int64"}


@dataclass(frozen=True)
class Source:
    """A model the user pointed at: where it is and what it holds."""

    path: Path
    format: Format
    factory: str | None = None   # for PYTHON_FACTORY: the callable's name
    weights: Path | None = None  # for PYTHON_FACTORY: optional state_dict

    @property
    def framework(self) -> str:
        return self.format.framework

    @property
    def stem(self) -> str:
        return self.path.stem if self.path.suffix else self.path.name

    def to_dict(self) -> dict:
        return {"path": str(self.path), "format": self.format.value, "framework": self.framework,
                "factory": self.factory, "weights": str(self.weights) if self.weights else None}

    @classmethod
    def from_dict(cls, d: dict) -> "Source":
        return cls(Path(d["path"]), Format(d["format"]), d.get("factory"),
                   Path(d["weights"]) if d.get("weights") else None)

    @property
    def spec(self) -> str:
        """The string a user would type to name this source on the command line."""
        return f"{self.path}:{self.factory}" if self.factory else str(self.path)


def _unsupported(path: Path, why: str) -> StudioError:
    return StudioError(f"{path}: {why}; supported: {SUPPORTED}")


def detect(spec: str | Path, weights: str | Path | None = None, allow_pickle: bool = False) -> Source:
    """Return the Source for a path (or file.py:factory). Raises StudioError with one line on anything else."""
    text = str(spec)
    if ":" in Path(text).name and text.rsplit(":", 1)[0].endswith(".py"):
        return _python_factory(text, weights)
    path = Path(text).expanduser()
    if not path.exists():
        raise StudioError(f"{path}: no such file or folder")
    if weights is not None:
        raise StudioError("--weights goes with a Python factory source (file.py:build_model)")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return Source(path, Format.SAVEDMODEL)
        if (path / "model.json").is_file():
            return Source(path, Format.TFJS)
        raise _unsupported(path, "folder is not a SavedModel (no saved_model.pb) nor a TF.js model (no model.json)")
    if path.suffix == ".py":
        raise StudioError(f"{path}: name the factory too, e.g. {path}:build_model")
    size = path.stat().st_size
    if size == 0:
        raise _unsupported(path, "file is empty")
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] == b"TFL3":
        return Source(path, Format.TFLITE)
    if head.startswith(HDF5_MAGIC):
        return Source(path, Format.H5)
    if zipfile.is_zipfile(path):
        return _zip_format(path, allow_pickle)
    if head[:1] == b"\x80" and path.suffix in (".pt", ".pth", ".pkl", ".bin"):
        if not allow_pickle:
            raise _pickle_refused(path)
        return Source(path, Format.TORCH_PICKLE)
    if _looks_like_onnx(path):
        return Source(path, Format.ONNX)
    raise _unsupported(path, "not a model file this studio reads")


def _python_factory(text: str, weights) -> Source:
    file, factory = text.rsplit(":", 1)
    path = Path(file).expanduser()
    if not path.is_file():
        raise StudioError(f"{path}: no such Python file")
    if not factory.isidentifier():
        raise StudioError(f"{text}: {factory!r} is not a Python name; expected file.py:build_model")
    w = Path(weights).expanduser() if weights else None
    if w is not None and not w.is_file():
        raise StudioError(f"{w}: no such weights file")
    return Source(path, Format.PYTHON_FACTORY, factory=factory, weights=w)


def _pickle_refused(path: Path) -> StudioError:
    return StudioError(f"{path} is a pickled PyTorch object: loading it can run arbitrary code. "
                       f"Pass --allow-pickle only if you trust its origin, or save it with torch.jit.save / torch.export.save")


def _zip_format(path: Path, allow_pickle: bool) -> Source:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            if "config.json" in names and "metadata.json" in names:
                return Source(path, Format.KERAS)
            if any(n.endswith("/archive_format") for n in names) or any(n.endswith("models/model.json") for n in names):
                return Source(path, Format.EXPORTED_PROGRAM)
            if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
                return Source(path, Format.TORCHSCRIPT)
            pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if pkl is None:
                raise _unsupported(path, "zip archive is not a Keras, TorchScript or ExportedProgram model")
            data = z.read(pkl)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _unsupported(path, f"damaged zip archive ({exc})") from None
    if _is_state_dict(data):
        raise StudioError(f"{path} holds weights only (a state_dict): give the model code as "
                          f"file.py:build_model --weights {path.name}")
    if not allow_pickle:
        raise _pickle_refused(path)
    return Source(path, Format.TORCH_PICKLE)


def _is_state_dict(data: bytes) -> bool:
    """Read the pickle's opcodes without running it: only tensors in a dict means a state_dict."""
    try:
        strings: list[str] = []
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                strings.append(arg)
            elif op.name == "GLOBAL":
                if arg.replace("\n", " ") not in _STATE_DICT_GLOBALS:
                    return False
            elif op.name == "STACK_GLOBAL":
                if f"{strings[-2]} {strings[-1]}" not in _STATE_DICT_GLOBALS:
                    return False
        return True
    except Exception:
        return False


def _looks_like_onnx(path: Path) -> bool:
    """Parse the ModelProto (weights stay on disk); random bytes or a truncated file fail here."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:
        return False
    return bool(model.graph.node or model.graph.output) and model.ir_version > 0

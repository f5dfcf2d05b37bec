"""Inputs and outputs of a model: name, dtype, shape (None = dynamic) and layout."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

from studio.errors import StudioError

NCHW, NHWC, NCW, NWC, OTHER = "NCHW", "NHWC", "NCW", "NWC", "other"
IMAGE_CHANNELS = (1, 3, 4)


def shape_text(shape: Sequence[int | None] | None, sep: str = ",", brackets: bool = True, unknown: str = "?") -> str:
    """A shape as text, the one way every screen writes one: "[1,3,224,224]", with "?" for a dynamic dim.

    sep=", " is the spacing of the GUI and the HTML report ("[1, 3, 224, 224]"); brackets=False gives the bare
    dims an editable cell holds ("1, 3, ?, 224"). unknown is what a shape that is not known at all (None) reads as.
    """
    if shape is None:
        return unknown
    dims = sep.join("?" if d is None else str(d) for d in shape)
    return f"[{dims}]" if brackets else dims


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name, e.g. "float32"
    shape: tuple[int | None, ...]
    layout: str = OTHER

    @property
    def is_dynamic(self) -> bool:
        return any(d is None for d in self.shape)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TensorSpec":
        return cls(d["name"], d["dtype"], tuple(d["shape"]), d.get("layout", OTHER))

    def describe(self) -> str:
        return f"{self.name}: {self.dtype}{shape_text(self.shape)} {self.layout}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...] = field(default_factory=tuple)
    outputs: tuple[TensorSpec, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs]}

    @classmethod
    def from_dict(cls, d: dict) -> "Signature":
        return cls(tuple(TensorSpec.from_dict(t) for t in d.get("inputs", [])),
                   tuple(TensorSpec.from_dict(t) for t in d.get("outputs", [])))


def guess_layout(shape: tuple[int | None, ...], channels_first: bool) -> str:
    """Image-like tensors: 4-D with 1/3/4 channels where the framework puts them; everything else is OTHER."""
    if len(shape) == 4:
        c = shape[1] if channels_first else shape[3]
        if c in IMAGE_CHANNELS:
            return NCHW if channels_first else NHWC
    return OTHER


INPUT_DTYPE_KINDS = "biuf"   # bool, signed / unsigned integers, floats: what a model input can be fed


def parse_input_specs(values: list[str] | None) -> tuple[dict[str | None, tuple[int, ...]], dict[str | None, str]]:
    """Parse --input-shape values: "NAME=1,3,224,224", a bare "1,3,224,224" (key None), each with an optional
    ":DTYPE" suffix (a numpy dtype name: "NAME=1,64:int64"). Returns (shapes, dtypes); dtypes holds only the
    inputs given one, by numpy's canonical name ("float" -> "float64")."""
    shapes: dict[str | None, tuple[int, ...]] = {}
    dtypes: dict[str | None, str] = {}
    for value in values or []:
        name, sep, rest = value.rpartition("=")
        key = name.strip() if sep else None
        if sep and not key:
            raise StudioError(f"bad --input-shape {value!r}: the name before '=' is empty")
        dims, colon, dtype = rest.partition(":")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(","))
        except ValueError:
            raise StudioError(f"bad --input-shape {value!r}: expected NAME=1,3,224,224 or 1,3,224,224, "
                              "optionally with :DTYPE (e.g. :int64)") from None
        if not shape or any(d <= 0 for d in shape):
            raise StudioError(f"bad --input-shape {value!r}: dimensions must be positive integers")
        if key in shapes:
            raise StudioError(f"--input-shape given twice for {key or 'the input'}")
        shapes[key] = shape
        if colon:
            dtypes[key] = parse_dtype(dtype, value)
    return shapes, dtypes


def parse_dtype(text: str, value: str | None = None) -> str:
    """A numpy dtype name for a model input (bool, integers, floats), canonical; StudioError otherwise."""
    import numpy as np

    what = f"bad --input-shape {value!r}" if value is not None else "bad input dtype"
    text = text.strip()
    if not text:
        raise StudioError(f"{what}: the dtype after ':' is empty (e.g. :int64, :float16)")
    try:
        dtype = np.dtype(text)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in INPUT_DTYPE_KINDS:
        raise StudioError(f"{what}: unknown input dtype {text!r} (use a numpy dtype name: float32, float16, "
                          "int64, int32, uint8, bool, ...)")
    return dtype.name


def parse_input_shapes(values: list[str] | None) -> dict[str | None, tuple[int, ...]]:
    """The shapes of --input-shape values ("NAME=1,3,224,224" or a bare "1,3,224,224", key None); a ":DTYPE"
    suffix is checked and left out (parse_input_specs returns both)."""
    return parse_input_specs(values)[0]


def parse_input_dtypes(values: list[str] | None) -> dict[str | None, str]:
    """The dtypes given with --input-shape's ":DTYPE" suffix, keyed like parse_input_shapes."""
    return parse_input_specs(values)[1]


def _given_per_input(inputs: tuple[TensorSpec, ...], given: dict, form: str) -> list:
    """What --input-shape gives each input, in input order (None where nothing); the bare (None-keyed) value
    counts only for a single-input model. StudioError for a name the model does not have."""
    names = {t.name for t in inputs}
    unknown = [k for k in given if k is not None and k not in names]
    if unknown:
        raise StudioError(f"--input-shape names unknown input {unknown[0]!r}; inputs are: {', '.join(sorted(names)) or 'none'}")
    if None in given and len(inputs) != 1:
        raise StudioError(f"the model has {len(inputs)} inputs: give --input-shape {form} for each")
    return [given.get(spec.name, given.get(None) if len(inputs) == 1 else None) for spec in inputs]


def resolve_shapes(inputs: tuple[TensorSpec, ...], given: dict[str | None, tuple[int, ...]]) -> tuple[TensorSpec, ...]:
    """Fill dynamic dims from --input-shape; a dynamic leading batch dim defaults to 1.

    Raises StudioError naming each input whose shape is still unknown, and how to give it.
    """
    out = []
    for spec, shape in zip(inputs, _given_per_input(inputs, given, "NAME=d1,d2,...")):
        if shape is not None:
            if spec.shape and len(spec.shape) != len(shape):
                raise StudioError(f"--input-shape for {spec.name!r} has {len(shape)} dims, the model expects {len(spec.shape)}")
            for have, want in zip(spec.shape, shape):
                if have is not None and have != want:
                    raise StudioError(f"--input-shape for {spec.name!r} is {list(shape)}, but the model fixes it to {list(spec.shape)}")
            out.append(replace(spec, shape=tuple(shape)))
            continue
        if not spec.shape:
            raise StudioError(f"the shape of input {spec.name!r} is unknown (this format stores none): "
                              f"give it with --input-shape {spec.name}=1,3,224,224 (with :int64 or another dtype "
                              f"if it is not float32) or with --inputs FILE.npz")
        shape = tuple(1 if (i == 0 and d is None) else d for i, d in enumerate(spec.shape))
        if any(d is None for d in shape):
            raise StudioError(f"input {spec.name!r} has dynamic dims {shape_text(spec.shape)}: "
                              f"give them with --input-shape {spec.name}=...")
        out.append(replace(spec, shape=shape))
    return tuple(out)


def resolve_dtypes(inputs: tuple[TensorSpec, ...], given: dict[str | None, str],
                   stored: bool) -> tuple[TensorSpec, ...]:
    """Set the dtypes given with --input-shape's ":DTYPE" (or read from --inputs) on the inputs.

    stored: whether the format stores its inputs' dtypes (ONNX, ExportedProgram, TF do; TorchScript, Python
    factories and pickled modules don't, and their inputs default to float32). A stored dtype is fixed: a
    different one given for it is a StudioError.
    """
    out = []
    for spec, dtype in zip(inputs, _given_per_input(inputs, given, "NAME=d1,d2,...:DTYPE")):
        if dtype is None or dtype == spec.dtype:
            out.append(spec)
        elif stored:
            raise StudioError(f"--input-shape gives {spec.name!r} dtype {dtype}, "
                              f"but the model fixes it to {spec.dtype}")
        else:
            out.append(replace(spec, dtype=dtype))
    return tuple(out)

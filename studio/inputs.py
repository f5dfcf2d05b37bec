"""The inputs every model in a comparison gets: generated, loaded from a file, and adapted per model.

The source and each artifact must see the same numbers, so inputs are made once in the source's
logical form (its names, layouts, dtypes) and `adapt_feeds` maps them onto each converted model
(renamed inputs, NHWC instead of NCHW, another dtype). Pure numpy (+ Pillow for images).
Every user mistake raises StudioError with one line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from studio.compare import normalize_name, pair_by_name, pair_names, permutations_onto, squeezed
from studio.errors import StudioError, one_line
from studio.signature import NCHW, NCW, NHWC, NWC, OTHER, Signature, TensorSpec, shape_text

if TYPE_CHECKING:   # studio.options imports this module
    from studio.options import InputOptions

FLOAT_RANGE = (-1.0, 1.0)      # generic float inputs
IMAGE_RANGE = (0.0, 1.0)       # NCHW / NHWC inputs: pixels scaled to [0, 1)
INT_RANGE = (0, 10)            # int inputs are usually token ids or indices: keep them small and valid
# The one list of input files the studio reads (--inputs, the Compare tab's picker and drops, --calibration
# folders): arrays, and the image types Pillow reads here. The CLI help and the GUI's file dialogs come from it.
ARRAY_SUFFIXES = (".npy", ".npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
INPUT_SUFFIXES = ARRAY_SUFFIXES + IMAGE_SUFFIXES
KNOWN_LAYOUTS = (NCHW, NHWC, NCW, NWC)
IMAGE_LAYOUTS = (NCHW, NHWC)
_IMAGE_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
SUPPORTED_FILES = f".npy (one input), .npz (arrays keyed by input name) or an image ({', '.join(IMAGE_SUFFIXES)})"
INPUTS_HELP = f"inputs for the comparison: .npy, .npz or an image ({', '.join(IMAGE_SUFFIXES)}) (default: seeded random)"
INPUTS_FILE_FILTER = f"Inputs ({' '.join('*' + s for s in INPUT_SUFFIXES)})"   # a Qt file dialog's name filter


# ---------------------------------------------------------------- generated inputs


def make_inputs(specs: Sequence[TensorSpec], seed: int = 0, low: float | None = None,
                high: float | None = None) -> dict[str, np.ndarray]:
    """Seeded random inputs, one per spec, in spec order: the same seed gives the same arrays.

    float: uniform [low, high), default [-1, 1), or [0, 1) for NCHW/NHWC images.
    int: integers in [low, high), default [0, 10). bool: fair coin.
    Without a range, integer and bool inputs named like what they hold get valid values (hinted_values):
    "mask" -> ones with a trailing run of zeros; "token_type" / "segment" -> zeros; "position" -> 0, 1, 2, ...
    """
    rng = np.random.default_rng(seed)
    return {spec.name: _random_array(rng, spec, low, high) for spec in specs}


def _random_array(rng: np.random.Generator, spec: TensorSpec, low: float | None, high: float | None) -> np.ndarray:
    shape = _known_shape(spec)
    dtype = _numpy_dtype(spec)
    if dtype.kind == "f":
        default = IMAGE_RANGE if spec.layout in IMAGE_LAYOUTS else FLOAT_RANGE
        lo, hi = _range(spec, low, high, default)
        return rng.uniform(lo, hi, size=shape).astype(dtype)
    if dtype.kind in "iub" and low is None and high is None:
        hinted = hinted_values(spec.name, shape, dtype, rng)
        if hinted is not None:
            return hinted
    if dtype.kind in "iu":
        lo, hi = _int_range(spec, dtype, low, high)
        return rng.integers(lo, hi, size=shape, dtype=dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise StudioError(f"cannot generate inputs of dtype {spec.dtype} for {spec.name!r}: give them with --inputs")


def hinted_values(name: str, shape: tuple[int, ...], dtype: np.dtype, rng: np.random.Generator) -> np.ndarray | None:
    """Values an integer or bool input must have to be meaningful, guessed from its name; None: no hint.

    "mask" (attention_mask, input_mask, ...): ones with a trailing run of zeros (padding) along the last axis,
    at least one zero and at most a quarter of the row when it is 2 long or more, so masking is exercised but
    every row attends somewhere. "token_type" / "segment": zeros (one segment; the embedding may hold 2).
    "position": 0, 1, 2, ... along the last axis. Token ids and other integers need no hint: [0, 10) is valid
    for any vocabulary of 10 or more.
    """
    key = name.lower()
    if "mask" in key:
        length = shape[-1] if shape else 1
        zeros = rng.integers(1, max(1, length // 4) + 1, size=shape[:-1]) if length >= 2 else np.zeros(shape[:-1], int)
        return (np.arange(length) < (length - zeros)[..., np.newaxis]).astype(dtype).reshape(shape)
    if "token_type" in key or "segment" in key:
        return np.zeros(shape, dtype=dtype)
    if "position" in key and dtype.kind in "iu" and shape:
        return np.broadcast_to(np.arange(shape[-1], dtype=dtype), shape).copy()
    return None


def _known_shape(spec: TensorSpec) -> tuple[int, ...]:
    if spec.is_dynamic:
        raise StudioError(f"input {spec.name!r} has dynamic dims {shape_text(spec.shape)}: "
                          f"give them with --input-shape {spec.name}=...")
    return tuple(int(d) for d in spec.shape)  # type: ignore[arg-type]


def _numpy_dtype(spec: TensorSpec) -> np.dtype:
    try:
        return np.dtype(spec.dtype)
    except TypeError:
        raise StudioError(f"input {spec.name!r} has dtype {spec.dtype!r}, which numpy does not know") from None


def _range(spec: TensorSpec, low: float | None, high: float | None, default: tuple[float, float]) -> tuple[float, float]:
    lo = default[0] if low is None else float(low)
    hi = default[1] if high is None else float(high)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise StudioError(f"bad input range for {spec.name!r}: need low < high, got [{lo:g}, {hi:g})")
    return lo, hi


def _int_range(spec: TensorSpec, dtype: np.dtype, low: float | None, high: float | None) -> tuple[int, int]:
    lo, hi = _range(spec, low, high, INT_RANGE)
    lo_int, hi_int = math.ceil(lo), math.ceil(hi)
    info = np.iinfo(dtype)
    if hi_int <= lo_int:
        raise StudioError(f"bad input range for {spec.name!r}: [{lo:g}, {hi:g}) holds no integers")
    if lo_int < info.min or hi_int - 1 > info.max:
        raise StudioError(f"input range [{lo_int}, {hi_int}) does not fit {dtype.name} input {spec.name!r}")
    return lo_int, hi_int


# ---------------------------------------------------------------- inputs from a file


def job_inputs(specs: Sequence[TensorSpec], options: InputOptions) -> dict[str, np.ndarray]:
    """What every model of a job runs on: --inputs when given, else seeded random inputs in --input-range."""
    if options.inputs_path:
        return load_inputs(options.inputs_path, specs)
    low, high = (options.input_range or (None, None))
    return make_inputs(specs, seed=options.seed, low=low, high=high)


def load_inputs(path: str | Path, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Read --inputs (.npy, .npz or an image) and check it against the model's inputs."""
    path = Path(path)
    if not path.exists():
        raise StudioError(f"inputs file not found: {path}")
    if not path.is_file():
        raise StudioError(f"inputs must be a file ({SUPPORTED_FILES}), got a folder: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arrays = _read_npy(path, specs)
    elif suffix == ".npz":
        arrays = _read_npz(path, specs)
    elif suffix in IMAGE_SUFFIXES:
        arrays = _read_image(path, specs)
    else:
        raise StudioError(f"unsupported inputs file {path.name}: use {SUPPORTED_FILES}")
    return check_inputs(arrays, specs)


def file_input_specs(path: str | Path, specs: Sequence[TensorSpec]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """input name -> (dtype, shape) of the arrays an .npy / .npz --inputs file holds, unchecked; {} for an
    image or a missing file. What a format that stores no dtypes and shapes (TorchScript, Python factories,
    pickled modules) learns from the file. A float64 array counts as float32: numpy's default float is
    rarely what a model wants (say :float64 with --input-shape when it is). The dtype is "" for arrays no
    model input can take (strings, complex...): load_inputs names those."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in ARRAY_SUFFIXES:
        return {}
    arrays = _read_npy(path, specs) if suffix == ".npy" else _read_npz(path, specs)
    found = {}
    for name, array in arrays.items():
        array = np.asarray(array)
        dtype = "float32" if array.dtype == np.float64 else array.dtype.name if array.dtype.kind in "biuf" else ""
        found[name] = (dtype, tuple(int(d) for d in array.shape))
    return found


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip (the second: an empty one)


def _load_numpy(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """An .npy array or an .npz's arrays, read eagerly and without pickles.

    The content, not the extension, must say .npy or .npz. We open the file ourselves so a broken
    archive can't leak the handle (np.load(path) does on a truncated zip).
    """
    with path.open("rb") as f:
        if not f.read(6).startswith((NPY_MAGIC, *ZIP_MAGICS)):
            raise StudioError(f"cannot read {path.name}: it is neither a .npy array nor an .npz archive")
        f.seek(0)
        # Any failure to parse a user's file is a user error: numpy raises ValueError, OSError,
        # EOFError, zipfile.BadZipFile... depending on how the file is broken.
        try:
            loaded = np.load(f, allow_pickle=False)
            if isinstance(loaded, np.ndarray):
                return loaded
            with loaded:
                return {key: loaded[key] for key in loaded.files}
        except Exception as exc:  # noqa: BLE001 - see above
            raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: Exception) -> StudioError:
    if "pickle" in str(exc):
        return StudioError(f"cannot read {path.name}: it holds Python objects (pickled data, which can run code "
                           "when loaded); save plain numeric arrays")
    return StudioError(f"cannot read {path.name}: {one_line(exc)}")


def _read_npy(path: Path, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    if len(specs) != 1:
        raise StudioError(f"{path.name} holds one array but the model has {len(specs)} inputs "
                          f"({_names(specs)}): give an .npz keyed by input name")
    loaded = _load_numpy(path)
    if not isinstance(loaded, np.ndarray):
        raise StudioError(f"{path.name} is an .npz archive, not an .npy array: rename it to .npz")
    return {specs[0].name: loaded}


def _read_npz(path: Path, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    arrays = _load_numpy(path)
    if isinstance(arrays, np.ndarray):
        raise StudioError(f"{path.name} is an .npy array, not an .npz archive: rename it to .npy")
    if not arrays:
        raise StudioError(f"{path.name} holds no arrays")
    if len(arrays) == 1 and len(specs) == 1:
        return {specs[0].name: next(iter(arrays.values()))}
    return _arrays_by_input_name(path, arrays, specs)


def _arrays_by_input_name(path: Path, arrays: dict[str, np.ndarray], specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """npz keys -> input names, exactly or after normalization ("input.1" ~ "input_1")."""
    names = [s.name for s in specs]
    pairs = pair_by_name(names, list(arrays))
    missing = [n for n in names if n not in pairs]
    if missing:
        raise StudioError(f"{path.name} has no array for input {missing[0]!r} "
                          f"(its keys: {', '.join(arrays)}; the inputs: {', '.join(names)})")
    extra = [k for k in arrays if k not in pairs.values()]
    if extra:
        raise StudioError(f"{path.name} has arrays for unknown inputs: {', '.join(extra)} (the inputs: {', '.join(names)})")
    return {name: arrays[key] for name, key in pairs.items()}


def _read_image(path: Path, specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """One image -> the single image input: resized to its H,W, its channels, [0, 1] floats, batch 1."""
    if len(specs) != 1:
        raise StudioError(f"an image can feed a model with one image input; this one has {len(specs)} inputs "
                          f"({_names(specs)}): give an .npz")
    spec = specs[0]
    layout = image_layout(spec)
    shape = spec.shape
    channels = shape[1] if layout == NCHW else shape[3]
    height, width = (shape[2], shape[3]) if layout == NCHW else (shape[1], shape[2])
    pixels = _read_pixels(path, _IMAGE_MODES[channels or 3], height, width)
    if _numpy_dtype(spec).kind == "f":
        pixels = pixels.astype(np.float32) / np.float32(255.0)
    batch = pixels[np.newaxis]  # NHWC
    return {spec.name: transpose_layout(batch, NHWC, layout)}


def image_layout(spec: TensorSpec) -> str:
    """NCHW or NHWC for a 4-D input with 1, 3 or 4 channels; StudioError for anything else."""
    shape = spec.shape
    if len(shape) == 4:
        if spec.layout in IMAGE_LAYOUTS:
            layout = spec.layout
        elif shape[1] in _IMAGE_MODES:
            layout = NCHW
        elif shape[3] in _IMAGE_MODES:
            layout = NHWC
        else:
            layout = OTHER
        channels = shape[1] if layout == NCHW else shape[3] if layout == NHWC else -1
        if channels is None or channels in _IMAGE_MODES:
            return layout
    raise StudioError(f"input {spec.name!r} {shape_text(shape)} is not an image input "
                      "(4-D with 1, 3 or 4 channels): give an .npy or .npz instead")


def _read_pixels(path: Path, mode: str, height: int | None, width: int | None) -> np.ndarray:
    """HWC (or HW for grayscale, made HW1) uint8 pixels; a dynamic H or W keeps the image's own size."""
    from PIL import Image  # only needed for image inputs

    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            size = (width or image.width, height or image.height)
            if size != image.size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - unreadable, truncated or hostile images are user errors
        raise StudioError(f"cannot read image {path.name}: {one_line(exc)}") from None
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def check_inputs(arrays: dict[str, np.ndarray], specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Arrays in the specs' dtypes, shapes checked (None dims match anything); keyed and ordered by spec."""
    checked = {}
    for spec in specs:
        if spec.name not in arrays:
            raise StudioError(f"no array given for input {spec.name!r}")
        array = _coerce_dtype(spec, np.asarray(arrays[spec.name]))
        _check_shape(spec, array.shape)
        checked[spec.name] = array
    return checked


def _coerce_dtype(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    """Cast where no value changes meaning (float64 -> float32, whole floats -> ints); refuse the rest."""
    want = _numpy_dtype(spec)
    have = array.dtype
    if have == want:
        return array
    if want.kind == "f" and have.kind in "fiub":
        return array.astype(want)
    if want.kind in "iub" and have.kind in "fiub":
        if have.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
            raise StudioError(f"input {spec.name!r} expects {want.name}, given {have.name} values that are not whole numbers")
        if array.size and not _fits(array, want):
            raise StudioError(f"input {spec.name!r} expects {want.name}, given values outside its range "
                              f"[{array.min()}, {array.max()}]")
        return array.astype(want)
    raise StudioError(f"input {spec.name!r} expects {want.name}, given {have.name}")


def _fits(array: np.ndarray, dtype: np.dtype) -> bool:
    lo, hi = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    return bool(array.min() >= lo and array.max() <= hi)


def _check_shape(spec: TensorSpec, shape: tuple[int, ...]) -> None:
    expected = spec.shape
    if len(shape) == len(expected) and all(e is None or e == g for e, g in zip(expected, shape)):
        return
    hint = ""
    if permutations_onto(shape, expected):
        hint = f" (axes look transposed: give it in the model's layout {spec.layout})" if spec.layout != OTHER \
            else " (axes look transposed)"
    raise StudioError(f"input {spec.name!r}: expected shape {shape_text(expected)}, given {shape_text(shape)}{hint}")


# ---------------------------------------------------------------- adapting to a converted model


def transpose_layout(array: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Move axes from one layout to another (NCHW <-> NHWC, NCW <-> NWC); identity when equal or "other"."""
    if src == dst or OTHER in (src, dst):
        return array
    if src not in KNOWN_LAYOUTS or dst not in KNOWN_LAYOUTS or sorted(src) != sorted(dst):
        raise StudioError(f"cannot transpose from layout {src} to {dst}")
    if array.ndim != len(src):
        raise StudioError(f"cannot read a {array.ndim}-D array {list(array.shape)} as {src}")
    return np.transpose(array, [src.index(axis) for axis in dst])


def adapt_feeds(feeds: dict[str, np.ndarray], source_specs: Sequence[TensorSpec], target: Signature,
                target_layouts: dict[str, str]) -> dict[str, np.ndarray]:
    """The source's feeds, renamed, transposed and cast for a converted model's inputs (keyed by its names)."""
    pairs = pair_inputs(source_specs, target.inputs)
    source_by_name = {s.name: s for s in source_specs}
    adapted = {}
    for spec in target.inputs:
        source = source_by_name[pairs[spec.name]]
        if source.name not in feeds:
            raise StudioError(f"no input array for {source.name!r}")
        array = np.asarray(feeds[source.name])
        layout = _layout_of(target_layouts, spec.name, source.name)
        array = transpose_layout(array, source.layout, layout)
        array = _fit_shape(array, spec, source.layout if layout == OTHER else layout)
        adapted[spec.name] = array.astype(_numpy_dtype(spec), copy=False)
    return adapted


def pair_inputs(source: Sequence[TensorSpec], target: Sequence[TensorSpec]) -> dict[str, str]:
    """target input name -> source input name: by name (exact, then normalized), then by order."""
    if len(source) != len(target):
        raise StudioError(f"cannot pair inputs: the source has {len(source)} ({_names(source)}), "
                          f"the converted model has {len(target)} ({_names(target)})")
    return pair_names([t.name for t in target], [s.name for s in source])


def _layout_of(layouts: dict[str, str], target_name: str, source_name: str) -> str:
    """The artifact's layout for an input, whichever name the layouts are keyed by."""
    for name in (target_name, source_name):
        if name in layouts:
            return layouts[name]
    wanted = {normalize_name(target_name), normalize_name(source_name)}
    return next((layout for name, layout in layouts.items() if normalize_name(name) in wanted), OTHER)


_MIRRORED_LAYOUT = {NCHW: NHWC, NHWC: NCHW, NCW: NWC, NWC: NCW}


def _fit_shape(array: np.ndarray, spec: TensorSpec, layout: str) -> np.ndarray:
    """The array (now in `layout`) in the target's shape: as is, by the one axis order that fits,
    by the mirrored layout when several fit (dynamic dims), or by dropping size-1 axes."""
    expected = spec.shape
    if not expected and array.ndim:  # the target states no shape: let its runtime judge
        return array
    orders = permutations_onto(array.shape, expected, max_rank=6)
    if orders and orders[0] == tuple(range(array.ndim)):
        return array
    if len(orders) == 1:
        return np.transpose(array, orders[0])
    mirrored = _MIRRORED_LAYOUT.get(layout)
    if len(orders) > 1 and mirrored and array.ndim == len(layout):
        moved = transpose_layout(array, layout, mirrored)
        if permutations_onto(moved.shape, expected)[:1] == [tuple(range(array.ndim))]:
            return moved
    if None not in expected and squeezed(array.shape) == squeezed(expected):  # type: ignore[arg-type]
        return array.reshape(expected)  # type: ignore[arg-type]
    why = "several axis orders fit" if orders else "no axis order fits"
    raise StudioError(f"input {spec.name!r}: cannot fit shape {list(array.shape)} to the converted model's "
                      f"{shape_text(expected)} ({why})")


def _names(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(s.name for s in specs) or "none"


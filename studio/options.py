"""One schema for every choice a user makes about a job: the CLI flags, the request, the stages' options, the
convert panel's defaults and "Copy command" are all derived from these dataclasses.

A new option is one field here (with its `option(...)` metadata); the stage that reads it reads
`ctx.options.<field>`. `control` names the convert panel's widget for it: the panel's options()/set_options()
read and write it, and tests/gui/test_convert_options.py round-trips every field through the panel.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from studio.artifacts import DEFAULT_TARGETS, KINDS, TFJS_VARIANTS, VARIANTS
from studio.errors import StudioError
from studio.inputs import INPUTS_HELP
from studio.stages.backends import BACKEND_CHOICES, DEFAULT_BACKEND

OPSET_RANGE = (7, 23)


@dataclass(frozen=True)
class Option:
    """How one field appears on the command line and in the window."""

    flag: str | None                  # e.g. "--to"; None: carried by another field's flag (see `via`)
    help: str
    via: str | None = None            # for flag None: the field whose flag carries this one's value
    control: str | None = None        # the convert panel's widget: "checkboxes", "spin", "combo", "check", "path",
                                      # "shapes"; None: set elsewhere in the window (the Compare tab's inputs bar)
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    parse: Callable[[Any, str], Any] | None = None      # (raw argparse value, flag) -> field value; raises StudioError
    action: str | None = None                           # argparse action ("store_true", "append")
    type: Callable | None = None                        # argparse type


def option(default: Any, **meta: Any) -> Any:
    """A dataclass field carrying its Option (mutable defaults are copied per instance)."""
    opt = Option(**meta)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"option": opt})
    return field(default=default, metadata={"option": opt})


# ---------------------------------------------------------------- parsers and renderers

def _csv(allowed: tuple[str, ...]) -> Callable[[Any, str], list[str]]:
    def parse(value: str, flag: str) -> list[str]:
        items = [v.strip().lower().replace("-", "_") for v in str(value).split(",") if v.strip()]
        items = ["dynamic_int8" if v in ("dynamic_range", "dynamic") else v for v in items]
        bad = [v for v in items if v not in allowed]
        if bad or not items:
            raise StudioError(f"{flag} {value!r}: choose from {','.join(allowed)}")
        return list(dict.fromkeys(items))
    return parse


def _existing_path(value: str | None, flag: str) -> str | None:
    if not value:
        return None
    if not Path(value).exists():
        raise StudioError(f"{flag} {value}: no such file or folder")
    return str(Path(value).resolve())


def _opset(value: int | None, flag: str) -> int | None:
    if value is not None and not OPSET_RANGE[0] <= value <= OPSET_RANGE[1]:
        raise StudioError(f"{flag} {value}: choose an opset between {OPSET_RANGE[0]} and {OPSET_RANGE[1]}")
    return value


def _tolerance(value: float | None, flag: str) -> float | None:
    if value is not None and not value >= 0:
        raise StudioError(f"{flag} must be a number >= 0")
    return value


def _range(value: str | None, flag: str) -> list[float] | None:
    if not value:
        return None
    try:
        low, high = (float(x) for x in str(value).split(","))
    except ValueError:
        raise StudioError(f"{flag} {value!r}: expected LOW,HIGH, e.g. 0,1") from None
    if not low < high:
        raise StudioError(f"{flag} {value!r}: LOW must be below HIGH")
    return [low, high]


def _shapes(values: list[str] | None, flag: str) -> dict[str, list[int]]:
    from studio.signature import parse_input_specs

    shapes, _ = parse_input_specs(values)
    return {(k or ""): list(v) for k, v in shapes.items()}


def _dtypes(values: list[str] | None, flag: str) -> dict[str, str]:
    from studio.signature import parse_input_specs

    _, dtypes = parse_input_specs(values)
    return {(k or ""): v for k, v in dtypes.items()}


def input_shape_args(shapes: dict[str, list[int]], dtypes: dict[str, str]) -> list[str]:
    """--input-shape arguments that give back these shapes and dtypes (a dtype without a shape cannot be said)."""
    args = []
    for name, dims in shapes.items():
        suffix = f":{dtypes[name]}" if dtypes.get(name) else ""
        args += ["--input-shape", f"{name + '=' if name else ''}{','.join(map(str, dims))}{suffix}"]
    return args


# ---------------------------------------------------------------- the schema

@dataclass
class InputOptions:
    """What every model of a job is fed, and how close the candidates must stay (convert and compare)."""

    input_shapes: dict[str, list[int]] = option(
        {}, flag="--input-shape", action="append", metavar="[NAME=]D1,D2,...[:DTYPE]", control="shapes",
        help="fill dynamic dims, e.g. x=1,3,224,224 (repeat per input); a :DTYPE suffix (e.g. input_ids=1,64:int64) "
             "sets the dtype of an input whose format stores none",
        parse=_shapes)   # "" key: the single input
    input_dtypes: dict[str, str] = option({}, flag=None, via="input_shapes", parse=_dtypes, control="shapes",
                                          help="the :DTYPE suffixes of --input-shape")
    inputs_path: str | None = option(None, flag="--inputs", parse=_existing_path,
                                     help=INPUTS_HELP)
    seed: int = option(0, flag="--seed", type=int, parse=lambda v, flag: _at_least(v, flag, 0),
                       help="seed of the random inputs (default 0)")
    input_range: list[float] | None = option(None, flag="--input-range", parse=_range,
                                             help="LOW,HIGH of the random float inputs (default -1,1; 0,1 for images)")
    atol: float | None = option(None, flag="--atol", type=float, parse=_tolerance,
                                help="absolute tolerance for every artifact")
    rtol: float | None = option(None, flag="--rtol", type=float, parse=_tolerance,
                                help="relative tolerance for every artifact")


@dataclass
class ConvertOptions(InputOptions):
    """What to make and how: also the options every stage reads (StageContext.options)."""

    targets: list[str] = option(list(DEFAULT_TARGETS), flag="--to", control="checkboxes", choices=KINDS,
                                parse=_csv(KINDS),
                                help="targets: " + ",".join(KINDS) + " (default " + ",".join(DEFAULT_TARGETS) + "; "
                                     "tfjs needs `studio setup tfjs` and Node 18+, and brings the savedmodel it is "
                                     "converted from)")
    variants: list[str] = option(["float32", "float16"], flag="--quantize", control="checkboxes", choices=VARIANTS,
                                 parse=_csv(VARIANTS),
                                 help="TFLite variants: " + ",".join(VARIANTS) + "; TF.js makes "
                                      + ", ".join(f"{t} weights for {q}" for q, t in TFJS_VARIANTS.items())
                                      + " (int8: none)")
    calibration: str | None = option(None, flag="--calibration", control="path", parse=_existing_path,
                                     help="int8 calibration data: .npy/.npz or a folder of images")
    opset: int | None = option(None, flag="--opset", type=int, control="spin", parse=_opset,
                               help="ONNX opset (default: the exporter's choice)")
    backend: str = option(DEFAULT_BACKEND, flag="--backend", control="combo", choices=BACKEND_CHOICES,
                          help="ONNX -> TF backend: auto (default: onnx2tf's direct writer, then its TF converter for "
                               "any file that fails), " + ", ".join(BACKEND_CHOICES[1:]))
    keep_layout: bool = option(False, flag="--keep-layout", action="store_true", control="check",
                               help="keep NCHW image inputs (default: make them NHWC)")
    explain: bool = option(False, flag="--explain", action="store_true", control="check",
                           help="for every artifact that fails its comparison, find where it drifts: per-layer "
                                "errors in the report (as `studio explain`)")
    latency: bool = option(False, flag="--latency", action="store_true",
                           help="measure each TFLite file's CPU latency in LiteRT on 1 and 2 threads (median and p95 "
                                "after warm-up), in the report")
    serving: bool = option(False, flag="--serving", action="store_true",
                           help="lay the SavedModel out for TF Serving: <out>/<name>/<version>/ (name: the source's "
                                "file name without its suffix), serve it with --model_base_path=<out>/<name>; its "
                                "serving_default signature keeps the source's input and output names")
    serving_version: int = option(1, flag="--serving-version", type=int, metavar="N",
                                  parse=lambda v, flag: _at_least(v, flag, 1),
                                  help="the version folder --serving writes the SavedModel into (default 1)")

    def __post_init__(self) -> None:
        """TF.js is converted from the job's own (verified) SavedModel: asking for tfjs asks for the SavedModel too;
        so does --serving, which lays that SavedModel out for TF Serving."""
        if (self.serving or "tfjs" in self.targets) and "savedmodel" not in self.targets:
            at = self.targets.index("tfjs") if "tfjs" in self.targets else len(self.targets)
            self.targets = [*self.targets[:at], "savedmodel", *self.targets[at:]]


def _same_as(cls: type, name: str) -> Any:
    """A field declared once (flag, help, default) that another options class offers as well."""
    f = cls.__dataclass_fields__[name]
    return field(default=f.default, metadata=f.metadata)


@dataclass
class MatrixOptions(InputOptions):
    """`studio matrix`: one convert job making every variant, with latency; the inputs and how int8 is made."""

    calibration: str | None = _same_as(ConvertOptions, "calibration")
    opset: int | None = _same_as(ConvertOptions, "opset")
    backend: str = _same_as(ConvertOptions, "backend")
    keep_layout: bool = _same_as(ConvertOptions, "keep_layout")

    def convert_options(self) -> ConvertOptions:
        """The convert job that makes the matrix: the SavedModel and every TFLite variant (and the ONNX on the way),
        each compared with the source and timed."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return ConvertOptions(**values, targets=list(DEFAULT_TARGETS), variants=list(VARIANTS), latency=True)


@dataclass
class CompareOptions(InputOptions):
    variant: str | None = option(None, flag="--variant", choices=VARIANTS,
                                 help="tolerance class (default: guessed from the file name)")


@dataclass
class ExplainOptions(CompareOptions):
    top: int = option(10, flag="--top", type=int, parse=lambda v, flag: _at_least(v, flag, 1),
                      help="how many of the worst layers to list (default 10)")


def _at_least(value: int, flag: str, least: int) -> int:
    if value < least:
        raise StudioError(f"{flag} {value}: give {least} or more")
    return value


# ---------------------------------------------------------------- derived: argparse, parsing back, argv

def options_of(cls: type) -> list[tuple[str, Option, Any]]:
    """(field name, Option, default) of each field, in declaration order."""
    result = []
    for f in fields(cls):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        result.append((f.name, f.metadata["option"], default))
    return result


def option_of(cls: type, name: str) -> Option:
    return cls.__dataclass_fields__[name].metadata["option"]


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argparse flag per field that has one; values are checked later, by from_args."""
    for name, opt, default in options_of(cls):
        if opt.flag is None:
            continue
        kwargs: dict[str, Any] = {"dest": name, "help": opt.help}
        if opt.action:
            kwargs["action"] = opt.action
        if opt.action != "store_true":
            kwargs["metavar"] = opt.metavar
            if opt.type:
                kwargs["type"] = opt.type
            if opt.choices and opt.parse is None:
                kwargs["choices"] = opt.choices
            kwargs["default"] = None if opt.parse or isinstance(default, (list, dict)) else default
        parser.add_argument(opt.flag, **kwargs)


def from_args(args: argparse.Namespace, cls: type) -> Any:
    """The options a parsed command line gives; a bad value is a one-line StudioError naming its flag."""
    flags = {name: opt.flag for name, opt, _ in options_of(cls)}
    values = {}
    for name, opt, default in options_of(cls):
        dest = opt.via or name
        raw = getattr(args, dest, None)
        if raw is None:
            values[name] = default
        else:
            values[name] = opt.parse(raw, flags[dest]) if opt.parse else raw
    return cls(**values)


def to_argv(options: Any) -> list[str]:
    """The flags that give back exactly these options (defaults left out)."""
    args: list[str] = []
    for name, opt, default in options_of(type(options)):
        value = getattr(options, name)
        if opt.flag == "--input-shape":
            args += input_shape_args(value, options.input_dtypes)
        elif opt.flag is None or value == default or value is None:
            continue
        elif opt.action == "store_true":
            args.append(opt.flag)
        elif isinstance(value, list):
            args += [opt.flag, ",".join(map(_number, value))]
        else:
            args += [opt.flag, _number(value)]
    return args


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)

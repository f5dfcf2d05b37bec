"""The `studio` command: convert, inspect, compare, gui. Every job runs in a worker process.

Exit codes: 0 all artifacts written and every comparison passed; 1 artifacts written but some comparison
failed its tolerance; 2 bad input or usage; 3 a conversion stage failed; 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from studio import __version__
from studio.artifacts import KINDS, VARIANTS
from studio.errors import StudioError
from studio.stages.backends import DEFAULT_BACKEND
from studio.jobs.protocol import (ARTIFACT, COMPARISON, FAILED, RESULT, CompareRequest, ConvertRequest, Event,
                                  InspectRequest)

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise StudioError(f"{message} (see: {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="studio", description="Convert PyTorch / TensorFlow models through ONNX to SavedModel and "
                "TFLite, and prove the conversion with an output diff.")
    p.add_argument("--version", action="version", version=f"studio {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    c = sub.add_parser("convert", help="convert a model and compare every artifact against it")
    c.add_argument("source", help="model file or folder, or file.py:factory")
    c.add_argument("--to", default="onnx,savedmodel,tflite", help="targets: onnx,savedmodel,tflite")
    c.add_argument("--quantize", default="float32,float16", help="TFLite variants: " + ",".join(VARIANTS))
    c.add_argument("--out", help="output folder (default ./<stem>_converted)")
    c.add_argument("--report", help="also write the report JSON here (default <out>/report.json)")
    c.add_argument("--calibration", help="int8 calibration data: .npy/.npz or a folder of images")
    c.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's choice)")
    c.add_argument("--backend", default=DEFAULT_BACKEND,
                   help="ONNX -> TF backend: auto (default: onnx2tf's direct writer, then its TF converter for any "
                        "file that fails), onnx2tf, onnx2tf-tf-converter or onnx-tf")
    c.add_argument("--keep-layout", action="store_true", help="keep NCHW image inputs (default: make them NHWC)")
    c.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    _add_model_options(c)

    i = sub.add_parser("inspect", help="show a model's format, inputs, outputs, operators and size")
    i.add_argument("source")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.add_argument("--allow-pickle", action="store_true", help="allow loading a pickled torch module (runs code)")
    i.add_argument("--weights", help="state_dict for a file.py:factory source")
    i.add_argument("--debug", action="store_true", help="show tracebacks and the converters' output")

    m = sub.add_parser("compare", help="run two models on the same inputs and diff their outputs")
    m.add_argument("reference")
    m.add_argument("candidate")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.add_argument("--variant", choices=VARIANTS, help="tolerance class (default: guessed from the file name)")
    _add_model_options(m)

    g = sub.add_parser("gui", help="open the desktop studio")
    g.add_argument("source", nargs="?")
    return p


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", metavar="[NAME=]D1,D2,...[:DTYPE]",
                   help="fill dynamic dims, e.g. x=1,3,224,224 (repeat per input); a :DTYPE suffix "
                        "(e.g. input_ids=1,64:int64) sets the dtype of an input whose format stores none")
    p.add_argument("--inputs", help="inputs for the comparison: .npy, .npz or an image (default: seeded random)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--input-range", help="LOW,HIGH of the random float inputs (default -1,1; 0,1 for images)")
    p.add_argument("--atol", type=float, help="absolute tolerance for every artifact")
    p.add_argument("--rtol", type=float, help="relative tolerance for every artifact")
    p.add_argument("--weights", help="state_dict for a file.py:factory source")
    p.add_argument("--allow-pickle", action="store_true", help="allow loading a pickled torch module (runs code)")
    p.add_argument("--debug", action="store_true", help="show tracebacks and the converters' output")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except StudioError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _error("cancelled")
        return 130
    except Exception as exc:  # a bug of ours: one line, the traceback only with --debug
        if debug:
            raise
        from studio.errors import one_line

        _error(f"internal error: {one_line(exc)} (run with --debug for details)")
        return 3


def _error(message: str) -> None:
    print(f"studio: error: {message}", file=sys.stderr)


# ---------------------------------------------------------------- argument checks

def _split(value: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    items = [v.strip().lower().replace("-", "_") for v in value.split(",") if v.strip()]
    items = ["dynamic_int8" if v in ("dynamic_range", "dynamic") else v for v in items]
    bad = [v for v in items if v not in allowed]
    if bad or not items:
        raise StudioError(f"{flag} {value!r}: choose from {','.join(allowed)}")
    return list(dict.fromkeys(items))


def _shapes(args) -> dict[str, list[int]]:
    from studio.signature import parse_input_shapes

    return {(k or ""): list(v) for k, v in parse_input_shapes(args.input_shape).items()}


def _dtypes(args) -> dict[str, str]:
    from studio.signature import parse_input_dtypes

    return {(k or ""): v for k, v in parse_input_dtypes(args.input_shape).items()}


def _range(args) -> list[float] | None:
    if not args.input_range:
        return None
    try:
        low, high = (float(x) for x in args.input_range.split(","))
    except ValueError:
        raise StudioError(f"--input-range {args.input_range!r}: expected LOW,HIGH, e.g. 0,1") from None
    if not low < high:
        raise StudioError(f"--input-range {args.input_range!r}: LOW must be below HIGH")
    return [low, high]


def _existing(path: str | None, flag: str) -> str | None:
    if path and not Path(path).exists():
        raise StudioError(f"{flag} {path}: no such file or folder")
    return str(Path(path).resolve()) if path else None


def _tolerances(args) -> None:
    for name in ("atol", "rtol"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise StudioError(f"--{name} must be a number >= 0")


# ---------------------------------------------------------------- commands

def cmd_convert(args) -> int:
    from studio.formats import detect
    from studio.pipeline import check_out_dir
    from studio.stages.registry import backend_status, plan

    targets = _split(args.to, KINDS, "--to")
    variants = _split(args.quantize, VARIANTS, "--quantize")
    shapes, input_range = _shapes(args), _range(args)
    _tolerances(args)
    inputs = _existing(args.inputs, "--inputs")
    calibration = _existing(args.calibration, "--calibration")
    if args.opset is not None and not 7 <= args.opset <= 23:
        raise StudioError(f"--opset {args.opset}: choose an opset between 7 and 23")
    status = backend_status()
    if args.backend not in status:
        raise StudioError(f"--backend {args.backend!r}: choose from {', '.join(status)}")
    ok, reason = status[args.backend]
    if not ok:
        raise StudioError(f"--backend {args.backend} is unavailable: {reason}")
    source = detect(args.source, weights=args.weights, allow_pickle=args.allow_pickle)
    plan(source.format, tuple(targets))   # an impossible route is a usage error, before any work
    out = Path(args.out or f"{source.stem}_converted").resolve()
    check_out_dir(out, args.force)
    request = ConvertRequest(source=source.to_dict(), out_dir=str(out), targets=targets, variants=variants,
                             report_path=str(Path(args.report).resolve()) if args.report else None,
                             input_shapes=shapes, input_dtypes=_dtypes(args), inputs_path=inputs,
                             input_range=input_range, seed=args.seed,
                             opset=args.opset, backend=args.backend, keep_layout=args.keep_layout,
                             calibration=calibration, atol=args.atol, rtol=args.rtol, force=args.force)
    view = _run(request, args.debug)
    if view.comparisons:
        from studio.cli_render import print_comparisons

        print_comparisons(view.comparisons)
    if view.exit_code in (0, 1):
        from studio.cli_render import print_artifacts

        print_artifacts(view.artifacts, view.result.get("report_path"))
    return view.exit_code


def cmd_inspect(args) -> int:
    from studio.formats import detect

    source = detect(args.source, weights=args.weights, allow_pickle=args.allow_pickle)
    view = _run(InspectRequest(source=source.to_dict()), args.debug, quiet=True)
    info = view.result.get("inspect")
    if view.exit_code == 0 and info:
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            from studio.inspect import format_summary

            print(format_summary(info))
    return view.exit_code


def cmd_compare(args) -> int:
    from studio.formats import detect

    _tolerances(args)
    reference = detect(args.reference, weights=args.weights, allow_pickle=args.allow_pickle)
    candidate = detect(args.candidate, allow_pickle=args.allow_pickle)
    request = CompareRequest(reference=reference.to_dict(), candidate=candidate.to_dict(),
                             inputs_path=_existing(args.inputs, "--inputs"), input_shapes=_shapes(args),
                             input_dtypes=_dtypes(args),
                             input_range=_range(args), seed=args.seed, atol=args.atol, rtol=args.rtol,
                             variant=args.variant)
    view = _run(request, args.debug, quiet=args.json)
    if args.json and view.exit_code in (0, 1):
        print(json.dumps(view.comparisons[0] if view.comparisons else {}, indent=2))
    elif view.comparisons:
        from studio.cli_render import print_comparisons

        print_comparisons(view.comparisons)
    return view.exit_code


def cmd_gui(args) -> int:
    try:
        from studio.gui.app import run_gui
    except ImportError as exc:
        raise StudioError(f"the desktop studio is not available here: {exc}") from None
    return run_gui(args.source)


COMMANDS = {"convert": cmd_convert, "inspect": cmd_inspect, "compare": cmd_compare, "gui": cmd_gui}


# ---------------------------------------------------------------- running a job

class JobView:
    """What the CLI keeps of a job's events."""

    def __init__(self) -> None:
        self.artifacts: list[dict] = []
        self.comparisons: list[dict] = []
        self.result: dict[str, Any] = {}
        self.failure: dict[str, Any] | None = None
        self.exit_code = 3


def _run(request, debug: bool, quiet: bool = False) -> JobView:
    """Run a job in a worker, show its progress on stderr, Ctrl-C cancels it cleanly."""
    from studio.cli_render import ProgressPrinter
    from studio.jobs.runner import JobRunner

    view = JobView()
    runner = JobRunner(request)
    printer = ProgressPrinter(debug=debug, quiet=quiet)
    try:
        with printer:
            for event in runner.events():
                _collect(view, event)
                printer.show(event)
    except KeyboardInterrupt:
        runner.cancel()
        for event in runner.events():
            pass
        raise
    view.exit_code = runner.exit_code if runner.exit_code is not None else 3
    if view.failure:
        if debug and view.failure.get("details"):
            print(view.failure["details"], file=sys.stderr)
        raise _failure_error(view.failure)
    return view


def _collect(view: JobView, event: Event) -> None:
    if event.type == ARTIFACT:
        view.artifacts.append(event.data)
    elif event.type == COMPARISON:
        view.comparisons.append(event.data)
    elif event.type == RESULT:
        view.result.update(event.data)
    elif event.type == FAILED:
        view.failure = event.data


def _failure_error(failure: dict) -> StudioError:
    err = StudioError(failure.get("error") or "the job failed")
    err.exit_code = int(failure.get("exit_code") or 3)
    return err


"""The `studio` command: convert, inspect, compare, explain, matrix, gui, setup. Every job runs in a worker process.

Exit codes: 0 all artifacts written and every comparison passed; 1 artifacts written but some comparison
failed its tolerance (explain: some layer fails it); 2 bad input or usage; 3 a conversion stage failed; 130
cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio import __version__
from studio.errors import StudioError
from studio.jobs.protocol import CompareRequest, ConvertRequest, ExplainRequest, InspectRequest
from studio.jobs.record import JobRecord
from studio.options import CompareOptions, ConvertOptions, ExplainOptions, add_arguments, from_args

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
    c.add_argument("source", nargs="+", help="model file or folder, or file.py:factory; several models (or a folder of "
                   "models) convert each into its own folder under --out, with an index report")
    c.add_argument("--out", help="output folder (default ./<stem>_converted; several models: ./converted)")
    c.add_argument("--jobs", type=int, help="several models: how many convert at once, each in a warm worker "
                   "(default: the window's Convert > Parallel Conversions setting, else as many as the cores and the "
                   "free memory allow)")
    c.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="several models: run them on this machine's warm workers (local) or as Ray tasks (ray: "
                        "pip install 'model-conversion-studio[ray]')")
    c.add_argument("--address", help="with --executor ray: the cluster to use (default: start a local one)")
    c.add_argument("--report", help="also write the report JSON here (default <out>/report.json)")
    c.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    add_arguments(c, ConvertOptions)
    _add_source_options(c)

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
    add_arguments(m, CompareOptions)
    _add_source_options(m)

    e = sub.add_parser("explain", help="find where artifacts drift from their source: per-layer errors, the first "
                       "divergent layer, the worst layers")
    e.add_argument("source")
    e.add_argument("artifacts", nargs="*", metavar="artifact",
                   help="ONNX or TFLite files made from the source (default: make its ONNX and float32 TFLite)")
    e.add_argument("--json", action="store_true", help="print JSON (one layer report per artifact)")
    add_arguments(e, ExplainOptions)
    _add_source_options(e)

    from studio.options import MatrixOptions

    x = sub.add_parser("matrix", help="make every variant (SavedModel, TFLite float32, float16, dynamic-range int8, "
                       "int8) and tabulate size, accuracy and CPU latency")
    x.add_argument("source", help="model file or folder, or file.py:factory")
    x.add_argument("--out", help="output folder (default ./<stem>_matrix): the files, report.json, report.html")
    x.add_argument("--force", action="store_true", help="overwrite an existing output folder")
    add_arguments(x, MatrixOptions)
    _add_source_options(x)

    g = sub.add_parser("gui", help="open the desktop studio")
    g.add_argument("source", nargs="?")

    s = sub.add_parser("setup", help="set up an optional target's own environment (tfjs: the TF.js converter's "
                       "Python venv and the Node runner, in the user's data folder); a second run only checks it")
    s.add_argument("component", choices=("tfjs",), help="what to set up")
    s.add_argument("--force", action="store_true", help="rebuild it from scratch even if it checks out")
    return p


def _add_source_options(p: argparse.ArgumentParser) -> None:
    """How to read the source itself (not options of the job: see studio.options)."""
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


# ---------------------------------------------------------------- commands

def cmd_convert(args) -> int:
    from studio.batch import expand_sources, is_folder_of_models
    from studio.pipeline import check_output
    from studio.stages.registry import plan, require_backend

    options = from_args(args, ConvertOptions)
    require_backend(options.backend)
    if args.address and args.executor != "ray":
        raise StudioError("--address goes with --executor ray")
    if args.executor == "ray":
        from studio.jobs.ray_executor import require_ray

        require_ray()
    tfjs_missing = _tfjs_unavailable(options, args.targets)
    sources, skipped = expand_sources(args.source, args.weights, args.allow_pickle,
                                      convertible=lambda s: _plannable(s, options.targets))
    for source in sources:
        plan(source.format, tuple(options.targets))   # an impossible route is a usage error, before any work
    if len(sources) > 1 or args.executor == "ray" or any(is_folder_of_models(spec) for spec in args.source):
        from studio.cli_batch import convert_many

        if args.report:
            raise StudioError("--report goes with one model; several models get an index in --out")
        code = convert_many(sources, skipped, options, args.out, args.force, args.jobs, args.executor, args.address)
        return _with_missing_target(code, tfjs_missing)
    source = sources[0]
    out = Path(args.out or f"{source.stem}_converted").resolve()
    check_output(out, args.force, source, options)   # before any work: with --serving, only what it writes
    request = ConvertRequest(source=source.to_dict(), out_dir=str(out), options=options,
                             report_path=str(Path(args.report).resolve()) if args.report else None, force=args.force)
    record = _run(request, args.debug)
    if record.comparisons:
        from studio.cli_render import print_comparisons

        print_comparisons(record.comparisons)
    if record.layers:
        from studio.cli_render import print_layers

        for report in record.layers:
            print_layers(report)
    if record.exit_code in (0, 1):
        from studio.cli_render import print_artifacts

        print_artifacts(record.artifacts, (record.outcome or {}).get("report_path"))
    return _with_missing_target(record.exit_code, tfjs_missing)


def _tfjs_unavailable(options: ConvertOptions, asked: str | None) -> str | None:
    """Without its set-up or Node, --to tfjs fails at once, in one line saying how to get it, and is dropped: the
    other targets still convert and verify (as asked), and the exit code then says a target is missing (see
    _with_missing_target). Asked alone (the SavedModel it brings aside), nothing is converted: exit 2."""
    if "tfjs" not in options.targets:
        return None
    from studio.tfjs.env import status

    found = status()
    if found.available:
        return None
    message = found.message()
    explicit = {t.strip().lower() for t in (asked or "").split(",")} - {"tfjs"}
    options.targets = [t for t in options.targets if t != "tfjs" and (t != "savedmodel" or "savedmodel" in explicit)]
    if not options.targets:
        raise StudioError(message)
    _error(f"{message}; converting {','.join(options.targets)} without it")
    return message


def _with_missing_target(code: int, missing: str | None) -> int:
    """An unavailable target asked for is a usage error, as an unavailable --backend is: exit 2 wins over 0 and 1
    (the other artifacts are written and verified all the same); a failed stage (3) or a cancel keeps its code."""
    return 2 if missing and code in (0, 1) else code


def _plannable(source, targets: list[str]) -> bool:
    from studio.stages.registry import plan

    try:
        plan(source.format, tuple(targets))
        return True
    except StudioError:
        return False


def cmd_inspect(args) -> int:
    from studio.formats import detect

    source = detect(args.source, weights=args.weights, allow_pickle=args.allow_pickle)
    record = _run(InspectRequest(source=source.to_dict()), args.debug, quiet=True)
    info = record.summary
    if record.exit_code == 0 and info:
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            from studio.model_summary import format_summary

            print(format_summary(info))
    return record.exit_code


def cmd_compare(args) -> int:
    from studio.formats import detect

    options = from_args(args, CompareOptions)
    reference = detect(args.reference, weights=args.weights, allow_pickle=args.allow_pickle)
    candidate = detect(args.candidate, allow_pickle=args.allow_pickle)
    request = CompareRequest(reference=reference.to_dict(), candidate=candidate.to_dict(), options=options)
    record = _run(request, args.debug, quiet=args.json)
    if args.json and record.exit_code in (0, 1):
        print(json.dumps(record.comparisons[0] if record.comparisons else {}, indent=2))
    elif record.comparisons:
        from studio.cli_render import print_comparisons

        print_comparisons(record.comparisons)
    return record.exit_code


def cmd_explain(args) -> int:
    from studio.formats import detect

    options = from_args(args, ExplainOptions)
    source = detect(args.source, weights=args.weights, allow_pickle=args.allow_pickle)
    artifacts = [str(detect(path).path) for path in args.artifacts]
    record = _run(ExplainRequest(source=source.to_dict(), artifacts=artifacts, options=options), args.debug,
                  quiet=args.json)
    if args.json:
        print(json.dumps(record.layers, indent=2))
    else:
        from studio.cli_render import print_layers

        for report in record.layers:
            print_layers(report)
    return record.exit_code


def cmd_matrix(args) -> int:
    from studio.cli_render import print_artifacts, print_matrix
    from studio.matrix import matrix_report_html, matrix_request, matrix_rows
    from studio.report import write_text_atomic

    request = matrix_request(args)
    record = _run(request, args.debug)
    report = record.report()
    rows = matrix_rows(report)
    print_matrix(rows)
    html = write_text_atomic(Path(request.out_dir) / "report.html", matrix_report_html(report, rows))
    print_artifacts(record.artifacts, (record.outcome or {}).get("report_path"))
    print(f"  html: {html}")
    return record.exit_code


def cmd_gui(args) -> int:
    try:
        from studio.gui.app import run_gui
    except ImportError as exc:
        raise StudioError(f"the desktop studio is not available here: {exc}") from None
    return run_gui(args.source)


def cmd_setup(args) -> int:
    """Runs here, not in a worker: it only starts pip and npm (no framework is imported)."""
    from studio.tfjs.setup import setup_tfjs

    setup_tfjs(force=args.force, log=lambda line: print(line, file=sys.stderr, flush=True))
    return 0


COMMANDS = {"convert": cmd_convert, "inspect": cmd_inspect, "compare": cmd_compare, "explain": cmd_explain,
            "matrix": cmd_matrix, "gui": cmd_gui, "setup": cmd_setup}


# ---------------------------------------------------------------- running a job

def _run(request, debug: bool, quiet: bool = False) -> JobRecord:
    """Run a job in a worker, show its progress on stderr, Ctrl-C cancels it cleanly."""
    from studio.cli_render import ProgressPrinter
    from studio.jobs.runner import JobRunner

    record = JobRecord(job_id=request.job_id)
    runner = JobRunner(request)
    printer = ProgressPrinter(debug=debug, quiet=quiet)
    try:
        with printer:
            for event in runner.events():
                record.apply(event)
                printer.show(event)
    except KeyboardInterrupt:
        runner.cancel()
        for event in runner.events():
            pass
        raise
    if record.exit_code is None:
        record.exit_code = 3
    if record.error is not None:
        if debug and record.details:
            print(record.details, file=sys.stderr)
        err = StudioError(record.error)
        err.exit_code = record.exit_code or 3
        raise err
    return record

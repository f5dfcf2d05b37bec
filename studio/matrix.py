"""The variant matrix of one model (`studio matrix`): a row per variant, the SavedModel and each TFLite file, with its
size, its accuracy against the source (cosine, top-1 agreement, max relative error, verdict) and its CPU latency in
LiteRT on 1 and 2 threads (studio.latency).

Rows are read from a convert job's report (JobRecord.report()): its artifacts, comparisons and latency. No Qt here;
the HTML section (a table and a latency-vs-error scatter, the size as dot size) goes into the output diff page
studio.compare_html writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from studio.artifacts import VARIANTS, human_bytes
from studio.compare_html import _e, comparison_report_html, format_metric
from studio.latency import THREADS

if TYPE_CHECKING:
    from studio.options import MatrixOptions

MATRIX_KINDS = ("savedmodel", "tflite")
ROW_ORDER = [("savedmodel", "float32")] + [("tflite", v) for v in VARIANTS]


def row_name(kind: str, variant: str) -> str:
    return "SavedModel" if kind == "savedmodel" else f"TFLite {variant}"


def matrix_rows(report: dict) -> list[dict]:
    """One dict per SavedModel / TFLite artifact, in ROW_ORDER: name, kind, variant, path, bytes, cosine, top1,
    max_rel (the worst over the outputs), passed, error, latency {"1": {median_ms, p95_ms, runs}, "2": ...},
    method, latency_note."""
    comparisons = {c.get("candidate"): c for c in report.get("comparisons") or []}
    latencies = {m.get("artifact"): m for m in report.get("latency") or []}
    rows = []
    for artifact in report.get("artifacts") or []:
        kind, variant = artifact.get("kind"), artifact.get("variant") or "float32"
        if kind not in MATRIX_KINDS:
            continue
        path = artifact.get("path")
        comparison = comparisons.get(path) or {}
        outputs = comparison.get("outputs") or []
        measured = latencies.get(path)
        if measured is None:
            note = "LiteRT runs TFLite files only" if kind == "savedmodel" else "not measured"
        else:
            note = measured.get("error") or measured.get("note")
        rows.append({
            "name": row_name(kind, variant), "kind": kind, "variant": variant, "path": path,
            "bytes": artifact.get("bytes") or 0,
            "cosine": _worst(outputs, "cosine", min), "top1": _worst(outputs, "top1", min),
            "max_rel": _worst(outputs, "max_rel", max),
            "passed": comparison.get("passed") if comparison else None, "error": comparison.get("error"),
            "latency": (measured or {}).get("threads") or {}, "method": (measured or {}).get("method"),
            "latency_note": note})
    order = {key: i for i, key in enumerate(ROW_ORDER)}
    return sorted(rows, key=lambda r: order.get((r["kind"], r["variant"]), len(order)))


def _worst(outputs: list[dict], key: str, pick) -> float | None:
    values = [o[key] for o in outputs if o.get(key) is not None]
    return pick(values) if values else None


def latency_text(row: dict, threads: int | str, key: str = "median_ms") -> str:
    value = (row.get("latency") or {}).get(str(threads), {}).get(key)
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def methods(rows: list[dict]) -> list[str]:
    """How the latencies were measured, each way once, and why (each reason once, with the rows it applies to)."""
    ways: dict[str, None] = {}
    notes: dict[str, list[str]] = {}
    for row in rows:
        if row.get("method"):
            ways[f"latency: {row['method']}"] = None
        if row.get("latency_note"):
            notes.setdefault(row["latency_note"], []).append(row["name"])
    return list(ways) + [f"{', '.join(names)}: {note}" for note, names in notes.items()]


# ---------------------------------------------------------------- the table's columns (CLI and HTML)

def columns() -> list[str]:
    lat = [f"{n} thr {stat}" for n in THREADS for stat in ("median ms", "p95 ms")]
    return ["variant", "size", "cosine", "top-1", "max rel", "verdict", *lat]


def cells(row: dict) -> list[str]:
    verdict = "–" if row.get("passed") is None else ("PASS" if row["passed"] else "FAIL")
    lat = [latency_text(row, n, key) for n in THREADS for key in ("median_ms", "p95_ms")]
    return [row["name"], human_bytes(row.get("bytes")), format_metric(row.get("cosine"), "cosine"),
            format_metric(row.get("top1"), "percent"), format_metric(row.get("max_rel")), verdict, *lat]


# ---------------------------------------------------------------- HTML

def matrix_section_html(rows: list[dict]) -> str:
    """The matrix as an HTML fragment: the table, how latency was measured, and the scatter."""
    head = "".join(f"<th{'' if i == 0 else ' class=num'}>{_e(c)}</th>" for i, c in enumerate(columns()))
    body = []
    for row in rows:
        values = cells(row)
        verdict = values[5]
        tds = [f"<td>{_e(values[0])}</td>"] + [
            f'<td class="{verdict if i == 5 and verdict in ("PASS", "FAIL") else "num"}">{_e(v)}</td>'
            for i, v in enumerate(values[1:], start=1)]
        body.append(f"<tr>{''.join(tds)}</tr>")
    notes = "".join(f"<li>{_e(line)}</li>" for line in methods(rows))
    return (f"<h2 id='matrix'>Variant matrix</h2>"
            f"<table class='matrix'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
            f"<ul class='tolerances'>{notes}</ul>" + scatter_svg(rows))


def scatter_points(rows: list[dict]) -> list[tuple[dict, float, float]]:
    """(row, 1-thread median ms, max relative error floored at 1e-9 for the log scale) of every row that has both:
    what the scatter plots (the HTML page's and the window's)."""
    return [(r, r["latency"]["1"]["median_ms"], max(r["max_rel"], 1e-9)) for r in rows
            if r.get("max_rel") is not None and (r.get("latency") or {}).get("1", {}).get("median_ms") is not None]


def scatter_svg(rows: list[dict], width: int = 640, height: int = 340) -> str:
    """Latency (1 thread, median) against max relative error (log scale), the file size as the dot's area."""
    points = scatter_points(rows)
    if not points:
        return "<p class='muted'>No latency and error to plot.</p>"
    left, right, top, bottom = 64, 24, 16, 44
    x_max = max(p[1] for p in points) * 1.15 or 1.0
    y_lo = math.floor(math.log10(min(p[2] for p in points)))
    y_hi = max(math.ceil(math.log10(max(p[2] for p in points))), y_lo + 1)
    size_max = max(r.get("bytes") or 1 for r, _, _ in points)

    def x(v: float) -> float:
        return left + (width - left - right) * v / x_max

    def y(v: float) -> float:
        return top + (height - top - bottom) * (y_hi - math.log10(v)) / (y_hi - y_lo)

    parts = [f"<figure><svg class='scatter' role='img' aria-label='latency against error' viewBox='0 0 {width} "
             f"{height}' width='{width}' height='{height}' xmlns='http://www.w3.org/2000/svg'>",
             f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' class='axis'/>",
             f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' class='axis'/>"]
    for power in range(y_lo, y_hi + 1):
        parts.append(f"<text x='{left - 6}' y='{y(10.0 ** power) + 4:.1f}' text-anchor='end'>1e{power}</text>")
    for i in range(5):
        value = x_max * i / 4
        parts.append(f"<text x='{x(value):.1f}' y='{height - bottom + 16}' text-anchor='middle'>{value:.3g}</text>")
    parts.append(f"<text x='{(left + width - right) / 2}' y='{height - 6}' text-anchor='middle'>latency, 1 thread, "
                 f"median (ms)</text>")
    parts.append(f"<text transform='translate(14 {(top + height - bottom) / 2}) rotate(-90)' text-anchor='middle'>"
                 f"max relative error</text>")
    for row, latency, error in points:
        radius = 4 + 14 * math.sqrt((row.get("bytes") or 1) / size_max)
        cls = "pass" if row.get("passed") else "fail"
        parts.append(f"<circle cx='{x(latency):.1f}' cy='{y(error):.1f}' r='{radius:.1f}' class='{cls}'>"
                     f"<title>{_e(row['name'])}: {latency:.3f} ms, max rel {format_metric(row['max_rel'])}, "
                     f"{_e(human_bytes(row.get('bytes')))}</title></circle>")
        parts.append(f"<text x='{x(latency) + radius + 3:.1f}' y='{y(error) + 4:.1f}'>{_e(row['variant'])}</text>")
    parts.append("</svg><figcaption class='muted'>Each TFLite variant: latency against its worst max relative error; "
                 "the dot's area is the file size.</figcaption></figure>")
    return "".join(parts)


def matrix_report_html(report: dict, rows: list[dict]) -> str:
    """The whole page: the matrix first, then the output diff of every artifact."""
    source = Path(str((report.get("source") or {}).get("path") or "model")).name
    inputs = (report.get("inputs") or {}).get("from") or ""
    return comparison_report_html(report.get("comparisons") or [], title=f"Variant matrix: {source}",
                                  inputs_text=inputs, sections=[matrix_section_html(rows)])


# ---------------------------------------------------------------- the command

def matrix_options(options) -> MatrixOptions:
    """The matrix's own choices (inputs, tolerances, calibration, opset, backend, layout) taken from any options that
    carry them: the window's convert panel gives a ConvertOptions, whose targets and variants the matrix ignores."""
    from dataclasses import fields

    from studio.options import MatrixOptions

    return MatrixOptions(**{f.name: getattr(options, f.name) for f in fields(MatrixOptions)})


def matrix_convert_request(source, out_dir: str | Path, options: MatrixOptions, force: bool = False):
    """The convert job that makes the matrix (MatrixOptions.convert_options: the SavedModel and every TFLite variant,
    each timed), checked before any work: the backend is available and the route exists. `studio matrix` and the
    window's Variant Matrix both build their request here."""
    from studio.jobs.protocol import ConvertRequest
    from studio.stages.registry import plan, require_backend

    convert = options.convert_options()
    require_backend(convert.backend)
    plan(source.format, tuple(convert.targets))   # an impossible route is a usage error, before any work
    return ConvertRequest(source=source.to_dict(), out_dir=str(Path(out_dir).resolve()), options=convert,
                          force=force)


def matrix_request(args):
    """`studio matrix`'s convert request: checked here, before any work, as `studio convert` checks its own."""
    from studio.formats import detect
    from studio.options import MatrixOptions, from_args
    from studio.pipeline import check_out_dir

    options = from_args(args, MatrixOptions)
    source = detect(args.source, weights=args.weights, allow_pickle=args.allow_pickle)
    out = Path(args.out or f"{source.stem}_matrix").resolve()
    request = matrix_convert_request(source, out, options, force=args.force)
    check_out_dir(out, args.force)
    return request

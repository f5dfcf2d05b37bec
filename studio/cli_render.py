"""How the CLI shows a job: stage lines and a progress bar on stderr, the side-by-side table on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from studio.artifacts import display_name, human_bytes
from studio.jobs import events

err = Console(stderr=True, highlight=False)
out = Console(highlight=False, width=max(Console().width, 140) if not sys.stdout.isatty() else None)


class ProgressPrinter:
    """Stage-by-stage lines always; a live bar only on a terminal; converter output only with --debug."""

    def __init__(self, debug: bool = False, quiet: bool = False):
        self.debug, self.quiet = debug, quiet
        self.progress = None
        self.task = None

    def __enter__(self) -> "ProgressPrinter":
        if not self.quiet and err.is_terminal:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                     TimeElapsedColumn(), console=err, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("starting worker", total=1.0)
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def show(self, event: events.Event) -> None:
        """Draw one event as it arrives (what the job amounts to is read from its JobRecord, not here)."""
        if isinstance(event, events.Progress) and self.progress:
            self.progress.update(self.task, completed=event.fraction, description=event.message)
        elif self.quiet:
            return
        elif isinstance(event, (events.StageStarted, events.StageFinished)) and event.name.startswith("load"):
            return   # loading is quick, and a bad source then reads as the one error line alone
        elif isinstance(event, events.StageStarted):
            err.print(f"[bold]>[/] {event.name} ...")
        elif isinstance(event, events.StageFinished):
            mark = "[green]ok[/]" if event.ok else "[red]failed[/]"
            err.print(f"  {mark} {event.name} ({event.seconds:.1f} s)")
        elif isinstance(event, events.Log):
            if event.level == "output":
                if self.debug:
                    err.out(f"    {event.message}")
            elif event.level in ("info", "warning"):
                err.out(f"  {event.message}")
        elif isinstance(event, events.Failed) and event.cancelled:
            err.print("[yellow]cancelled[/]: no output was written")


def print_comparisons(comparisons: list[dict]) -> None:
    """One row per artifact and output: the side-by-side verdict of the conversion, then why rows failed."""
    from studio.compare import ComparisonResult, failure_lines, format_table

    results = [ComparisonResult.from_dict(c) for c in comparisons]
    for result in results:
        result.candidate = display_name(result.candidate)
    header, *rows = format_table(results)
    table = Table(title="Output diff: source vs each artifact", title_justify="left")
    for col in header:
        table.add_column(col.replace("_", " "), justify="left" if col in ("artifact", "output", "verdict") else "right")
    for row in rows:
        verdict = row[-1]
        table.add_row(*row[:-1], f"[green]{verdict}[/]" if verdict == "PASS" else f"[red]{verdict}[/]")
    out.print(table)
    for line in failure_lines(results):
        out.print(f"  [red]FAIL[/] {escape(line)}", highlight=False)
    tolerances = {r.variant: r.tolerance.describe() for r in results}
    for variant, text in tolerances.items():
        out.print(f"  tolerance {variant}: {text}", markup=False)


def print_artifacts(artifacts: list[dict], report_path: str | None) -> None:
    for a in artifacts:
        layout = ", ".join(f"{k}:{v}" for k, v in (a.get("input_layout") or {}).items())
        flex = f"  needs Flex delegate: {', '.join(a['flex_ops'])}" if a.get("flex_ops") else ""
        out.print(f"  {a['kind']:<10} {a['variant']:<12} {human_bytes(a.get('bytes', 0)):>9}  {a['path']}  [{layout}]{flex}",
                  markup=False, highlight=False)
    if report_path:
        out.print(f"  report: {report_path}", markup=False)


def print_layers(report: dict) -> None:
    """One artifact's per-layer report: where it first drifts past its tolerance, then its worst layers."""
    from studio.compare import format_cosine, format_number, format_snr

    rows = report.get("rows", [])
    paired = report.get("paired", {})
    out.print(f"Layers: {Path(str(report.get('candidate'))).name} vs {Path(str(report.get('reference'))).name} "
              f"({report.get('variant')}): {len(rows)} layers compared; ONNX values paired with the source "
              f"{paired.get('reference', 0):.0%}, with the artifact {paired.get('candidate', 0):.0%}",
              markup=False, highlight=False)
    first = report.get("first_divergent")
    if first is None:
        out.print("  [green]no divergent layer[/]: every compared layer is within its tolerance")
    else:
        row = rows[first]
        out.print(f"  [red]first divergent layer[/]: #{row['index']} {escape(row['name'])} ({escape(row['op'])}) "
                  f"{_shape(row.get('shape'))}: max abs {format_number(row.get('max_abs'))}, "
                  f"{row.get('error_ratio', 0):.3g}× its tolerance; every layer upstream of it is within")

    def table(title: str, indices: list[int], growth: bool = False) -> None:
        if not indices:
            return
        t = Table(title=title, title_justify="left")
        for col in ("#", "layer", "op", "shape", "max abs", "max rel", "cosine", "snr",
                    "snr lost" if growth else "× tol", "verdict"):
            t.add_column(col, justify="left" if col in ("layer", "op", "shape", "verdict") else "right")
        for i in indices:
            row = rows[i]
            last = f"{row['growth_db']:.1f} dB" if growth and row.get("growth_db") is not None else \
                f"{row.get('error_ratio') or 0:.3g}"
            verdict = "[green]PASS[/]" if row.get("passed") else "[red]FAIL[/]"
            t.add_row(str(row["index"]), escape(row["name"]), escape(row["op"]), _shape(row.get("shape")),
                      format_number(row.get("max_abs")), format_number(row.get("max_rel")),
                      format_cosine(row.get("cosine")), format_snr(row.get("snr_db")), last, verdict)
        out.print(t)

    table(f"Worst {len(report.get('worst', []))} layers by error against the tolerance", report.get("worst", []))
    table("Where quantization loses the most (SNR lost per layer)", report.get("growth", []), growth=True)
    unpaired = report.get("unpaired", [])
    if unpaired:
        out.print(f"  {len(unpaired)} tensors without a partner (see --json for each reason)", markup=False)
    for note in report.get("notes", []):
        out.print(f"  note: {note}", markup=False, highlight=False)


def _shape(shape) -> str:
    from studio.signature import shape_text

    return "unknown" if shape is None else shape_text(shape)


def print_matrix(rows: list[dict]) -> None:
    """The variant matrix (studio.matrix): size, accuracy and latency per variant, then how latency was measured."""
    from studio.matrix import cells, columns, methods

    table = Table(title="Variant matrix: size, accuracy against the source, CPU latency in LiteRT",
                  title_justify="left")
    for i, col in enumerate(columns()):
        table.add_column(col, justify="left" if i in (0, 5) else "right")
    for row in rows:
        values = cells(row)
        verdict = values[5]
        values[5] = f"[green]{verdict}[/]" if verdict == "PASS" else f"[red]{verdict}[/]" if verdict == "FAIL" else verdict
        table.add_row(*(v if i == 5 else escape(v) for i, v in enumerate(values)))
    out.print(table)
    for row in rows:
        if row.get("error"):
            out.print(f"  [red]FAIL[/] {escape(row['name'])}: {escape(row['error'])}", highlight=False)
    for line in methods(rows):
        out.print(f"  {line}", markup=False, highlight=False)

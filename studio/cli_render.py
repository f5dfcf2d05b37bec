"""How the CLI shows a job: stage lines and a progress bar on stderr, the side-by-side table on stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from studio.jobs.protocol import FAILED, LOG, PROGRESS, STAGE_FINISHED, STAGE_STARTED, Event

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

    def show(self, event: Event) -> None:
        d = event.data
        if event.type == PROGRESS and self.progress:
            self.progress.update(self.task, completed=d.get("fraction", 0), description=d.get("message", ""))
        elif self.quiet:
            return
        elif event.type in (STAGE_STARTED, STAGE_FINISHED) and d.get("name", "").startswith("load"):
            return   # loading is quick, and a bad source then reads as the one error line alone
        elif event.type == STAGE_STARTED:
            err.print(f"[bold]>[/] {d['name']} ...")
        elif event.type == STAGE_FINISHED:
            mark = "[green]ok[/]" if d.get("ok") else "[red]failed[/]"
            err.print(f"  {mark} {d['name']} ({d.get('seconds', 0):.1f} s)")
        elif event.type == LOG:
            if d.get("level") == "output":
                if self.debug:
                    err.out(f"    {d.get('message', '')}")
            elif d.get("level") in ("info", "warning"):
                err.out(f"  {d.get('message', '')}")
        elif event.type == FAILED and d.get("cancelled"):
            err.print("[yellow]cancelled[/]: no output was written")


def _num(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def print_comparisons(comparisons: list[dict]) -> None:
    """One row per artifact and output: the side-by-side verdict of the conversion."""
    table = Table(title="Output diff: source vs each artifact", title_justify="left")
    for col in ("artifact", "output", "shape", "max abs", "mean abs", "rmse", "max rel", "cosine", "snr dB", "top-1",
                "verdict"):
        table.add_column(col, justify="left" if col in ("artifact", "output", "shape", "verdict") else "right",
                         no_wrap=col in ("shape",))
    for comp in comparisons:
        name = Path(comp.get("candidate", "?")).name
        verdict = "[green]PASS[/]" if comp.get("passed") else "[red]FAIL[/]"
        if not comp.get("outputs"):
            table.add_row(name, "-", "-", "-", "-", "-", "-", "-", "-", "-", f"{verdict} {comp.get('error') or ''}")
            continue
        for o in comp["outputs"]:
            ok = "[green]PASS[/]" if o.get("passed") else f"[red]FAIL[/] {o.get('reason') or ''}"
            table.add_row(name, str(o.get("name")), "x".join(str(d) for d in o.get("shape", [])), _num(o.get("max_abs")),
                          _num(o.get("mean_abs")), _num(o.get("rmse")), _num(o.get("max_rel")), _num(o.get("cosine")),
                          _num(o.get("snr_db")), _num(o.get("top1")), ok)
    out.print(table)
    tol = {c.get("variant"): c.get("tolerance") for c in comparisons if c.get("tolerance")}
    for variant, t in tol.items():
        out.print(f"  tolerance {variant}: " + ", ".join(f"{k}={v}" for k, v in t.items() if v is not None))


def print_artifacts(artifacts: list[dict], report_path: str | None) -> None:
    for a in artifacts:
        layout = ", ".join(f"{k}:{v}" for k, v in (a.get("input_layout") or {}).items())
        flex = f"  needs Flex delegate: {', '.join(a['flex_ops'])}" if a.get("flex_ops") else ""
        out.print(f"  {a['kind']:<10} {a['variant']:<12} {_size(a.get('bytes', 0)):>9}  {a['path']}  [{layout}]{flex}",
                  markup=False, highlight=False)
    if report_path:
        out.print(f"  report: {report_path}", markup=False)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)

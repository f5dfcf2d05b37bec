"""Many models at once: the models a set of paths names, each converted into its own folder through the
warm worker pool, and one index (JSON and HTML) that links every model's report.

Used by `studio convert A.pt2 B.keras models/ --jobs N`; no Qt, no framework imported here.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.errors import StudioError
from studio.formats import Source, detect
from studio.jobs.record import JobRecord

INDEX_JSON, INDEX_HTML = "index.json", "index.html"


@dataclass
class BatchItem:
    """One model of the batch: where it comes from and goes, and how its job ended."""

    source: Source
    out_dir: Path
    record: JobRecord | None = None
    seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 3 if self.record is None or self.record.exit_code is None else int(self.record.exit_code)

    @property
    def verdict(self) -> str:
        """The worst of the model's comparisons, or how its job failed."""
        record = self.record
        if record is None:
            return "not run"
        if record.cancelled:
            return "cancelled"
        if record.error is not None:
            return "bad input" if record.exit_code == 2 else f"error in {record.failed_stage or 'the job'}"
        if any(not c.get("passed") for c in record.comparisons):
            return "FAIL"
        return "PASS" if record.comparisons else "no comparison"

    def summary(self) -> dict:
        record = self.record or JobRecord()
        report = (record.outcome or {}).get("report_path") or str(self.out_dir / "report.json")
        return {"source": str(Path(self.source.path).resolve()), "format": self.source.format.value, "out_dir": str(self.out_dir),
                "report": report if Path(report).is_file() else None, "exit_code": self.exit_code,
                "verdict": self.verdict, "artifacts": len(record.artifacts), "seconds": self.seconds,
                "error": record.error}


def expand_sources(specs: list[str], weights: str | None, allow_pickle: bool,
                   convertible: Callable[[Source], bool]) -> tuple[list[Source], list[str]]:
    """Every model the paths name: a file or model folder is itself; any other folder gives the models in it
    (not recursive, sorted). A path named on the command line that is no model is an error; a file in a
    folder that is none (or cannot be converted, a .tflite) is skipped with a note."""
    sources: list[Source] = []
    skipped: list[str] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if is_folder_of_models(path):
            found = 0
            for entry in sorted(path.iterdir()):
                if entry.name.startswith("."):
                    continue
                try:
                    source = detect(entry, allow_pickle=allow_pickle)
                except StudioError as exc:
                    skipped.append(f"{entry.name}: {exc}")
                    continue
                if not convertible(source):
                    skipped.append(f"{entry.name}: {source.format.value} is not a source the studio converts from")
                    continue
                sources.append(source)
                found += 1
            if not found:
                raise StudioError(f"{path}: no model in this folder")
        else:
            sources.append(detect(spec, weights=weights, allow_pickle=allow_pickle))
    seen: set[Path] = set()
    unique = [s for s in sources if not (s.path.resolve() in seen or seen.add(s.path.resolve()))]
    return unique, skipped


def is_folder_of_models(spec: str | Path) -> bool:
    """A folder that is not itself a model (a SavedModel or a TF.js model is one)."""
    path = Path(spec).expanduser()
    if not path.is_dir():
        return False
    try:
        detect(path)
        return False
    except StudioError:
        return True


def output_folders(sources: list[Source], root: Path) -> list[Path]:
    """<root>/<stem> per model; models with the same stem get their suffix too (cnn-keras, cnn-pt2)."""
    stems = [s.stem for s in sources]
    return [root / (s.stem if stems.count(s.stem) == 1 else f"{s.stem}-{s.path.suffix.lstrip('.') or s.format.value}")
            for s in sources]


def run_batch(items: list[BatchItem], make_request: Callable[[BatchItem], Any], pool: Any,
              on_done: Callable[[BatchItem], None] | None = None,
              on_event: Callable[[BatchItem, Any], None] | None = None) -> None:
    """Run every item's job through the pool, as many at once as it has workers; fills item.record."""
    pending = list(items)
    lock = threading.Lock()
    runners: list[Any] = []

    def work() -> None:
        while True:
            with lock:
                if not pending:
                    return
                item = pending.pop(0)
            request = make_request(item)
            record = JobRecord(job_id=request.job_id)
            runner = pool.runner(request)
            with lock:
                runners.append(runner)
            started = time.monotonic()
            for event in runner.events():
                record.apply(event)
                if on_event:
                    on_event(item, event)
            item.record, item.seconds = record, round(time.monotonic() - started, 2)
            if on_done:
                on_done(item)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(pool.size, len(items))))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        with lock:
            pending.clear()
            for runner in runners:
                runner.cancel()
        for thread in threads:
            thread.join()
        raise


def worst_exit_code(items: list[BatchItem]) -> int:
    return max((item.exit_code for item in items), default=0)


def write_index(items: list[BatchItem], root: Path, skipped: list[str]) -> tuple[Path, Path]:
    """index.json and index.html in root: one row per model, linking its report."""
    from studio.report import write_json_atomic, write_text_atomic

    rows = [item.summary() for item in items]
    data = {"models": rows, "skipped": skipped, "exit_code": worst_exit_code(items)}
    json_path = write_json_atomic(root / INDEX_JSON, data)
    html_path = write_text_atomic(root / INDEX_HTML, _index_html(rows, skipped, root))
    return json_path, html_path


def _index_html(rows: list[dict], skipped: list[str], root: Path) -> str:
    def link(path: str | None, text: str) -> str:
        if not path:
            return html.escape(text)
        target = Path(path)
        href = target.relative_to(root) if target.is_relative_to(root) else target.as_uri()
        return f'<a href="{html.escape(str(href))}">{html.escape(text)}</a>'

    def row(r: dict) -> str:
        seconds = "" if r["seconds"] is None else f"{r['seconds']:.1f} s"
        report = link(r["report"], "report.json") if r["report"] else html.escape(r["error"] or "")
        folder = r["out_dir"] if r["out_dir"] and Path(r["out_dir"]).is_dir() else None   # a failed job leaves none
        return (f"<tr class='{'ok' if r['exit_code'] == 0 else 'bad'}'><td>{link(folder, Path(r['source']).name)}"
                f"</td><td>{html.escape(r['format'])}</td><td>{r['artifacts']}</td><td>{html.escape(r['verdict'])}</td>"
                f"<td>{seconds}</td><td>{r['exit_code']}</td><td>{report}</td></tr>")

    body = "".join(row(r) for r in rows)
    notes = "".join(f"<li>{html.escape(s)}</li>" for s in skipped)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Model Conversion Studio: batch</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:4px 10px;
border-bottom:1px solid #ddd;text-align:left}}tr.bad td{{color:#b00020}}</style></head><body>
<h1>{len(rows)} models</h1><table><tr><th>model</th><th>format</th><th>artifacts</th><th>worst verdict</th>
<th>time</th><th>exit</th><th>report</th></tr>{body}</table>
{f'<h2>Skipped</h2><ul>{notes}</ul>' if notes else ''}</body></html>
"""

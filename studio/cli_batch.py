"""`studio convert` with several models: each into its own folder, one line per model as it ends, one
summary table, an index report (JSON and HTML) and the worst exit code of all."""

from __future__ import annotations

import os
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from studio.batch import BatchItem, output_folders, run_batch, worst_exit_code, write_index
from studio.cli_render import err, out
from studio.errors import StudioError
from studio.formats import Source
from studio.jobs.protocol import ConvertRequest
from studio.options import ConvertOptions

DEFAULT_BATCH_OUT = "converted"


def convert_many(sources: list[Source], skipped: list[str], options: ConvertOptions, out_root: str | None,
                 force: bool, jobs: int | None, executor: str = "local", address: str | None = None) -> int:
    from studio.pipeline import check_output

    if jobs is not None and jobs < 1:
        raise StudioError(f"--jobs {jobs}: give 1 or more")
    root = Path(out_root or DEFAULT_BATCH_OUT).resolve()
    items = [BatchItem(source, folder) for source, folder in zip(sources, output_folders(sources, root))]
    for item in items:
        check_output(item.out_dir, force, item.source, options)
    for note in skipped:
        err.print(f"  skipped {escape(note)}")
    done = [0]

    def make_request(item: BatchItem) -> ConvertRequest:
        return ConvertRequest(source=item.source.to_dict(), out_dir=str(item.out_dir), options=options, force=force)

    def on_done(item: BatchItem) -> None:
        done[0] += 1
        seconds = f"{item.seconds:.1f} s" if item.seconds is not None else ""
        reason = f": {item.record.error}" if item.record and item.record.error else ""
        err.print(f"  [{done[0]}/{len(items)}] {escape(item.source.path.name)}: {escape(item.verdict)} "
                  f"({seconds}){escape(reason)}")

    if executor == "ray":
        from studio.jobs.ray_executor import iter_on_ray

        requests = [make_request(item) for item in items]
        by_job = {request.job_id: item for request, item in zip(requests, items)}
        err.print(f"converting {len(items)} models into {root} as Ray tasks")
        if jobs and (address or os.environ.get("RAY_ADDRESS")):
            err.print(f"  --jobs {jobs} is for a Ray started here: on a running cluster, its CPUs decide how many "
                      "convert at once")
        for record in iter_on_ray(requests, address=address, num_cpus=jobs):
            item = by_job[record.job_id]
            item.record, item.seconds = record, record.seconds
            on_done(item)
    else:
        from studio import user_settings
        from studio.jobs.pool import WorkerPool

        err.print(f"converting {len(items)} models into {root}")
        size, why = (jobs, "--jobs") if jobs else (user_settings.worker_pool_size(), "the settings")
        with WorkerPool(size=size) as pool:
            why = why if size else "as the cores and free memory allow"
            err.print(f"  {pool.size} warm worker{'s' if pool.size > 1 else ''} ({why})")
            run_batch(items, make_request, pool, on_done=on_done)
    root.mkdir(parents=True, exist_ok=True)
    json_path, html_path = write_index(items, root, skipped)
    print_batch(items)
    out.print(f"  index: {json_path}  {html_path}", markup=False)
    return worst_exit_code(items)


def print_batch(items: list[BatchItem]) -> None:
    table = Table(title="Batch: every model, its artifacts and worst verdict")
    for column, justify in (("model", "left"), ("format", "left"), ("artifacts", "right"), ("worst verdict", "left"),
                            ("time", "right"), ("exit", "right"), ("folder", "left")):
        table.add_column(column, justify=justify)
    for item in items:
        record = item.record
        verdict = item.verdict
        style = "green" if verdict == "PASS" else "red"
        table.add_row(escape(item.source.path.name), item.source.format.value,
                      str(len(record.artifacts) if record else 0), f"[{style}]{escape(verdict)}[/]",
                      f"{item.seconds:.1f} s" if item.seconds is not None else "", str(item.exit_code),
                      escape(str(item.out_dir)))
    out.print(table)

"""The Matrix tab: the variant matrix of a real `studio matrix` run (the tiny CNN, once per session) as a table and a
latency-vs-error scatter, and the window's Variant Matrix action through the JobQueue with a scripted runner (the
request it submits, rows appearing as the job's events arrive, the workspace keeping the finished matrix)."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from fakes import WAIT, FakeRunner, inspect_script

from studio.artifacts import VARIANTS, human_bytes
from studio.gui.matrix_view import EMPTY_TEXT, TITLES, VERDICT_COLUMN, MatrixView
from studio.gui.plots import verdict_color
from studio.jobs.events import (ArtifactWritten, Compared, Converted, Finished, JobStarted, LatencyMeasured,
                                StageStarted)
from studio.jobs.record import CANCELLED, DONE
from studio.matrix import cells, matrix_options, matrix_rows

pytestmark = pytest.mark.gui
ROW_KEYS = [("savedmodel", "float32"), ("tflite", "float32"), ("tflite", "float16"), ("tflite", "dynamic_int8"),
            ("tflite", "int8")]


@pytest.fixture(scope="session")
def matrix_report(tiny_model, tmp_path_factory) -> dict:
    """report.json of the real `studio matrix` on the tiny CNN (about 45 s): real sizes, metrics and latencies."""
    out = tmp_path_factory.mktemp("matrix") / "tiny_gui_matrix"
    result = subprocess.run([sys.executable, "-m", "studio", "matrix", str(tiny_model), "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}"
    return json.loads((out / "report.json").read_text())


def table_texts(view: MatrixView) -> list[list[str]]:
    return [[view.cell_text(r, c) for c in range(view.table.columnCount())] for r in range(view.table.rowCount())]


# ---------------------------------------------------------------- the view


def test_an_empty_tab_says_how_to_fill_it(qtbot):
    view = MatrixView()
    qtbot.addWidget(view)
    assert view.stack.currentWidget() is view.placeholder and view.placeholder.text() == EMPTY_TEXT
    assert "Variant Matrix" in EMPTY_TEXT and "Ctrl+Shift+V" in EMPTY_TEXT
    assert view.table.rowCount() == 0 and view.scatter.scatter_item.points().size == 0

    view.show_report({"artifacts": [], "comparisons": [], "latency": []}, "m.pt2")   # a job that made nothing yet
    assert view.stack.currentWidget() is view.placeholder and "as each one is written" in view.placeholder.text()


@pytest.mark.slow
def test_table_and_scatter_of_a_real_matrix(qtbot, matrix_report):
    view = MatrixView()
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show_report(matrix_report, "tiny_gui.pt2")
    rows = matrix_rows(matrix_report)
    assert [(r["kind"], r["variant"]) for r in rows] == ROW_KEYS
    assert view.stack.currentIndex() == 1 and view.title_label.text() == "tiny_gui.pt2"

    headers = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert headers == list(TITLES)
    assert headers[:7] == ["Variant", "Kind", "Size", "Cosine", "Top-1", "Max rel", "Verdict"]
    assert headers[7:11] == ["1 thread\nmedian", "1 thread\np95", "2 threads\nmedian", "2 threads\np95"]
    assert headers[-1] == "Method"
    texts = table_texts(view)
    assert [t[0] for t in texts] == ["float32", "float32", "float16", "dynamic_int8", "int8"]
    assert [t[1] for t in texts] == ["SavedModel"] + ["TFLite"] * 4
    for text, row in zip(texts, rows):
        assert text[2:11] == cells(row)[1:], row["name"]          # the CLI's cells, the same strings
        assert text[VERDICT_COLUMN] == "PASS"
    saved, *tflites = texts
    assert saved[7:12] == ["–"] * 5                                 # LiteRT runs TFLite files only
    assert all(float(t[7]) > 0 and t[11] in ("timed invoke()", "litert-benchmark") for t in tflites)
    assert view.table.item(0, 11).toolTip() == "LiteRT runs TFLite files only"
    assert rows[1]["method"] in view.table.item(1, 11).toolTip()
    assert "latency: " + rows[1]["method"] in view.notes_label.text()

    # the scatter: one dot per TFLite file at (1-thread median, log10 max rel), its size growing with the file's
    spots = list(view.scatter.scatter_item.points())
    assert len(spots) == 4
    for spot, row in zip(spots, rows[1:]):
        assert spot.pos().x() == pytest.approx(row["latency"]["1"]["median_ms"])
        assert spot.pos().y() == pytest.approx(math.log10(max(row["max_rel"], 1e-9)))
        assert spot.pen().color() == verdict_color(view, True)
    for a, ra in zip(spots, rows[1:]):
        for b, rb in zip(spots, rows[1:]):
            if ra["bytes"] < rb["bytes"]:
                assert a.size() < b.size(), (ra["name"], rb["name"])
    by_size = sorted(zip(spots, rows[1:]), key=lambda pair: pair[0].size())
    assert [r["bytes"] for _, r in by_size] == sorted(r["bytes"] for r in rows[1:])
    assert [label.toPlainText() for label in view.scatter.labels] == ["float32", "float16", "dynamic_int8", "int8"]
    caption = view.caption.text()
    assert "the dot's area is the file's size" in caption and "4 plotted" in caption
    assert human_bytes(max(r["bytes"] for r in rows[1:])) in caption and "SavedModel" in caption
    axis = view.scatter.getPlotItem().getAxis("left")
    assert axis.logMode and axis.labelText == "max relative error"


@pytest.mark.slow
def test_a_failing_variant_is_red_in_the_table_and_the_scatter(qtbot, matrix_report):
    report = copy.deepcopy(matrix_report)
    int8 = next(a["path"] for a in report["artifacts"] if a.get("variant") == "int8")
    comparison = next(c for c in report["comparisons"] if c["candidate"] == int8)
    comparison["passed"] = False           # the same real metrics, judged by a stricter tolerance
    view = MatrixView()
    qtbot.addWidget(view)
    view.show_report(report, "tiny_gui.pt2")
    assert [view.cell_text(r, VERDICT_COLUMN) for r in range(5)] == ["PASS"] * 4 + ["FAIL"]
    assert view.table.item(4, VERDICT_COLUMN).foreground().color() == verdict_color(view, False)
    spots = list(view.scatter.scatter_item.points())
    assert [s.pen().color() == verdict_color(view, False) for s in spots] == [False, False, False, True]


# ---------------------------------------------------------------- the window, with a scripted runner

GATE = object()        # in a script: wait until the test opens the gate


class GatedRunner(FakeRunner):
    """A FakeRunner that stops at GATE until `gate` is set: the test looks at the window between events."""

    def __init__(self, request, script: list, gate: threading.Event):
        super().__init__(request, script)
        self.gate = gate

    def events(self):
        parts = [[]]
        for item in self.script:
            parts.append([]) if item is GATE else parts[-1].append(item)
        for i, part in enumerate(parts):
            if i:
                self.gate.wait(30)
            if self._cancelled.is_set() and i:
                return                                  # the part before said it was cancelled
            self.script = part
            yield from super().events()


class Workers:
    """make_runner: inspect jobs read the real model; a convert job plays `convert` (a function of the request)."""

    def __init__(self):
        self.convert = lambda request: [JobStarted(kind="convert", source=request.source), WAIT]
        self.gate = threading.Event()
        self.requests: list = []

    def __call__(self, request):
        self.requests.append(request)
        if request.kind == "inspect":
            return FakeRunner(request, inspect_script(request))
        return GatedRunner(request, self.convert(request), self.gate)


@pytest.fixture
def workers() -> Workers:
    return Workers()


@pytest.fixture
def win(qtbot, qapp, tmp_path, workers, gui):
    from studio.gui.app import configure_app
    from studio.gui.main_window import MainWindow
    from studio.gui.settings import Settings

    configure_app(qapp)
    Settings().q.clear()
    window = MainWindow(make_runner=workers)
    window.confirm_quit = False
    qtbot.addWidget(window)
    window.show()
    (tmp_path / "out").mkdir()
    window.convert_panel.output.setText(str(tmp_path / "out"))
    yield window
    workers.gate.set()
    gui.close_message_boxes()
    window.close()
    qtbot.wait(50)   # let Qt delete the window's web pages now, before their profile (as conftest's window does)


def open_model(qtbot, window, path: Path):
    [state] = window.open_paths([str(path)])
    qtbot.waitUntil(lambda: state.inspect_state == "ready", timeout=10_000)
    return state


def test_variant_matrix_action_submits_the_matrix_request(win, qtbot, workers, tiny_model, tmp_path):
    assert win.tabs.tabText(win.TAB_MATRIX) == "Ma&trix" and win.tabs.tabText(win.TAB_LOG) == "&Log"
    assert not win.matrix_action.isEnabled() and not win.matrix_view.run_button.isEnabled()
    assert "Open a model" in win.matrix_view.placeholder.text()
    assert win.matrix.run() is None and not [r for r in workers.requests if r.kind == "convert"]

    state = open_model(qtbot, win, tiny_model)
    qtbot.waitUntil(win.matrix_action.isEnabled, timeout=5_000)
    assert win.matrix_view.run_button.isEnabled() and win.matrix_view.placeholder.text() == EMPTY_TEXT
    win.convert_panel.set_targets(["onnx"], ["float16"])     # the panel's targets and variants do not narrow it
    win.workspace.set_compare_inputs({"seed": 7})
    win.matrix_action.trigger()

    job = win.jobs.jobs[-1]
    request = job.request
    assert request.kind == "convert" and job.context["matrix"] and job.source_key == state.key
    assert Path(request.out_dir) == (tmp_path / "out" / "tiny_gui_matrix").resolve()
    assert win.workspace.reserved[request.job_id] == request.out_dir
    options = request.options
    assert options == matrix_options(win.convert_panel.options(None, 7)).convert_options()   # `studio matrix`'s
    assert {"savedmodel", "tflite"} <= set(options.targets) and options.variants == list(VARIANTS)
    assert options.latency and options.seed == 7 and options.inputs_path is None
    assert request.samples_dir and Path(request.samples_dir).is_dir()
    assert win.tabs.currentIndex() == win.TAB_MATRIX
    qtbot.waitUntil(lambda: not win.matrix_action.isEnabled(), timeout=5_000)   # one matrix of a model at a time
    assert win.matrix.run() is job
    assert win.matrix_view.busy_label.isVisible()

    win.jobs.cancel(job)
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert job.state == CANCELLED and request.job_id not in win.workspace.reserved
    qtbot.waitUntil(win.matrix_action.isEnabled, timeout=5_000)
    assert "was cancelled" in win.matrix_view.placeholder.text() and not win.matrix_view.busy_label.isVisible()


@pytest.mark.slow
def test_rows_fill_in_as_the_matrix_job_reports_them(win, qtbot, workers, tiny_model, matrix_report):
    """The real report's events, played in the order a worker emits them: the SavedModel and float32 first, the rest
    after the gate; the tab shows the rows so far, then the whole matrix, which the workspace keeps."""
    def script(request):
        events = [JobStarted(kind="convert", source=request.source, plan=matrix_report["plan"]),
                  StageStarted(name="onnx->tf")]
        by_path = {c["candidate"]: c for c in matrix_report["comparisons"]}
        latency = {m["artifact"]: m for m in matrix_report["latency"]}
        for artifact in matrix_report["artifacts"]:
            events.append(ArtifactWritten(artifact=artifact))
            if artifact["path"] in by_path:
                events.append(Compared(comparison=by_path[artifact["path"]]))
            if artifact["path"] in latency:
                events.append(LatencyMeasured(latency=latency[artifact["path"]]))
            if artifact["kind"] == "tflite" and artifact["variant"] == "float32":
                events.append(GATE)
        return events + [Converted(report_path=f"{request.out_dir}/report.json", out_dir=request.out_dir,
                                   passed=True), Finished(exit_code=0)]

    workers.convert = script
    state = open_model(qtbot, win, tiny_model)
    qtbot.waitUntil(win.matrix_action.isEnabled, timeout=5_000)
    job = win.matrix.run()
    view = win.matrix_view
    qtbot.waitUntil(lambda: len(view.rows) == 2, timeout=10_000)
    assert [(r["kind"], r["variant"]) for r in view.rows] == ROW_KEYS[:2]
    assert view.table.rowCount() == 2 and len(view.scatter.scatter_item.points()) == 1
    assert view.busy_label.isVisible() and not job.finished and state.matrix is None

    workers.gate.set()
    qtbot.waitUntil(lambda: job.finished, timeout=10_000)
    assert job.state == DONE
    assert state.matrix is not None and matrix_rows(state.matrix) == matrix_rows(matrix_report)
    assert view.report is state.matrix and view.table.rowCount() == 5 and not view.busy_label.isVisible()
    assert len(view.scatter.scatter_item.points()) == 4
    assert table_texts(view)[4][0] == "int8"

    win.show_tab(win.TAB_GRAPH)                     # double-clicking the job in the Jobs panel: back to its matrix
    win.jobs_panel.job_activated.emit(job)
    assert win.tabs.currentIndex() == win.TAB_MATRIX

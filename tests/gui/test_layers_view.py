"""The Layers tab: a per-layer report as a table in graph order (first divergent row marked and selected, failing-only
filter, error bars on a log scale), the Netron graphs coloured by error with a row's node selected in both panes,
plots of a layer's kept tensors, the Model Explorer export, and explain jobs through the JobQueue (scripted by a
fake runner, and once for real through the worker on a tiny model).

Reports here are written by hand in the engine's JSON (studio.explain's LayerReport.to_dict()), for a small ONNX
source and an ONNX "artifact" whose node names differ, so every name the view sends to a pane is checkable.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes import WAIT, FakeRunner, inspect_script
from PySide6.QtCore import QPoint, Qt, QUrl
from PySide6.QtTest import QTest
from PySide6.QtWebEngineCore import QWebEngineScript

from studio.gui import layers_data
from studio.gui.layers_view import Column, ErrorBarDelegate, LayersView, shape_cell
from studio.jobs.events import (ArtifactWritten, Converted, Finished, JobStarted, LayersExplained, Progress,
                                StageFinished, StageStarted)
from studio.jobs.protocol import ExplainRequest
from studio.jobs.record import CANCELLED, DONE

pytestmark = pytest.mark.gui
LOAD_TIMEOUT_MS = 60_000

# source ONNX node -> the artifact's node of the same op (the artifact renames every node, as converters do)
NODES = [("conv1", "Conv", "c1"), ("relu1", "Relu", "r1"), ("conv2", "Conv", "c2"), ("add1", "Add", "a1"),
         ("pool", "GlobalAveragePool", "p"), ("flat", "Flatten", "y")]


def _onnx(path: Path, prefix: str) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inputs = {"conv1": ["x", "w1"], "relu1": ["c1"], "conv2": ["r1", "w2"], "add1": ["c2", "r1"], "pool": ["a1"],
              "flat": ["p"]}
    nodes = [helper.make_node(op, inputs[name], [out], name=prefix + name, **({"pads": [1, 1, 1, 1]}
                                                                              if op == "Conv" else {}))
             for name, op, out in NODES]
    weights = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w1"),
               numpy_helper.from_array(rng.standard_normal((4, 4, 3, 3)).astype(np.float32), "w2")]
    graph = helper.make_graph(nodes, "layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """(source.onnx, its "artifact" layers_float32.onnx with every node renamed node_*)."""
    folder = tmp_path_factory.mktemp("layers_models")
    return _onnx(folder / "layers.onnx", ""), _onnx(folder / "layers_float32.onnx", "node_")


def make_report(source: Path, artifact: Path, samples_dir: Path | None = None, variant: str = "float32") -> dict:
    """A realistic report: Conv+Relu fused (compared at the chain's output), the Add is the first divergent layer
    (14× its tolerance), everything after it fails too; two unpaired tensors with their reasons."""
    ratios = {"relu1": 0.004, "conv2": 0.3, "add1": 14.0, "pool": 6.5, "flat": 6.2}
    ops = {"relu1": "Conv+Relu", "conv2": "Conv", "add1": "Add", "pool": "GlobalAveragePool", "flat": "Flatten"}
    outs = {name: out for name, _, out in NODES}
    shapes = {"relu1": [1, 4, 8, 8], "conv2": [1, 4, 8, 8], "add1": [1, 4, 8, 8], "pool": [1, 4, 1, 1],
              "flat": [1, 4]}
    rows = []
    for index, name in enumerate(ratios):
        ratio = ratios[name]
        rows.append({"index": index, "name": outs[name], "op": ops[name], "reference_node": name,
                     "candidate_node": "node_" + name, "onnx_node": name, "shape": shapes[name],
                     "max_abs": ratio * 1.1e-4, "mean_abs": ratio * 2e-5, "rmse": ratio * 3e-5,
                     "max_rel": ratio * 1e-3, "cosine": 1 - ratio * 1e-7, "snr_db": 90 - 20 * np.log10(ratio),
                     "ref_max_abs": 3.2, "error_ratio": ratio, "passed": ratio <= 1,
                     "growth_db": None if index == 0 else round(4.0 * index, 1)})
    report = {"reference": str(source), "candidate": str(artifact), "variant": variant,
              "tolerance": {"atol": 1e-4, "rtol": 1e-3},
              "rows": [rows[i] for i in (3, 0, 4, 1, 2)],      # any order: the table shows graph order
              "unpaired": [{"name": "x_nhwc", "side": "candidate", "reason": "a layout transpose the converter added"},
                           {"name": "c1", "side": "onnx",
                            "reason": "inside the fused chain Conv+Relu: compared at its output"}],
              "first_divergent": 2, "worst": [2, 3, 4, 1, 0], "growth": [4, 3, 2] if "int8" in variant else [],
              "paired": {"reference": 1.0, "candidate": 0.83},
              "notes": ["Inputs: random, seed 0."]}
    if samples_dir is not None:
        rng = np.random.default_rng(1)
        reference = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
        candidate = reference + rng.standard_normal(reference.shape).astype(np.float32) * 1e-3
        samples_dir.mkdir(parents=True, exist_ok=True)
        np.save(samples_dir / "add1_ref.npy", reference)
        np.save(samples_dir / "add1_cand.npy", candidate)
        report["samples"] = {"2": {"reference": str(samples_dir / "add1_ref.npy"),
                                   "candidate": str(samples_dir / "add1_cand.npy")}}
    return report


@pytest.fixture
def view(qtbot):
    widget = LayersView()
    widget.resize(1100, 700)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def shown_indexes(view: LayersView) -> list[int]:
    return [int(row["index"]) for row in view.table_rows]


# ---------------------------------------------------------------- the table


def test_table_fills_in_graph_order_with_the_first_divergent_row_marked_selected_and_named(view, models):
    source, artifact = models
    selected = []
    view.row_selected.connect(selected.append)
    view.show_report(make_report(source, artifact), source_path=str(source))

    assert shown_indexes(view) == [0, 1, 2, 3, 4]                 # graph order, whatever the JSON's order
    assert view.selected_row()["index"] == 2                      # the first divergent row is selected...
    assert selected[-1]["reference_node"] == "add1"               # ...and announced (the graphs follow it)
    model, proxy = view.model, view.proxy
    flagged = [proxy.index(r, Column.INDEX).data(Qt.ItemDataRole.DecorationRole) is not None
               for r in range(proxy.rowCount())]
    assert flagged == [False, False, True, False, False]          # only it has the flag...
    tinted = [proxy.index(r, Column.LAYER).data(Qt.ItemDataRole.BackgroundRole) is not None
              for r in range(proxy.rowCount())]
    assert tinted == flagged                                      # ...and the highlight
    assert "First divergent layer" in proxy.index(2, Column.INDEX).data(Qt.ItemDataRole.ToolTipRole)
    texts = [proxy.index(2, c).data() for c in range(model.columnCount())]
    assert texts[Column.LAYER] == "add1" and texts[Column.OP] == "Add" and texts[Column.SHAPE] == "1×4×8×8"
    assert texts[Column.VERDICT] == "FAIL" and proxy.index(0, Column.VERDICT).data() == "PASS"
    assert view.table.isColumnHidden(Column.GROWTH)               # float32: no growth column

    header = view.summary_label.text()
    assert "First divergent layer: #2 add1" in header and "layers_float32.onnx" in header and "float32" in header
    assert "100%" in header and "83%" in header                   # paired fractions of both graphs
    assert view.details_button.isVisible() and view.details_button.text() == "1 note · 2 unpaired"
    assert "fused chain Conv+Relu" in view.details_button.toolTip()           # the reasons, in its tooltip
    assert not view.details_text.isVisible()
    view.details_button.click()                                              # and listed when opened
    details = view.details_text.toPlainText()
    assert view.details_text.isVisible() and "x_nhwc (candidate): a layout transpose" in details
    assert "seed 0" in details
    assert not view.plots.isVisible() and "kept no layer's tensors" in details    # no plots: the graphs get room

    view.table.sortByColumn(Column.ERROR, Qt.SortOrder.DescendingOrder)     # sort by error, then back
    assert shown_indexes(view) == [2, 3, 4, 1, 0]
    view.table.sortByColumn(Column.INDEX, Qt.SortOrder.AscendingOrder)
    assert shown_indexes(view) == [0, 1, 2, 3, 4]


def test_failing_only_filter_keeps_the_selection(view, models):
    view.show_report(make_report(*models))
    view.set_failing_only(True)
    assert shown_indexes(view) == [2, 3, 4]
    assert all(not row["passed"] for row in view.table_rows)
    assert view.selected_row()["index"] == 2
    assert "5 layers, 3 fail · 3 shown" in view.count_label.text()
    view.set_failing_only(False)
    assert shown_indexes(view) == [0, 1, 2, 3, 4]
    view.set_failing_only(True)
    assert view.select_index(0)                       # a passing row asked for: the filter steps aside
    assert not view.failing_only.isChecked() and view.selected_row()["index"] == 0


def test_error_bars_are_log_proportional_and_drawn_in_the_error_colour(view, models, qtbot):
    rect = view.table.visualRect(view.proxy.index(0, Column.ERROR))
    widths = {r: ErrorBarDelegate.geometry(rect, r)[1].width() for r in (0.1, 1.0, 10.0, 100.0)}
    track, _, tick = ErrorBarDelegate.geometry(rect, 1.0)
    assert widths[1.0] - widths[0.1] == pytest.approx(widths[10.0] - widths[1.0], abs=1e-6)   # log scale
    assert widths[100.0] - widths[10.0] == pytest.approx(widths[10.0] - widths[1.0], abs=1e-6)
    assert tick == pytest.approx(track.left() + widths[1.0])       # the tolerance tick ends the ratio-1 bar
    assert ErrorBarDelegate.geometry(rect, 0.0)[1].width() == 0
    assert ErrorBarDelegate.geometry(rect, float("inf"))[1].width() == pytest.approx(track.width())

    view.show_report(make_report(*models))
    view.table.clearSelection()                       # the selection colour would cover the cells
    qtbot.wait(50)
    image = view.table.viewport().grab().toImage()
    for r, row in enumerate(view.table_rows):
        cell = view.table.visualRect(view.proxy.index(r, Column.ERROR))
        _, bar, _ = ErrorBarDelegate.geometry(cell, row["error_ratio"])
        pixel = image.pixelColor(QPoint(int(bar.left() + bar.width() / 2), int(bar.center().y()))).name()
        assert pixel == layers_data.error_color(row["error_ratio"]), (row["index"], pixel)
    assert layers_data.error_color(14.0) == layers_data.error_color(100.0)               # red from 10x on
    hues = [layers_data.error_hue(r) for r in (0.001, 0.1, 0.9, 1.1, 5, 10)]
    assert hues == sorted(hues, reverse=True) and hues[2] - hues[3] > 15                # a step at the tolerance


def test_int8_reports_show_the_growth_column_and_ranking(view, models):
    view.show_report(make_report(*models, variant="int8"))
    assert not view.table.isColumnHidden(Column.GROWTH)
    assert view.proxy.index(4, Column.GROWTH).data() == "16.0 dB"
    assert "Most SNR lost (int8): #4 flat (16.0 dB), #3 pool (12.0 dB), #2 add1 (8.0 dB)" in \
        view.summary_label.text()
    view.table.sortByColumn(Column.GROWTH, Qt.SortOrder.DescendingOrder)
    assert shown_indexes(view)[:3] == [4, 3, 2]


def test_plots_for_a_layer_with_kept_tensors_and_a_note_otherwise(view, models, tmp_path):
    view.show_report(make_report(*models, samples_dir=tmp_path / "samples"))
    plots = view.plots
    assert plots.isVisible()
    assert view.selected_row()["index"] == 2 and plots.showing_plots       # the first divergent one kept its own
    assert plots.histogram.counts.sum() == 4 * 8 * 8
    assert "add1" in plots.title.text() and "FAIL" in plots.title.text()
    view.select_index(1)
    assert not plots.showing_plots
    assert "first divergent and worst layers only" in plots.message.text() and "#2" in plots.message.text()
    (tmp_path / "samples" / "add1_ref.npy").unlink()                        # the job's temp folder is gone
    view.select_index(2)
    assert not plots.showing_plots and "gone" in plots.message.text()


def test_empty_and_clean_reports(view, models):
    assert view.stack.currentWidget() is view.placeholder and "Explain Layers" in view.placeholder.text()
    clean = make_report(*models)
    for row in clean["rows"]:
        row["error_ratio"], row["passed"] = 0.01, True
    clean["first_divergent"] = None
    view.show_report(clean)
    assert "No divergent layer" in view.summary_label.text()
    assert view.selected_row()["index"] == 2               # the worst one is selected when nothing diverges


# ---------------------------------------------------------------- the graph panes


def run_js(qtbot, page, script: str):
    answer = {}
    page.runJavaScript(script, QWebEngineScript.ScriptWorldId.MainWorld, lambda r: answer.setdefault("r", r))
    qtbot.waitUntil(lambda: "r" in answer, timeout=10_000)
    return answer["r"]


def test_graph_panes_colour_nodes_by_error_and_select_by_name(qtbot, models):
    """The real pane API on real Netron pages: colours land on the named nodes (others grey), a selection is
    Netron's own, found by node name or by the name of a tensor the node produces."""
    from studio.gui.netron_view import GraphView

    source, artifact = models
    view = GraphView()
    view.resize(1000, 600)
    view.show()
    try:
        report = make_report(source, artifact)
        legend = layers_data.legend()
        view.set_error_colors(str(source), layers_data.node_colors(report, "source", True), legend)
        view.set_error_colors(str(artifact), layers_data.node_colors(report, "artifact"), legend)
        with qtbot.waitSignal(view.loaded, timeout=LOAD_TIMEOUT_MS):
            view.show_side_by_side(str(source), str(artifact))
        left, right = view.panes
        qtbot.waitUntil(lambda: left.colors_applied is not None and right.colors_applied is not None, timeout=10_000)
        assert left.colors_applied == {"colored": 5, "missing": []}
        assert right.colors_applied == {"colored": 5, "missing": []}
        fill = run_js(qtbot, right.page, "window.studioLayers.colorOf('node_add1')")
        assert fill == "rgb({}, {}, {})".format(*(int(layers_data.error_color(14.0)[i:i + 2], 16) for i in (1, 3, 5)))
        grey = run_js(qtbot, left.page, "window.studioLayers.colorOf('conv1')")    # inside the fused chain
        assert grey == "rgb(140, 140, 140)"
        assert run_js(qtbot, left.page, "!!document.getElementById('studio-legend')") is True

        view.select_nodes({str(source): "pool", str(artifact): "a1"})    # a tensor name: its producer
        qtbot.waitUntil(lambda: left.selection_found is not None and right.selection_found is not None,
                        timeout=10_000)
        assert left.selection_found and right.selection_found
        assert json.loads(run_js(qtbot, left.page, "JSON.stringify(window.studioLayers.selected())")) == ["pool"]
        assert json.loads(run_js(qtbot, right.page, "JSON.stringify(window.studioLayers.selected())")) == \
            ["node_add1"]
        view.select_nodes({str(source): "no_such_node"})
        qtbot.waitUntil(lambda: left.selection_found is not None, timeout=10_000)
        assert left.selection_found is False
        allowed = [QUrl(url).host() for url, ok in view.requests if ok]     # the legend and colours fetch nothing
        assert allowed and set(allowed) == {"127.0.0.1"}
    finally:
        view.close()
        view.deleteLater()
        qtbot.wait(50)


# ---------------------------------------------------------------- the window, with scripted jobs


class FakeWorkers:
    def __init__(self, artifact: Path):
        self.artifact = artifact
        self.report: dict | None = None
        self.wait_in_explain = False
        self.requests: list = []

    def __call__(self, request) -> FakeRunner:
        self.requests.append(request)
        return FakeRunner(request, getattr(self, f"{request.kind}_script")(request))

    inspect_script = staticmethod(inspect_script)

    def convert_script(self, request) -> list:
        """A conversion; with --explain (the panel's "Explain failures per layer"), its artifact's layer report."""
        artifact = {"kind": "onnx", "variant": "float32", "path": str(self.artifact), "bytes": 2048}
        explained = [LayersExplained(layers=self.report)] if request.options.explain and self.report else []
        return [JobStarted(kind="convert", source=request.source, plan=["onnx"]), ArtifactWritten(artifact=artifact),
                *explained,
                Converted(report_path=f"{request.out_dir}/report.json", out_dir=request.out_dir, passed=True),
                Finished(exit_code=0)]

    def explain_script(self, request) -> list:
        name = Path(request.artifacts[0]).name
        return [JobStarted(kind="explain", source=request.source, plan=[name]), StageStarted(name="load source"),
                Progress(fraction=0.3, message="load source"), StageFinished(name="load source", seconds=0.5),
                StageStarted(name=f"explain {name}"), *([WAIT] if self.wait_in_explain else []),
                LayersExplained(layers=self.report), StageFinished(name=f"explain {name}", seconds=1.0),
                Finished(exit_code=1)]


@pytest.fixture
def window_with(qtbot, qapp, tmp_path, gui):
    """make(workers) -> the real main window, its jobs played by `workers`."""
    from studio.gui.app import configure_app
    from studio.gui.main_window import MainWindow
    from studio.gui.settings import Settings

    made = []

    def make(workers):
        configure_app(qapp)
        Settings().q.clear()
        window = MainWindow(make_runner=workers)
        window.confirm_quit = False
        qtbot.addWidget(window)
        window.resize(1280, 800)
        window.show()
        (tmp_path / "out").mkdir(exist_ok=True)
        window.convert_panel.output.setText(str(tmp_path / "out"))
        made.append(window)
        return window

    yield make
    gui.close_message_boxes()
    for window in made:
        window.close()


def converted(qtbot, gui, win, source: Path):
    """Open the source, run the (fake) conversion, select its artifact in the Models list."""
    state = gui.open_and_inspect(qtbot, win, source)
    assert not win.explain_action.isEnabled()             # nothing to explain yet
    job = win.convert()
    gui.wait_job(qtbot, job, timeout=10_000)
    assert job.state == DONE, job.error
    source_item = win.sidebar.topLevelItem(0)
    win.sidebar.setCurrentItem(source_item.child(0))
    return state


def test_explain_job_fills_the_layers_tab_and_the_graphs_follow_the_rows(window_with, qtbot, gui, models, tmp_path):
    source, artifact = models
    workers = FakeWorkers(artifact)
    workers.report = make_report(source, artifact)
    win = window_with(workers)
    state = converted(qtbot, gui, win, source)
    win.workspace.set_compare_inputs({"inputs_path": None, "seed": 7})
    assert win.explain_action.isEnabled() and win.layers_view.explain_button.isEnabled()
    assert not win.export_layers_action.isEnabled()

    win.layers_view.explain_button.click()
    [job] = [j for j in win.jobs.jobs if j.kind == "explain"]
    request = job.request
    assert isinstance(request, ExplainRequest) and request.artifacts == [str(artifact)]
    assert request.source == state.source.to_dict()
    assert request.options.seed == 7 and request.options.variant == "float32"
    assert win.tabs.currentIndex() == win.TAB_LAYERS
    assert win.jobs_panel.row_of(job) is not None
    gui.wait_job(qtbot, job, timeout=10_000)
    assert job.state == DONE and job.layers == [workers.report]

    view = win.layers_view
    assert view.report is workers.report and shown_indexes(view) == [0, 1, 2, 3, 4]
    assert view.selected_row()["index"] == 2
    assert view.artifact_combo.currentData() == str(artifact)
    assert not view.busy_label.isVisible()
    assert win.export_layers_action.isEnabled() and view.export_button.isEnabled()
    log = win.log_view.toPlainText()
    assert f"[{job.id}] ▶ load source" in log
    assert f"[{job.id}] layers_float32.onnx: first divergent layer #2 add1 (Add, 14× its tolerance)" in log
    assert win.graph_view.parent() is view.graph_holder          # the graphs sit under the table here

    # the graphs are coloured by the report and follow the selected row, in both panes
    left, right = win.graph_view.panes
    assert (left.model_path, right.model_path) == (str(source), str(artifact))
    assert left.error_colors["add1"][0] == layers_data.error_color(14.0)
    assert right.error_colors["node_add1"][0] == layers_data.error_color(14.0)
    assert (left.selected_node, right.selected_node) == ("add1", "node_add1")
    cell = view.table.visualRect(view.proxy.index(3, Column.LAYER)).center()
    QTest.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, cell)
    assert view.selected_row()["index"] == 3
    assert (left.selected_node, right.selected_node) == ("pool", "node_pool")
    with qtbot.waitSignal(win.graph_view.loaded, timeout=LOAD_TIMEOUT_MS, raising=False):
        pass
    qtbot.waitUntil(lambda: left.state == "graph" and right.state == "graph", timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(lambda: left.selection_found is not None and right.selection_found is not None,
                    timeout=10_000)
    assert json.loads(run_js(qtbot, right.page, "JSON.stringify(window.studioLayers.selected())")) == ["node_pool"]
    assert json.loads(run_js(qtbot, left.page, "JSON.stringify(window.studioLayers.selected())")) == ["pool"]

    # the Model Explorer export: one file per graph, one result per paired row, keyed by each graph's node names
    written = win.explainer.export_model_explorer(str(tmp_path / "me"))
    assert [p.name for p in written] == ["layers.onnx.vs_layers_float32.node_data.json",
                                         "layers_float32.onnx.node_data.json"]
    source_data, artifact_data = (json.loads(p.read_text()) for p in written)
    paired = workers.report["rows"]
    assert set(source_data["results"]) == {row["reference_node"] for row in paired}
    assert set(artifact_data["results"]) == {row["candidate_node"] for row in paired}
    assert artifact_data["results"]["node_add1"]["value"] == pytest.approx(14.0)
    for node_data in (source_data, artifact_data):
        assert len(node_data["results"]) == len(paired)
        values = [t["value"] for t in node_data["thresholds"]]
        assert values == sorted(values) and all(t["bgColor"] for t in node_data["thresholds"])
        assert max(values) >= max(r["value"] for r in node_data["results"].values())

    # back on the Graph tab, the panes return beside the summary, still coloured
    win.show_tab(win.TAB_GRAPH)
    assert win.graph_view.parent() is win.graph_split
    assert left.error_colors is not None

    # the source alone: no pair, no colours, a hint in the tab
    win.sidebar.setCurrentItem(win.sidebar.topLevelItem(0))
    assert view.report is None and "Choose one of layers.onnx" in view.placeholder.text()
    assert str(source) not in win.graph_view.error_colors
    assert not win.explain_action.isEnabled()


def test_layers_tab_fits_1280x800_with_every_dock_open(window_with, qtbot, gui, models):
    """The smallest window the layout is checked at: the tab needs no scrolling, the docks keep their widths while
    a job runs and after, and the layer's name, error bar and verdict are in view without scrolling sideways."""
    source, artifact = models
    workers = FakeWorkers(artifact)
    workers.report = make_report(source, artifact)
    win = window_with(workers)
    converted(qtbot, gui, win, source)
    widths = (win.models_dock.width(), win.convert_dock.width())
    job = win.explainer.explain()
    gui.wait_job(qtbot, job, timeout=10_000)
    qtbot.wait(100)
    assert (win.width(), win.height()) == (1280, 800)
    assert (win.models_dock.width(), win.convert_dock.width()) == widths
    scroll, table = win.layers_scroll, win.layers_view.table
    assert scroll.horizontalScrollBar().maximum() == 0 and scroll.verticalScrollBar().maximum() == 0
    header = table.horizontalHeader()
    for column in (Column.INDEX, Column.LAYER, Column.ERROR, Column.VERDICT):
        right = header.sectionViewportPosition(column) + header.sectionSize(column)
        assert right <= table.viewport().width(), Column.TITLES[column]
    assert header.sectionSize(Column.LAYER) >= Column.LAYER_MIN
    assert win.layers_view.explain_button.isVisible() and win.layers_view.export_button.isVisible()


def test_cancelling_an_explain_job_leaves_no_report(window_with, qtbot, gui, models):
    source, artifact = models
    workers = FakeWorkers(artifact)
    workers.report = make_report(source, artifact)
    workers.wait_in_explain = True
    win = window_with(workers)
    converted(qtbot, gui, win, source)
    job = win.explainer.explain()
    qtbot.waitUntil(lambda: job.stage == f"explain {artifact.name}", timeout=10_000)
    assert win.layers_view.busy_label.isVisible() and "Explaining" in win.layers_view.placeholder.text()
    assert not win.explain_action.isEnabled()            # one job per pair at a time
    assert win.explainer.explain() is job
    with qtbot.waitSignal(win.jobs.job_finished, timeout=10_000):
        win.cancel_action.trigger()
    assert job.state == CANCELLED and not job.layers
    assert win.layers_view.report is None and not win.layers_view.busy_label.isVisible()
    assert win.explain_action.isEnabled()
    assert not gui.message_boxes()


def test_a_conversion_with_explain_fills_the_layers_tab(window_with, qtbot, gui, models):
    """convert --explain (the panel's "Explain failures per layer"): the convert job's own per-layer report is the
    artifact's, kept by the workspace and shown in the Layers tab without an explain job."""
    source, artifact = models
    workers = FakeWorkers(artifact)
    workers.report = make_report(source, artifact)
    win = window_with(workers)
    state = gui.open_and_inspect(qtbot, win, source)
    win.convert_panel.explain.setChecked(True)
    job = win.convert()
    assert job.request.options.explain
    gui.wait_job(qtbot, job, timeout=10_000)
    assert job.state == DONE and job.layers == [workers.report]
    assert state.layers == {str(artifact): workers.report}
    assert f"[{job.id}] layers_float32.onnx: first divergent layer #2 add1" in win.log_view.toPlainText()

    win.sidebar.setCurrentItem(win.sidebar.topLevelItem(0).child(0))
    view = win.layers_view
    assert view.report is workers.report and view.selected_row()["index"] == 2
    assert not [j for j in win.jobs.jobs if j.kind == "explain"]
    assert win.export_layers_action.isEnabled()

    win.opener.close_source(state.key)                 # the report goes with its source
    assert view.report is None and not win.workspace.sources


def test_the_table_writes_numbers_and_shapes_as_the_compare_tab_and_the_cli(view, models):
    from studio.compare import format_cosine, format_number, format_snr

    report = make_report(*models)
    view.show_report(report)
    row = layers_data.row_by_index(report)[2]
    proxy = view.proxy
    assert proxy.index(2, Column.MAX_ABS).data() == format_number(row["max_abs"])
    assert proxy.index(2, Column.COSINE).data() == format_cosine(row["cosine"])
    assert proxy.index(2, Column.SNR).data() == format_snr(row["snr_db"])
    assert shape_cell([1, 4, 8, 8]) == "1×4×8×8" and shape_cell([None, 4]) == "?×4"
    assert shape_cell(None) == "unknown" and shape_cell([]) == "[]"       # not known at all vs a scalar


# ---------------------------------------------------------------- for real: the worker explains a tiny model


def _worker_tmp(monkeypatch, tmp_path) -> Path:
    """A temp folder of the workers' own (they inherit TMPDIR): what a job leaves there is its own."""
    folder = tmp_path / "worker_tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _explain_scratch(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("studio-explain-*"))


def _converted_for_real(qtbot, gui, window, tiny_model):
    gui.open_and_inspect(qtbot, window, tiny_model)
    window.convert_panel.set_targets(["tflite"], ["float32"])
    window.convert_action.trigger()
    [job] = [j for j in window.jobs.jobs if j.kind == "convert"]
    gui.wait_job(qtbot, job)
    assert job.state == DONE, job.error
    source_item = window.sidebar.topLevelItem(0)
    window.sidebar.setCurrentItem(source_item.child(0))
    return source_item.child(0).data(0, Qt.ItemDataRole.UserRole + 1)


def test_real_explain_job_of_a_converted_tiny_model(window, qtbot, gui, tiny_model, tmp_path, monkeypatch):
    """Convert a tiny CNN to TFLite, explain it through the real worker: the Layers tab fills, every layer passes,
    both Netron graphs find every node the report names, a clicked row is selected in both, and the Model
    Explorer export has one result per compared node."""
    artifact = _converted_for_real(qtbot, gui, window, tiny_model)
    worker_tmp = _worker_tmp(monkeypatch, tmp_path)
    assert window.explain_action.isEnabled()
    window.explain_action.trigger()
    [job] = [j for j in window.jobs.jobs if j.kind == "explain"]
    assert job.request.artifacts == [artifact["path"]]
    state = window.current_state()
    assert job.request.options.input_shapes == state.input_shapes      # as the conversion was made
    assert job.request.options.seed == window.workspace.seed
    gui.wait_job(qtbot, job)
    assert job.state == DONE, job.error
    assert not gui.message_boxes()
    [report] = job.layers

    view = window.layers_view
    assert view.report is report and window.tabs.currentIndex() == window.TAB_LAYERS
    rows = report["rows"]
    assert len(rows) >= 3 and shown_indexes(view) == sorted(int(r["index"]) for r in rows)
    assert report["first_divergent"] is None and all(r["passed"] for r in rows)
    assert "No divergent layer" in view.summary_label.text()
    assert view.selected_row() is not None
    assert _explain_scratch(worker_tmp) == []            # the job's scratch folder and logs are gone

    left, right = window.graph_view.panes
    assert (left.model_path, right.model_path) == (str(tiny_model), artifact["path"])
    qtbot.waitUntil(lambda: left.colors_applied is not None and right.colors_applied is not None,
                    timeout=LOAD_TIMEOUT_MS)
    assert left.colors_applied["missing"] == [] and left.colors_applied["colored"] >= 3    # FX names in the .pt2
    assert right.colors_applied["missing"] == [] and right.colors_applied["colored"] >= 3  # TFLite tensor names

    view.select_index(int(rows[-1]["index"]))
    qtbot.waitUntil(lambda: left.selection_found is not None and right.selection_found is not None,
                    timeout=10_000)
    assert left.selection_found and right.selection_found
    assert left.selected_node == rows[-1]["reference_node"]

    written = window.explainer.export_model_explorer(str(tmp_path / "me"))
    source_data, artifact_data = (json.loads(p.read_text()) for p in written)
    assert len(source_data["results"]) == len({r["reference_node"] for r in rows})
    assert len(artifact_data["results"]) == len({r["candidate_node"] for r in rows})


def test_cancelling_a_real_explain_job_leaves_nothing_behind(window, qtbot, gui, tiny_model, tmp_path, monkeypatch):
    _converted_for_real(qtbot, gui, window, tiny_model)
    worker_tmp = _worker_tmp(monkeypatch, tmp_path)
    job = window.explainer.explain()
    qtbot.waitUntil(lambda: job.runner is not None and job.stage != "" or job.finished, timeout=120_000)  # at work
    assert not job.finished
    scratch = Path(job.runner.request.staging_dir)   # the runner made it; the ONNX and TFLite would go here
    assert scratch.is_dir()
    window.jobs.cancel(job)
    gui.wait_job(qtbot, job, timeout=30_000)
    assert job.state == CANCELLED and window.layers_view.report is None
    assert not scratch.exists() and _explain_scratch(worker_tmp) == []

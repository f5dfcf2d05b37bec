"""DiffView, plots and SummaryView with real numpy outputs and real comparison results (studio.compare)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.compare import compare_outputs, tolerance_for
from studio.gui.diff_tables import FIRST_METRIC_COLUMN, VERDICT_COLUMN
from studio.gui.diff_view import DiffView
from studio.gui.plots import error_histogram, image_planes, looks_like_class_scores, subsample
from studio.gui.summary_view import IO_LAYOUT, IO_SHAPE, SummaryView, human_count

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

pytestmark = pytest.mark.gui


def _comparison(folder: Path, tag: str, reference: dict, candidate: dict, variant: str, kind: str) -> dict:
    """A COMPARISON event as the worker sends it, with the outputs saved as .npy samples."""
    result = compare_outputs(reference, candidate, tolerance_for(variant), reference_label="source (onnx)",
                             candidate_label=f"/out/model_{tag}.{kind}", variant=variant)
    comparison = result.to_dict() | {"kind": kind, "samples": {}}
    for output in comparison["outputs"]:
        ref_path, cand_path = folder / f"{tag}_{output['name']}_ref.npy", folder / f"{tag}_{output['name']}_cand.npy"
        np.save(ref_path, reference[output["name"]])
        np.save(cand_path, candidate[output["candidate_name"]])
        comparison["samples"][output["name"]] = {"reference": str(ref_path), "candidate": str(cand_path)}
    return comparison


@pytest.fixture
def outputs(tmp_path):
    """An image-like [1,3,16,16] and a class-score [1,10] output; a float32 ONNX that passes and a float16
    TFLite (NHWC, renamed outputs, noise 0.05) that fails."""
    rng = np.random.default_rng(0)
    reference = {"image": rng.normal(size=(1, 3, 16, 16)).astype(np.float32),
                 "logits": (3 * rng.normal(size=(1, 10))).astype(np.float32)}
    close = {name: (a + rng.uniform(-1e-6, 1e-6, a.shape)).astype(np.float32) for name, a in reference.items()}
    noisy_image = reference["image"] + rng.normal(scale=0.05, size=(1, 3, 16, 16))
    noisy_logits = reference["logits"] + rng.normal(scale=0.05, size=(1, 10))
    tflite = {"Identity": noisy_image.transpose(0, 2, 3, 1).astype(np.float32),
              "Identity_1": noisy_logits.astype(np.float32)}
    comparisons = [_comparison(tmp_path, "onnx", reference, close, "float32", "onnx"),
                   _comparison(tmp_path, "float16", reference, tflite, "float16", "tflite")]
    aligned = {"image": noisy_image, "logits": noisy_logits}
    return reference, aligned, comparisons


@pytest.fixture
def diff_view(qtbot):
    view = DiffView()
    qtbot.addWidget(view)
    view.resize(1400, 950)
    view.show()
    return view


def cell_texts(table, column: int) -> list[str]:
    return [table.item(row, column).text() for row in range(table.rowCount())]


def test_tables_list_every_artifact_with_coloured_verdicts(diff_view, outputs):
    _, _, comparisons = outputs
    assert comparisons[0]["passed"] and not comparisons[1]["passed"]
    for comparison in comparisons:
        diff_view.add_comparison(comparison)
    assert diff_view.comparisons == comparisons
    assert set(diff_view.tables) == {"image", "logits"}
    image_table = diff_view.tables["image"]
    assert cell_texts(image_table, 0) == ["model_onnx.onnx", "model_float16.tflite"]
    assert cell_texts(image_table, VERDICT_COLUMN) == ["PASS", "FAIL"]
    colours = {image_table.item(row, VERDICT_COLUMN).foreground().color().name() for row in range(2)}
    assert len(colours) == 2
    assert image_table.item(0, FIRST_METRIC_COLUMN).text() == f"{comparisons[0]['outputs'][0]['max_abs']:.2e}"
    assert "elements exceed" in image_table.item(1, VERDICT_COLUMN).toolTip()
    reasons = diff_view.results.reason_labels["image"].text()
    assert "model_float16.tflite" in reasons and "elements exceed" in reasons and "model_onnx" not in reasons
    tolerances = diff_view.tolerance_label.text()
    assert "float32: |a-ref| &lt;= 0.0001 + 0.001*|ref|" in tolerances and "float16: |a-ref|" in tolerances
    assert "1 of 2 artifacts pass" in diff_view.summary_label.text()

    diff_view.artifact_combo.setCurrentIndex(2)            # just the TFLite artifact
    assert cell_texts(diff_view.tables["logits"], 0) == ["model_float16.tflite"]
    diff_view.set_tolerance_text("custom: cosine >= 0.5")
    assert "custom: cosine &gt;= 0.5" in diff_view.tolerance_label.text()


def test_plots_show_the_selected_pair(qtbot, diff_view, outputs):
    reference, aligned, comparisons = outputs
    for comparison in comparisons:
        diff_view.add_comparison(comparison)
    panel = diff_view.plot_panel
    assert diff_view.selected == (1, "image")             # the first failing pair is shown by default

    x, y = panel.scatter.scatter_item.getData()
    assert len(x) == reference["image"].size
    np.testing.assert_allclose(np.sort(x), np.sort(reference["image"].ravel()), rtol=1e-6)
    assert panel.histogram.counts.sum() == reference["image"].size
    expected = np.abs(aligned["image"].astype(np.float32).astype(np.float64) - reference["image"])[0, 0]
    np.testing.assert_allclose(panel.heatmaps.diff_item.image, expected, rtol=1e-6, atol=1e-7)
    assert panel.detail.currentWidget() is panel.heatmaps

    diff_view.select(1, "logits")
    assert panel.detail.currentWidget() is panel.topk
    ref_order = np.argsort(-reference["logits"][0])[:5].tolist()
    cand_order = np.argsort(-aligned["logits"].astype(np.float32)[0])[:5].tolist()
    assert [c for c, _ in panel.topk.reference_top] == ref_order
    assert [c for c, _ in panel.topk.candidate_top] == cand_order
    assert panel.topk.table.item(0, 1).text() == str(ref_order[0])

    diff_view.select(1, "image")
    qtbot.wait(50)                                          # let the layouts settle before the screenshot
    diff_view.grab().save("/tmp/compare.png")


def test_changing_inputs_asks_for_a_rerun(qtbot, diff_view, tmp_path):
    with qtbot.waitSignal(diff_view.inputs_changed, timeout=1000) as blocker:
        diff_view.inputs_bar.seed_spin.setValue(7)
    assert blocker.args == [{"inputs_path": None, "seed": 7}]

    inputs = tmp_path / "inputs.npy"
    np.save(inputs, np.zeros((1, 3, 16, 16), np.float32))
    with qtbot.waitSignal(diff_view.inputs_changed, timeout=1000) as blocker:
        diff_view.use_inputs_file(str(inputs))
    assert blocker.args == [{"inputs_path": str(inputs), "seed": 7}]

    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(diff_view.inputs_changed, timeout=1000) as blocker:
        diff_view.dropEvent(drop)
    assert blocker.args == [{"inputs_path": str(image), "seed": 7}]

    with qtbot.waitSignal(diff_view.inputs_changed, timeout=1000) as blocker:
        diff_view.use_random_inputs()
    assert blocker.args == [{"inputs_path": None, "seed": 7}]
    with qtbot.assertNotEmitted(diff_view.inputs_changed):
        diff_view.set_inputs(None, 3)                       # showing what ran is not a request
    assert diff_view.inputs == {"inputs_path": None, "seed": 3}


def test_exports_html_with_plots_and_json_that_round_trips(diff_view, outputs, tmp_path):
    _, _, comparisons = outputs
    for comparison in comparisons:
        diff_view.add_comparison(comparison)
    failed = dict(comparisons[1], candidate="/out/model_int8.tflite", variant="int8", outputs=[], passed=False,
                  error="not verified: needs the Flex delegate for FlexErf", samples={})
    diff_view.add_comparison(failed)

    html_path, json_path = tmp_path / "report.html", tmp_path / "report.json"
    diff_view.export_html(html_path)
    html = html_path.read_text()
    assert html.count("<img") == 4 and "data:image/png;base64," in html
    assert "PASS" in html and "FAIL" in html and "FlexErf" in html
    assert "|a-ref| &lt;= 0.01 + 0.01*|ref|" in html
    diff_view.export_json(json_path)
    assert json.loads(json_path.read_text()) == diff_view.comparisons

    diff_view.clear()
    assert diff_view.comparisons == [] and diff_view.tables == {}
    assert not diff_view.export_html_button.isEnabled()


def test_plot_data_shaping():
    rng = np.random.default_rng(1)
    big = rng.normal(size=50_000)
    x, y = subsample(big, big + 1)
    assert len(x) == 20_000 and np.allclose(y - x, 1)
    errors = np.concatenate([np.zeros(10), 10.0 ** rng.uniform(-9, -2, 990)])
    counts, edges, log_x = error_histogram(errors)
    assert log_x and counts.sum() == 1000 and edges[0] > 0
    counts, _, log_x = error_histogram(np.zeros(5))
    assert counts.sum() == 5 and not log_x
    assert image_planes(np.zeros((1, 16, 16, 3))).shape == (1, 3, 16, 16)
    assert image_planes(np.zeros((1, 3, 16, 16))).shape == (1, 3, 16, 16)
    assert image_planes(np.zeros((64, 64))) is None and looks_like_class_scores((64, 64))   # compare's rule: 2-D
    assert image_planes(np.zeros((1, 10))) is None and looks_like_class_scores((1, 10))


def test_many_qt_calls_do_not_abort_the_process(diff_view):
    """PySide6 6.12.0 on Python 3.11 drops a reference to None per void call and to True per emit();
    _pyside_workarounds.keep_singletons_alive() (applied by conftest, as ensure_app() does at app startup) absorbs
    that. Without it this test aborts the whole run."""
    for _ in range(20_000):          # more references than True starts with
        diff_view.inputs_bar.changed.emit({})
    for _ in range(60_000):          # more than None starts with
        diff_view.summary_label.setText("x")
    assert sys.getrefcount(None) > 0 and sys.getrefcount(True) > 0


def test_summary_view_shows_signature_ops_and_size(qtbot):
    view = SummaryView()
    qtbot.addWidget(view)
    view.resize(420, 700)
    view.show()
    view.set_summary({"format": "onnx", "framework": "onnx",
                      "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 3, 224, 224], "layout": "NCHW"}],
                      "outputs": [{"name": "logits", "dtype": "float32", "shape": [None, 1000], "layout": "other"}],
                      "ops": {"Conv": 52, "Relu": 35, "Add": 10, "Gemm": 1},
                      "parameters": 3_504_872, "bytes": 14_070_000})
    row = view.tensor_row("x")
    assert view.io_table.item(row, IO_SHAPE).text() == "[?, 3, 224, 224]"
    assert view.io_table.item(row, IO_LAYOUT).text() == "NCHW"
    assert view.io_table.item(view.tensor_row("logits", "out"), IO_SHAPE).text() == "[?, 1000]"
    assert [view.ops_table.item(r, 0).text() for r in range(4)] == ["Conv", "Relu", "Add", "Gemm"]
    assert view.ops_table.item(0, 1).text() == "52"
    assert view.parameters_label.text() == "3.5 M" and view.size_label.text() == "14.1 MB"
    assert human_count(999) == "999" and human_count(12_300) == "12.3 k"
    qtbot.wait(50)
    view.grab().save("/tmp/summary.png")


def test_narrow_view_scrolls_tables_sideways_inside_and_keeps_every_row(qtbot, diff_view, outputs):
    """The view's minimum width does not come from the table: the table scrolls inside itself, grows by the
    scroll bar's height so no row hides behind it, keeps the verdict in view, and writes a failed row's reason
    out in full (wrapped) under its table."""
    _, _, comparisons = outputs
    diff_view.add_comparison(comparisons[0])                 # passes: nothing to explain
    assert diff_view.results.reason_labels == {}
    assert diff_view.minimumSizeHint().width() <= 640

    diff_view.add_comparison(comparisons[1])                 # fails, with a reason
    diff_view.resize(640, 900)
    qtbot.wait(50)
    image = diff_view.tables["image"]
    assert "elements exceed" in image.item(1, VERDICT_COLUMN).toolTip()
    for name, table in diff_view.tables.items():
        assert table.horizontalScrollBar().maximum() > 0     # the columns scroll inside the table
        assert table.viewport().height() >= table.verticalHeader().length()
        verdict_right = table.columnViewportPosition(VERDICT_COLUMN) + table.columnWidth(VERDICT_COLUMN)
        assert verdict_right <= table.viewport().width()     # PASS/FAIL never cut
        bold = table.item(0, VERDICT_COLUMN).font()
        from PySide6.QtGui import QFontMetrics
        assert table.columnWidth(VERDICT_COLUMN) >= QFontMetrics(bold).horizontalAdvance("FAIL")
        label = diff_view.results.reason_labels[name]
        assert label.isVisible() and label.wordWrap() and label.width() <= table.width()
    assert diff_view.tables_scroll.verticalScrollBar().maximum() == 0   # every row and reason, no scrolling
    assert diff_view.width() == 640


def test_one_artifact_shown_keeps_the_overall_verdict(qtbot, diff_view, outputs):
    """Narrowed to one (passing) artifact, "Show" names it, its table holds its row, and the header still says
    that another artifact failed."""
    _, _, comparisons = outputs
    for comparison in comparisons:
        diff_view.add_comparison(comparison)
    onnx = comparisons[0]["candidate"]
    diff_view.show_artifact(onnx)
    assert diff_view.shown_artifact == onnx
    assert diff_view.artifact_combo.currentText().startswith("model_onnx.onnx")
    assert cell_texts(diff_view.tables["image"], 0) == ["model_onnx.onnx"]
    summary = diff_view.summary_label.text()
    assert "FAIL" in summary and "1 of 2 artifacts pass" in summary and "model_float16.tflite" in summary
    assert diff_view.selected[0] == 0                          # the plots follow the shown artifact

    diff_view.add_comparison(dict(comparisons[1], candidate="/out/model_int8.tflite", variant="int8"))
    assert diff_view.shown_artifact == onnx                    # a new result does not change what is shown
    assert cell_texts(diff_view.tables["image"], 0) == ["model_onnx.onnx"]
    diff_view.artifact_combo.setCurrentIndex(0)
    assert diff_view.shown_artifact is None and diff_view.tables["image"].rowCount() == 3
    assert diff_view.artifact_combo.currentText() == "All artifacts (3)"

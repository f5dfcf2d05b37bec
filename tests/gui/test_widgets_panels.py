"""The Summary panel, the Models sidebar and the Jobs panel on their own: what a user sees at the sizes the
default 1280x800 window gives them (the Summary panel is ~250 px wide there)."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import subprocess
import sys

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPalette

from studio.gui.jobs_panel import JobProgressBar, readable_on
from studio.gui.sidebar import ROLE_VERDICT, Sidebar
from studio.gui.summary_view import IO_LAYOUT, IO_NAME, IO_SHAPE, IO_TYPE, SummaryView

pytestmark = pytest.mark.gui

SAMPLE = {"source": {"path": "/m/tiny_cnn.pt2"}, "format": "exported_program", "framework": "pytorch",
          "inputs": [{"name": "image", "dtype": "float32", "shape": [1, 3, 64, 64], "layout": "NCHW"}],
          "outputs": [{"name": "output_0", "dtype": "float32", "shape": [1, 10], "layout": "other"}],
          "ops": {"aten::conv2d": 152, "aten::scaled_dot_product_attention": 52, "aten::adaptive_avg_pool2d": 1,
                  "aten::relu": 3},
          "parameters": 5400, "bytes": 112_700}
TORCHSCRIPT = {"source": {"path": "/m/bert_traced.pt"}, "format": "torchscript", "framework": "pytorch",
               "inputs": [{"name": "input_ids", "dtype": "float32", "shape": [], "layout": "other"},
                          {"name": "attention_mask", "dtype": "float32", "shape": [], "layout": "other"}],
               "outputs": [], "ops": {"aten::linear": 73}, "parameters": 1000, "bytes": 4000}


def summary(qtbot, width: int, info: dict) -> SummaryView:
    view = SummaryView()
    qtbot.addWidget(view)
    view.resize(width, 600)
    view.show()
    view.set_summary(info)
    qtbot.wait(20)
    return view


def visible_columns(table) -> list[int]:
    return [c for c in range(table.columnCount()) if not table.isColumnHidden(c)]


@pytest.mark.parametrize("width", [250, 420])
def test_operator_counts_are_never_cut_and_long_names_are_elided(qtbot, width):
    view = summary(qtbot, width, SAMPLE)
    table = view.ops_table
    assert table.horizontalScrollBar().maximum() == 0          # nothing to scroll sideways to
    assert table.columnWidth(0) + table.columnWidth(1) <= table.viewport().width()
    metrics = QFontMetrics(table.font())
    for row in range(table.rowCount()):
        count = table.item(row, 1).text()
        assert table.columnWidth(1) >= metrics.horizontalAdvance(count) + 6, count   # "52" never reads "5"
        name = table.item(row, 0)
        assert name.toolTip() == name.text()                    # the full name, however it is elided
    assert table.item(1, 0).text() == "aten::scaled_dot_product_attention"


@pytest.mark.parametrize("width", [250, 420])
def test_inputs_and_outputs_show_every_row_and_column_without_scrolling(qtbot, width):
    view = summary(qtbot, width, SAMPLE)
    table = view.io_table
    assert table.viewport().height() >= table.verticalHeader().length()   # every row: not 1.5 of them
    assert sum(table.columnWidth(c) for c in visible_columns(table)) <= table.viewport().width()
    assert {IO_TYPE, IO_SHAPE, IO_LAYOUT} <= set(visible_columns(table))
    metrics = QFontMetrics(table.font())
    for role, name, shape, layout in (("in", "image", "[1, 3, 64, 64]", "NCHW"), ("out", "output_0", "[1, 10]", "other")):
        row = view.tensor_row(name, role)
        assert row >= 0
        assert (table.item(row, IO_SHAPE).text(), table.item(row, IO_LAYOUT).text()) == (shape, layout)
        for column in (IO_TYPE, IO_SHAPE, IO_LAYOUT):
            assert table.columnWidth(column) >= metrics.horizontalAdvance(table.item(row, column).text()), column
    if not table.isColumnHidden(IO_NAME):                       # wide enough: names in their column
        assert width == 420
    else:                                                       # narrow: each name on a row of its own
        assert width == 250
        names = [table.item(r, IO_TYPE).text() for r in range(table.rowCount()) if table.item(r, IO_TYPE)]
        assert "image" in names and "output_0" in names


def test_torchscript_shapes_read_unknown_not_a_scalar(qtbot):
    view = summary(qtbot, 250, TORCHSCRIPT)
    table = view.io_table
    row = view.tensor_row("input_ids")
    assert table.item(row, IO_SHAPE).text() == "unknown" and table.item(row, IO_LAYOUT).text() == "unknown"
    assert "TorchScript stores no shapes" in table.item(row, IO_SHAPE).toolTip()
    cells = [table.item(r, c).text() for r in range(table.rowCount()) for c in range(table.columnCount())
             if table.item(r, c)]
    assert "[]" not in cells and "other" not in cells
    assert view.io_note.isVisible() and "TorchScript stores no input shapes" in view.io_note.text()
    view.set_summary(SAMPLE)
    assert not view.io_note.isVisible()


def test_sidebar_marks_artifacts_with_their_verdict_whenever_it_arrives(qtbot):
    bar = Sidebar()
    qtbot.addWidget(bar)
    bar.add_source("m", "model.pt2", "/m/model.pt2")
    failing = {"candidate": "/o/model_int8.tflite", "passed": False,
               "outputs": [{"name": "logits", "passed": False, "reason": "top-1 agreement 80% < 90%"}]}
    bar.set_verdict("m", "/o/model_int8.tflite", failing)          # comparisons arrive before the artifacts
    bar.add_artifacts("m", [{"kind": "tflite", "variant": "int8", "path": "/o/model_int8.tflite"},
                            {"kind": "onnx", "variant": "float32", "path": "/o/model.onnx"}])
    source = bar.topLevelItem(0)
    int8, onnx = source.child(0), source.child(1)
    assert int8.data(0, ROLE_VERDICT) is False and not int8.icon(0).isNull()
    assert "FAIL" in int8.toolTip(0) and "top-1 agreement" in int8.toolTip(0)
    assert onnx.data(0, ROLE_VERDICT) is None
    bar.set_verdict("m", "/o/model.onnx", {"candidate": "/o/model.onnx", "passed": True, "outputs": []})
    assert onnx.data(0, ROLE_VERDICT) is True and "PASS" in onnx.toolTip(0)
    assert bar.verdict_of("/o/model.onnx") is True
    bar.set_verdict("m", "/o/model.onnx", None)                      # being compared again
    assert onnx.data(0, ROLE_VERDICT) is None


def test_from_a_second_run_on_each_runs_artifacts_sit_under_a_node_of_their_own(qtbot):
    bar = Sidebar()
    qtbot.addWidget(bar)
    bar.add_source("m", "model.pt2", "/m/model.pt2")
    bar.add_artifacts("m", [{"kind": "onnx", "variant": "float32", "path": "/o/model_converted/model.onnx"}],
                      run="converted")
    source = bar.topLevelItem(0)
    assert source.childCount() == 1 and source.child(0).text(0) == "ONNX"       # one run: no run nodes
    bar.add_artifacts("m", [{"kind": "onnx", "variant": "float32", "path": "/o/model_matrix/model.onnx"},
                            {"kind": "tflite", "variant": "int8", "path": "/o/model_matrix/model_int8.tflite"}],
                      run="matrix")
    runs = [source.child(i) for i in range(source.childCount())]
    assert [r.text(0) for r in runs] == ["converted", "matrix"]
    assert [[r.child(j).text(0) for j in range(r.childCount())] for r in runs] == [["ONNX"], ["ONNX", "TFLite int8"]]
    assert runs[1].toolTip(0).startswith("/o/model_matrix")
    assert len(bar.artifacts_of("m")) == 3
    bar.set_verdict("m", "/o/model_matrix/model_int8.tflite", {"passed": True, "outputs": []})
    assert runs[1].child(1).data(0, ROLE_VERDICT) is True
    assert bar.artifact_item("m", "/o/model_matrix/model_int8.tflite") is runs[1].child(1)


def test_a_runs_label_is_its_folder_without_the_models_name():
    from studio.gui.controllers.jobs import run_label

    assert run_label("/o/tiny_cnn_matrix", "tiny_cnn") == "matrix"
    assert run_label("/o/tiny_cnn_converted-2", "tiny_cnn") == "converted-2"
    assert run_label("/o/elsewhere", "tiny_cnn") == "elsewhere" and run_label("/o/tiny_cnn", "tiny_cnn") == "tiny_cnn"


def test_artifact_labels_name_the_kind_and_the_variant():
    from studio.gui.sidebar import artifact_label

    assert artifact_label({"kind": "tfjs", "variant": "uint8"}) == "TF.js uint8"
    assert artifact_label({"kind": "tflite", "variant": "dynamic_int8"}) == "TFLite dynamic-range int8"
    assert artifact_label({"kind": "savedmodel", "variant": "float32"}) == "SavedModel"


def dark_pixels(image, x0: int, x1: int) -> int:
    """Pixels in columns x0..x1 of the bar's middle rows darker than mid grey (text on a light groove)."""
    return sum(1 for x in range(x0, x1) for y in range(image.height() // 4, 3 * image.height() // 4)
               if QColor(image.pixel(x, y)).lightness() < 110)


def test_progress_text_reads_on_the_fill_and_on_the_empty_groove(qtbot):
    bar = JobProgressBar()
    qtbot.addWidget(bar)
    bar.resize(140, 22)
    bar.setValue(520)
    bar.show()
    qtbot.wait(20)
    image = bar.grab().toImage()
    assert bar.text() == "52%"
    fill_end = int(image.width() * 0.52)
    assert dark_pixels(image, fill_end + 2, image.width() - 2) > 10     # the "%" past the fill is visible
    for tone in ("failed", "cancelled"):
        bar.set_tone(tone)
        fill = bar.fill_color()
        assert contrast(readable_on(fill), fill) >= 4.5, tone
    palette = bar.palette()
    assert contrast(readable_on(palette.color(QPalette.ColorRole.Highlight)),
                    palette.color(QPalette.ColorRole.Highlight)) >= 4.5


def luminance(c: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_importing_the_gui_changes_no_refcounts_and_the_app_start_does():
    """The PySide6 refcount workaround is applied when the app starts, never as a side effect of an import."""
    code = ("import sys\n"
            "import studio.gui, studio.gui.plots, studio.gui.diff_view, studio.gui.summary_view, studio.gui.app\n"
            "from studio.gui._pyside_workarounds import singletons_kept_alive\n"
            "before = sys.version_info >= (3, 12) or not singletons_kept_alive()\n"
            "studio.gui.app.ensure_app()\n"
            "print(before, singletons_kept_alive())\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["True", "True"]

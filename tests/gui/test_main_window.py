"""The main window as a user drives it: drops, errors, a real conversion, the shape editor, About, settings."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QApplication

from studio.formats import SUPPORTED, Format, Source
from studio.jobs.record import DONE

pytestmark = pytest.mark.gui


def drop(widget, paths: list[Path]) -> QDropEvent:
    """What Qt delivers when files are dragged onto `widget` and released: DragEnter, then Drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    at = QPointF(40, 40)
    enter = QDragEnterEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)   # Qt delivers a Drop only to a widget that accepted the drag
    assert enter.isAccepted(), "the window refused the drag"
    event = QDropEvent(at, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    drop.keep = mime   # the events refer to it until handled
    return event


def test_drop_opens_model_and_fills_the_convert_panel(window, qtbot, tiny_model):
    event = drop(window, [tiny_model])
    assert event.isAccepted()
    qtbot.waitUntil(lambda: str(tiny_model) in window.sources, timeout=10_000)
    state = window.sources[str(tiny_model)]
    assert state.source.format is Format.EXPORTED_PROGRAM
    assert window.sidebar.current_source_key() == str(tiny_model)
    qtbot.waitUntil(lambda: state.inspect_state != "reading", timeout=120_000)
    assert state.inspect_state == "ready", state.inspect_error
    editor = window.convert_panel.shapes
    assert editor.item(0, 0).text() == "image"
    assert editor.item(0, 2).text() == "1, 3, 16, 16"
    assert window.convert_panel.convert_button.isEnabled()
    assert window.convert_action.isEnabled()
    assert window.settings.recent_files()[0] == str(tiny_model)


def test_drop_on_a_child_widget_and_several_at_once(window, qtbot, tiny_model, tmp_path, gui):
    """Anywhere on the window, several items: good ones open, the rest are reported together in one dialog."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a model")
    drop(window.log_view.viewport(), [tiny_model, notes])
    box = gui.wait_for_message_box(qtbot)
    assert "notes.txt" in box.text()
    assert str(tiny_model) in window.sources
    assert len(window.sources) == 1
    box.done(0)


def test_corrupt_file_shows_an_error_and_the_app_stays_up(window, qtbot, tmp_path, gui):
    corrupt = tmp_path / "broken.onnx"
    corrupt.write_bytes(b"\x08\x07garbage that is not a protobuf" * 20)
    drop(window.tabs, [corrupt])
    box = gui.wait_for_message_box(qtbot)
    assert "broken.onnx" in box.text()
    assert "Traceback" not in box.text()
    assert SUPPORTED in box.informativeText()      # names what is supported
    assert "\n" not in box.text()                   # a one-line cause
    box.button(box.StandardButton.Close).click()
    qtbot.waitUntil(lambda: not gui.message_boxes(), timeout=5_000)
    assert window.isVisible() and not window.sources
    # still fully usable afterwards
    folder = tmp_path / "not_a_savedmodel"
    folder.mkdir()
    window.open_paths([str(folder)])
    box = gui.wait_for_message_box(qtbot)
    assert "not a SavedModel" in box.text()
    box.done(0)


def test_convert_to_tflite_fills_compare_with_pass(window, qtbot, tiny_model, tmp_path, gui):
    state = gui.open_and_inspect(qtbot, window, tiny_model)
    window.convert_panel.set_targets(["tflite"], ["float32"])
    assert window.convert_action.isEnabled()
    window.convert_action.trigger()
    [job] = [j for j in window.jobs.jobs if j.kind == "convert"]
    request = job.request
    assert request.options.targets == ["tflite"] and request.options.variants == ["float32"]
    assert Path(request.out_dir) == tmp_path / "out" / "tiny_gui_converted"
    gui.wait_job(qtbot, job)
    assert job.state == DONE, job.error
    assert not gui.message_boxes()

    comparisons = window.comparisons()
    assert comparisons and all(c["passed"] for c in comparisons)
    assert [c["passed"] for c in window.diff_view.comparisons] == [True]
    assert window.diff_view.tables, "the Compare tab shows a table per output"
    artifacts = window.sidebar.artifacts_of(state.key)
    assert [(a["kind"], a["variant"]) for a in artifacts] == [("tflite", "float32")]
    assert Path(artifacts[0]["path"]).is_file()
    assert "onnx->tf" in window.log_view.toPlainText()
    assert window.jobs_panel.row_of(job).text(1) == "done, all comparisons passed"

    # selecting the artifact: source and artifact side by side, the Compare tab narrowed to it
    source_item = window.sidebar.topLevelItem(0)
    window.sidebar.setCurrentItem(source_item.child(0))
    assert window.selection.graph_shown == (str(tiny_model), artifacts[0]["path"])
    assert len(window.comparisons()) == 1

    # a second conversion never overwrites the first
    window.sidebar.setCurrentItem(source_item)
    out_dir = window.copy_command().split("--out ")[1].split()[0]
    assert out_dir.endswith("tiny_gui_converted_2")


def test_shape_editor_marks_dynamic_dims_and_gates_convert(window, tiny_model):
    panel = window.convert_panel
    source = Source(tiny_model, Format.EXPORTED_PROGRAM)
    panel.set_source(source, [{"name": "x", "dtype": "float32", "shape": [None, 3, None, None], "layout": "NCHW"},
                              {"name": "mask", "dtype": "int64", "shape": [None, 7], "layout": "other"}])
    assert panel.shapes.item(0, 2).text() == "1, 3, ?, ?"        # dynamic batch -> 1, the rest must be given
    assert panel.shapes.item(1, 2).text() == "1, 7"
    assert not panel.convert_button.isEnabled()
    assert "x: fill the dims marked ?" in panel.problems()
    assert panel.shapes.item(0, 2).background().color().alpha() > 0  # highlighted

    panel.shapes.item(0, 2).setText("1, 3, 5, 9")
    assert "x: dim 1 is fixed to 3 by the model" not in panel.problems()
    panel.shapes.item(0, 2).setText("1, 4, 32, 32")
    assert "x: dim 1 is fixed to 3 by the model" in panel.problems()
    panel.shapes.item(0, 2).setText("2x3x32x32")
    assert panel.is_ready() and panel.convert_button.isEnabled()
    assert panel.shapes.shapes() == {"x": [2, 3, 32, 32], "mask": [1, 7]}

    panel.set_targets(["onnx", "tflite"], ["float32", "dynamic_int8"])
    panel.opset.setValue(17)
    request = panel.build_request(str(window.convert_panel.output_folder()) + "/t")
    command = panel.command_line(request.out_dir)

    # the same choices through the CLI's own parser give the same options
    from studio import cli
    from studio.options import ConvertOptions, from_args

    args = cli.build_parser().parse_args(shlex.split(command)[1:])
    assert args.source == [str(tiny_model)]
    assert from_args(args, ConvertOptions) == request.options
    assert request.options.opset == 17 and request.options.variants == ["float32", "dynamic_int8"]
    assert str(Path(args.out).resolve()) == request.out_dir

    panel.target_boxes["tflite"].setChecked(False)
    assert not panel.variants_box.isEnabled()


def test_unavailable_backend_is_shown_disabled_with_its_reason(window):
    combo = window.convert_panel.backend
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names[:4] == ["auto", "onnx2tf", "onnx2tf-plain-layernorm", "onnx2tf-tf-converter"]
    assert combo.currentData() == "auto"
    if "onnx-tf" in names:
        index = names.index("onnx-tf")
        from studio.stages.registry import backend_status

        ok, reason = backend_status()["onnx-tf"]
        assert combo.model().item(index).isEnabled() == ok
        assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == reason


def test_about_shows_versions_read_by_a_worker(window, qtbot):
    window.about_action.trigger()
    dialog = window.help.about
    assert dialog is not None and dialog.isVisible()
    assert dialog.version_of("onnx") == "reading…"
    qtbot.waitUntil(lambda: dialog.version_of("onnx") != "reading…", timeout=60_000)
    from importlib import metadata

    assert dialog.version_of("onnx") == metadata.version("onnx")
    assert dialog.version_of("torch") == metadata.version("torch")
    assert dialog.version_of("Model Conversion Studio") is None
    dialog.reject()


def test_shortcuts_and_menus(window):
    expected = {window.open_action: QKeySequence(QKeySequence.StandardKey.Open),
                window.open_folder_action: QKeySequence("Ctrl+Shift+O"),
                window.convert_action: QKeySequence("Ctrl+Return"),
                window.about_action: QKeySequence("F1"),
                window.quit_action: QKeySequence(QKeySequence.StandardKey.Quit)}
    for action, key in expected.items():
        assert key in action.shortcuts(), action.text()
    assert {QKeySequence("Esc"), QKeySequence("Ctrl+.")} <= set(window.cancel_action.shortcuts())
    for i, action in enumerate(window.tab_actions):
        assert QKeySequence(f"Ctrl+{i + 1}") in action.shortcuts()
        action.trigger()
        assert window.tabs.currentIndex() == i
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["&File", "&Convert", "&View", "&Help"]


def test_settings_remember_recent_files_targets_and_geometry(window, qtbot, tiny_model):
    window.open_paths([str(tiny_model)])
    window.convert_panel.set_targets(["onnx"], ["float16"])
    window.settings.set_targets(window.convert_panel.targets(), window.convert_panel.variants())
    window.resize(700, 560)   # within the 800x800 offscreen screen: restored as is
    window.close()

    from studio.gui.app import create_main_window

    again = create_main_window()
    qtbot.addWidget(again)
    try:
        assert again.settings.recent_files()[0] == str(tiny_model)
        assert again.recent_menu.actions()[0].text().endswith(str(tiny_model))
        assert again.convert_panel.targets() == ["onnx"]
        assert again.convert_panel.variants() == ["float16"]
        assert again.convert_panel.output_folder() == window.convert_panel.output_folder()
        assert (again.width(), again.height()) == (700, 560)
    finally:
        again.close()


def test_copy_command_puts_the_cli_line_on_the_clipboard(window, qtbot, tiny_model):
    window.open_paths([str(tiny_model)])
    line = window.copy_command()
    assert QGuiApplication.clipboard().text() == line
    assert line.startswith(f"studio convert {tiny_model} --out ")


def answer_when_shown(qtbot, object_name: str, button) -> list:
    """Click `button` on the blocking question box once it appears (it runs its own event loop)."""
    from PySide6.QtCore import QTimer

    seen = []

    def poll():
        for box in QApplication.topLevelWidgets():
            if box.objectName() == object_name and box.isVisible():
                seen.append(box.text())
                box.button(button).click()
                return
        QTimer.singleShot(20, poll)

    QTimer.singleShot(0, poll)
    return seen


def test_pickled_module_needs_explicit_consent(window, qtbot, tmp_path):
    import torch

    path = tmp_path / "whole_model.pt"
    torch.save(torch.nn.Linear(4, 2), path)
    from PySide6.QtWidgets import QMessageBox

    seen = answer_when_shown(qtbot, "studioPickleConsent", QMessageBox.StandardButton.No)
    assert window.open_paths([str(path)]) == []
    assert seen and "pickled PyTorch module" in seen[0]
    assert not window.sources

    seen = answer_when_shown(qtbot, "studioPickleConsent", QMessageBox.StandardButton.Yes)
    [state] = window.open_paths([str(path)])
    assert seen and state.source.format is Format.TORCH_PICKLE
    qtbot.waitUntil(lambda: state.inspect_state != "reading", timeout=120_000)


def test_a_model_the_worker_cannot_read_fails_with_details(window, qtbot, tmp_path, gui):
    """detect() takes it (a TorchScript-shaped zip), the worker's loader does not: one line, details on demand."""
    import zipfile

    fake = tmp_path / "fake_script.pt"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("fake_script/code/__torch__.py", "not really code")
        z.writestr("fake_script/constants.pkl", b"\x80\x02garbage")
        z.writestr("fake_script/data.pkl", b"\x80\x02garbage")
    [state] = window.open_paths([str(fake)])
    box = gui.wait_for_message_box(qtbot, timeout=120_000)
    assert state.inspect_state == "error"
    assert "\n" not in box.text() and "Traceback" not in box.text()
    assert box.detailedText()                 # the worker's traceback / output, behind "Show Details..."
    assert window.sidebar.topLevelItem(0).toolTip(0).endswith(state.inspect_error)
    assert "could not be read" in window.convert_panel.shapes.item(0, 0).text()
    box.done(0)


def five_artifact_comparisons(folder: Path) -> list[dict]:
    """COMPARISON events, with samples for the plots, of the five artifacts a default conversion of the sample
    makes (one [1, 10] class-score output): what the Compare tab shows after `scripts/screenshots`."""
    import numpy as np

    from studio.compare import compare_outputs, tolerance_for

    rng = np.random.default_rng(0)
    reference = rng.normal(size=(1, 10)).astype(np.float32)
    comparisons = []
    for name, kind, variant in [("tiny_cnn.onnx", "onnx", "float32"), ("tiny_cnn_savedmodel", "savedmodel", "float32"),
                                ("tiny_cnn_float32.tflite", "tflite", "float32"),
                                ("tiny_cnn_float16.tflite", "tflite", "float16"),
                                ("tiny_cnn_dynamic_int8.tflite", "tflite", "dynamic_int8")]:
        candidate = (reference + rng.normal(scale=1e-7, size=reference.shape)).astype(np.float32)
        result = compare_outputs({"output_0": reference}, {"output_0": candidate}, tolerance_for(variant),
                                 reference_label="source", candidate_label=f"/out/{name}", variant=variant)
        ref_path, cand_path = folder / f"{name}_ref.npy", folder / f"{name}_cand.npy"
        np.save(ref_path, reference)
        np.save(cand_path, candidate)
        comparisons.append(result.to_dict() | {"kind": kind, "samples": {
            "output_0": {"reference": str(ref_path), "candidate": str(cand_path)}}})
    return comparisons


def test_compare_tab_fits_the_default_window_with_every_dock_open(window, qtbot, tmp_path):
    """At 1400x900 with the Models, Convert and Jobs docks open, the Compare tab needs no scrolling, and the
    results table shows all five artifacts, every column and row in view."""
    window.resize(1400, 900)
    window.show_tab(1)
    for comparison in five_artifact_comparisons(tmp_path):
        window.diff_view.add_comparison(comparison)
    qtbot.wait(100)                   # layouts settle
    assert (window.width(), window.height()) == (1400, 900)
    assert all(dock.isVisible() for dock in (window.models_dock, window.convert_dock, window.jobs_dock))

    scroll, view = window.compare_scroll, window.diff_view
    assert window.tabs.currentWidget() is scroll
    assert view.minimumSizeHint().width() <= scroll.viewport().width()
    assert scroll.horizontalScrollBar().maximum() == 0 and not scroll.horizontalScrollBar().isVisible()
    assert scroll.verticalScrollBar().maximum() == 0
    assert view.width() == scroll.viewport().width()
    for button in (view.export_html_button, view.export_json_button, view.inputs_bar.rerun_button):
        right = button.mapTo(scroll.viewport(), button.rect().topRight()).x()
        assert button.isVisible() and right < scroll.viewport().width(), button.text()

    [table] = view.tables.values()
    assert table.rowCount() == 5
    assert table.horizontalScrollBar().maximum() == 0              # every column in view
    assert table.viewport().height() >= table.verticalHeader().length()   # every row in view
    assert view.splitter.widget(0).verticalScrollBar().maximum() == 0     # the tables pane does not scroll
    assert view.plot_panel.body.currentIndex() == 1 and view.plot_panel.scatter.height() >= 120

    window.resize(700, 560)           # a small window still works: the tab scrolls, the table sideways
    qtbot.wait(100)
    assert (window.width(), window.height()) == (700, 560)
    assert table.horizontalScrollBar().maximum() > 0
    assert table.viewport().height() >= table.verticalHeader().length()


def test_torchscript_inputs_take_a_typed_dtype_into_the_request_and_the_command(window, tiny_model):
    """TorchScript stores no shapes and no dtypes: the dtype cell is editable, checked, and reaches both."""
    from studio import cli

    panel = window.convert_panel
    panel.set_source(Source(tiny_model, Format.TORCHSCRIPT),
                     [{"name": "input_ids", "dtype": "float32", "shape": [], "layout": "other"}])
    assert panel.shapes.item(0, 1).flags() & Qt.ItemFlag.ItemIsEditable
    panel.shapes.item(0, 2).setText("1, 16")
    panel.shapes.item(0, 1).setText("int65")
    assert any("input_ids" in p and "int65" in p for p in panel.problems())
    panel.shapes.item(0, 1).setText("int64")
    assert panel.is_ready()
    request = panel.build_request(str(panel.output_folder()) + "/ids")
    assert request.options.input_dtypes == {"input_ids": "int64"}
    assert request.options.input_shapes == {"input_ids": [1, 16]}
    args = cli.build_parser().parse_args(shlex.split(panel.command_line(request.out_dir))[1:])
    assert args.input_shapes == ["input_ids=1,16:int64"]

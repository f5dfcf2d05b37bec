"""Every action of the main window, as data: its text, shortcuts, what it calls, when it is enabled, which menu.

A new action is one ActionSpec here (and its name in MENUS); the window gets it as `<name>_action`. A slot is a
dotted path from the window ("opener.open_dialog"), looked up when the action fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

Key = QKeySequence.StandardKey
SEPARATOR, RECENT, DOCKS = "-", "@recent", "@docks"   # in MENUS: a separator, Open Recent, the docks' toggles


@dataclass(frozen=True)
class ActionSpec:
    name: str                                   # the window's attribute: f"{name}_action"
    text: str
    slot: str                                   # dotted path from the window, called with `args`
    shortcuts: tuple = ()                       # QKeySequence.StandardKey or text ("Ctrl+Shift+O")
    enabled_when: str | None = None             # a key of ENABLED_WHEN; None: always enabled
    tip: str = ""
    args: tuple = ()


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open Model…", "opener.open_dialog", (Key.Open,), tip="Open a model file"),
    ActionSpec("open_folder", "Open &Folder…", "opener.open_folder_dialog", ("Ctrl+Shift+O",),
               tip="Open a SavedModel folder"),
    ActionSpec("close", "&Close Model", "opener.close_current", (Key.Close,), "has_source",
               tip="Close the selected model"),
    ActionSpec("quit", "&Quit", "close", (Key.Quit,)),
    ActionSpec("export_html", "Export Comparison as &HTML…", "compare.export", ("Ctrl+E",), "has_source",
               args=("html",)),
    ActionSpec("export_json", "Export Comparison as &JSON…", "compare.export", ("Ctrl+Shift+E",), "has_source",
               args=("json",)),
    ActionSpec("export_layers", "Export Layers for &Model Explorer…", "explainer.export_model_explorer", (),
               "has_layers", tip="Write the per-layer errors as Model Explorer node data (source and artifact graphs)"),
    ActionSpec("convert", "&Convert", "converter.convert", ("Ctrl+Return", "Ctrl+Enter"), "can_convert",
               tip="Convert the selected model with the Convert panel's choices"),
    ActionSpec("copy_command", "Copy &Command Line", "converter.copy_command", ("Ctrl+Shift+C",), "has_source",
               tip="Copy the equivalent `studio convert ...` command"),
    ActionSpec("explain", "E&xplain Layers", "explainer.explain", ("Ctrl+Shift+X",), "can_explain",
               tip="Find where the selected ONNX/TFLite artifact drifts from its source, layer by layer "
                   "(a background job; the Layers tab shows the result)"),
    ActionSpec("matrix", "Variant &Matrix", "matrix.run", ("Ctrl+Shift+V",), "can_matrix",
               tip="Make the SavedModel and every TFLite variant of the selected model, compare each with it and time "
                   "each in LiteRT on 1 and 2 threads (a background job; the Matrix tab shows the result)"),
    ActionSpec("cancel", "C&ancel Current Job", "job_events.cancel_current", ("Esc", "Ctrl+."), "has_job",
               tip="Cancel the running job (its worker is killed; nothing half-written is kept). "
                   "A job that has run for a while asks first."),
    ActionSpec("cancel_all", "Cancel A&ll Jobs", "job_events.cancel_all", ("Ctrl+Shift+.",), "has_job"),
    ActionSpec("clear_jobs", "C&lear Finished Jobs", "job_events.clear_finished", ("Ctrl+Shift+L",)),
    ActionSpec("workers", "&Parallel Conversions…", "job_events.choose_workers",
               tip="How many conversions run at once, each in a warm worker (kept in the settings)"),
    ActionSpec("tab_graph", "&Graph", "show_tab", ("Ctrl+1",), args=(0,)),
    ActionSpec("tab_compare", "&Compare", "show_tab", ("Ctrl+2",), args=(1,)),
    ActionSpec("tab_layers", "La&yers", "show_tab", ("Ctrl+3",), args=(2,)),
    ActionSpec("tab_matrix", "Ma&trix", "show_tab", ("Ctrl+4",), args=(3,)),
    ActionSpec("tab_log", "&Log", "show_tab", ("Ctrl+5",), args=(4,)),
    ActionSpec("focus_models", "Focus &Models", "focus_panel", ("Ctrl+Shift+M",), args=("models",)),
    ActionSpec("focus_convert", "Focus Con&vert Panel", "focus_panel", ("Ctrl+Shift+K",), args=("convert",)),
    ActionSpec("focus_jobs", "Focus &Jobs", "focus_panel", ("Ctrl+J",), args=("jobs",)),
    ActionSpec("about", "&About", "help.show_about", (Key.HelpContents, "F1")),
    ActionSpec("shortcuts", "&Keyboard Shortcuts", "help.show_shortcuts", ("Ctrl+F1",)),
)

MENUS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("&File", ("open", "open_folder", RECENT, "close", SEPARATOR, "export_html", "export_json", "export_layers",
               SEPARATOR, "quit")),
    ("&Convert", ("convert", "copy_command", "explain", "matrix", SEPARATOR, "cancel", "cancel_all", "clear_jobs",
                  "workers")),
    ("&View", ("tab_graph", "tab_compare", "tab_layers", "tab_matrix", "tab_log", SEPARATOR, "focus_models",
               "focus_convert", "focus_jobs", SEPARATOR, DOCKS)),
    ("&Help", ("shortcuts", "about")),
)

ENABLED_WHEN: dict[str, Callable[[Any], bool]] = {
    "has_job": lambda w: w.jobs.current() is not None,
    "has_source": lambda w: w.current_state() is not None,
    "can_convert": lambda w: w.convert_panel.is_ready(),
    "can_explain": lambda w: w.explainer.can_explain(),
    "can_matrix": lambda w: w.matrix.can_run(),
    "has_layers": lambda w: w.layers_view.report is not None,
}


def _call(window, spec: ActionSpec) -> None:
    reduce(getattr, spec.slot.split("."), window)(*spec.args)


def build_actions(window, specs: tuple[ActionSpec, ...] = ACTIONS) -> dict[str, QAction]:
    """A QAction per spec, added to the window (shortcuts work with the menu bar hidden) as `<name>_action`."""
    actions = {}
    for spec in specs:
        action = QAction(spec.text, window)
        if spec.shortcuts:
            action.setShortcuts([QKeySequence(s) for s in spec.shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if spec.tip:
            action.setStatusTip(spec.tip)
            action.setToolTip(spec.tip)
        action.triggered.connect(lambda _checked=False, s=spec: _call(window, s))
        window.addAction(action)
        setattr(window, f"{spec.name}_action", action)
        actions[spec.name] = action
    return actions


def build_menus(window, actions: dict[str, QAction], docks: list, menus=MENUS) -> None:
    """The menu bar from MENUS; Open Recent becomes window.recent_menu."""
    bar = window.menuBar()
    for title, entries in menus:
        menu = bar.addMenu(title)
        for entry in entries:
            if entry == SEPARATOR:
                menu.addSeparator()
            elif entry == RECENT:
                window.recent_menu = menu.addMenu("Open &Recent")
            elif entry == DOCKS:
                for dock in docks:
                    toggle = dock.toggleViewAction()
                    toggle.setText(f"{dock.windowTitle()} Panel")
                    menu.addAction(toggle)
            else:
                menu.addAction(actions[entry])


def update_actions(window, actions: dict[str, QAction], specs: tuple[ActionSpec, ...] = ACTIONS) -> None:
    """Enable each action whose rule holds now."""
    for spec in specs:
        if spec.enabled_when:
            actions[spec.name].setEnabled(bool(ENABLED_WHEN[spec.enabled_when](window)))

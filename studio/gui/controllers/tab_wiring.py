"""Wiring shared by the tabs that follow the Models list's selection and run a job of their own (Layers, Matrix)."""

from __future__ import annotations

from typing import Callable


def follow_selection(window, refresh: Callable[[], None], on_event: Callable) -> None:
    """refresh() whenever the selected source or artifact changes or a source is closed; on_event(job, event) for
    every job event (the tab shows its running job live)."""
    window.sidebar.source_selected.connect(lambda _key: refresh())
    window.sidebar.artifact_selected.connect(lambda _key, _artifact: refresh())
    window.sidebar.model().rowsRemoved.connect(lambda *_: refresh())   # a source closed
    window.jobs.job_event.connect(on_event)


def button_runs_action(button, action) -> None:
    """A tab's button is a window action in another place: it triggers it, says what it does, and is enabled
    exactly when the action is."""
    button.clicked.connect(action.trigger)
    button.setToolTip(button.toolTip() or action.statusTip())
    action.changed.connect(lambda: button.setEnabled(action.isEnabled()))
    button.setEnabled(action.isEnabled())

"""The desktop studio: a thin Qt shell over the engine. The only package that imports PySide6.

Nothing here imports torch or tensorflow: heavy work runs in worker processes (studio.jobs), supervised
from background threads (job_worker) that turn events into Qt signals.

Importing it changes no global state: the PySide6 workarounds (`_pyside_workarounds`) are applied by
`studio.gui.app.ensure_app` when the app starts.
"""

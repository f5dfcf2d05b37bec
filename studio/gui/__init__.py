"""The desktop studio: a thin Qt shell over the engine. The only package that imports PySide6.

Nothing here imports torch or tensorflow: heavy work runs in worker processes (studio.jobs), supervised
from background threads (job_worker) that turn events into Qt signals.
"""

from studio.gui.plots import keep_singletons_alive

keep_singletons_alive()   # PySide6 6.12 on Python 3.11 leaks refcounts of None/True: see plots.py

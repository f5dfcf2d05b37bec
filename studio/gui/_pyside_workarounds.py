"""Workarounds for bugs of the pinned PySide6, applied explicitly by whoever starts Qt (never on import).

`keep_singletons_alive()` is called once at app startup (`studio.gui.app.ensure_app`, before the QApplication
is made) and by the GUI tests' conftest. Importing any `studio.gui` module changes nothing.
"""

from __future__ import annotations

import ctypes
import sys

_IMMORTAL = 1 << 40


def keep_singletons_alive() -> bool:
    """Why: PySide6 6.12.0 on Python 3.11 drops a reference to None for every void method called from Python
    (label.setText, ...) and one to True for every `Signal.emit()`, as if they were immortal, which they are
    only from Python 3.12 on. A session makes tens of thousands of such calls (pyqtgraph many per redraw),
    after which the process aborts with "none_dealloc" / "bool_dealloc".

    What: give None, True and False a reference count no session can use up, which is what Python 3.12 does;
    nothing else changes. Calling it again does nothing. Returns True when the counts are (now) out of reach."""
    if sys.version_info >= (3, 12):
        return True
    for value in (None, True, False):
        if sys.getrefcount(value) < _IMMORTAL:
            ctypes.c_ssize_t.from_address(id(value)).value += _IMMORTAL
    return True


def singletons_kept_alive() -> bool:
    """Whether keep_singletons_alive() has run in this process (always True on Python 3.12+)."""
    return sys.version_info >= (3, 12) or all(sys.getrefcount(v) >= _IMMORTAL for v in (None, True, False))

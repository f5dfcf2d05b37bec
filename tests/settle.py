"""Waiting for what happens after a process is gone: a worker abandoned by its killed parent leaves the removal
of its staging folder to a remover that starts when the worker has died, so the folder goes a moment later."""

from __future__ import annotations

import time
from typing import Callable


def once_empty(listing: Callable[[], list], timeout: float = 15.0) -> list:
    """listing() as soon as it is empty, or as it is when the time is up."""
    deadline = time.monotonic() + timeout
    found = listing()
    while found and time.monotonic() < deadline:
        time.sleep(0.1)
        found = listing()
    return found

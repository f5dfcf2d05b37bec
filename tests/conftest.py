"""Shared fixtures: the tiny models are built once per session, in a subprocess-free way."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the settings the CLI and the window share: the tests' own, never the user's (studio.user_settings)
os.environ["STUDIO_SETTINGS"] = os.path.join(tempfile.mkdtemp(prefix="studio-test-settings-"), "settings.json")


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    from models import save_all

    return save_all(tmp_path_factory.mktemp("models"))


def pytest_collection_modifyitems(config, items):
    """The bundle build (minutes, ~2 GB) runs only when asked for by name (-m packaging): any other -m, such
    as "not slow", replaces pyproject's default "not packaging" and would pull it in."""
    if "packaging" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("packaging") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept

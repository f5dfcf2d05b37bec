"""Shared fixtures: the tiny models are built once per session, in a subprocess-free way."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    from models import save_all

    return save_all(tmp_path_factory.mktemp("models"))

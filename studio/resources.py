"""Where the bundled files are: resources/ in a checkout, or inside the frozen (PyInstaller) app."""

from __future__ import annotations

import sys
from pathlib import Path

SAMPLE_NAME = "tiny_cnn.pt2"


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def sample_model_path() -> Path:
    """The bundled sample the app opens when started with no model."""
    return resource_path("samples", SAMPLE_NAME)

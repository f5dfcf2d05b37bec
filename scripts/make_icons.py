"""Render resources/icons/model-conversion-studio.svg to the PNG sizes desktops ask for.

    .venv/bin/python scripts/make_icons.py      (runs offscreen; no display needed)

Writes resources/icons/model-conversion-studio-{16,22,24,32,48,64,128,256}.png, which packaging/install.sh
installs into share/icons/hicolor/{N}x{N}/apps, and model-conversion-studio.png (256 px) for the window icon.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
NAME = "model-conversion-studio"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256)


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (QImage text/fonts need it)
    svg = ICONS / f"{NAME}.svg"
    for size in SIZES:
        out = ICONS / f"{NAME}-{size}.png"
        render(svg, size, out)
        print(f"{out.relative_to(ICONS.parent.parent)}  {size}x{size}")
    render(svg, 256, ICONS / f"{NAME}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

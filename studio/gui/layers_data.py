"""The Layers tab's numbers, without Qt: error colours, bar lengths, node colours per graph, Model Explorer data.

Input is a per-layer report (studio.explain's `LayerReport.to_dict()`, as a `LayersExplained` event carries it):
rows in graph order with `error_ratio` (the layer's error over its variant's tolerance: above 1 it fails),
`reference_node` / `candidate_node` / `onnx_node` (the node names in the source, artifact and ONNX graphs),
`first_divergent`, `worst`, `growth` (row indices), `unpaired`, `paired`, `notes` and optional `samples`.
(Model Explorer's export is the engine's own: studio.explain.model_explorer_json.)

One colour scale serves the table's error bars, the Netron graphs and the legend: green far within the
tolerance, yellow just within, orange just over, red at ten times the tolerance and beyond. The scale has a
visible step at 1, so a node's colour alone says whether it passes.
"""

from __future__ import annotations

import colorsys
import math
from typing import Any, Iterable

BAR_LOW, BAR_HIGH = 1e-3, 1e3          # error ratios the bar spans (log scale); 1 (the tolerance) is its middle
GREEN_BELOW = 0.01                      # ratios up to this are fully green
RED_FROM = 10.0                         # and from this on fully red
NEUTRAL_NODE = ("#8c8c8c", "#ffffff")   # a node the report does not compare: grey, so no category colour misleads
LEGEND_TICKS = (0.01, 0.1, 1.0, 10.0)
SOURCE, ARTIFACT = "source", "artifact"
RATIO_CAP = 1e12                        # a non-finite ratio, as the engine writes one (plain JSON)


def finite_ratio(ratio: Any) -> float:
    """A row's error ratio as a float the scale can place: missing -> 0, NaN/inf -> beyond the scale."""
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(value) or value == math.inf:
        return math.inf
    return max(value, 0.0)


def error_hue(ratio: float) -> float:
    """Hue in degrees: 130 (green) at <= 0.01, down to 55 (yellow) at 1; over 1 it jumps to 32 (orange) and
    falls to 0 (red) at 10. The jump marks the tolerance."""
    ratio = finite_ratio(ratio)
    if ratio <= GREEN_BELOW:
        return 130.0
    if ratio <= 1.0:
        t = (math.log10(ratio) - math.log10(GREEN_BELOW)) / -math.log10(GREEN_BELOW)
        return 130.0 - t * 75.0
    if ratio >= RED_FROM:
        return 0.0
    return 32.0 * (1.0 - math.log10(ratio) / math.log10(RED_FROM))


def _hex(rgb: Iterable[float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def error_color(ratio: float) -> str:
    """The fill colour of a node or bar with this error ratio, as #rrggbb."""
    hue = error_hue(ratio)
    lightness = 0.40 if hue > 90 else 0.44
    return _hex(colorsys.hls_to_rgb(hue / 360.0, lightness, 0.72))


def text_color_on(fill: str) -> str:
    """Black or white, whichever reads better on `fill` (#rrggbb)."""
    r, g, b = (int(fill[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if luminance > 0.30 else "#ffffff"


def bar_fraction(ratio: float, low: float = BAR_LOW, high: float = BAR_HIGH) -> float:
    """How much of the error bar a ratio fills, on a log scale from `low` (empty) to `high` (full); the
    tolerance (1) is at (0 - log low) / (log high - log low), the middle for the default span."""
    ratio = finite_ratio(ratio)
    if ratio <= 0:
        return 0.0
    if ratio == math.inf:
        return 1.0
    span = math.log10(high) - math.log10(low)
    return max(0.0, min(1.0, (math.log10(ratio) - math.log10(low)) / span))


def legend_stops(count: int = 24) -> list[tuple[float, str]]:
    """(position 0..1, colour) along the legend's gradient, which spans LEGEND_TICKS[0] to RED_FROM * 10 on a log
    scale; the step at the tolerance is drawn sharp."""
    low, high = math.log10(LEGEND_TICKS[0]) - 0.5, math.log10(RED_FROM) + 0.5
    stops = []
    for i in range(count + 1):
        exponent = low + (high - low) * i / count
        stops.append((i / count, error_color(10 ** exponent)))
    one = (0.0 - low) / (high - low)
    stops += [(one, error_color(1.0)), (one, error_color(1.0001))]
    return sorted(stops, key=lambda stop: stop[0])


def legend_position(ratio: float) -> float:
    """Where a ratio sits along the legend's gradient (0..1)."""
    low, high = math.log10(LEGEND_TICKS[0]) - 0.5, math.log10(RED_FROM) + 0.5
    return max(0.0, min(1.0, (math.log10(max(ratio, 1e-12)) - low) / (high - low)))


def legend(scheme: str = "light") -> dict:
    """What a graph pane draws as its legend: the gradient's stops and the ticks, with their labels."""
    return {"title": "error ÷ tolerance",
            "stops": [[round(position, 4), color] for position, color in legend_stops()],
            "ticks": [[round(legend_position(t), 4), ratio_text(t)] for t in LEGEND_TICKS],
            "neutral": NEUTRAL_NODE[0], "neutral_text": "not compared", "scheme": scheme}


# ---------------------------------------------------------------- reading a report

def rows(report: dict | None) -> list[dict]:
    return list((report or {}).get("rows") or [])


def row_by_index(report: dict | None) -> dict[int, dict]:
    return {int(row["index"]): row for row in rows(report) if row.get("index") is not None}


def first_divergent(report: dict | None) -> dict | None:
    index = (report or {}).get("first_divergent")
    return None if index is None else row_by_index(report).get(int(index))


def is_int8(report: dict | None) -> bool:
    """Whether the report is of a quantised variant: then growth (SNR lost per layer) is meaningful."""
    return bool((report or {}).get("growth")) or "int8" in str((report or {}).get("variant") or "")


def ranked(report: dict | None, key: str) -> list[dict]:
    """The rows a ranking ("worst", "growth") names, in its order."""
    by_index = row_by_index(report)
    return [by_index[int(i)] for i in (report or {}).get(key) or [] if int(i) in by_index]


def node_name(row: dict, side: str, source_is_onnx: bool = False) -> str | None:
    """The node a row is drawn as in one graph: the source's own node (the ONNX node for an ONNX source), or
    the artifact's node/tensor."""
    if side == SOURCE:
        name = row.get("onnx_node") if source_is_onnx else row.get("reference_node")
        name = name or (row.get("reference_node") if source_is_onnx else None)
    else:
        name = row.get("candidate_node")
    return str(name) if name not in (None, "") else None


def node_errors(report: dict | None, side: str, source_is_onnx: bool = False) -> dict[str, float]:
    """Node name -> its error ratio in one graph; a node several rows land on gets the largest."""
    errors: dict[str, float] = {}
    for row in rows(report):
        name = node_name(row, side, source_is_onnx)
        if name is not None:
            errors[name] = max(errors.get(name, 0.0), finite_ratio(row.get("error_ratio")))
    return errors


def node_colors(report: dict | None, side: str, source_is_onnx: bool = False) -> dict[str, list]:
    """Node name -> [fill, text colour, ratio] for one graph pane (what NetronPane.set_error_colors takes)."""
    colors = {}
    for name, ratio in node_errors(report, side, source_is_onnx).items():
        fill = error_color(ratio)
        colors[name] = [fill, text_color_on(fill), ratio if math.isfinite(ratio) else RATIO_CAP]
    return colors


# ---------------------------------------------------------------- text

def ratio_text(ratio: float) -> str:
    ratio = finite_ratio(ratio)
    if ratio == math.inf:
        return "∞"
    if ratio == 0:
        return "0"
    if ratio >= 100 or ratio < 0.001:
        return f"{ratio:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{ratio:.3g}"


# max abs, cosine and SNR are written by studio.compare's format_number / format_cosine / format_snr, as the
# Compare tab and the CLI write them; a shape by studio.signature.shape_text (see layers_view.shape_cell).

def growth_text(value: Any) -> str:
    """The SNR a layer loses (int8), as the CLI's table writes it: "16.0 dB"; "-" when not computed."""
    try:
        return "-" if value is None else f"{float(value):.1f} dB"
    except (TypeError, ValueError):
        return str(value)


def percent_text(fraction: Any) -> str:
    try:
        return f"{float(fraction) * 100:.0f}%"
    except (TypeError, ValueError):
        return "?"

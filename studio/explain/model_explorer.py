"""Per-layer errors as Model Explorer node data, so the source and artifact graphs can be coloured there too.

Model Explorer's node-data format (one graph's `GraphNodeData`): {"results": {key: {"value": number}},
"thresholds": [{"value": v, "bgColor": css}, ...]}. A key is a node id or one of a node's output tensor names;
a node whose value is <= a threshold's value (the first such, in order) gets that threshold's colour, a node
above the last one gets none, so the last threshold is the largest error_ratio a report holds.

Keys, per side: the reference side uses each row's `reference_node` (the FX node name of the user's
ExportedProgram, which is the node id Model Explorer's PyTorch adapter uses; the Keras layer name; the ONNX node
name, the ONNX adapter's node id); the candidate side uses `candidate_node` (a TFLite tensor name, which Model
Explorer matches against each node's output tensor names; an ONNX node name).

The value is the row's error_ratio: under 1 passes its variant's tolerance, over 1 fails it.
"""

from __future__ import annotations

from studio.explain.layer_diff import RATIO_CAP

# green (far within the tolerance) .. red (fails it); error_ratio upper bounds
THRESHOLDS = (
    (0.1, "#1b9e3e"),     # within a tenth of the tolerance
    (0.5, "#8bc34a"),
    (1.0, "#fdd835"),     # within it
    (10.0, "#fb8c00"),    # fails it
    (RATIO_CAP, "#d32f2f"),
)
LEGEND = ("error_ratio: |a - ref| over the variant's tolerance (element tolerances), or the cosine / SNR "
          "equivalent; <= 1 passes")


def model_explorer_json(report: dict, side: str) -> dict:
    """Model Explorer node data for one side ("reference" or "candidate") of a LayerReport.to_dict()."""
    if side not in ("reference", "candidate"):
        raise ValueError(f"side must be 'reference' or 'candidate', not {side!r}")
    key = "reference_node" if side == "reference" else "candidate_node"
    results: dict[str, dict] = {}
    for row in report.get("rows", []):
        node = row.get(key)
        ratio = row.get("error_ratio")
        if not node or ratio is None:
            continue
        value = float(min(ratio, RATIO_CAP))
        if node not in results or value > results[node]["value"]:   # a node with several rows shows its worst
            results[node] = {"value": value}
    return {"results": results, "thresholds": [{"value": value, "bgColor": color} for value, color in THRESHOLDS]}

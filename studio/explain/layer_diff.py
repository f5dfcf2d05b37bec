"""Per-layer results: the output diff's metrics and verdict for every paired tensor, in ONNX graph order, the
first divergent layer, the worst layers, and (for int8 variants) where quantisation loses the most.

Pure numpy (and studio.compare): the GUI reads these types from JSON without importing a framework.

- Verdict: at graph outputs, the variant's tolerance (compare.tolerance_for), exactly as the output diff judges
  them. At intermediate tensors the same rule without top-1 (an intermediate [1, C] tensor is not class scores),
  its absolute term at least rtol times the tensor's largest magnitude (layer_tolerance).
- error_ratio: how far a row is from failing, > 1 means it fails. Element tolerances: the largest
  |a - ref| / (atol + rtol * |ref|) over the elements (allclose's own margin); cosine: (1 - cos) / (1 - min);
  SNR: 10^((min_db - snr_db) / 20); top-1: (1 - top1) / (1 - min). The largest of the checks that apply.
- First divergent: the earliest failing row whose upstream rows (its ancestors in the ONNX graph) all pass.
- growth_db: the SNR a row loses against the worst SNR of its nearest paired upstream rows (None when no paired
  row is upstream). SNRs count up to SNR_CEILING_DB, float32's own precision, so identical tensors (999 dB) do
  not make a layer look like it loses hundreds of dB.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from studio.compare import SNR_CAP_DB, Tolerance, align, alignments, compare_pair

SNR_CEILING_DB = 140.0    # ~ float32 rounding noise (24-bit mantissa); an SNR above it is "no measurable error"
RATIO_CAP = 1e12          # error_ratio of a row that cannot pass at all (NaN, a zero tolerance): still plain JSON
GROWTH_VARIANTS = ("int8", "dynamic_int8", "full_int8", "dynamic", "dynamic_range_int8")


@dataclass
class LayerRow:
    index: int                        # position in graph order (rows are listed in it)
    name: str                         # the ONNX value compared
    op: str                           # its ONNX op type, or a fused chain's ("Conv+Relu")
    reference_node: str               # FX node / Keras layer / ONNX node of the source
    candidate_node: str               # TFLite tensor / ONNX node of the artifact
    onnx_node: str                    # the ONNX node (a fused chain's first node)
    shape: list[int] | None           # None: the ONNX does not say
    max_abs: float | None = None
    mean_abs: float | None = None
    rmse: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    snr_db: float | None = None
    ref_max_abs: float | None = None
    error_ratio: float | None = None
    passed: bool = False
    growth_db: float | None = None
    weight_snr_db: float | None = None   # float16: its weights' SNR after rounding to float16 (diagnosis.py)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LayerRow":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__ if k in d})


@dataclass
class LayerReport:
    """One artifact against its source, layer by layer; to_dict() is the JSON the CLI and the GUI read."""

    reference: str
    candidate: str
    variant: str
    tolerance: Tolerance
    rows: list[LayerRow] = field(default_factory=list)
    unpaired: list[dict] = field(default_factory=list)      # {"name", "side", "reason"}
    first_divergent: int | None = None
    worst: list[int] = field(default_factory=list)
    growth: list[int] = field(default_factory=list)
    paired: dict[str, float] = field(default_factory=lambda: {"reference": 0.0, "candidate": 0.0})
    notes: list[str] = field(default_factory=list)
    samples: dict[str, dict[str, str]] = field(default_factory=dict)   # row index -> reference/candidate .npy

    @property
    def passed(self) -> bool:
        return self.first_divergent is None and all(row.passed for row in self.rows)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate, "variant": self.variant,
                "tolerance": self.tolerance.to_dict(), "rows": [row.to_dict() for row in self.rows],
                "unpaired": [dict(u) for u in self.unpaired], "first_divergent": self.first_divergent,
                "worst": list(self.worst), "growth": list(self.growth), "paired": dict(self.paired),
                "notes": list(self.notes), "samples": dict(self.samples)}

    @classmethod
    def from_dict(cls, d: dict) -> "LayerReport":
        return cls(d["reference"], d["candidate"], d.get("variant", "float32"),
                   Tolerance.from_dict(d.get("tolerance") or {}), [LayerRow.from_dict(r) for r in d.get("rows", [])],
                   [dict(u) for u in d.get("unpaired", [])], d.get("first_divergent"), list(d.get("worst", [])),
                   list(d.get("growth", [])), dict(d.get("paired") or {}), list(d.get("notes", [])),
                   dict(d.get("samples") or {}))


# ---------------------------------------------------------------- one pair


def measure(reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance, judge_top1: bool) -> dict | str:
    """Metrics, verdict and error_ratio of one pair; a string (why) when the shapes cannot be laid onto each other."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if not alignments(reference.shape, candidate.shape):
        return f"shapes differ: source {list(reference.shape)}, artifact {list(candidate.shape)}"
    ref_max = float(np.max(np.abs(reference.astype(np.float64)))) if reference.size and _finite(reference) else None
    tol = tolerance if judge_top1 else layer_tolerance(tolerance, ref_max)
    diff = compare_pair("", reference, "", candidate, tol)
    result = {"max_abs": diff.max_abs, "mean_abs": diff.mean_abs, "rmse": diff.rmse, "max_rel": diff.max_rel,
              "cosine": diff.cosine, "snr_db": diff.snr_db, "ref_max_abs": ref_max, "passed": bool(diff.passed)}
    if diff.max_abs is None:     # NaN / Inf on a side: it cannot pass
        result["error_ratio"] = RATIO_CAP
        return result
    perm = tuple(diff.permutation) if diff.permutation is not None else None
    aligned = align(candidate, reference.shape, perm)
    result["error_ratio"] = _ratio(reference, aligned, diff, tol)
    return result


def layer_tolerance(tolerance: Tolerance, ref_max: float | None) -> Tolerance:
    """The tolerance of an intermediate tensor: the variant's, with top-1 left to the graph outputs and an
    absolute term of at least rtol times the tensor's largest magnitude, so a near-zero element is judged on
    its layer's scale. Activations inside a network are not on its outputs' scale: deep in a float32 ResNet50
    (magnitude ~5) two correct kernels differ by ~1e-4 of the scale, past an absolute 1e-4 near zero, and a
    correct conversion would show a divergent layer."""
    tol = replace(tolerance, min_top1=None)
    if tol.rtol and ref_max is not None:
        tol = replace(tol, atol=max(tol.atol or 0.0, tol.rtol * ref_max))
    return tol


def _finite(array: np.ndarray) -> bool:
    return not np.issubdtype(array.dtype, np.inexact) or bool(np.all(np.isfinite(array)))


def _ratio(reference: np.ndarray, candidate: np.ndarray, diff: Any, tol: Tolerance) -> float:
    ratios = []
    if tol.checks_elements and reference.size:
        ref = reference.astype(np.float64)
        error = np.abs(candidate.astype(np.float64) - ref)
        allowed = (tol.atol or 0.0) + (tol.rtol or 0.0) * np.abs(ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(allowed > 0, error / np.where(allowed > 0, allowed, 1.0),
                             np.where(error > 0, RATIO_CAP, 0.0))
        ratios.append(float(ratio.max()))
    if tol.min_cosine is not None and diff.cosine is not None:
        ratios.append(_margin(1.0 - diff.cosine, 1.0 - tol.min_cosine))
    if tol.min_snr_db is not None and diff.snr_db is not None:
        ratios.append(10.0 ** ((tol.min_snr_db - diff.snr_db) / 20.0))
    if tol.min_top1 is not None and diff.top1 is not None:
        ratios.append(_margin(1.0 - diff.top1, 1.0 - tol.min_top1))
    value = max(ratios) if ratios else 0.0
    return float(min(value, RATIO_CAP)) if math.isfinite(value) else RATIO_CAP


def _margin(loss: float, allowed: float) -> float:
    loss = max(loss, 0.0)
    if allowed <= 0:
        return 0.0 if loss == 0 else RATIO_CAP
    return loss / allowed


# ---------------------------------------------------------------- the whole graph


def finish(report: LayerReport, graph: Any, top: int) -> None:
    """First divergent row, worst rows and growth ranking, from the rows and the ONNX graph's edges."""
    by_name = {row.name: row for row in report.rows}
    failing = {row.name for row in report.rows if not row.passed}
    tainted: dict[str, bool] = {}          # a failing row at or upstream of the value
    upstream_bad: dict[str, bool] = {}
    for name in graph.order:
        inputs = graph.edges[name]
        upstream_bad[name] = any(tainted.get(i, False) for i in inputs)
        tainted[name] = name in failing or upstream_bad[name]
    roots = [row.index for row in report.rows if not row.passed and not upstream_bad.get(row.name, False)]
    report.first_divergent = min(roots) if roots else None

    nearest: dict[str, float | None] = {}  # the worst SNR among the nearest paired rows at or upstream
    for name in graph.order:
        known = [nearest[i] for i in graph.edges[name] if nearest.get(i) is not None]
        upstream = min(known) if known else None
        row = by_name.get(name)
        if row is None:
            nearest[name] = upstream
            continue
        own = _clamped(row.snr_db)
        row.growth_db = None if upstream is None or own is None else round(upstream - own, 3)
        nearest[name] = own if own is not None else upstream
    order = sorted(report.rows, key=lambda r: (-(r.error_ratio if r.error_ratio is not None else RATIO_CAP), r.index))
    report.worst = [row.index for row in order[:top]]
    if report.variant.lower() in GROWTH_VARIANTS:
        grown = sorted((r for r in report.rows if r.growth_db is not None), key=lambda r: (-r.growth_db, r.index))
        report.growth = [row.index for row in grown[:top]]
    else:
        report.growth = []


def _clamped(snr: float | None) -> float | None:
    if snr is None:
        return None
    if snr >= SNR_CAP_DB:
        return SNR_CEILING_DB
    return min(float(snr), SNR_CEILING_DB)

"""Pairing, metrics and verdicts: does a converted model still compute what its source computes?

Pure numpy on purpose: the CLI, the worker process, the GUI and the tests all call it the same way.
Outputs are paired by name, then by order, then by shape; layout transposes (onnx2tf's NHWC outputs)
and squeezed batch dims are undone automatically. Each pair gets metrics and a verdict against a
`Tolerance` chosen per variant; `TOLERANCES_DOC` below is the text the README quotes.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

import numpy as np

from studio.errors import StudioError

TOLERANCES_DOC = """\
Default tolerances, per artifact variant (`--atol` / `--rtol` override them):

| variant                           | verdict                                                        |
|-----------------------------------|----------------------------------------------------------------|
| float32 (also onnx, savedmodel)   | every element: abs(a - ref) <= 1e-4 + 1e-3 * abs(ref)          |
| float16                           | every element: abs(a - ref) <= 1e-2 + 1e-2 * abs(ref)          |
| dynamic_int8                      | cosine >= 0.99, and top-1 agreement >= 0.9 for class scores    |
| int8                              | cosine >= 0.98, and top-1 agreement >= 0.9 for class scores    |

- The element test is numpy's `allclose` rule, with the reference (the source model) as `b`.
- `--atol X` / `--rtol X` replace the absolute / relative tolerance for every variant. On int8
  variants, which have no element test by default, giving either one adds the element test
  (the one not given counts as 0) on top of the cosine and top-1 checks.
- Class scores: a 2-D output [batch, classes] with at least 2 classes. top-1 agreement is the
  fraction of rows whose argmax agrees; top-5 (at least 5 classes) is the fraction of rows where the
  reference's top-1 class is among the candidate's 5 highest scores. top-5 is reported, not judged.
- Any NaN or Inf in either output fails it. An output that pairs with nothing fails the comparison.
- Metrics are computed in float64. max_rel = max(abs(a - ref) / max(abs(ref), eps)) with
  eps = 1e-3 * max(abs(ref)) (at least 1e-12), so elements near zero don't blow the ratio up.
- snr_db = 10 * log10(mean(ref^2) / mean((a - ref)^2)), clamped to +/-999 dB: 999 means identical
  outputs (infinite SNR), and the number stays plain JSON.
"""

FLOAT32_ATOL, FLOAT32_RTOL = 1e-4, 1e-3
FLOAT16_ATOL, FLOAT16_RTOL = 1e-2, 1e-2
SNR_CAP_DB = 999.0           # stands in for +/- infinity so reports stay plain JSON
REL_EPS_FRACTION = 1e-3      # max_rel denominator floor, as a fraction of max|ref|
TINY = 1e-12                 # floor of the floor, for all-zero references
MAX_PERMUTE_RANK = 5         # try every axis order up to this rank (5! = 120 orders)
MIN_CLASSES = 2              # a 2-D output with this many columns counts as class scores
TOP_K = 5

# Axis orders to try before the general search: undo NHWC -> NCHW first, then the reverse.
_LAYOUT_PERMUTATIONS: dict[int, list[tuple[int, ...]]] = {4: [(0, 3, 1, 2), (0, 2, 3, 1)], 3: [(0, 2, 1)]}

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Tolerance:
    """When an output passes. None switches a check off."""

    atol: float | None = FLOAT32_ATOL
    rtol: float | None = FLOAT32_RTOL
    min_cosine: float | None = None
    min_top1: float | None = None      # only judged on outputs that look like class scores
    min_snr_db: float | None = None

    @property
    def checks_elements(self) -> bool:
        return self.atol is not None or self.rtol is not None

    def describe(self) -> str:
        """One line for logs and reports, e.g. "|a-ref| <= 0.0001 + 0.001*|ref|"."""
        parts = []
        if self.checks_elements:
            parts.append(f"|a-ref| <= {self.atol or 0:g} + {self.rtol or 0:g}*|ref|")
        if self.min_cosine is not None:
            parts.append(f"cosine >= {self.min_cosine:g}")
        if self.min_top1 is not None:
            parts.append(f"top-1 >= {self.min_top1:g}")
        if self.min_snr_db is not None:
            parts.append(f"SNR >= {self.min_snr_db:g} dB")
        return ", ".join(parts) or "no checks"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Tolerance":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(FLOAT32_ATOL, FLOAT32_RTOL),
    "float16": Tolerance(FLOAT16_ATOL, FLOAT16_RTOL),
    "dynamic_int8": Tolerance(None, None, min_cosine=0.99, min_top1=0.9),
    "int8": Tolerance(None, None, min_cosine=0.98, min_top1=0.9),
}
_VARIANT_ALIASES = {"onnx": "float32", "savedmodel": "float32", "fp32": "float32", "fp16": "float16",
                    "dynamic": "dynamic_int8", "dynamic_range_int8": "dynamic_int8", "full_int8": "int8"}


def tolerance_for(variant: str, atol: float | None = None, rtol: float | None = None) -> Tolerance:
    """The documented default tolerance of a variant, with --atol / --rtol applied (see TOLERANCES_DOC)."""
    key = _VARIANT_ALIASES.get(variant.lower(), variant.lower())
    if key not in DEFAULT_TOLERANCES:
        known = ", ".join([*DEFAULT_TOLERANCES, *_VARIANT_ALIASES])
        raise StudioError(f"unknown variant {variant!r} for tolerances; known: {known}")
    for flag, value in (("--atol", atol), ("--rtol", rtol)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise StudioError(f"{flag} must be a finite number >= 0, got {value}")
    base = DEFAULT_TOLERANCES[key]
    if atol is None and rtol is None:
        return base
    if not base.checks_elements:  # int8: an explicit override adds the element test
        return replace(base, atol=atol if atol is not None else 0.0, rtol=rtol if rtol is not None else 0.0)
    return replace(base, atol=base.atol if atol is None else atol, rtol=base.rtol if rtol is None else rtol)


# ---------------------------------------------------------------- results


@dataclass
class OutputDiff:
    """How one reference output compares with its candidate. Metrics are None when not computable."""

    name: str                          # reference output name ("" for an extra candidate output)
    candidate_name: str | None         # None when nothing paired with it
    shape: list[int]                   # reference shape
    permutation: list[int] | None = None  # np.transpose axes applied to the candidate (after squeezing
                                          # size-1 dims when the ranks differ); None = no transpose
    max_abs: float | None = None
    mean_abs: float | None = None
    rmse: float | None = None
    max_rel: float | None = None
    cosine: float | None = None
    snr_db: float | None = None        # clamped to +/- SNR_CAP_DB
    top1: float | None = None          # class-score outputs only
    top5: float | None = None          # class-score outputs with >= 5 classes only
    passed: bool = False
    reason: str | None = None          # why it failed; None when it passed
    candidate_shape: list[int] | None = None
    worst_index: list[int] | None = None   # where |a - ref| is largest (reference coordinates)
    worst_reference: float | None = None
    worst_candidate: float | None = None

    @property
    def label(self) -> str:
        """The output as a table shows it: "logits", or "logits -> Identity" when the names differ."""
        if not self.name:
            return f"(none) -> {self.candidate_name}"
        if self.candidate_name in (None, self.name):
            return self.name
        return f"{self.name} -> {self.candidate_name}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "OutputDiff":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class ComparisonResult:
    """One reference model against one candidate, on the same inputs."""

    reference: str                     # labels, e.g. "source (pytorch)" and "tflite float16"
    candidate: str
    variant: str
    passed: bool
    outputs: list[OutputDiff] = field(default_factory=list)
    tolerance: Tolerance = field(default_factory=Tolerance)
    error: str | None = None           # set when the comparison could not be made at all

    @classmethod
    def failed(cls, reference: str, candidate: str, variant: str, tolerance: Tolerance, error: str) -> "ComparisonResult":
        """A comparison that could not run (e.g. the candidate's runtime failed)."""
        return cls(reference, candidate, variant, False, [], tolerance, error)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate, "variant": self.variant,
                "passed": self.passed, "outputs": [o.to_dict() for o in self.outputs],
                "tolerance": self.tolerance.to_dict(), "error": self.error}

    @classmethod
    def from_dict(cls, d: dict) -> "ComparisonResult":
        return cls(d["reference"], d["candidate"], d.get("variant", "float32"), bool(d["passed"]),
                   [OutputDiff.from_dict(o) for o in d.get("outputs", [])],
                   Tolerance.from_dict(d.get("tolerance") or {}), d.get("error"))


# ---------------------------------------------------------------- pairing


def normalize_name(name: str) -> str:
    """Name as the converters mangle it: "serving_default_input_1:0", "input.1", "input_1" -> "input1"."""
    name = re.sub(r":\d+$", "", name)
    if name.startswith("serving_default_") and len(name) > len("serving_default_"):
        name = name[len("serving_default_"):]
    return re.sub(r"[^0-9a-z]", "", name.lower())


def pair_by_name(left: Sequence[str], right: Sequence[str]) -> dict[str, str]:
    """left name -> right name: exact matches first, then normalized names where unambiguous."""
    right_names = set(right)
    pairs = {n: n for n in left if n in right_names}
    rest_left = [n for n in left if n not in pairs]
    rest_right = [n for n in right if n not in pairs]
    by_key_left, by_key_right = _group_by_normalized(rest_left), _group_by_normalized(rest_right)
    for key, names in by_key_left.items():
        if key and len(names) == 1 and len(by_key_right.get(key, [])) == 1:
            pairs[names[0]] = by_key_right[key][0]
    return {n: pairs[n] for n in left if n in pairs}


def pair_names(left: Sequence[str], right: Sequence[str],
               fits: Callable[[str, str], bool] | None = None) -> dict[str, str]:
    """left name -> right name, the one pairing rule for inputs, feeds and outputs: by name (exact, then
    normalized where unambiguous), then what is left pairs up in order, where fits(left, right) allows it
    (converters rename tensors but keep their order). Names that pair with nothing are left out."""
    pairs = pair_by_name(left, right)
    rest_right = [n for n in right if n not in set(pairs.values())]
    for left_name, right_name in zip([n for n in left if n not in pairs], rest_right):
        if fits is None or fits(left_name, right_name):
            pairs[left_name] = right_name
    return {n: pairs[n] for n in left if n in pairs}


def _group_by_normalized(names: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(normalize_name(n), []).append(n)
    return groups


def squeezed(shape: Sequence[int]) -> Shape:
    return tuple(d for d in shape if d != 1)


def permutations_onto(src: Sequence[int], dst: Sequence[int | None],
                      max_rank: int = MAX_PERMUTE_RANK) -> list[tuple[int, ...]]:
    """Axis orders p with src[p] matching dst (None in dst matches anything), identity and layout orders first.

    Orders that differ only in where size-1 axes go give the same data, so only the first is kept.
    """
    rank = len(src)
    if rank != len(dst):
        return []
    identity = tuple(range(rank))
    ordered = [identity, *_LAYOUT_PERMUTATIONS.get(rank, [])]
    if rank <= max_rank:
        ordered += list(itertools.permutations(range(rank)))
    seen: set[tuple[int, ...]] = set()
    found = []
    for perm in ordered:
        if all(want is None or src[axis] == want for axis, want in zip(perm, dst)):
            essential = tuple(axis for axis in perm if src[axis] != 1)
            if essential not in seen:
                seen.add(essential)
                found.append(perm)
    return found


def shapes_compatible(reference: Sequence[int], candidate: Sequence[int]) -> bool:
    """Same dims up to a transpose and size-1 axes: [1,16,8,8] ~ [1,8,8,16] ~ [16,8,8]."""
    return sorted(squeezed(reference)) == sorted(squeezed(candidate))


def pair_outputs(reference: dict[str, Shape], candidate: dict[str, Shape]) -> list[tuple[str | None, str | None]]:
    """(reference, candidate) name pairs: by name, then by order where shapes fit, then by shape.

    Unpaired reference outputs come back as (name, None), extra candidate outputs as (None, name).
    """
    pairs = pair_names(list(reference), list(candidate),
                       fits=lambda r, c: shapes_compatible(reference[r], candidate[c]))
    rest_ref = [n for n in reference if n not in pairs]
    rest_cand = [n for n in candidate if n not in pairs.values()]
    for ref_name in rest_ref:
        fits = [c for c in rest_cand if shapes_compatible(reference[ref_name], candidate[c])]
        exact = [c for c in fits if tuple(candidate[c]) == tuple(reference[ref_name])]
        if fits:
            pairs[ref_name] = (exact or fits)[0]
            rest_cand.remove(pairs[ref_name])
    result: list[tuple[str | None, str | None]] = [(n, pairs.get(n)) for n in reference]
    return result + [(None, c) for c in rest_cand]


def alignments(reference_shape: Shape, candidate_shape: Shape) -> list[tuple[int, ...] | None]:
    """Ways to lay a candidate onto the reference's shape (axis orders; None = as it is), best guess first."""
    if len(reference_shape) == len(candidate_shape):
        src, dst = candidate_shape, reference_shape
    else:
        src, dst = squeezed(candidate_shape), squeezed(reference_shape)
    identity = tuple(range(len(src)))
    return [None if p == identity else p for p in permutations_onto(src, dst)]


def align(candidate: np.ndarray, reference_shape: Shape, permutation: tuple[int, ...] | None) -> np.ndarray:
    """The candidate in the reference's shape: squeeze if the ranks differ, transpose, reshape."""
    array = candidate if candidate.ndim == len(reference_shape) else candidate.reshape(squeezed(candidate.shape))
    if permutation is not None:
        array = array.transpose(permutation)
    return array.reshape(reference_shape)


# ---------------------------------------------------------------- metrics


def _as_float64(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).astype(np.float64, copy=False)


def error_metrics(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """max_abs, mean_abs, rmse, max_rel, cosine, snr_db and the worst element, in float64. Same shapes, finite."""
    ref, cand = _as_float64(reference), _as_float64(candidate)
    if ref.size == 0:
        return {"max_abs": 0.0, "mean_abs": 0.0, "rmse": 0.0, "max_rel": 0.0, "cosine": 1.0, "snr_db": SNR_CAP_DB}
    diff = cand - ref
    abs_diff = np.abs(diff)
    abs_ref = np.abs(ref)
    eps = max(REL_EPS_FRACTION * float(abs_ref.max()), TINY)
    worst = np.unravel_index(int(np.argmax(abs_diff)), ref.shape)
    return {
        "max_abs": float(abs_diff.max()),
        "mean_abs": float(abs_diff.mean()),
        "rmse": float(np.sqrt(np.mean(diff * diff))),
        "max_rel": float((abs_diff / np.maximum(abs_ref, eps)).max()),
        "cosine": cosine_similarity(ref, cand),
        "snr_db": snr_db(ref, diff),
        "worst_index": [int(i) for i in worst],
        "worst_reference": float(ref[worst]),
        "worst_candidate": float(cand[worst]),
    }


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Of the flattened arrays; two all-zero arrays are identical (1.0), one all-zero array is orthogonal (0.0)."""
    a, b = _as_float64(a).ravel(), _as_float64(b).ravel()
    power_a, power_b = float(np.dot(a, a)), float(np.dot(b, b))
    if power_a == 0.0 or power_b == 0.0:
        return 1.0 if power_a == power_b else 0.0
    # sqrt(pa * pb) rather than |a| * |b|: identical arrays then give exactly 1.0
    product = power_a * power_b
    norms = math.sqrt(product) if math.isfinite(product) else math.sqrt(power_a) * math.sqrt(power_b)
    return float(np.clip(np.dot(a, b) / norms, -1.0, 1.0))


def snr_db(reference: np.ndarray, noise: np.ndarray) -> float:
    """10*log10(signal power / noise power), clamped to +/- SNR_CAP_DB so it stays plain JSON."""
    signal = float(np.mean(_as_float64(reference) ** 2))
    noise_power = float(np.mean(_as_float64(noise) ** 2))
    if noise_power == 0.0:
        return SNR_CAP_DB
    if signal == 0.0:
        return -SNR_CAP_DB
    return float(np.clip(10.0 * math.log10(signal / noise_power), -SNR_CAP_DB, SNR_CAP_DB))


def looks_like_class_scores(shape: Sequence[int]) -> bool:
    """The one rule for class scores: a 2-D [batch, classes] output with at least MIN_CLASSES columns. The verdict
    judges its top-1 agreement, and the Compare tab shows its top-k classes (studio.gui.plots)."""
    return len(shape) == 2 and shape[1] >= MIN_CLASSES


def topk_agreement(reference: np.ndarray, candidate: np.ndarray) -> tuple[float | None, float | None]:
    """(top-1, top-5) agreement over the batch rows of class scores; None where it doesn't apply.

    top-1: fraction of rows whose argmax agrees. top-5: fraction of rows where the reference's
    top-1 class is among the candidate's 5 highest scores.
    """
    if not looks_like_class_scores(reference.shape) or reference.shape[0] == 0:
        return None, None
    ref_top1 = np.argmax(reference, axis=1)
    top1 = float(np.mean(np.argmax(candidate, axis=1) == ref_top1))
    if reference.shape[1] < TOP_K:
        return top1, None
    cand_top5 = np.argpartition(-_as_float64(candidate), TOP_K - 1, axis=1)[:, :TOP_K]
    top5 = float(np.mean(np.any(cand_top5 == ref_top1[:, None], axis=1)))
    return top1, top5


# ---------------------------------------------------------------- verdicts


def _fmt_index(index: Sequence[int]) -> str:
    return "[" + ",".join(str(i) for i in index) + "]"


def tolerance_failures(reference: np.ndarray, candidate: np.ndarray, metrics: dict,
                       top1: float | None, tolerance: Tolerance) -> list[str]:
    """Why this output fails its tolerance, one phrase per failed check (empty: it passes)."""
    reasons = []
    if tolerance.checks_elements and reference.size:
        reasons += _element_failures(reference, candidate, tolerance)
    if tolerance.min_cosine is not None and metrics["cosine"] < tolerance.min_cosine:
        reasons.append(f"cosine {metrics['cosine']:.6f} < {tolerance.min_cosine:g}")
    if tolerance.min_top1 is not None and top1 is not None and top1 < tolerance.min_top1:
        reasons.append(f"top-1 agreement {top1:.3g} < {tolerance.min_top1:g}")
    if tolerance.min_snr_db is not None and metrics["snr_db"] < tolerance.min_snr_db:
        reasons.append(f"SNR {metrics['snr_db']:.3g} dB < {tolerance.min_snr_db:g} dB")
    return reasons


def _element_failures(reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance) -> list[str]:
    """np.allclose's rule, abs(a - ref) <= atol + rtol*abs(ref), with the worst offender named."""
    ref, cand = _as_float64(reference), _as_float64(candidate)
    atol, rtol = tolerance.atol or 0.0, tolerance.rtol or 0.0
    excess = np.abs(cand - ref) - (atol + rtol * np.abs(ref))
    bad = int(np.count_nonzero(excess > 0))
    if not bad:
        return []
    worst = np.unravel_index(int(np.argmax(excess)), ref.shape)
    return [f"{bad} of {ref.size} elements exceed |a-ref| <= {atol:g} + {rtol:g}*|ref| "
            f"(worst at {_fmt_index(worst)}: ref {ref[worst]:.6g}, got {cand[worst]:.6g})"]


def _non_finite_reason(array: np.ndarray, role: str) -> str | None:
    if not np.issubdtype(array.dtype, np.inexact):
        return None
    bad = ~np.isfinite(array)
    count = int(np.count_nonzero(bad))
    if not count:
        return None
    first = np.unravel_index(int(np.argmax(bad)), array.shape)
    return f"{role} has {count} NaN/Inf value(s), first at {_fmt_index(first)}"


def compare_pair(name: str, reference: np.ndarray, candidate_name: str, candidate: np.ndarray,
                 tolerance: Tolerance) -> OutputDiff:
    """Metrics and verdict for one paired output, undoing a transpose if the candidate needs one."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    diff = OutputDiff(name, candidate_name, list(reference.shape), candidate_shape=list(candidate.shape))
    options = alignments(reference.shape, candidate.shape)
    if not options:
        diff.reason = (f"shapes {list(reference.shape)} and {list(candidate.shape)} "
                       "do not match under any transpose")
        return diff
    non_finite = [r for r in (_non_finite_reason(reference, "reference"), _non_finite_reason(candidate, "candidate")) if r]
    if non_finite:
        diff.reason = "; ".join(non_finite)
        return diff
    permutation, aligned = _best_alignment(reference, candidate, options)
    metrics = error_metrics(reference, aligned)
    top1, top5 = topk_agreement(reference, aligned)
    reasons = tolerance_failures(reference, aligned, metrics, top1, tolerance)
    for key, value in metrics.items():
        setattr(diff, key, value)
    diff.permutation = list(permutation) if permutation is not None else None
    diff.top1, diff.top5 = top1, top5
    diff.passed = not reasons
    diff.reason = "; ".join(reasons) or None
    return diff


def _best_alignment(reference: np.ndarray, candidate: np.ndarray,
                    options: list[tuple[int, ...] | None]) -> tuple[tuple[int, ...] | None, np.ndarray]:
    """The axis order with the lowest max abs error; earlier options (identity, NHWC->NCHW) win ties."""
    ref = _as_float64(reference)
    best: tuple[float, tuple[int, ...] | None, np.ndarray] | None = None
    for permutation in options:
        aligned = align(candidate, reference.shape, permutation)
        error = float(np.max(np.abs(_as_float64(aligned) - ref))) if ref.size else 0.0
        if best is None or error < best[0]:
            best = (error, permutation, aligned)
        if error == 0.0:
            break
    assert best is not None
    return best[1], best[2]


def compare_outputs(reference: dict[str, np.ndarray], candidate: dict[str, np.ndarray], tolerance: Tolerance, *,
                    reference_label: str = "reference", candidate_label: str = "candidate",
                    variant: str = "float32") -> ComparisonResult:
    """Pair the outputs, measure each pair, and pass only if every output pairs and passes."""
    if not reference:
        return ComparisonResult.failed(reference_label, candidate_label, variant, tolerance,
                                       "the reference produced no outputs")
    ref_shapes = {n: tuple(np.shape(a)) for n, a in reference.items()}
    cand_shapes = {n: tuple(np.shape(a)) for n, a in candidate.items()}
    diffs = []
    for ref_name, cand_name in pair_outputs(ref_shapes, cand_shapes):
        if ref_name is None:
            diffs.append(OutputDiff("", cand_name, [], candidate_shape=list(cand_shapes[cand_name]),
                                    reason=f"extra candidate output {cand_name!r} pairs with no reference output"))
        elif cand_name is None:
            others = ", ".join(f"{n}{list(s)}" for n, s in cand_shapes.items()) or "none"
            diffs.append(OutputDiff(ref_name, None, list(ref_shapes[ref_name]),
                                    reason=f"no candidate output pairs with it (candidate outputs: {others})"))
        else:
            diffs.append(compare_pair(ref_name, reference[ref_name], cand_name, candidate[cand_name], tolerance))
    passed = all(d.passed for d in diffs)
    return ComparisonResult(reference_label, candidate_label, variant, passed, diffs, tolerance)


# ---------------------------------------------------------------- presentation


TABLE_HEADER = ["artifact", "output", "max_abs", "mean_abs", "rmse", "max_rel", "cosine", "snr", "top1", "verdict"]


def format_number(value: float | None) -> str:
    """Compact: 3 significant digits ("0.000123", "1.2e-07", "42.5"); "-" when not computed."""
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if value == 0:
        return "0"
    return f"{value:.3g}"


def format_cosine(value: float | None) -> str:
    """Cosines live near 1, so show 6 decimals: "0.999987"."""
    return "-" if value is None else f"{value:.6f}"


def format_snr(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= SNR_CAP_DB:
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g} dB"


def format_table(results: Sequence[ComparisonResult]) -> list[list[str]]:
    """Header row + one row per artifact and output, as strings for the CLI's table."""
    rows = [list(TABLE_HEADER)]
    for result in results:
        if not result.outputs:
            rows.append([result.candidate, "(error)", *["-"] * 7, "FAIL"])
        for d in result.outputs:
            rows.append([result.candidate, d.label, format_number(d.max_abs), format_number(d.mean_abs),
                         format_number(d.rmse), format_number(d.max_rel), format_cosine(d.cosine),
                         format_snr(d.snr_db), format_number(d.top1), "PASS" if d.passed else "FAIL"])
    return rows


def failure_lines(results: Sequence[ComparisonResult]) -> list[str]:
    """One line per failure, to print under the table: "tflite int8 / logits: cosine 0.95 < 0.98"."""
    lines = []
    for result in results:
        if result.error:
            lines.append(f"{result.candidate}: {result.error}")
        for d in result.outputs:
            if not d.passed:
                lines.append(f"{result.candidate} / {d.label}: {d.reason}")
    return lines

"""Where does an artifact drift from its source? Per-layer divergence through the ONNX hub.

`explain_artifact` captures the source's intermediate tensors (torch FX nodes, Keras layers, ONNX values) and
the artifact's (ONNX values, TFLite tensors) on the same inputs, pairs them through the source's ONNX export
(studio.explain.layer_map), compares every pair with the output diff's metrics and the variant's tolerance,
and names the first divergent layer, the worst layers and, for int8 variants, where quantisation loses the
most (studio.explain.layer_diff). `model_explorer_json` exports a report for Model Explorer.

Memory: the artifact runs first (LiteRT keeps its tensors, onnxruntime returns only the paired values); then
the source runs and each of its tensors is compared as soon as it is computed and dropped, so the two models'
taps are never all held at once as copies.

Importing this package is cheap (numpy only); torch, TensorFlow, onnxruntime and LiteRT load when used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from studio.artifacts import CORRESPONDENCE_SUFFIX, correspondence_name
from studio.errors import StudioError, one_line
from studio.explain.diagnosis import diagnose_float16
from studio.explain.samples import SampleKeeper
from studio.explain.layer_diff import LayerReport, LayerRow, finish, measure
from studio.explain.layer_map import OnnxGraph, SideMap, Unpaired, fits, settle_chains
from studio.explain.model_explorer import model_explorer_json
from studio.formats import Format, Source
from studio.signature import Signature

__all__ = ["explain_artifact", "LayerReport", "LayerRow", "model_explorer_json", "MIN_PAIRED"]

MIN_PAIRED = 0.5          # an artifact pairing fewer of the ONNX values than this is not from this source


def explain_artifact(source: Source, artifact: Path, *, onnx_path: Path, feeds: dict[str, np.ndarray],
                     signature: Signature, variant: str, atol: float | None = None, rtol: float | None = None,
                     model: Any = None, correspondence: Path | None = None,
                     progress: Callable[[float, str], None] = lambda f, m: None,
                     log: Callable[[str], None] = lambda m: None, top: int = 10,
                     samples_dir: Path | None = None) -> LayerReport:
    """The per-layer comparison of one artifact (ONNX or TFLite) with its source, on the given feeds.

    feeds: keyed by the source signature's input names, in the source's layout. onnx_path: the source's ONNX
    export (the source itself when it is ONNX). correspondence: onnx2tf's tensor correspondence report for a
    TFLite (default: <stem>.tensor_correspondence.json beside it, or one of the same conversion). Raises
    StudioError (one line) for an artifact not made from this source, unreadable intermediates, or inputs that
    do not fit. samples_dir: where the tensors of the first divergent and worst layers are saved (for plots).
    """
    from studio.compare import tolerance_for
    from studio.formats import detect
    from studio.inputs import check_inputs

    artifact, onnx_path = Path(artifact), Path(onnx_path)
    tolerance = tolerance_for(variant, atol, rtol)
    feeds = check_inputs(feeds, signature.inputs)
    progress(0.02, "reading the source's ONNX")
    graph = OnnxGraph.load(onnx_path, {name: tuple(np.shape(array)) for name, array in feeds.items()})
    if not graph.values:
        raise StudioError(f"{onnx_path}: the ONNX computes nothing from its inputs: nothing to explain")
    kind = detect(artifact).format
    if kind is Format.SAVEDMODEL:
        raise StudioError(f"{artifact}: per-layer comparison is not available for a SavedModel artifact "
                          f"(explain its TFLite files or the ONNX instead)")
    if kind not in (Format.ONNX, Format.TFLITE):
        raise StudioError(f"{artifact}: per-layer comparison reads ONNX and TFLite artifacts, not {kind.value}")
    notes: list[str] = []

    progress(0.05, f"pairing {artifact.name}'s tensors with the ONNX")
    candidate = _Candidate(artifact, kind, graph, correspondence, notes)
    progress(0.15, "capturing the source")
    reference = _Reference(source, model, signature, feeds, graph)
    log(f"explain {artifact.name}: the source pairs with {reference.side.fraction(graph):.0%} of the ONNX values, "
        f"the artifact with {candidate.side.fraction(graph):.0%}")

    settle_chains(graph, reference.side, candidate.side)
    planned = [v for v in graph.values if v.name in reference.side.partners and v.name in candidate.side.partners]
    by_key: dict[str, list[str]] = {}
    for value in planned:
        by_key.setdefault(reference.side.partners[value.name].key, []).append(value.name)
    progress(0.3, f"running {artifact.name}")
    candidate.run(feeds, signature, [candidate.side.partners[v.name].key for v in planned])

    results: dict[str, dict | str] = {}
    shown = [0.0]
    keeper = SampleKeeper(Path(samples_dir) if samples_dir else None, top)

    def on_tap(key: str, array: np.ndarray) -> None:
        for name in by_key.get(key, ()):
            value = graph.by_name[name]
            partner = candidate.side.partners[name]
            try:
                theirs = candidate.get(partner.key)
            except _Unreadable as exc:
                results[name] = str(exc)
                continue
            if partner.reshape is not None and theirs.size == int(np.prod(partner.reshape)):
                theirs = theirs.reshape(partner.reshape)
            results[name] = measure(array, theirs, tolerance, judge_top1=value.is_output)
            keeper.offer(name, array, theirs, results[name])
            done = len(results) / max(1, len(planned))
            if done - shown[0] >= 0.02 or done == 1.0:   # a progress event every 2%, not one per layer
                shown[0] = done
                progress(0.4 + 0.55 * done, f"compared {len(results)} of {len(planned)} layers")

    progress(0.4, "running the source layer by layer")
    reference.run(feeds, set(by_key), on_tap)
    candidate.close()
    reference.close()

    report = LayerReport(source.spec, str(artifact), variant, tolerance)
    unpaired = [*candidate.side.unpaired, *reference.side.unpaired]
    unreadable = 0
    for value in planned:
        result = results.get(value.name)
        if not isinstance(result, dict):
            why = result or "the source produced no value for it"
            unreadable += isinstance(result, str) and result.startswith(_Unreadable.PREFIX)
            unpaired.append(Unpaired(value.name, "onnx", why))
            continue
        report.rows.append(_row(len(report.rows), value, reference.side, candidate.side, graph, result))
    if not planned:
        report.notes.append("no ONNX value pairs with both the source and the artifact: nothing was compared")
    if planned and unreadable == len(planned):
        raise StudioError(f"{artifact.name}: none of its intermediate tensors can be read after a run "
                          f"(LiteRT keeps none of them): per-layer comparison is not available for it")
    report.unpaired = _merged(unpaired)
    report.paired = {"reference": round(reference.side.fraction(graph), 4),
                     "candidate": round(candidate.side.fraction(graph), 4)}
    report.notes = list(dict.fromkeys([*report.notes, *notes, *reference.notes, *reference.side.notes,
                                       *candidate.side.notes,
                                       *_coverage_notes(graph, reference.side, candidate.side, len(report.rows))]))
    finish(report, graph, top)
    diagnose_float16(report, onnx_path)
    keeper.keep_for(report)
    progress(1.0, "per-layer comparison done")
    return report


# ---------------------------------------------------------------- the two sides


class _Unreadable(StudioError):
    PREFIX = "its value cannot be read"


class _Candidate:
    """The artifact: its pairing with the ONNX hub, then one run whose tensors are read by key."""

    def __init__(self, artifact: Path, kind: Format, graph: OnnxGraph, correspondence: Path | None,
                 notes: list[str]) -> None:
        from studio.explain.layer_map import extra_tensors, pair_by_names, pair_tflite
        from studio.explain.taps import OnnxTaps, TfliteTaps

        self.artifact, self.kind = artifact, kind
        self.values: dict[str, np.ndarray] = {}
        if kind is Format.ONNX:
            self.taps: Any = OnnxTaps(artifact)
            own = self.taps.values()
            self.side = pair_by_names(graph, own, "ONNX artifact")
            extra_tensors(self.side, [n for n in own if n not in graph.by_name], "ONNX value")
            shapes = self.taps.output_shapes()
            has_report = True
        else:
            self.taps = TfliteTaps(artifact)
            path, records, note = _correspondence(artifact, self.taps, correspondence)
            if note:
                notes.append(note)
            self.side = pair_tflite(graph, self.taps.tensors, records, path.name if path else None)
            extra_tensors(self.side, self.taps.written(), "TFLite tensor")
            shapes = self.taps.output_shapes()
            has_report = records is not None
            notes.append("LiteRT ran without its default delegate (XNNPACK), which keeps no intermediate tensors: "
                         "its numbers can differ from the output comparison's in the last bits")
        _check_from_this_source(artifact, graph, self.side, shapes, has_report)

    def run(self, feeds: dict[str, np.ndarray], signature: Signature, keys: list[str]) -> None:
        if self.kind is Format.ONNX:
            self.values = self.taps.run(feeds, signature, keys)
        else:
            self.taps.run(feeds, signature)

    def get(self, key: str) -> np.ndarray:
        if self.kind is Format.ONNX:
            return self.values.pop(key)
        try:
            return self.taps.get(key)
        except Exception as exc:
            raise _Unreadable(f"{_Unreadable.PREFIX} from the TFLite ({one_line(exc, 120)})") from exc

    def close(self) -> None:
        self.values = {}
        self.taps = None


class _Reference:
    """The source: its pairing with the ONNX hub, then one run that hands each wanted tensor over as it comes."""

    def __init__(self, source: Source, model: Any, signature: Signature, feeds: dict[str, np.ndarray],
                 graph: OnnxGraph) -> None:
        from studio.explain import layer_map, taps

        self.signature = signature
        self.notes: list[str] = []
        self.onnx: Any = None
        if source.format is Format.ONNX:
            self.onnx = taps.OnnxTaps(source.path)
            self.side = layer_map.pair_by_names(graph, self.onnx.values(), "source ONNX")
            return
        try:
            if source.framework == "pytorch":
                self.taps: Any = taps.TorchTaps(source, model, signature, feeds)
                self.notes += self.taps.notes
                self.side = layer_map.pair_fx(graph, self.taps.nodes, self.taps.outputs)
                return
            if source.format in (Format.KERAS, Format.H5):
                self.taps = taps.KerasTaps(source, model, signature)
                self.side = layer_map.pair_keras(graph, self.taps.calls)
                self._outputs_too(source, model, graph)
                return
        except taps._Untraceable as exc:
            why = f"{exc}: only the source's graph outputs are compared"
        else:
            kind = "SavedModel" if source.format is Format.SAVEDMODEL else source.format.value
            why = f"{kind} source: only graph outputs can be captured"
        self.taps = taps.OutputTaps(source, model, signature)
        self.taps.discover(feeds)
        self.side = layer_map.pair_outputs_only(graph, self.taps.outputs, why)

    def _outputs_too(self, source: Source, model: Any, graph: OnnxGraph) -> None:
        """Graph outputs no layer's scope paired (tf2onnx renamed or rewrote the last op) pair with the model's
        outputs, in order, through the layer that makes each."""
        from studio.explain.layer_map import Partner

        makers = []
        for tensor in getattr(self.taps.model, "outputs", None) or []:
            history = getattr(tensor, "_keras_history", None)
            makers.append(getattr(history[0], "name", None) if history else None)
        calls = {c.layer: c for c in reversed(self.taps.calls) if "#" not in c.key and ":" not in c.key}
        for position, name in enumerate(graph.outputs):
            if name in self.side.partners or name not in graph.by_name or position >= len(makers):
                continue
            call = calls.get(makers[position] or "")
            if call is not None and fits(graph.shape_of(name), call.shape):
                self.side.partners[name] = Partner(call.key, call.layer, call.shape)
                self.side.covered.pop(name, None)
                self.side.unpaired = [u for u in self.side.unpaired if not (u.side == "onnx" and u.name == name)]

    def run(self, feeds: dict[str, np.ndarray], wanted: set[str], on_tap) -> None:
        if self.onnx is not None:
            values = self.onnx.run(feeds, self.signature, sorted(wanted))
            for key in [k for k in values if k in wanted]:
                on_tap(key, values.pop(key))
        else:
            self.taps.run(feeds, wanted, on_tap)

    def close(self) -> None:
        self.onnx = self.taps = None


# ---------------------------------------------------------------- checks and helpers


def _correspondence(artifact: Path, taps: Any, given: Path | None) -> tuple[Path | None, list[dict] | None, str]:
    """(report path, its records, a note) for a TFLite: the given report, its own, or one of the same onnx2tf run
    (its float16 and int8 files keep the float32 file's tensor names); (None, None, "") without one."""
    if given is not None:
        records = _records(Path(given))
        return Path(given), records, ""
    own = artifact.with_name(correspondence_name(artifact.name))
    if own.is_file():
        return own, _records(own), ""
    for other in sorted(artifact.parent.glob("*" + CORRESPONDENCE_SUFFIX)):
        try:
            records = _records(other)
        except StudioError:
            continue
        names = {r.get("resolved_tflite_tensor_name") for r in records if r.get("exists_in_final_model")}
        if names and sum(n in taps.tensors for n in names) >= 0.9 * len(names):
            return other, records, (f"{artifact.name} has no tensor correspondence report of its own: used "
                                    f"{other.name} (the files of one onnx2tf run share their tensor names)")
    return None, None, ""


def _records(path: Path) -> list[dict]:
    try:
        data = json.loads(Path(path).read_text())
        records = data["records"]
        if not isinstance(records, list):
            raise TypeError("records is not a list")
    except FileNotFoundError:
        raise StudioError(f"{path}: no such tensor correspondence report") from None
    except Exception as exc:
        raise StudioError(f"{path}: not an onnx2tf tensor correspondence report ({one_line(exc, 120)})") from None
    return [r for r in records if isinstance(r, dict)]


def _check_from_this_source(artifact: Path, graph: OnnxGraph, side: SideMap, shapes: list, has_report: bool) -> None:
    """An artifact whose outputs do not match the ONNX's, or that pairs with too few of its values, is not a
    conversion of this source (or its intermediates cannot be told apart)."""
    hub = [graph.shape_of(n) for n in graph.outputs]
    left = list(shapes)
    for shape in hub:
        match = next((s for s in left if fits(shape, s)), None)
        if match is None or len(hub) != len(shapes):
            raise StudioError(f"{artifact.name} is not a conversion of this source: its outputs "
                              f"{[list(s) if s else '?' for s in shapes]} do not match the source ONNX's "
                              f"{[list(s) if s else '?' for s in hub]}")
        left.remove(match)
    fraction = side.fraction(graph)
    if fraction < MIN_PAIRED:
        hint = "" if has_report else (" (it has no tensor correspondence report, which onnx2tf's TF-converter path "
                                      "does not write, and its tensor names are not the ONNX's)")
        raise StudioError(f"{artifact.name}: only {fraction:.0%} of the source ONNX's values pair with its tensors "
                          f"(at least {MIN_PAIRED:.0%} needed): it is not a conversion of this source, or its "
                          f"intermediate tensors cannot be told apart{hint}")


def _row(index: int, value: Any, reference: SideMap, candidate: SideMap, graph: OnnxGraph, result: dict) -> LayerRow:
    chain = candidate.chains.get(value.name)
    op = "+".join(graph.by_name[m].op for m in chain) if chain else value.op
    onnx_node = graph.by_name[chain[0]].node if chain else value.node
    return LayerRow(index=index, name=value.name, op=op, reference_node=reference.partners[value.name].node,
                    candidate_node=candidate.partners[value.name].node, onnx_node=onnx_node,
                    shape=list(value.shape) if value.shape is not None else None,
                    **{k: result.get(k) for k in ("max_abs", "mean_abs", "rmse", "max_rel", "cosine", "snr_db",
                                                  "ref_max_abs", "error_ratio")},
                    passed=bool(result["passed"]))


def _merged(entries: list[Unpaired]) -> list[dict]:
    """One entry per (name, side): an ONNX value unpaired on both sides gets both reasons."""
    merged: dict[tuple[str, str], dict] = {}
    for entry in entries:
        key = (entry.name, entry.side)
        if key in merged:
            if entry.reason not in merged[key]["reason"]:
                merged[key]["reason"] += f"; {entry.reason}"
        else:
            merged[key] = entry.to_dict()
    return list(merged.values())


def _coverage_notes(graph: OnnxGraph, reference: SideMap, candidate: SideMap, rows: int) -> list[str]:
    total = len(graph.values)
    notes = [f"{rows} of {total} ONNX values compared; the source holds {len(reference.partners)} directly and "
             f"{len(reference.covered)} inside a unit compared at its output; the artifact holds "
             f"{len(candidate.partners)} directly and {len(candidate.covered)} inside a fused op"]
    if candidate.chains:
        notes.append(f"{len(candidate.chains)} fused op(s) compared at their last ONNX value only")
    return notes

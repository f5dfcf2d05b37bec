"""The per-layer explain engine, proven by fault injection on real conversions (studio.explain)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.errors import StudioError
from studio.explain import LayerReport, explain_artifact, model_explorer_json
from studio.formats import detect
from tflite_edit import onnx_weight, scale_onnx_initializer, scale_tflite_weight, without_tensor_names


# ---------------------------------------------------------------- helpers


def onnx_node(onnx_path: Path, op: str, initializer: str):
    """The ONNX node of type op that reads the named initializer."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return next(n for n in model.graph.node if n.op_type == op and initializer in n.input)


def rows_by_index(report: dict) -> dict[int, dict]:
    return {row["index"]: row for row in report["rows"]}


def ancestors(onnx_path: Path, name: str) -> set[str]:
    """Every ONNX value upstream of name."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    producer = {out: list(node.input) for node in model.graph.node for out in node.output}
    seen, todo = set(), [name]
    while todo:
        for value in producer.get(todo.pop(), []):
            if value and value not in seen:
                seen.add(value)
                todo.append(value)
    return seen


def assert_diverges_at(report: dict, onnx_path: Path, check) -> dict:
    """The first divergent row satisfies check, it fails, and every row upstream of it (and before it) passes."""
    assert report["first_divergent"] is not None, "no divergent layer found"
    rows = rows_by_index(report)
    first = rows[report["first_divergent"]]
    assert check(first), first
    assert not first["passed"] and first["error_ratio"] > 1
    upstream = ancestors(onnx_path, first["name"])
    for row in report["rows"]:
        if row["name"] in upstream or row["index"] < first["index"]:
            assert row["passed"], f"{row['name']} upstream of {first['name']} is flagged"
    assert report["worst"][0] in {r["index"] for r in report["rows"] if not r["passed"]}
    return first


def assert_clean(report: dict) -> None:
    """A correct conversion: nothing diverges, every row passes, and no row sits inside a fused op."""
    assert report["first_divergent"] is None
    failing = [(r["name"], r["error_ratio"]) for r in report["rows"] if not r["passed"]]
    assert not failing, failing
    names = {r["name"] for r in report["rows"]}
    fused = [u for u in report["unpaired"] if "fused into" in u["reason"]]
    for entry in fused:
        assert entry["name"] not in names, f"a row inside a fused op: {entry}"
        end = entry["reason"].split("fused into ", 1)[1].split(" (", 1)[0]
        assert end in names or any(u["name"] == end for u in report["unpaired"]), entry
    json.dumps(report)   # plain JSON


# ---------------------------------------------------------------- fast: an ONNX source, no converter


def two_layer_onnx(path: Path) -> Path:
    """x -> Gemm(w1) -> Relu -> Gemm(w2) -> Relu -> Softmax, written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
             for name, shape in (("w1", (8, 16)), ("b1", (16,)), ("w2", (16, 6)), ("b2", (6,)))]
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="gemm1"),
             helper.make_node("Relu", ["h1"], ["r1"], name="relu1"),
             helper.make_node("Gemm", ["r1", "w2", "b2"], ["h2"], name="gemm2"),
             helper.make_node("Relu", ["h2"], ["r2"], name="relu2"),
             helper.make_node("Softmax", ["r2"], ["probs"], name="softmax", axis=-1)]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [2, 6])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def onnx_source(tmp_path):
    from studio.inputs import make_inputs
    from studio.runtimes import open_runtime

    path = two_layer_onnx(tmp_path / "two.onnx")
    source = detect(path)
    signature = open_runtime(source).signature
    return source, signature, make_inputs(signature.inputs, seed=0), tmp_path


def test_an_onnx_artifact_that_is_its_source_has_no_divergent_layer(onnx_source):
    source, signature, feeds, tmp = onnx_source
    copy = tmp / "copy.onnx"
    shutil.copy(source.path, copy)
    report = explain_artifact(source, copy, onnx_path=source.path, feeds=feeds, signature=signature,
                              variant="onnx").to_dict()
    assert [r["name"] for r in report["rows"]] == ["h1", "r1", "h2", "r2", "probs"]
    assert [r["index"] for r in report["rows"]] == [0, 1, 2, 3, 4]
    assert all(r["max_abs"] == 0.0 and r["passed"] for r in report["rows"])
    assert report["first_divergent"] is None and report["growth"] == []
    assert report["paired"] == {"reference": 1.0, "candidate": 1.0}
    assert set(report) == {"reference", "candidate", "variant", "tolerance", "rows", "unpaired", "first_divergent",
                           "worst", "growth", "paired", "notes", "samples"}
    assert set(report["rows"][0]) == {"index", "name", "op", "reference_node", "candidate_node", "onnx_node", "shape",
                                      "max_abs", "mean_abs", "rmse", "max_rel", "cosine", "snr_db", "ref_max_abs",
                                      "error_ratio", "passed", "growth_db", "weight_snr_db"}
    assert report["rows"][2]["onnx_node"] == "gemm2" and report["rows"][2]["op"] == "Gemm"
    assert LayerReport.from_dict(json.loads(json.dumps(report))).to_dict() == report


def test_a_perturbed_initializer_is_the_first_divergent_layer(onnx_source):
    source, signature, feeds, tmp = onnx_source
    drifted = tmp / "drifted.onnx"
    scale_onnx_initializer(source.path, drifted, "w2", 1.01)
    report = explain_artifact(source, drifted, onnx_path=source.path, feeds=feeds, signature=signature,
                              variant="float32", top=3).to_dict()
    first = assert_diverges_at(report, source.path, lambda row: row["onnx_node"] == "gemm2")
    assert first["name"] == "h2" and first["reference_node"] == "gemm2"
    assert [r["passed"] for r in report["rows"]] == [True, True, False, False, False]
    assert len(report["worst"]) == 3
    ratios = [rows_by_index(report)[i]["error_ratio"] for i in report["worst"]]
    assert ratios == sorted(ratios, reverse=True)


def test_the_tensors_of_the_first_divergent_and_worst_layers_are_kept_for_plots(onnx_source):
    import numpy as np

    source, signature, feeds, tmp = onnx_source
    drifted = tmp / "drifted.onnx"
    scale_onnx_initializer(source.path, drifted, "w2", 1.01)
    samples = tmp / "samples"
    report = explain_artifact(source, drifted, onnx_path=source.path, feeds=feeds, signature=signature,
                              variant="float32", top=1, samples_dir=samples).to_dict()
    kept = {int(i) for i in report["samples"]}
    assert kept == {report["first_divergent"], *report["worst"]}
    first = report["samples"][str(report["first_divergent"])]
    reference, candidate = np.load(first["reference"]), np.load(first["candidate"])
    assert list(reference.shape) == report["rows"][report["first_divergent"]]["shape"] == list(candidate.shape)
    assert np.abs(reference - candidate).max() == pytest.approx(report["rows"][report["first_divergent"]]["max_abs"])
    assert sorted(p.name for p in samples.iterdir()) == sorted(
        Path(path).name for paths in report["samples"].values() for path in paths.values())


def test_inputs_that_do_not_fit_are_one_line_errors(onnx_source):
    source, signature, feeds, tmp = onnx_source
    wrong = {"x": np.zeros((3, 8), np.float32)}
    for bad in (wrong, {}, {"x": np.zeros((2, 8, 1), np.float32)}):
        with pytest.raises(StudioError) as caught:
            explain_artifact(source, source.path, onnx_path=source.path, feeds=bad, signature=signature,
                             variant="float32")
        assert "\n" not in str(caught.value) and "'x'" in str(caught.value)


def test_an_onnx_artifact_of_another_model_is_refused(onnx_source, tmp_path):
    from models import plain_onnx

    source, signature, feeds, tmp = onnx_source
    other = plain_onnx(tmp_path / "plain.onnx")    # [1, 8] -> [1, 6]: the outputs do not match
    with pytest.raises(StudioError, match="not a conversion of this source") as caught:
        explain_artifact(source, other, onnx_path=source.path, feeds=feeds, signature=signature, variant="float32")
    assert "\n" not in str(caught.value)


def test_model_explorer_node_data():
    report = {"rows": [
        {"reference_node": "conv", "candidate_node": "t_conv", "error_ratio": 0.05},
        {"reference_node": "relu", "candidate_node": "t_relu", "error_ratio": 3.0},
        {"reference_node": "relu", "candidate_node": "t_relu2", "error_ratio": 0.2},
        {"reference_node": "fc", "candidate_node": "t_fc", "error_ratio": None}]}
    reference = model_explorer_json(report, "reference")
    assert reference["results"] == {"conv": {"value": 0.05}, "relu": {"value": 3.0}}
    assert model_explorer_json(report, "candidate")["results"] == {
        "t_conv": {"value": 0.05}, "t_relu": {"value": 3.0}, "t_relu2": {"value": 0.2}}
    thresholds = reference["thresholds"]
    assert [t["value"] for t in thresholds] == sorted(t["value"] for t in thresholds)
    assert all(set(t) == {"value", "bgColor"} and t["bgColor"].startswith("#") for t in thresholds)
    assert any(t["value"] == 1.0 for t in thresholds), "the pass / fail boundary is a colour boundary"
    with pytest.raises(ValueError):
        model_explorer_json(report, "onnx")


# ---------------------------------------------------------------- torch CNN, converted for real


@pytest.mark.slow
def test_a_correct_torch_cnn_has_no_divergent_layer(cnn):
    for artifact in (cnn.tflite("float32"), cnn.onnx):
        report = cnn.explain(artifact).to_dict()
        assert_clean(report)
        assert report["paired"]["reference"] >= 0.95 and report["paired"]["candidate"] >= 0.95, report["paired"]
        assert len(report["rows"]) >= 6
    tflite = cnn.explain(cnn.tflite("float32")).to_dict()
    assert any(r["op"] == "Conv+Relu" for r in tflite["rows"]), "conv + activation compared as one fused op"
    assert any("fused into" in u["reason"] and "CONV_2D+RELU" in u["reason"] for u in tflite["unpaired"])
    conv1 = onnx_node(cnn.onnx, "Conv", "conv1.weight")
    assert not any(r["name"] == conv1.output[0] for r in tflite["rows"]), "no row inside the fused conv"
    reference = model_explorer_json(tflite, "reference")["results"]
    assert "relu" in reference and all(v["value"] < 1 for v in reference.values())


@pytest.mark.slow
def test_a_perturbed_tflite_convolution_is_named_first(cnn, tmp_path):
    conv = onnx_node(cnn.onnx, "Conv", "conv2.weight")
    drifted = tmp_path / "cnn_float32.tflite"
    order = scale_tflite_weight(cnn.tflite(), drifted, onnx_weight(cnn.onnx, "conv2.weight"), 1.5)
    assert order == (0, 2, 3, 1), "the conv filter sits in the TFLite as OHWI"
    report = cnn.explain(drifted, correspondence=cnn.tflite().with_name("cnn_float32.tensor_correspondence.json"))
    first = assert_diverges_at(report.to_dict(), cnn.onnx, lambda row: row["onnx_node"] == conv.name)
    assert first["op"].startswith("Conv") and first["reference_node"] in ("relu_1", "relu")


@pytest.mark.slow
def test_a_perturbed_tflite_fully_connected_weight_is_named_first(cnn, tmp_path):
    gemm = onnx_node(cnn.onnx, "Gemm", "fc1.weight")
    drifted = tmp_path / "cnn_float32.tflite"
    scale_tflite_weight(cnn.tflite(), drifted, onnx_weight(cnn.onnx, "fc1.weight"), 1.5)
    shutil.copy(cnn.tflite().with_name("cnn_float32.tensor_correspondence.json"), tmp_path)   # found beside it
    report = cnn.explain(drifted).to_dict()
    first = assert_diverges_at(report, cnn.onnx, lambda row: row["onnx_node"] == gemm.name)
    assert first["op"].startswith("Gemm")


@pytest.mark.slow
def test_a_perturbed_onnx_initializer_is_named_first(cnn, tmp_path):
    conv = onnx_node(cnn.onnx, "Conv", "conv2.weight")
    drifted = tmp_path / "cnn.onnx"
    scale_onnx_initializer(cnn.onnx, drifted, "conv2.weight", 1.5)
    report = cnn.explain(drifted).to_dict()
    first = assert_diverges_at(report, cnn.onnx, lambda row: row["onnx_node"] == conv.name)
    assert first["name"] == conv.output[0] and first["op"] == "Conv"
    assert model_explorer_json(report, "candidate")["results"][conv.name]["value"] > 1


@pytest.mark.slow
def test_an_int8_cnn_ranks_layers_by_error_growth(cnn):
    report = cnn.explain(cnn.tflite("int8"), variant="int8").to_dict()
    assert report["paired"]["candidate"] >= 0.95, report["paired"]
    assert report["growth"], "int8 layers ranked by the SNR they lose"
    rows = rows_by_index(report)
    growth = [rows[i]["growth_db"] for i in report["growth"]]
    assert all(g is not None for g in growth) and growth == sorted(growth, reverse=True)
    assert all(rows[i]["snr_db"] < 80 for i in rows), "int8 tensors are noisy"
    assert report["tolerance"]["min_cosine"] is not None


# ---------------------------------------------------------------- attention block


@pytest.mark.slow
def test_an_attention_block_pairs_and_a_perturbed_matmul_is_named_first(attention, tmp_path):
    import onnx

    report = attention.explain(attention.tflite()).to_dict()
    assert_clean(report)
    assert report["paired"]["reference"] >= 0.95 and report["paired"]["candidate"] >= 0.95, report["paired"]
    assert {"LayerNormalization", "MatMul", "Softmax"} <= {v.op_type for v in onnx.load(str(attention.onnx)).graph.node}

    model = onnx.load(str(attention.onnx))
    inits = {t.name: tuple(t.dims) for t in model.graph.initializer}
    matmul = next(n for n in model.graph.node if n.op_type == "MatMul" and inits.get(n.input[1]) == (32, 64))
    fx = {p.key: p.value for p in matmul.metadata_props}["pkg.torch.onnx.fx_node"].split()[0].lstrip("%")
    drifted = tmp_path / "attention_float32.tflite"
    scale_tflite_weight(attention.tflite(), drifted, onnx_weight(attention.onnx, matmul.input[1]), 1.5)
    shutil.copy(attention.tflite().with_name("attention_float32.tensor_correspondence.json"), tmp_path)
    report = attention.explain(drifted).to_dict()
    first = assert_diverges_at(report, attention.onnx, lambda row: row["name"] == fx)
    assert first["reference_node"] == fx


# ---------------------------------------------------------------- Keras CNN


@pytest.mark.slow
def test_a_keras_cnn_pairs_its_layers_and_a_perturbed_conv_is_named_first(kcnn, tmp_path):
    for artifact in (kcnn.tflite(), kcnn.onnx):
        report = kcnn.explain(artifact).to_dict()
        assert_clean(report)
        layers = {r["reference_node"] for r in report["rows"]}
        assert {"conv_b", "gap", "dense_a", "scores"} <= layers, layers
        assert report["paired"]["reference"] >= 0.95, report["paired"]

    conv = onnx_node(kcnn.onnx, "Conv", next(i for i in onnx_node_inputs(kcnn.onnx, "Conv") if "conv_b" in i))
    weight = conv.input[1]
    drifted = tmp_path / "kcnn_float32.tflite"
    scale_tflite_weight(kcnn.tflite(), drifted, onnx_weight(kcnn.onnx, weight), 1.5)
    report = kcnn.explain(drifted, correspondence=kcnn.tflite().with_name("kcnn_float32.tensor_correspondence.json"))
    assert_diverges_at(report.to_dict(), kcnn.onnx, lambda row: row["reference_node"] == "conv_b")

    drifted = tmp_path / "kcnn.onnx"
    scale_onnx_initializer(kcnn.onnx, drifted, weight, 1.5)
    assert_diverges_at(kcnn.explain(drifted).to_dict(), kcnn.onnx, lambda row: row["reference_node"] == "conv_b")


@pytest.mark.slow
def test_keras_layers_tf2onnx_folds_into_an_unnamed_op_pair_through_their_consumers(kres):
    """Each BatchNorm pairs with the `Conv__N` that holds Conv+BN (read by the next layer at its input
    position, the Add's two included); each Conv2D is listed as fused into it, never as a divergent row."""
    import onnx

    report = kres.explain(kres.onnx).to_dict()
    assert_clean(report)
    assert report["paired"]["reference"] >= 0.95, report["paired"]
    rows = {r["reference_node"]: r for r in report["rows"]}
    assert {"b_1_bn", "b_2_bn", "b_0_bn", "b_add", "b_out", "scores"} <= set(rows), sorted(rows)
    unnamed = {n.output[0] for n in onnx.load(str(kres.onnx)).graph.node if n.op_type == "Conv"}
    assert {rows[bn]["name"] for bn in ("b_1_bn", "b_2_bn", "b_0_bn")} <= unnamed
    assert rows["b_0_bn"]["name"] != rows["b_2_bn"]["name"]
    fused = {u["name"]: u["reason"] for u in report["unpaired"] if u["side"] == "reference"}
    for conv, bn in (("b_1_conv", "b_1_bn"), ("b_2_conv", "b_2_bn"), ("b_0_conv", "b_0_bn")):
        assert f"fused by tf2onnx into {rows[bn]['name']}" in fused[conv], fused


def test_a_batchnorm_onnx2tf_folds_into_the_depthwise_conv_is_compared_after_the_fold(kres):
    """onnx2tf folds the depthwise conv's BN (two ONNX ops tf2onnx left apart) into the TFLite conv, and its report
    names the BN's output as that conv's: the depthwise value is fused into it, never a divergent row of its own
    (it was one, at 393 relative error, on EfficientNetB0), and the Keras BN layer is compared there."""
    report = kres.explain(kres.tflite()).to_dict()
    assert_clean(report)
    assert report["paired"]["candidate"] >= 0.95, report["paired"]
    rows = {r["reference_node"]: r for r in report["rows"]}
    fused = {u["name"]: u["reason"] for u in report["unpaired"] if u["side"] == "onnx" and "fused into" in u["reason"]}
    depthwise = [name for name in fused if "/b_dw_1/" in name]
    assert depthwise and all(f"fused into {rows['b_dw_bn']['name']}" in fused[name] for name in depthwise), fused
    assert "DEPTHWISE_CONV_2D" in fused[depthwise[0]]


def test_a_split_and_a_channel_shuffle_pair_on_both_sides(shuffle):
    """chunk() exports as one Split whose outputs the exporter's optimizer renames (split_split_0) without FX
    metadata: each pairs with its getitem node through the split's input. onnx2tf makes the shuffle's
    transpose + reshape one GATHER and resolves the transpose to a tensor of another shape: it is compared with
    the reshape after it, not listed as unpaired."""
    report = shuffle.explain(shuffle.tflite()).to_dict()
    assert_clean(report)
    assert report["paired"] == {"reference": 1.0, "candidate": 1.0}, report["paired"]
    assert [r["reference_node"] for r in report["rows"] if r["op"] == "Split"] == ["chunk", "chunk"]
    reshapes = {r["name"] for r in report["rows"] if r["op"].endswith("Reshape")}
    [transpose] = [u["reason"] for u in report["unpaired"] if u["name"] == "transpose"]
    assert transpose.split("fused into ")[1].split(" ")[0] in reshapes, (transpose, reshapes)


def test_values_computed_from_input_shapes_alone_are_not_layers(ts_tokens):
    """TorchScript's `arange(ids.size(1))` exports as Shape -> ... -> Range: no data of the inputs, and a constant in
    the TFLite. Those values are neither rows nor unpaired (they were 'no record' on the TFLite side, and held
    TorchScript BERT at 74% paired)."""
    import onnx

    report = ts_tokens.explain(ts_tokens.tflite()).to_dict()
    assert_clean(report)
    assert report["paired"] == {"reference": 1.0, "candidate": 1.0}, report["paired"]
    ranges = {o for n in onnx.load(str(ts_tokens.onnx)).graph.node if n.op_type == "Range" for o in n.output}
    listed = {r["name"] for r in report["rows"]} | {u["name"] for u in report["unpaired"] if u["side"] == "onnx"}
    assert ranges and not ranges & listed, ranges & listed


def onnx_node_inputs(onnx_path: Path, op: str) -> list[str]:
    import onnx

    return [i for n in onnx.load(str(onnx_path)).graph.node if n.op_type == op for i in n.input[1:2]]


# ---------------------------------------------------------------- bad input


@pytest.mark.slow
def test_artifacts_that_are_not_from_this_source_are_refused(cnn, kcnn, attention, tmp_path):
    cases = [(kcnn.tflite(), "pair with its tensors"),           # same output shape [1, 10], other tensors
             (kcnn.onnx, "pair with its tensors"),
             (attention.tflite(), "not a conversion of this source")]   # other outputs
    for artifact, words in cases:
        with pytest.raises(StudioError, match=words) as caught:
            cnn.explain(artifact)
        assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_a_tflite_whose_intermediates_cannot_be_told_apart_is_refused(cnn, tmp_path):
    report = cnn.tflite().with_name("cnn_float32.tensor_correspondence.json")
    nameless = without_tensor_names(cnn.tflite(), tmp_path / "nameless.tflite", report)
    with pytest.raises(StudioError, match="intermediate tensors cannot be told apart") as caught:
        cnn.explain(nameless)
    assert "\n" not in str(caught.value)
    bare = without_tensor_names(cnn.tflite(), tmp_path / "bare.tflite")   # no report beside it either
    with pytest.raises(StudioError, match="no tensor correspondence report"):
        cnn.explain(bare)


@pytest.mark.slow
def test_a_savedmodel_artifact_and_mismatched_inputs_are_one_line_errors(cnn, tmp_path):
    savedmodel = tmp_path / "cnn_savedmodel"
    savedmodel.mkdir()
    (savedmodel / "saved_model.pb").write_bytes(b"\x08\x01")
    with pytest.raises(StudioError, match="SavedModel") as caught:
        cnn.explain(savedmodel)
    assert "\n" not in str(caught.value)
    name = cnn.signature.inputs[0].name
    for feeds in ({name: np.zeros((1, 3, 8, 8), np.float32)}, {"other": np.zeros((1, 3, 16, 16), np.float32)}):
        with pytest.raises(StudioError) as caught:
            explain_artifact(cnn.source, cnn.tflite(), onnx_path=cnn.onnx, feeds=feeds, signature=cnn.signature,
                             variant="float32", model=cnn.model)
        assert "\n" not in str(caught.value)


def test_the_first_divergent_layer_is_the_earliest_failing_row_with_nothing_failing_upstream():
    """x -> a=Relu -> b=Neg -> d=Add(b, c) <- c=Abs <- x, plus e=Exp(d): rows fail at c, d, e and pass at a, b."""
    from onnx import TensorProto, helper

    from studio.compare import Tolerance
    from studio.explain.layer_diff import LayerRow, finish
    from studio.explain.layer_map import OnnxGraph

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Abs", ["x"], ["c"]), helper.make_node("Add", ["b", "c"], ["d"]),
             helper.make_node("Exp", ["d"], ["e"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, [4])])
    hub = OnnxGraph(Path("g.onnx"), helper.make_model(graph))
    assert [v.name for v in hub.values] == ["a", "b", "c", "d", "e"]

    def rows(passed: dict[str, bool], snr: dict[str, float]) -> LayerReport:
        report = LayerReport("src", "art", "int8", Tolerance())
        report.rows = [LayerRow(i, name, "Op", name, name, name, [4], snr_db=snr[name], passed=passed[name],
                                error_ratio=0.5 if passed[name] else 2.0 + i) for i, name in enumerate("abcde")]
        return report

    snr = {"a": 40.0, "b": 40.0, "c": 30.0, "d": 25.0, "e": 999.0}
    report = rows({"a": True, "b": True, "c": False, "d": False, "e": False}, snr)
    finish(report, hub, top=2)
    assert report.first_divergent == 2                       # c: its only upstream is the input
    assert report.worst == [4, 3]                            # by error_ratio, at most top
    growth = {row.name: row.growth_db for row in report.rows}
    assert growth["a"] is None and growth["c"] is None       # nothing paired upstream
    assert growth["b"] == 0.0 and growth["d"] == 5.0         # d: worst upstream is c's 30 dB
    assert growth["e"] < 0                                   # 999 dB counts as the float32 ceiling
    assert report.growth == [3, 1]

    report = rows({"a": True, "b": False, "c": True, "d": False, "e": False}, snr)
    finish(report, hub, top=10)
    assert report.first_divergent == 1                       # b; d and e are downstream of it
    report = rows(dict.fromkeys("abcde", True), snr)
    finish(report, hub, top=10)
    assert report.first_divergent is None
    report.variant = "float32"
    finish(report, hub, top=10)
    assert report.growth == []


def test_values_a_converter_would_compute_once_are_twins():
    """Twins: the same op and attributes on the same inputs, where index tensors computed differently from a static
    shape count as the same when their contents are (a bilinear upsampling of a 1x1 map gathers index 0 four
    times). A different attribute, a different constant, or a random op is no twin."""
    from onnx import TensorProto, helper, numpy_helper

    from studio.explain.layer_map import OnnxGraph

    def gather(name, index, axis=2):
        return helper.make_node("Gather", ["x", index], [name], axis=axis)

    nodes = [helper.make_node("Shape", ["x"], ["shape"], start=2, end=3),          # [1]
             helper.make_node("Sub", ["shape", "one"], ["index_a"]),                # [0]
             helper.make_node("Mul", ["shape", "zero"], ["index_b"]),               # [0]
             gather("g1", "index_a"), gather("g2", "index_b"), gather("g3", "zero"),
             gather("g4", "index_a", axis=3), gather("g5", "one"),
             helper.make_node("Relu", ["g2"], ["r2"]), helper.make_node("Relu", ["g1"], ["r1"]),
             helper.make_node("RandomNormalLike", ["x"], ["n1"]), helper.make_node("RandomNormalLike", ["x"], ["n2"]),
             helper.make_node("Sum", ["r1", "r2", "g3", "g4", "g5", "n1", "n2"], ["y"])]
    consts = [numpy_helper.from_array(np.array([1], np.int64), "one"),
              numpy_helper.from_array(np.array([0], np.int64), "zero")]
    graph = helper.make_graph(nodes, "twins", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])

    twins = OnnxGraph(Path("twins.onnx"), model).twin_of
    assert twins == {"g2": "g1", "g3": "g1", "r1": "r2"}

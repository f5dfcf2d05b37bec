"""compare.py on arrays with known differences: pairing, metrics, verdicts, serialization."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from studio.compare import (SNR_CAP_DB, TABLE_HEADER, ComparisonResult, Tolerance, compare_outputs,
                            cosine_similarity, failure_lines, format_number, format_table, normalize_name, tolerance_for,
                            topk_agreement)
from studio.errors import StudioError

FP32 = tolerance_for("float32")


def scores(rows: int, classes: int, seed: int = 0) -> np.ndarray:
    """Class scores with a clear winner per row, so small noise cannot flip the argmax."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, classes))
    x[np.arange(rows), rng.integers(0, classes, rows)] += 6.0
    return x


def test_identical_outputs_pass_with_zero_error():
    ref = {"y": np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 4)}
    result = compare_outputs(ref, {"y": ref["y"].copy()}, FP32)
    (diff,) = result.outputs
    assert result.passed and diff.passed and diff.reason is None
    assert (diff.max_abs, diff.mean_abs, diff.rmse, diff.max_rel) == (0.0, 0.0, 0.0, 0.0)
    assert diff.cosine == 1.0 and diff.snr_db == SNR_CAP_DB and diff.permutation is None


def test_known_perturbation_gives_exact_metrics():
    ref = np.array([[1.0, 2.0, -4.0, 0.5]])
    delta = np.array([[0.0, 1e-5, -2e-5, 0.0]])
    diff = compare_outputs({"y": ref}, {"y": ref + delta}, FP32).outputs[0]
    assert diff.max_abs == pytest.approx(2e-5)
    assert diff.mean_abs == pytest.approx(3e-5 / 4)
    assert diff.rmse == pytest.approx(math.sqrt(5e-10 / 4))
    assert diff.max_rel == pytest.approx(5e-6)          # 1e-5/2 and 2e-5/4; eps = 1e-3*4 is not reached
    cand = ref + delta
    assert diff.cosine == pytest.approx(float((ref * cand).sum() / np.linalg.norm(ref) / np.linalg.norm(cand)))
    assert diff.snr_db == pytest.approx(10 * math.log10(5.3125 / 1.25e-10))
    assert diff.worst_index == [0, 2] and diff.worst_reference == -4.0
    assert diff.passed  # 2e-5 <= 1e-4 + 1e-3*4


def test_cosine_edge_cases():
    assert cosine_similarity(np.array([1.0, 0.0]), np.array([1.0, 1.0])) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity(np.zeros(3), np.zeros(3)) == 1.0
    assert cosine_similarity(np.zeros(3), np.ones(3)) == 0.0
    assert cosine_similarity(np.ones(3), -np.ones(3)) == pytest.approx(-1.0)


def test_max_rel_floors_near_zero_reference_elements():
    ref = np.array([10.0, 0.0])
    diff = compare_outputs({"y": ref}, {"y": ref + [0.0, 1e-3]}, FP32).outputs[0]
    assert diff.max_rel == pytest.approx(1e-3 / (1e-3 * 10.0))  # denominator floored at 1e-3*max|ref|


def test_element_rule_is_allclose_with_reference_as_b():
    ref = np.array([1000.0])
    assert compare_outputs({"y": ref}, {"y": ref + 1.0}, FP32).passed        # 1.0 <= 1e-4 + 1e-3*1000
    failed = compare_outputs({"y": ref}, {"y": ref + 1.01}, FP32)
    assert not failed.passed
    assert "1 of 1 elements exceed" in failed.outputs[0].reason and "worst at [0]" in failed.outputs[0].reason
    assert not compare_outputs({"y": ref}, {"y": ref + 1.0005}, FP32).passed  # rtol scales |ref|, not |candidate|


def test_nhwc_candidate_of_nchw_reference_is_unpermuted():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((1, 16, 8, 8)).astype(np.float32)
    cand = np.ascontiguousarray(ref.transpose(0, 2, 3, 1)).copy()   # onnx2tf's NHWC [1,8,8,16]
    cand[0, 5, 6, 3] += 0.5                                          # NCHW element [0,3,5,6]
    diff = compare_outputs({"conv": ref}, {"Identity": cand}, FP32).outputs[0]
    assert diff.candidate_name == "Identity" and diff.permutation == [0, 3, 1, 2]
    assert diff.shape == [1, 16, 8, 8] and diff.candidate_shape == [1, 8, 8, 16]
    assert diff.max_abs == pytest.approx(0.5) and diff.mean_abs == pytest.approx(0.5 / ref.size)
    assert diff.worst_index == [0, 3, 5, 6] and not diff.passed


def test_any_axis_order_up_to_rank_5_is_undone():
    ref = np.random.default_rng(5).standard_normal((2, 3, 5, 7))
    cand = ref.transpose(2, 0, 3, 1)                                   # shape [5,2,7,3]: no named layout
    diff = compare_outputs({"y": ref}, {"y": cand}, FP32).outputs[0]
    assert diff.passed and diff.max_abs == 0.0
    np.testing.assert_array_equal(cand.transpose(diff.permutation), ref)


def test_order_beats_shape_when_outputs_are_transposed():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((1, 4, 2, 3)), rng.standard_normal((1, 2, 3, 4))
    result = compare_outputs({"a": a, "b": b}, {"x": a.transpose(0, 2, 3, 1), "y": b.transpose(0, 3, 1, 2)}, FP32)
    assert [d.candidate_name for d in result.outputs] == ["x", "y"] and result.passed


def test_equal_shapes_keep_identity_unless_a_transpose_fits_better():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((1, 8, 8, 8))
    assert compare_outputs({"y": ref}, {"y": ref.copy()}, FP32).outputs[0].permutation is None
    swapped = compare_outputs({"y": ref}, {"y": ref.transpose(0, 2, 3, 1)}, FP32).outputs[0]
    assert swapped.permutation == [0, 3, 1, 2] and swapped.max_abs == 0.0 and swapped.passed


def test_squeeze_compatible_shapes_pair():
    ref = np.arange(10.0).reshape(1, 10)
    diff = compare_outputs({"logits": ref}, {"out": ref.reshape(10)}, FP32).outputs[0]
    assert diff.passed and diff.candidate_name == "out" and diff.max_abs == 0.0


def test_renamed_outputs_pair_by_order_then_by_shape():
    logits, features = scores(1, 10), np.ones((1, 32))
    by_order = compare_outputs({"logits": logits, "features": features},
                               {"Identity": logits, "Identity_1": features}, FP32)
    assert [(d.name, d.candidate_name) for d in by_order.outputs] == [("logits", "Identity"), ("features", "Identity_1")]
    by_shape = compare_outputs({"logits": logits, "features": features},
                               {"StatefulPartitionedCall:1": features, "StatefulPartitionedCall:0": logits}, FP32)
    assert [d.candidate_name for d in by_shape.outputs] == ["StatefulPartitionedCall:0", "StatefulPartitionedCall:1"]
    assert by_order.passed and by_shape.passed


def test_normalized_names_pair_before_order():
    a, b = np.zeros((2, 3)), np.ones((2, 3))
    result = compare_outputs({"out.1": a, "out.2": b}, {"serving_default_out_2:0": b, "out_1": a}, FP32)
    assert [d.candidate_name for d in result.outputs] == ["out_1", "serving_default_out_2:0"] and result.passed
    assert normalize_name("serving_default_input_1:0") == normalize_name("input.1") == "input1"


def test_int8_like_noise_passes_int8_but_fails_float32():
    ref = scores(4, 100)
    noisy = ref + np.random.default_rng(3).normal(0, 0.05, ref.shape)
    int8 = compare_outputs({"y": ref}, {"y": noisy}, tolerance_for("int8"), variant="int8")
    fp32 = compare_outputs({"y": ref}, {"y": noisy}, FP32)
    assert int8.passed and int8.outputs[0].cosine > 0.98 and int8.outputs[0].top1 == 1.0
    assert not fp32.passed and "exceed" in fp32.outputs[0].reason


def test_int8_fails_on_low_cosine_and_top1():
    ref = scores(4, 10)
    cand = np.random.default_rng(4).standard_normal(ref.shape)
    diff = compare_outputs({"y": ref}, {"y": cand}, tolerance_for("dynamic_int8")).outputs[0]
    assert not diff.passed and "cosine" in diff.reason


def test_nan_or_inf_fails_with_reason():
    ref = np.ones((2, 3), dtype=np.float32)
    cand = ref.copy()
    cand[1, 2] = np.nan
    result = compare_outputs({"y": ref}, {"y": cand}, FP32)
    assert not result.passed and result.outputs[0].reason == "candidate has 1 NaN/Inf value(s), first at [1,2]"
    inf_ref = ref.copy()
    inf_ref[0, 0] = np.inf
    assert "reference has 1 NaN/Inf" in compare_outputs({"y": inf_ref}, {"y": ref}, FP32).outputs[0].reason
    json.dumps(result.to_dict(), allow_nan=False)


def test_unpaired_outputs_fail_the_comparison():
    missing = compare_outputs({"a": np.zeros(3), "b": np.zeros((4, 5))}, {"a": np.zeros(3)}, FP32)
    assert not missing.passed
    assert missing.outputs[0].passed and not missing.outputs[1].passed
    assert "no candidate output pairs" in missing.outputs[1].reason
    extra = compare_outputs({"a": np.zeros(3)}, {"a": np.zeros(3), "z": np.zeros(7)}, FP32)
    assert not extra.passed and "extra candidate output 'z'" in extra.outputs[-1].reason


def test_same_name_with_incompatible_shape_fails():
    diff = compare_outputs({"y": np.zeros((2, 3))}, {"y": np.zeros((2, 4))}, FP32).outputs[0]
    assert not diff.passed and "do not match under any transpose" in diff.reason


def test_top1_top5_on_constructed_scores():
    ref = np.zeros((3, 10))
    ref[:, 0] = 1.0                                       # reference top-1 is class 0 in every row
    cand = np.zeros((3, 10))
    cand[0] = np.arange(10)[::-1]                         # class 0 ranks 1st
    cand[1] = [7, 9, 8, 0, 0, 0, 0, 0, 0, 0]              # class 0 ranks 3rd
    cand[2] = [3, 9, 8, 7, 6, 5, 4, 0, 0, 0]              # class 0 ranks 7th
    top1, top5 = topk_agreement(ref, cand)
    assert top1 == pytest.approx(1 / 3) and top5 == pytest.approx(2 / 3)
    assert topk_agreement(ref[:, :3], cand[:, :3]) == (pytest.approx(1 / 3), None)  # < 5 classes: no top-5
    assert topk_agreement(np.zeros((2, 3, 4)), np.zeros((2, 3, 4))) == (None, None)  # not class scores


def test_tolerance_defaults_and_overrides():
    assert (FP32.atol, FP32.rtol) == (1e-4, 1e-3)
    assert tolerance_for("onnx") == tolerance_for("savedmodel") == FP32
    assert (tolerance_for("float16").atol, tolerance_for("float16").rtol) == (1e-2, 1e-2)
    assert tolerance_for("dynamic_int8").min_cosine == 0.99 and tolerance_for("int8").min_cosine == 0.98
    assert tolerance_for("int8").atol is None and tolerance_for("int8").min_top1 == 0.9
    loose = tolerance_for("float32", atol=1e-2)
    assert (loose.atol, loose.rtol) == (1e-2, 1e-3)
    int8 = tolerance_for("int8", atol=0.5)
    assert (int8.atol, int8.rtol, int8.min_cosine) == (0.5, 0.0, 0.98)
    ref = np.zeros(4)
    assert not compare_outputs({"y": ref}, {"y": ref + 5e-3}, FP32).passed
    assert compare_outputs({"y": ref}, {"y": ref + 5e-3}, loose).passed
    with pytest.raises(StudioError):
        tolerance_for("int4")
    with pytest.raises(StudioError):
        tolerance_for("float32", rtol=-1.0)


def test_snr_floor_and_describe():
    ref = np.sin(np.linspace(0, 6, 100))
    noisy = ref + 0.01 * np.cos(np.linspace(0, 50, 100))            # SNR about 37 dB
    strict = Tolerance(atol=None, rtol=None, min_snr_db=60.0)
    diff = compare_outputs({"y": ref}, {"y": noisy}, strict).outputs[0]
    assert 30 < diff.snr_db < 45 and not diff.passed and "SNR" in diff.reason
    assert compare_outputs({"y": ref}, {"y": noisy}, Tolerance(None, None, min_snr_db=30.0)).passed
    assert FP32.describe() == "|a-ref| <= 0.0001 + 0.001*|ref|"
    assert tolerance_for("int8").describe() == "cosine >= 0.98, top-1 >= 0.9"


def test_int8_atol_override_adds_element_check():
    ref = scores(2, 10)
    cand = ref + 0.2                                      # cosine stays high, every element is 0.2 off
    assert compare_outputs({"y": ref}, {"y": cand}, tolerance_for("int8")).passed
    assert not compare_outputs({"y": ref}, {"y": cand}, tolerance_for("int8", atol=0.1)).passed


def test_to_dict_is_plain_json_and_round_trips():
    ref = {"logits": scores(2, 10)}
    result = compare_outputs(ref, {"logits": ref["logits"].copy()}, tolerance_for("float16"),
                             reference_label="source", candidate_label="tflite float16", variant="float16")
    text = json.dumps(result.to_dict(), allow_nan=False)
    data = json.loads(text)
    for key in ("name", "shape", "max_abs", "mean_abs", "rmse", "max_rel", "cosine", "passed"):
        assert key in data["outputs"][0]
    assert data["reference"] == "source" and data["candidate"] == "tflite float16" and data["passed"] is True
    assert data["outputs"][0]["snr_db"] == SNR_CAP_DB
    assert ComparisonResult.from_dict(data) == result


def test_format_table_and_numbers():
    assert [format_number(v) for v in (None, 0.0, 1.2e-07, 0.000123456, 42.54, 1.0)] == \
        ["-", "0", "1.2e-07", "0.000123", "42.5", "1"]
    ref = {"logits": scores(1, 10)}
    ok = compare_outputs(ref, {"Identity": ref["logits"] + 1e-7}, FP32, candidate_label="tflite float32")
    broken = ComparisonResult.failed("source", "tflite int8", "int8", tolerance_for("int8"), "LiteRT failed: boom")
    rows = format_table([ok, broken])
    assert rows[0] == TABLE_HEADER
    assert rows[1][:3] == ["tflite float32", "logits -> Identity", "1e-07"]
    assert rows[1][6] == "1.000000" and rows[1][8] == "1" and rows[1][-1] == "PASS"
    assert rows[2][0] == "tflite int8" and rows[2][-1] == "FAIL" and len(rows[2]) == len(TABLE_HEADER)
    assert failure_lines([ok, broken]) == ["tflite int8: LiteRT failed: boom"]


# ---------------------------------------------------------------- one rule each


def test_one_class_scores_rule():
    from studio.compare import looks_like_class_scores

    assert looks_like_class_scores((1, 2)) and looks_like_class_scores((64, 1000))
    assert not looks_like_class_scores((1, 1)) and not looks_like_class_scores((1, 3, 8, 8))
    assert not looks_like_class_scores((10,))


def test_pair_names_by_name_then_order():
    from studio.compare import pair_names

    assert pair_names(["a", "input.1", "b"], ["serving_default_input_1:0", "a", "x"]) == \
        {"a": "a", "input.1": "serving_default_input_1:0", "b": "x"}
    assert pair_names(["p", "q"], ["Identity", "Identity_1"]) == {"p": "Identity", "q": "Identity_1"}
    assert pair_names(["p", "q"], ["r"]) == {"p": "r"}
    assert pair_names(["p", "q"], ["r", "s"], fits=lambda left, right: (left, right) != ("p", "r")) == {"q": "s"}


def test_pair_names_is_the_rule_for_inputs_feeds_and_outputs():
    from studio.compare import pair_outputs
    from studio.inputs import pair_inputs
    from studio.runtimes.base import bind_feeds
    from studio.signature import TensorSpec

    specs = [TensorSpec("x.1", "float32", (1,)), TensorSpec("y.1", "float32", (1,))]
    renamed = [TensorSpec("y_1", "float32", (1,)), TensorSpec("x_1", "float32", (1,))]   # names kept, order not
    assert pair_inputs(specs, renamed) == {"y_1": "y.1", "x_1": "x.1"}
    bound = bind_feeds(tuple(specs), {"y_1": np.ones(1), "x_1": np.zeros(1)})
    assert bound["x.1"][0] == 0 and bound["y.1"][0] == 1
    assert pair_outputs({"logits": (1, 5), "f": (1, 8)}, {"Identity": (1, 5), "Identity_1": (1, 8)}) == \
        [("logits", "Identity"), ("f", "Identity_1")]


def test_each_idea_has_one_implementation():
    """Issue 9: shape-to-text, byte sizes, input file types, the class-scores rule and name-then-order pairing
    are each written once (studio.signature, studio.artifacts, studio.inputs, studio.compare)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "studio"
    homes = {"shape_text": "signature.py", "human_bytes": "artifacts.py", "looks_like_class_scores": "compare.py",
             "pair_names": "compare.py", "pair_by_name": "compare.py"}
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name in homes:
                assert path.relative_to(root).as_posix() == homes[node.name], f"{path}: a second {node.name}"
        where = path.relative_to(root).as_posix()
        if where != "signature.py":
            assert '"?" if d is None else str(d)' not in text, f"{path} writes shapes itself: use shape_text"
        if where != "inputs.py":
            assert '".bmp"' not in text and '".jpeg"' not in text, f"{path} lists input file types: use INPUT_SUFFIXES"

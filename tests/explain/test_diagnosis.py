"""Why a float16 artifact drifts: weights float16 cannot hold are named; otherwise the spread of the loss is said."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from studio.compare import tolerance_for
from studio.explain.diagnosis import diagnose_float16, weight_rounding_snr
from studio.explain.layer_diff import LayerReport, LayerRow


def two_gemms(path, scale_second: float):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 8)).astype(np.float32)
    w2 = (rng.standard_normal((8, 4)) * scale_second).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
         helper.make_node("MatMul", ["h", "w2"], ["y"], name="second")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def report_for(first_snr: float, second_snr: float) -> LayerReport:
    report = LayerReport("model.onnx", "model_float16.tflite", "float16", tolerance_for("float16"))
    report.rows = [LayerRow(0, "h", "MatMul", "first", "h", "first", [1, 8], snr_db=first_snr),
                   LayerRow(1, "y", "MatMul", "second", "y", "second", [1, 4], snr_db=second_snr,
                            growth_db=first_snr - second_snr)]
    return report


def test_weights_below_float16s_normal_range_are_named(tmp_path):
    path = two_gemms(tmp_path / "tiny.onnx", scale_second=1e-6)   # float16's smallest normal value is 6.1e-5
    snr = weight_rounding_snr(path)
    assert snr["first"] > 65 and snr["second"] < 60
    report = report_for(70.0, 40.0)
    diagnose_float16(report, path)
    assert report.rows[1].weight_snr_db == snr["second"]
    assert any("cannot hold the weights of 1 layer(s): y" in note for note in report.notes), report.notes


def test_weights_float16_holds_leave_the_loss_to_the_model(tmp_path):
    path = two_gemms(tmp_path / "plain.onnx", scale_second=1.0)
    report = report_for(70.0, 50.0)
    diagnose_float16(report, path)
    [note] = [n for n in report.notes if "float16" in n]
    assert "holds every weight at its usual precision" in note and "70 dB" in note and "50 dB at y" in note


def test_other_variants_get_no_float16_diagnosis(tmp_path):
    path = two_gemms(tmp_path / "plain.onnx", scale_second=1e-6)
    report = report_for(70.0, 40.0)
    report.variant = "int8"
    diagnose_float16(report, path)
    assert report.notes == [] and report.rows[1].weight_snr_db is None

"""Calibration data, layouts, Flex detection and ONNX chores: the small pieces the stages stand on."""

from __future__ import annotations


import numpy as np
import pytest

from studio.errors import StudioError
from studio.signature import NCHW, NHWC, OTHER, TensorSpec
from studio.stages import calibration
from studio.stages.layouts import TfInput, converted_layout, source_layout


def tf_input(name="image", shape=(1, 3, 8, 8), layout=NCHW, tf_layout=NHWC) -> TfInput:
    return TfInput(name, name, name, "float32", shape, layout, tf_layout)


def test_generated_images_are_deterministic_image_like_and_in_range():
    a = calibration.image_like(4, 32, 40, 3, seed=0)
    assert a.shape == (4, 32, 40, 3) and a.dtype == np.float32
    assert np.array_equal(a, calibration.image_like(4, 32, 40, 3, seed=0))
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.1
    # smooth like a photo: neighbouring pixels differ far less than in uniform noise (~0.33)
    assert np.abs(np.diff(a, axis=2)).mean() < 0.05
    assert not np.array_equal(a[0], a[1])


def test_generated_calibration_follows_each_inputs_tf_layout():
    inputs = [tf_input(), tf_input("kept", layout=NCHW, tf_layout=NCHW), tf_input("tokens", (1, 10, 32), OTHER, OTHER)]
    data = calibration.generated(inputs, seed=0)
    assert data["image"].shape == (20, 8, 8, 3)
    assert data["kept"].shape == (20, 3, 8, 8)
    assert data["tokens"].shape == (20, 10, 32) and data["tokens"].dtype == np.float32


def test_user_calibration_npy_in_the_source_layout_is_moved_to_the_tf_layout(tmp_path):
    samples = np.random.default_rng(0).random((5, 3, 8, 8), dtype=np.float32)
    np.save(tmp_path / "c.npy", samples)
    data = calibration.from_user(tmp_path / "c.npy", [tf_input()])
    assert np.array_equal(data["image"], samples.transpose(0, 2, 3, 1))
    np.save(tmp_path / "one.npy", samples[0])                       # one sample, no batch axis
    assert calibration.from_user(tmp_path / "one.npy", [tf_input()])["image"].shape == (1, 8, 8, 3)


def test_user_calibration_npz_is_keyed_by_input_name(tmp_path):
    inputs = [tf_input(), tf_input("tokens", (1, 10, 32), OTHER, OTHER)]
    np.savez(tmp_path / "c.npz", image=np.zeros((2, 8, 8, 3), np.float32), tokens=np.ones((2, 10, 32)))
    data = calibration.from_user(tmp_path / "c.npz", inputs)
    assert data["image"].shape == (2, 8, 8, 3) and data["tokens"].dtype == np.float32
    np.savez(tmp_path / "partial.npz", image=np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(StudioError, match="has no array for tokens"):
        calibration.from_user(tmp_path / "partial.npz", inputs)


def test_user_calibration_from_a_folder_of_images(tmp_path):
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 60 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = calibration.from_user(tmp_path, [tf_input()])["image"]
    assert data.shape == (3, 8, 8, 3) and np.isclose(data[2].max(), 120 / 255)
    kept = calibration.from_user(tmp_path, [tf_input(tf_layout=NCHW)])["image"]
    assert kept.shape == (3, 3, 8, 8)


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no such file or folder"),
    (lambda p: np.save(p / "c.npy", np.zeros((2, 5))), "does not fit input 'image'"),
    (lambda p: (p / "c.txt").write_text("x"), "expected a .npy, a .npz or a folder of images"),
])
def test_bad_user_calibration_is_a_one_line_usage_error(tmp_path, setup, message):
    setup(tmp_path)
    target = next((p for p in tmp_path.iterdir()), tmp_path / "missing.npy")
    with pytest.raises(StudioError, match=message) as err:
        calibration.from_user(target, [tf_input()])
    assert "\n" not in str(err.value)


def test_layouts_image_inputs_move_to_nhwc_unless_kept():
    assert converted_layout(NCHW, keep_layout=False) == NHWC
    assert converted_layout(NCHW, keep_layout=True) == NCHW
    assert converted_layout(NHWC, keep_layout=False) == NHWC
    assert converted_layout(OTHER, keep_layout=False) == OTHER
    assert tf_input(shape=(1, 3, 24, 32)).tf_shape == (1, 24, 32, 3)


def test_a_layout_read_before_the_shape_was_known_is_guessed_again():
    """TorchScript and nn.Module signatures say "other" with no shape; after --input-shape we know better."""
    assert source_layout(TensorSpec("x", "float32", (1, 3, 224, 224), OTHER), "pytorch") == NCHW
    assert source_layout(TensorSpec("x", "float32", (1, 224, 224, 3), OTHER), "tensorflow") == NHWC
    assert source_layout(TensorSpec("x", "float32", (1, 10, 32), OTHER), "pytorch") == OTHER


def test_flex_ops_are_found_in_a_raw_onnx2tf_conversion_of_exact_gelu(onnx_runs, tmp_path):
    """onnx2tf's TF-converter path on the transformer block's ONNX emits FlexErf; flex_ops reads it from the
    file. Its direct writer lowers the Erf to builtin ops on the same ONNX."""
    import shutil

    from .conftest import no_network
    from studio.stages.backends import BACKENDS, BackendRequest
    from studio.stages.flex import custom_ops, flex_ops, tflite_io
    from studio.stages.layouts import TfInput

    tokens = TfInput("tokens", "tokens", "tokens", "float32", (1, 10, 32), OTHER, OTHER)
    made = {}
    for backend in ("onnx2tf-tf-converter", "onnx2tf"):
        run_dir = tmp_path / backend
        run_dir.mkdir()
        shutil.copy(onnx_runs["torch_block"].one("onnx").path, run_dir / "block.onnx")
        with no_network():
            made[backend] = BACKENDS[backend].convert(BackendRequest(run_dir / "block.onnx", run_dir, [tokens],
                                                                     ("float32",), savedmodel=False))
    raw = made["onnx2tf-tf-converter"].tflite["float32"]
    assert flex_ops(raw) == ["FlexErf"] and custom_ops(raw) == ["FlexErf"]
    inputs, outputs = tflite_io(raw)
    assert [shape for _, shape in inputs] == [shape for _, shape in outputs] == [(1, 10, 32)]
    direct = made["onnx2tf"]
    assert flex_ops(direct.tflite["float32"]) == [] and direct.backend == "onnx2tf"
    assert tflite_io(direct.tflite["float32"])[0] == [("tokens", (1, 10, 32))]   # the source's input name
    assert direct.correspondence is not None and direct.correspondence.is_file()


def test_unknown_operators_are_named(tmp_path):
    from onnx import TensorProto, helper

    from studio.stages.onnx_files import dynamic_inputs, unknown_operators

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Erfinv", ["r"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    assert unknown_operators(model) == ["Erfinv"]
    assert dynamic_inputs(model) == ["x"]


def test_generated_calibration_for_non_image_inputs_spans_several_scales():
    data = calibration.mixed_noise(20, (10, 32), seed=0)
    assert data.shape == (20, 10, 32) and data.dtype == np.float32
    assert np.array_equal(data, calibration.mixed_noise(20, (10, 32), seed=0))
    lows, highs = data.reshape(20, -1).min(axis=1), data.reshape(20, -1).max(axis=1)
    assert (highs > 2).sum() == 10                        # standard normal samples
    assert ((lows >= -1) & (highs < 1) & (lows < 0)).sum() == 5   # uniform [-1, 1)
    assert ((lows >= 0) & (highs < 1)).sum() == 5                 # uniform [0, 1)


def gelu_graph(order: str):
    """Exact GELU of Add(x, bias) as exporters write it, then Neg, on [2, 6] (constants rank 0)."""
    from onnx import TensorProto, helper, numpy_helper

    consts = {"sqrt2": 1.4142135381698608, "rsqrt2": 0.7071067690849304, "one": 1.0, "half": 0.5}
    inits = [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in consts.items()]
    inits.append(numpy_helper.from_array(np.linspace(-1, 1, 6, dtype=np.float32), "bias"))
    make = helper.make_node
    nodes = [make("Add", ["x", "bias"], ["xb"])]
    if order == "dynamo":       # x * ((1 + erf(x / sqrt2)) * 0.5)
        nodes += [make("Div", ["xb", "sqrt2"], ["d"]), make("Erf", ["d"], ["e"]), make("Add", ["e", "one"], ["a"]),
                  make("Mul", ["half", "a"], ["h"]), make("Mul", ["xb", "h"], ["g"])]
    elif order == "canonical":  # (x * (1 + erf(x / sqrt2))) * 0.5
        nodes += [make("Div", ["xb", "sqrt2"], ["d"]), make("Erf", ["d"], ["e"]), make("Add", ["e", "one"], ["a"]),
                  make("Mul", ["xb", "a"], ["m"]), make("Mul", ["m", "half"], ["g"])]
    elif order == "half_first":  # (x * 0.5) * (1 + erf(x * 1/sqrt2))
        nodes += [make("Mul", ["xb", "rsqrt2"], ["d"]), make("Erf", ["d"], ["e"]), make("Add", ["one", "e"], ["a"]),
                  make("Mul", ["xb", "half"], ["h"]), make("Mul", ["h", "a"], ["g"])]
    else:                       # not a GELU: erf(x / sqrt2) + 1 is also an output
        nodes += [make("Div", ["xb", "sqrt2"], ["d"]), make("Erf", ["d"], ["e"]), make("Add", ["e", "one"], ["a"]),
                  make("Mul", ["xb", "a"], ["m"]), make("Mul", ["m", "half"], ["g"])]
    nodes.append(make("Neg", ["g"], ["y"]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])]
    if order == "shared":
        outputs.append(helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 6]))
    graph = helper.make_graph(nodes, order, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])], outputs,
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("order", ["dynamo", "canonical", "half_first"])
def test_exact_gelus_are_rewritten_in_the_order_onnx2tf_fuses_and_compute_the_same(order):
    import onnx
    import onnxruntime as ort

    from studio.stages.onnx_files import canonical_gelu

    model = gelu_graph(order)
    x = {"x": np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32) * 3}
    (before,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)
    assert canonical_gelu(model) == 1 and canonical_gelu(model) == 0   # done once
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == ["Add", "Div", "Erf", "Add", "Mul", "Mul", "Neg"]
    div, _, add, mul, half = list(model.graph.node)[1:6]
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert div.input[0] == mul.input[0] == "xb" and mul.input[1] == add.output[0] and half.input[0] == mul.output[0]
    assert {n: consts[n].shape for n in (div.input[1], add.input[1], half.input[1])} == {
        div.input[1]: (1,), add.input[1]: (1,), half.input[1]: (1,)}   # rank 0 escapes onnx2tf's match
    unused = {"sqrt2"} if order == "half_first" else {"rsqrt2"}   # never read by this graph: left as it was
    assert set(consts) == {"bias", div.input[1], add.input[1], half.input[1]} | unused   # old constants gone
    (after,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, x)
    assert np.abs(after - before).max() <= 1e-6


def test_an_erf_whose_parts_are_used_elsewhere_is_left_alone():
    from studio.stages.onnx_files import canonical_gelu

    model = gelu_graph("shared")
    before = model.SerializeToString()
    assert canonical_gelu(model) == 0 and model.SerializeToString() == before


ONNX2TF_LOG = """\
Traceback (most recent call last):
FileNotFoundError: [Errno 2] No such file or directory: 'onnxsim'

\x1b[33mWARNING:\x1b[0m Failed to optimize the onnx file.
Float32 tflite output complete!
Traceback (most recent call last):
  File "onnx2tf.py", line 1825, in convert
    raise error from None  # Re-throws the exception.
RuntimeError: Select TensorFlow op(s), included in the given model, is(are) not supported by this interpreter. \
Make sure you apply/link the Flex delegate before inference. See instructions: https://www.tensorflow.org/lite/\
guide/ops_selectNode number 45 (FlexErf) failed to prepare.

\x1b[33mWARNING:\x1b[0m Full INT8 Quantization tflite output failed.
Traceback (most recent call last):
RuntimeError: Select TensorFlow op(s) ... Node number 45 (FlexErf) failed to prepare.
\x1b[33mWARNING:\x1b[0m INT8 Quantization with int16 activations tflite output failed.
"""


def test_why_onnx2tf_wrote_no_int8_file_is_read_from_the_warning_it_printed(tmp_path):
    from studio.stages.backends import _missing_variant
    from studio.stages.capture import cause_before_warning, cause_from_log

    log = tmp_path / "converter.log"
    log.write_text(ONNX2TF_LOG)
    assert cause_before_warning(log, "Failed to optimize the onnx file.").startswith("FileNotFoundError")
    assert cause_before_warning(log, "Full INT8 Quantization tflite output failed.").endswith(
        "Node number 45 (FlexErf) failed to prepare.")
    assert cause_before_warning(log, "Dynamic Range Quantization tflite output failed.") is None
    failure = _missing_variant("int8", log)
    assert failure.calibration_flex_ops == ("FlexErf",)
    assert str(failure).startswith("onnx2tf wrote no int8 TFLite: calibration runs the model in the TFLite "
                                   "interpreter, which cannot run Select-TF op FlexErf (RuntimeError: Select")
    # a variant onnx2tf gave no reason for still says where to look; caught-and-survived tracebacks are no cause
    assert str(_missing_variant("dynamic_int8", log)) == "onnx2tf wrote no dynamic_int8 TFLite: its log gives no reason"
    log.write_text(ONNX2TF_LOG.split("Float32")[0])
    assert cause_from_log(log, "fallback") == "fallback"


def test_shape_arithmetic_becomes_constant_once_the_inputs_are_static():
    """Shape -> Gather -> Mul -> Concat -> Reshape, as symbolic-shape exports write it, folds to a constant
    shape after fix_input_shapes; the model computes the same."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from studio.stages.onnx_files import fix_input_shapes, fold_shape_arithmetic

    consts = [numpy_helper.from_array(np.array([2], np.int64), "idx"),
              numpy_helper.from_array(np.array([3], np.int64), "three"),
              numpy_helper.from_array(np.array([1], np.int64), "one")]
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "idx"], ["w"]),
             helper.make_node("Mul", ["w", "three"], ["flat"]),
             helper.make_node("Concat", ["one", "flat"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    folded = fold_shape_arithmetic(fix_input_shapes(model, {"x": (1, 3, 5)}))
    assert [n.op_type for n in folded.graph.node] == ["Reshape"]
    x = np.arange(15, dtype=np.float32).reshape(1, 3, 5)
    (y,) = ort.InferenceSession(folded.SerializeToString()).run(None, {"x": x})
    assert np.array_equal(y, x.reshape(1, 15))


def test_unnamed_nodes_get_names_of_their_own_and_named_ones_keep_theirs():
    """onnx2tf's own naming pass is skipped on the stage's copy, so the stage names what has no name, including
    the nodes inside an If's branches, without reusing a name the graph already has."""
    from onnx import TensorProto, helper

    from studio.stages.onnx_files import name_unnamed_nodes

    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1])])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="Relu_0"), helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Greater", ["b", "x"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph)

    assert name_unnamed_nodes(model) == 5
    names = [n.name for n in model.graph.node] + [n.name for a in model.graph.node[3].attribute for n in a.g.node]
    assert names[0] == "Relu_0" and all(names) and len(set(names)) == len(names) == 6
    assert name_unnamed_nodes(model) == 0


def test_read_model_says_whether_the_file_holds_its_weights_itself(tmp_path):
    """A model saved with its weights beside it is read whole, and said not to be self-contained: a copy of the
    .onnx file alone would lose them."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from studio.stages.onnx_files import read_model

    weight = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, str(tmp_path / "one.onnx"))
    onnx.save(model, str(tmp_path / "two.onnx"), save_as_external_data=True, location="two.onnx.data",
              size_threshold=0)
    for name, self_contained in (("one.onnx", True), ("two.onnx", False)):
        read, whole = read_model(tmp_path / name)
        assert whole is self_contained
        np.testing.assert_array_equal(numpy_helper.to_array(read.graph.initializer[0]), weight)

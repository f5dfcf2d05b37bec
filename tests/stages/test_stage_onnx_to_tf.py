"""onnx->tf (onnx2tf) on the ONNX of real tiny models: layouts, numbers, variants, Flex ops, failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.signature import NCHW, NHWC, OTHER
from .conftest import NETWORK_ATTEMPTS

ATOL = 1e-4
TF_CONVERTER = "onnx2tf-tf-converter"   # onnx2tf's older path: the Flex-op workarounds below are its own


def to_layout(array: np.ndarray, source: str, target: str) -> np.ndarray:
    if source == NCHW and target == NHWC:
        return np.ascontiguousarray(array.transpose(0, 2, 3, 1))
    return array


def run_onnx(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})


def run_tflite(path: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """LiteRT, inputs by name (onnx2tf keeps the ONNX input names; TFLite files converted from the
    SavedModel call them serving_default_<name>:0), outputs in the model's order."""
    import re

    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        name = re.sub(r"^serving_default_|:\d+$", "", detail["name"])
        interpreter.set_tensor(detail["index"], feeds[name])
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def tf_feeds(model, artifact, feeds):
    return {s.name: to_layout(feeds[s.name], s.layout, artifact.input_layout[s.name]) for s in model.signature.inputs}


@pytest.mark.parametrize("name", ["torch_cnn", "torch_block", "keras_cnn", "keras_two"])
def test_float32_tflite_matches_the_onnx(name, sources, onnx_runs, tf_runs):
    model, tflite = sources[name], tf_runs[name].one("tflite", "float32")
    feeds = model.feeds(seed=3)
    expected = run_onnx(onnx_runs[name].one("onnx").path, feeds)
    got = run_tflite(tflite.path, tf_feeds(model, tflite, feeds))
    for ref, out in zip(expected, got, strict=True):
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= ATOL


@pytest.mark.parametrize("name, layouts, shapes", [
    ("torch_cnn", {"image": NHWC}, [(1, 32, 32, 3)]),           # NCHW image moved to NHWC
    ("torch_block", {"tokens": OTHER}, [(1, 10, 32)]),          # not [1, 32, 10]
    ("keras_cnn", {"image": NHWC}, [(1, 32, 32, 3)]),           # not [1, 32, 3, 32]
    ("keras_two", {"image": NHWC, "tokens": OTHER}, [(1, 16, 16, 3), (1, 8, 4)]),
])
def test_input_layouts_come_out_right_and_are_recorded(name, layouts, shapes, tf_runs):
    from ai_edge_litert.interpreter import Interpreter

    for artifact in tf_runs[name].artifacts:
        assert artifact.input_layout == layouts
    interpreter = Interpreter(model_path=tf_runs[name].one("tflite").path)
    assert [tuple(d["shape"]) for d in interpreter.get_input_details()] == shapes


@pytest.mark.parametrize("name", ["torch_cnn", "keras_two"])
def test_savedmodel_matches_the_onnx(name, sources, onnx_runs, tf_runs):
    import tensorflow as tf

    model, saved = sources[name], tf_runs[name].one("savedmodel")
    feeds = model.feeds(seed=4)
    expected = run_onnx(onnx_runs[name].one("onnx").path, feeds)
    serving = tf.saved_model.load(saved.path).signatures["serving_default"]
    kwargs = {k: tf.constant(v) for k, v in tf_feeds(model, saved, feeds).items()}
    outputs = serving(**kwargs)
    got = [outputs[k].numpy() for k in sorted(outputs)]
    for ref, out in zip(expected, got, strict=True):
        assert np.abs(out - ref).max() <= ATOL


def test_only_the_requested_artifacts_are_left(tf_runs):
    run = tf_runs["torch_cnn"]
    kinds = sorted((a.kind, a.variant) for a in run.artifacts)
    assert kinds == [("savedmodel", "float32"), ("tflite", "dynamic_int8"), ("tflite", "float16"),
                     ("tflite", "float32"), ("tflite", "int8")]
    work = Path(run.artifacts[0].path).parent
    extras = [Path(p).name for a in run.artifacts for p in a.extras.values()]
    # the direct writer's ONNX -> TFLite tensor map, one copy per TFLite it wrote (explain reads it per file)
    direct = [a.variant for a in run.artifacts if a.kind == "tflite" and a.backend == "onnx2tf"]
    assert "float32" in direct
    assert sorted(extras) == sorted(f"cnn_{variant}.tensor_correspondence.json" for variant in direct)
    assert sorted(p.name for p in work.iterdir()) == sorted([Path(a.path).name for a in run.artifacts] + extras)
    assert (work / "cnn_savedmodel" / "saved_model.pb").is_file()
    assert all(a.bytes > 0 and a.produced_by == "onnx->tf" for a in run.artifacts)
    assert [(a.kind, a.variant) for a in tf_runs["keras_cnn"].artifacts] == [("savedmodel", "float32"),
                                                                             ("tflite", "float32")]


def test_quantized_variants_run_and_stay_close(sources, onnx_runs, tf_runs):
    model, run = sources["torch_cnn"], tf_runs["torch_cnn"]
    feeds = model.feeds(seed=5)
    (expected,) = run_onnx(onnx_runs["torch_cnn"].one("onnx").path, feeds)
    for variant, atol in (("float16", 1e-2), ("dynamic_int8", 0.1), ("int8", 0.2)):
        artifact = run.one("tflite", variant)
        (got,) = run_tflite(artifact.path, tf_feeds(model, artifact, feeds))
        assert got.dtype == np.float32        # int8 inside, float I/O: a drop-in for the float model
        cosine = float(np.dot(got.ravel(), expected.ravel()) / (np.linalg.norm(got) * np.linalg.norm(expected)))
        assert np.abs(got - expected).max() <= atol and cosine > 0.99, (variant, np.abs(got - expected).max(), cosine)
    assert any("int8 calibration: generated data" in line for line in run.logs)


def tflite_ops(path: str) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    interpreter.allocate_tensors()
    return [op["op_name"] for op in interpreter._get_ops_details()]


def test_the_direct_writer_lowers_exact_gelu_to_builtin_ops(tf_runs):
    """onnx2tf's direct writer never emits Select-TF ops: the transformer block's Erf needs no workaround."""
    run = tf_runs["torch_block"]
    assert {a.backend for a in run.artifacts if a.variant != "int8"} == {"onnx2tf"}
    assert all(a.flex_ops == [] for a in run.artifacts)
    # its int8 is the exception: the direct writer cannot quantize the block's SQRT, the TF converter can
    assert run.one("tflite", "int8").backend == TF_CONVERTER
    assert any("onnx2tf int8:" in line and "onnx2tf-tf-converter" not in line for line in run.logs)
    ops = tflite_ops(run.one("tflite").path)
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops)


def test_exact_gelu_becomes_tflites_builtin_gelu_in_one_conversion(sources, onnx_runs, work_root):
    """On the TF-converter path, the dynamo exporter's GELU order is rewritten into the one onnx2tf fuses:
    no Erf, no FlexErf, no retry."""
    from .conftest import run_stage

    run = run_stage("onnx->tf", sources["torch_block"], work_root / "block-tfconv",
                    input_path=Path(onnx_runs["torch_block"].one("onnx").path), targets=("tflite",),
                    variants=("float32", "int8"), backend=TF_CONVERTER)
    assert all(a.flex_ops == [] and a.backend == TF_CONVERTER for a in run.artifacts)
    assert any("1 exact GELU rewritten" in line for line in run.logs)
    assert not any("replace_to_pseudo_operators" in line for line in run.logs)
    for variant in ("float32", "int8"):
        ops = tflite_ops(run.one("tflite", variant).path)
        assert "GELU" in ops and "Erf" not in " ".join(ops)


def test_int8_of_the_transformer_block_runs_in_litert_with_int8_tensors(sources, tf_runs):
    """Full-integer int8 of a token ([1, 10, 32], not an image) input: calibrated on generated data, int8
    weights and activations inside, float32 I/O, and close to the torch model."""
    from ai_edge_litert.interpreter import Interpreter

    model, run = sources["torch_block"], tf_runs["torch_block"]
    artifact = run.one("tflite", "int8")
    assert artifact.input_layout == {"tokens": OTHER} and artifact.flex_ops == []
    assert any("int8 calibration: generated data" in line for line in run.logs)
    interpreter = Interpreter(model_path=artifact.path)
    interpreter.allocate_tensors()
    assert [(tuple(d["shape"]), d["dtype"]) for d in interpreter.get_input_details()] == [((1, 10, 32), np.float32)]
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    quantized = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX", "GELU"):
            quantized.setdefault(op["op_name"], []).extend(tensors[i]["dtype"] for i in op["inputs"][:2] if i >= 0)
    assert set(quantized) == {"FULLY_CONNECTED", "BATCH_MATMUL", "SOFTMAX", "GELU"}
    assert all(dtype == np.int8 for dtypes in quantized.values() for dtype in dtypes), quantized
    feeds = model.feeds(seed=8)
    (expected,) = model.reference(feeds)
    (got,) = run_tflite(artifact.path, feeds)
    assert got.dtype == np.float32 and got.shape == expected.shape
    cosine = float(np.dot(got.ravel(), expected.ravel()) / (np.linalg.norm(got) * np.linalg.norm(expected)))
    assert cosine >= 0.98 and np.abs(got - expected).max() <= 0.5, (cosine, np.abs(got - expected).max())


def test_no_network_access_was_attempted(tf_runs):
    assert NETWORK_ATTEMPTS == []


def test_progress_goes_forward(tf_runs):
    for run in tf_runs.values():
        fractions = [f for f, _ in run.progress]
        assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] == 1.0


# ---------------------------------------------------------------- options and failures

def dynamic_image_onnx(path: Path) -> Path:
    """Conv + ReLU + global pooling on an NCHW input whose batch, height and width are all dynamic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["pixels", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["features"])]
    pixels = helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, "H", "W"])
    features = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4])
    graph = helper.make_graph(nodes, "dynamic", [pixels], [features], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def unsupported_op_onnx(path: Path) -> Path:
    """CastLike: valid ONNX (opset 15) that onnxruntime runs and onnx2tf 2.6.9's TF-converter path does not implement."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    like = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "like")
    graph = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["sq"]),
                               helper.make_node("CastLike", ["sq", "like"], ["y"])], "castlike",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], initializer=[like])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_dynamic_onnx_dims_are_fixed_from_the_signature(work_root):
    from .conftest import Model, run_stage
    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    path = dynamic_image_onnx(work_root / "dynamic.onnx")
    model = Model(Source(path, Format.ONNX), Signature((TensorSpec("pixels", "float32", (1, 3, 24, 24), NCHW),)), None)
    run = run_stage("onnx->tf", model, work_root / "dynamic-tf", targets=("tflite",), variants=("float32",))
    (artifact,) = run.artifacts
    assert artifact.input_layout == {"pixels": NHWC}
    assert any("fixed dynamic input shapes: pixels=[1, 3, 24, 24]" in line for line in run.logs)
    feeds = model.feeds()
    (expected,) = run_onnx(str(path), feeds)
    (got,) = run_tflite(artifact.path, tf_feeds(model, artifact, feeds))
    assert got.shape == expected.shape == (1, 4) and np.abs(got - expected).max() <= ATOL


def test_keep_layout_keeps_nchw_and_int8_uses_the_users_calibration(sources, onnx_runs, work_root):
    """--keep-layout: the image stays NCHW; --calibration .npy in the source's layout feeds full int8."""
    from .conftest import run_stage

    model = sources["torch_cnn"]
    samples = np.random.default_rng(7).random((8, 3, 32, 32), dtype=np.float32)
    np.save(work_root / "calib.npy", samples)
    run = run_stage("onnx->tf", model, work_root / "keep-tf", input_path=Path(onnx_runs["torch_cnn"].one("onnx").path),
                    targets=("tflite",), variants=("float32", "int8"), keep_layout=True,
                    calibration=str(work_root / "calib.npy"))
    assert [a.variant for a in run.artifacts] == ["float32", "int8"]
    assert all(a.input_layout == {"image": NCHW} for a in run.artifacts)
    assert any("int8 calibration: image [8, 3, 32, 32]" in line for line in run.logs)
    feeds = model.feeds(seed=6)
    (expected,) = run_onnx(onnx_runs["torch_cnn"].one("onnx").path, feeds)
    (got,) = run_tflite(run.one("tflite").path, feeds)
    assert np.abs(got - expected).max() <= ATOL
    (quantized,) = run_tflite(run.one("tflite", "int8").path, feeds)
    assert np.abs(quantized - expected).max() <= 0.2


def test_an_unsupported_operator_is_a_one_line_stage_error_naming_it(work_root):
    from .conftest import Model, run_stage
    from studio.errors import StageError
    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    path = unsupported_op_onnx(work_root / "window.onnx")
    model = Model(Source(path, Format.ONNX), Signature((TensorSpec("x", "float32", (1, 8)),)), None)
    with pytest.raises(StageError) as err:
        run_stage("onnx->tf", model, work_root / "window-tf", backend=TF_CONVERTER)
    assert err.value.stage == "onnx->tf" and err.value.exit_code == 3
    assert "CastLike" in err.value.cause and "\n" not in str(err.value)
    assert "--keep-layout" in err.value.cause   # what to try next
    assert list((work_root / "window-tf").iterdir()) == []   # nothing half-written is left
    # the default chain's direct writer implements it
    run = run_stage("onnx->tf", model, work_root / "window-auto", targets=("tflite",), variants=("float32",))
    assert run.one("tflite").backend == "onnx2tf"


def test_choosing_the_onnx_tf_backend_is_a_stage_error_with_its_reason(sources, onnx_runs, work_root):
    from .conftest import run_stage
    from studio.errors import StageError

    with pytest.raises(StageError) as err:
        run_stage("onnx->tf", sources["keras_cnn"], work_root / "onnx-tf", backend="onnx-tf",
                  input_path=Path(onnx_runs["keras_cnn"].one("onnx").path))
    assert "onnx-tf is unavailable" in str(err.value) and "onnx.mapping" in str(err.value)


def test_int8_refuses_integer_inputs_before_converting(work_root):
    import onnx
    from onnx import TensorProto, helper

    from .conftest import Model, run_stage
    from studio.errors import StageError
    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    graph = helper.make_graph([helper.make_node("Cast", ["ids"], ["y"], to=TensorProto.FLOAT)], "ids",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(work_root / "ids.onnx"))
    model = Model(Source(work_root / "ids.onnx", Format.ONNX), Signature((TensorSpec("ids", "int64", (1, 8)),)), None)
    with pytest.raises(StageError, match="int8 quantization needs float inputs; 'ids' is int64"):
        run_stage("onnx->tf", model, work_root / "ids-tf", variants=("int8",))


def unary_onnx(path: Path, op: str) -> Path:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], op.lower(),
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def unary_model(work_root: Path, op: str):
    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    from .conftest import Model

    path = unary_onnx(work_root / f"{op}.onnx", op)
    return Model(Source(path, Format.ONNX), Signature((TensorSpec("x", "float32", (1, 8)),)), None)


def test_flex_ops_that_no_replacement_avoids_are_named_on_the_artifact(work_root):
    """Cosh becomes FlexCosh and onnx2tf has no pseudo-operator for it: the artifact says so."""
    from .conftest import run_stage

    run = run_stage("onnx->tf", unary_model(work_root, "Cosh"), work_root / "cosh-tf", targets=("tflite",), backend=TF_CONVERTER)
    assert [(a.variant, a.flex_ops) for a in run.artifacts] == [("float32", ["FlexCosh"]), ("float16", ["FlexCosh"])]
    assert all(a.to_dict()["needs_flex_delegate"] for a in run.artifacts)
    assert any("needs the Flex delegate" in note and "FlexCosh" in note for note in run.artifacts[0].notes)
    assert any("onnx2tf has no replacement" in line for line in run.logs)


def test_the_default_chain_writes_cosh_with_builtin_ops(work_root):
    """The same Cosh model through the default chain: the direct writer needs no Flex delegate."""
    from .conftest import run_stage

    model = unary_model(work_root, "Cosh")
    run = run_stage("onnx->tf", model, work_root / "cosh-auto", targets=("tflite",), variants=("float32",))
    (artifact,) = run.artifacts
    assert artifact.flex_ops == [] and artifact.backend == "onnx2tf"
    feeds = model.feeds()
    (expected,) = run_onnx(str(model.source.path), feeds)
    (got,) = run_tflite(artifact.path, feeds)
    assert np.abs(got - expected).max() <= 1e-5


def test_a_tf_op_tflite_cannot_express_is_replaced_by_a_pseudo_operator(work_root):
    """Asin: TFLite has neither a builtin nor a Flex kernel, so the first conversion fails; 'asin' fixes it."""
    from .conftest import run_stage

    model = unary_model(work_root, "Asin")
    run = run_stage("onnx->tf", model, work_root / "asin-tf", targets=("tflite",), variants=("float32",), backend=TF_CONVERTER)
    (artifact,) = run.artifacts
    assert artifact.flex_ops == [] and any("replace_to_pseudo_operators=['asin']" in line for line in run.logs)
    feeds = model.feeds()
    (expected,) = run_onnx(str(model.source.path), feeds)
    (got,) = run_tflite(artifact.path, feeds)
    assert np.abs(got - expected).max() <= 1e-3


def test_a_tf_op_without_any_replacement_is_a_stage_error_naming_it(work_root):
    from studio.errors import StageError

    from .conftest import run_stage

    with pytest.raises(StageError, match="cannot express TF op Atanh") as err:
        run_stage("onnx->tf", unary_model(work_root, "Atanh"), work_root / "atanh-tf", targets=("tflite",), backend=TF_CONVERTER)
    assert "\n" not in str(err.value)


def test_onnx2tf_calling_sys_exit_becomes_a_stage_error_with_its_message(work_root):
    """onnx2tf exits the process for a GroupNorm node (it insists on CUDA): we keep the process and the message."""
    from studio.errors import StageError

    from .conftest import run_stage

    model = unary_model(work_root, "GroupNorm")   # onnx2tf's CUDA-only custom op, not standard ONNX
    with pytest.raises(StageError, match="CUDA must be available") as err:
        run_stage("onnx->tf", model, work_root / "groupnorm-tf")
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- int8 and Select-TF ops

def test_int8_calibration_that_cannot_run_a_flex_op_is_retried_with_its_replacement(work_root):
    """A bare Erf is FlexErf; TFLite's int8 calibration cannot run it, so onnx2tf writes no int8 file at
    first. The stage reads why from onnx2tf's log and converts again with the 'erf' pseudo-operator."""
    from .conftest import run_stage

    model = unary_model(work_root, "Erf")
    run = run_stage("onnx->tf", model, work_root / "erf-int8-tf", targets=("tflite",), variants=("float32", "int8"), backend=TF_CONVERTER)
    assert [(a.variant, a.flex_ops) for a in run.artifacts] == [("float32", []), ("int8", [])]
    assert any("int8 calibration cannot run Select-TF ops FlexErf" in line
               and "replace_to_pseudo_operators=['erf']" in line for line in run.logs)
    feeds = model.feeds()
    (expected,) = run_onnx(str(model.source.path), feeds)
    (got,) = run_tflite(run.one("tflite").path, feeds)
    assert np.abs(got - expected).max() <= 1e-4


def test_no_int8_file_is_a_stage_error_with_onnx2tfs_own_reason(work_root):
    """Cosh is FlexCosh and has no replacement: int8 calibration cannot run it and the error says so."""
    from studio.errors import StageError

    from .conftest import run_stage

    with pytest.raises(StageError) as err:
        run_stage("onnx->tf", unary_model(work_root, "Cosh"), work_root / "cosh-int8-tf", targets=("tflite",), backend=TF_CONVERTER,
                  variants=("float32", "int8"))
    message = str(err.value)
    assert "onnx2tf wrote no int8 TFLite" in message and "FlexCosh" in message, message
    assert "not supported by this interpreter" in message and "no reason given" not in message
    assert "\n" not in message


def gelu_relu_onnx(path: Path) -> Path:
    """Add -> exact GELU in the dynamo exporter's order -> Relu on [1, 10, 16]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    consts = [numpy_helper.from_array(np.array(v, np.float32), n)
              for n, v in (("sqrt2", 1.4142135381698608), ("one", 1.0), ("half", 0.5))]
    consts.append(numpy_helper.from_array(np.linspace(-1, 1, 16, dtype=np.float32), "bias"))
    nodes = [helper.make_node("Add", ["x", "bias"], ["xb"]), helper.make_node("Div", ["xb", "sqrt2"], ["d"]),
             helper.make_node("Erf", ["d"], ["e"]), helper.make_node("Add", ["e", "one"], ["a"]),
             helper.make_node("Mul", ["half", "a"], ["h"]), helper.make_node("Mul", ["xb", "h"], ["g"]),
             helper.make_node("Relu", ["g"], ["y"])]
    graph = helper.make_graph(nodes, "gelu_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10, 16])], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_a_gelu_tflite_cannot_fuse_is_converted_as_exported(work_root):
    """A ReLU after the GELU breaks TFLite's GELU fusion (tf.Erfc is left, which it cannot run): the stage
    falls back to the GELU as exported, whose FlexErf the 'erf' pseudo-operator then replaces."""
    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    from .conftest import Model, run_stage

    path = gelu_relu_onnx(work_root / "gelu_relu.onnx")
    model = Model(Source(path, Format.ONNX), Signature((TensorSpec("x", "float32", (1, 10, 16)),)), None)
    run = run_stage("onnx->tf", model, work_root / "gelu-relu-tf", targets=("tflite",), variants=("float32",), backend=TF_CONVERTER)
    (artifact,) = run.artifacts
    assert artifact.flex_ops == []
    assert any("could not fuse the GELUs" in line for line in run.logs)
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 10, 16)).astype(np.float32)}
    (expected,) = run_onnx(str(path), feeds)
    (got,) = run_tflite(artifact.path, feeds)
    assert np.abs(got - expected).max() <= 1e-4


def test_an_onnx_used_as_it_was_read_goes_to_the_backend_as_a_copy_of_its_file(sources, onnx_runs, work_root,
                                                                               monkeypatch):
    """An ONNX with static shapes and every node named needs no change: the backend's private copy is the file
    itself, copied (not the model serialized again); one with an unnamed node is saved anew."""
    import shutil

    import onnx

    from studio.stages import onnx_to_tf
    from studio.stages.onnx_files import fix_input_shapes

    from .conftest import run_stage

    copies = []
    copyfile = shutil.copyfile

    def recording(src, dst, **kwargs):
        if Path(dst).suffix == ".onnx":   # (onnx2tf copies its schema files)
            copies.append((Path(src), Path(dst).name))
        return copyfile(src, dst, **kwargs)

    monkeypatch.setattr(onnx_to_tf.shutil, "copyfile", recording)
    model = sources["torch_cnn"]
    exported = onnx.load(onnx_runs["torch_cnn"].one("onnx").path)   # its batch dim is dynamic
    static = fix_input_shapes(exported, {"image": (1, 3, 32, 32)})
    paths = {"static": work_root / "static.onnx", "unnamed": work_root / "unnamed.onnx"}
    onnx.save(static, str(paths["static"]))
    static.graph.node[0].name = ""
    onnx.save(static, str(paths["unnamed"]))

    feeds = model.feeds(seed=3)
    [want] = run_onnx(str(paths["static"]), feeds)
    for name, path in paths.items():
        copies.clear()
        run = run_stage("onnx->tf", model, work_root / f"{name}-tf", input_path=path, targets=("tflite",),
                        variants=("float32",))
        assert copies == ([(path, "model.onnx")] if name == "static" else []), name
        tflite = run.one("tflite", "float32")
        [got] = run_tflite(tflite.path, tf_feeds(model, tflite, feeds))
        assert np.abs(got - want).max() <= ATOL


@pytest.mark.slow
def test_a_gelu_rewrite_of_a_model_the_stage_holds_without_weights_gets_them_back(work_root):
    """An ONNX the stage leaves as read is held without its weights; the TF-converter path's GELU rewrite needs a
    whole copy, read again from the file: the TFLite computes what the ONNX does."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    from .conftest import Model, run_stage

    weight = np.random.default_rng(1).normal(0, 0.2, (64, 32)).astype(np.float32)   # 2048 elements: left out
    consts = [numpy_helper.from_array(weight, "weight")] + [
        numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("sqrt2", 2 ** 0.5), ("one", 1.0),
                                                                         ("half", 0.5))]
    nodes = [helper.make_node("MatMul", ["x", "weight"], ["xw"], name="matmul"),
             helper.make_node("Div", ["xw", "sqrt2"], ["d"], name="div"), helper.make_node("Erf", ["d"], ["e"], name="erf"),
             helper.make_node("Add", ["e", "one"], ["a"], name="add"), helper.make_node("Mul", ["half", "a"], ["h"], name="mul1"),
             helper.make_node("Mul", ["xw", "h"], ["y"], name="mul2")]
    graph = helper.make_graph(nodes, "dense_gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10, 32])], initializer=consts)
    path = work_root / "dense_gelu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), str(path))
    model = Model(Source(path, Format.ONNX), Signature((TensorSpec("x", "float32", (1, 10, 64)),)), None)
    run = run_stage("onnx->tf", model, work_root / "dense-gelu-tf", targets=("tflite",), variants=("float32",),
                    backend=TF_CONVERTER)
    assert any("1 exact GELU rewritten" in line for line in run.logs), run.logs
    feeds = {"x": np.random.default_rng(0).standard_normal((1, 10, 64)).astype(np.float32)}
    (expected,) = run_onnx(str(path), feeds)
    (got,) = run_tflite(run.one("tflite", "float32").path, feeds)
    assert float(np.abs(expected).max()) > 0.1 and np.abs(got - expected).max() <= 1e-4

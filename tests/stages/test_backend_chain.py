"""The backend chain: onnx2tf's direct writer first, its TF-converter path for any file that fails its check.

The fallback is proven on files the direct writer really gets wrong on this stack (measured): its
dynamic-range int8 of a convolution is refused by LiteRT ("quantized_dimension != 0"), and its float16
keeps float16 inputs that LiteRT cannot run through MAX_POOL_2D.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.errors import without_tensor_dumps
from studio.stages.backends import AUTO_CHAIN, BACKENDS, _ProgressWatcher, backend_chain, backend_status


def test_auto_is_the_default_and_tries_the_direct_writer_first():
    from studio.jobs.protocol import ConvertRequest

    assert ConvertRequest(source={}, out_dir="x").options.backend == "auto"
    assert [b.name for b in backend_chain("auto")] == list(AUTO_CHAIN) == \
        ["onnx2tf", "onnx2tf-plain-layernorm", "onnx2tf-tf-converter"]
    assert [b.name for b in backend_chain("onnx2tf-tf-converter")] == ["onnx2tf-tf-converter"]
    status = backend_status()
    assert list(status)[:4] == ["auto", "onnx2tf", "onnx2tf-plain-layernorm", "onnx2tf-tf-converter"]
    assert status["auto"][0] and "flatbuffer_direct" in status["onnx2tf"][1]
    assert not status["onnx-tf"][0]
    assert BACKENDS["onnx2tf"].flex_prone is False and BACKENDS["onnx2tf-tf-converter"].flex_prone is True


def test_progress_follows_the_direct_writers_bars():
    text = ("flatbuffer_direct lowering:   0%|          | 0/8\rflatbuffer_direct lowering:  50%|#####     | 4/8\r"
            "flatbuffer_direct lowering: 100%|##########| 8/8\n"
            "flatbuffer_direct export [2/5] write float32 tflite:  40%|####      | 2/5")
    fraction, message = _ProgressWatcher.parse(text)
    assert fraction == pytest.approx(0.75 + 0.25 * 0.4) and message == "export"
    assert _ProgressWatcher.parse("flatbuffer_direct lowering:  50%|")[0] == pytest.approx(0.3)
    assert _ProgressWatcher.parse("INFO: nothing to see") == (None, "")


def test_tensor_dumps_never_reach_a_one_line_error():
    text = "Dimensions must be equal, but are 7 and 1. Found: [[[[0. 0. 0. ... 0.]]]] at node x"
    assert without_tensor_dumps(text) == "Dimensions must be equal, but are 7 and 1. Found: [...]"
    assert without_tensor_dumps("input [1, 3, 224, 224] came out as [1, 224, 3, 224]") == \
        "input [1, 3, 224, 224] came out as [1, 224, 3, 224]"


def test_a_failure_names_the_onnx_node_and_its_op(tmp_path):
    from onnx import TensorProto, helper

    from studio.stages.onnx_to_tf import failing_node

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="/blocks.3/attn/Relu_7")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph)
    log = tmp_path / "converter.log"
    log.write_text("ERROR: The trace log is below.\nERROR: onnx_op_name: /blocks.3/attn/Relu_7\n")
    assert failing_node(model, log, "boom") == "at ONNX node /blocks.3/attn/Relu_7 (Relu): boom"
    assert failing_node(model, tmp_path / "none.log", "at ONNX node /blocks.3/attn/Relu_7: boom") == \
        "at ONNX node /blocks.3/attn/Relu_7 (Relu): boom"
    assert failing_node(model, tmp_path / "none.log", "no node here") == "no node here"


def test_the_memory_estimate_scales_with_the_weights(tmp_path):
    import torch

    from studio.formats import Format, Source
    from studio.memory import FRAMEWORKS_BYTES, estimate_peak_bytes, weight_bytes

    model = torch.nn.Linear(1000, 1000)
    source = Source(tmp_path / "m.pt2", Format.EXPORTED_PROGRAM)
    assert weight_bytes(model, source) == (1000 * 1000 + 1000) * 4
    direct, basis = estimate_peak_bytes(source, ["torch->onnx", "onnx->tf"], "auto", model)
    old, _ = estimate_peak_bytes(source, ["torch->onnx", "onnx->tf"], "onnx2tf-tf-converter", model)
    assert FRAMEWORKS_BYTES < direct < old and "4.0 MB of weights" in basis
    assert "23.5 kB of weights" in estimate_peak_bytes(source, ["onnx->tf"], "auto", torch.nn.Linear(5874, 1))[1]


@pytest.mark.slow
def test_each_artifact_comes_from_the_first_backend_whose_file_passes(tf_runs):
    """The torch CNN's direct dynamic_int8 is refused by LiteRT: that one file comes from the TF converter,
    the others stay with the direct writer; the report of each names its backend."""
    run = tf_runs["torch_cnn"]
    backends = {a.variant if a.kind == "tflite" else a.kind: a.backend for a in run.artifacts}
    assert backends["float32"] == "onnx2tf" and backends["savedmodel"] == "onnx2tf"
    assert backends["dynamic_int8"] == "onnx2tf-tf-converter"
    assert any("onnx2tf's dynamic_int8 TFLite fails the check" in line and "trying onnx2tf-tf-converter" in line
               for line in run.logs)
    float32 = run.one("tflite")
    assert Path(float32.extras["tensor_correspondence"]).is_file()


@pytest.mark.slow
def test_the_direct_writer_keeps_the_source_names(tf_runs):
    from studio.stages.flex import tflite_io

    inputs, outputs = tflite_io(Path(tf_runs["keras_cnn"].one("tflite").path))
    assert [name for name, _ in inputs] == ["image"] and [name for name, _ in outputs] == ["scores"]


@pytest.mark.slow
def test_an_explicit_backend_gets_no_fallback(sources, onnx_runs, work_root):
    """--backend onnx2tf means that writer only: its refused dynamic_int8 is kept, and the comparison judges it."""
    from .conftest import run_stage

    onnx = Path(onnx_runs["torch_cnn"].one("onnx").path)
    run = run_stage("onnx->tf", sources["torch_cnn"], work_root / "cnn-direct-only", input_path=onnx,
                    targets=("tflite",), variants=("float32", "dynamic_int8"), backend="onnx2tf")
    assert {a.backend for a in run.artifacts} == {"onnx2tf"}
    dynamic = run.one("tflite", "dynamic_int8")
    assert any("no backend's file passed" in note for note in dynamic.notes)
    assert Path(dynamic.path).is_file() and dynamic.bytes > 0


@pytest.mark.slow
def test_the_backends_leave_the_working_directory_alone(sources, onnx_runs, work_root, tmp_path, monkeypatch):
    """No chdir, and nothing written where the job was started from: onnx2tf gets absolute paths for everything
    it writes (both writers run here: the torch CNN's dynamic_int8 falls back to the TF converter)."""
    import os

    from .conftest import run_stage

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    changes = []
    real_chdir = os.chdir
    monkeypatch.setattr(os, "chdir", lambda path: changes.append(path) or real_chdir(path))
    onnx = Path(onnx_runs["torch_cnn"].one("onnx").path)
    run = run_stage("onnx->tf", sources["torch_cnn"], work_root / "cnn-cwd", input_path=onnx,
                    targets=("savedmodel", "tflite"), variants=("float32", "dynamic_int8"))
    assert {a.backend for a in run.artifacts} == {"onnx2tf", "onnx2tf-tf-converter"}
    assert changes == [] and Path.cwd() == cwd and list(cwd.iterdir()) == []


def test_a_job_that_may_not_fit_in_free_memory_warns_before_it_starts(tmp_path, monkeypatch):
    import torch

    from studio import memory, pipeline
    from studio.formats import Format, Source
    from studio.stages.registry import plan

    events = []
    job = pipeline.JobSteps("job-1", events.append)
    source = Source(tmp_path / "m.pt2", Format.EXPORTED_PROGRAM)
    model = torch.nn.Linear(100, 100)
    stages = plan(source.format, ["onnx", "tflite"])
    pipeline._warn_about_memory(job, source, stages, "auto", model)
    assert [e.level for e in events] == ["info"] and "at the peak" in events[0].message
    monkeypatch.setattr(memory, "free_bytes", lambda: 1_000_000)   # a machine with 1 MB free
    pipeline._warn_about_memory(job, source, stages, "auto", model)
    warning = events[-1]
    assert warning.level == "warning" and "may swap" in warning.message and "only 1.0 MB is free" in warning.message


@pytest.mark.slow
def test_float16_that_loses_precision_is_kept_without_trying_another_backend(work_root):
    """x @ (1 + 3e-4 noise) - x @ 1, amplified: float16 rounds the noise away (its spacing at 1 is 1e-3) and
    the float16 file computes 0. That is float16's error, which the TF converter would repeat (at minutes of
    cost on large models), so the chain stops there and says so."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from studio.formats import Format, Source
    from studio.signature import Signature, TensorSpec

    from .conftest import Model, run_stage

    rng = np.random.default_rng(0)
    consts = [numpy_helper.from_array((1 + 3e-4 * rng.uniform(0, 1, (8, 8))).astype(np.float32), "w1"),
              numpy_helper.from_array(np.ones((8, 8), np.float32), "w2"),
              numpy_helper.from_array((3e3 * rng.uniform(-1, 1, (8, 8))).astype(np.float32), "w3")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["a"]), helper.make_node("MatMul", ["x", "w2"], ["b"]),
             helper.make_node("Sub", ["a", "b"], ["c"]), helper.make_node("MatMul", ["c", "w3"], ["y"])]
    graph = helper.make_graph(nodes, "cancel", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    path = work_root / "cancel.onnx"
    onnx.save(model, str(path))
    source = Model(Source(path, Format.ONNX), Signature((TensorSpec("x", "float32", (1, 8)),)), None)
    run = run_stage("onnx->tf", source, work_root / "cancel-tf", targets=("tflite",), variants=("float32", "float16"))
    assert {a.variant: a.backend for a in run.artifacts} == {"float32": "onnx2tf", "float16": "onnx2tf"}
    assert any("off by float16 rounding" in line for line in run.logs)
    assert not any("onnx2tf-tf-converter" in line for line in run.logs)
    assert any("float16 weights cannot hold" in note for note in run.one("tflite", "float16").notes)


def keras_layernorm_over_conv_features():
    """A conv stem and a LayerNormalization over its channels, ConvNeXt-style: tf2onnx exports its statistics by
    hand, in NCHW, and the direct writer's LayerNorm layout passes then mislay its scale."""
    import keras

    keras.utils.set_random_seed(3)
    image = keras.Input((16, 16, 3), batch_size=1, name="image")
    x = keras.layers.Conv2D(8, 4, strides=4)(image)
    norm = keras.layers.LayerNormalization(epsilon=1e-6)
    x = norm(x)
    rng = np.random.default_rng(0)
    norm.gamma.assign(rng.normal(1.0, 0.3, norm.gamma.shape).astype(np.float32))
    norm.beta.assign(rng.normal(0.0, 0.3, norm.beta.shape).astype(np.float32))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Dense(16, activation="relu")(x))
    return keras.Model(image, keras.layers.Dense(4, name="scores")(x))


@pytest.mark.slow
def test_a_layernorm_over_conv_features_comes_from_the_direct_writer_with_its_layernorm_passes_off(tmp_path,
                                                                                                  work_root):
    """The direct writer with its passes on cannot write this model (it fails, or LiteRT refuses the file): the
    float32 TFLite comes from onnx2tf-plain-layernorm, matches Keras, and the TF converter is never tried."""
    from ai_edge_litert.interpreter import Interpreter

    from studio.formats import Format, Source
    from studio.signature import NHWC, Signature, TensorSpec

    from .conftest import Model, _keras_reference, run_stage

    keras_model = keras_layernorm_over_conv_features()
    path = tmp_path / "ln.keras"
    keras_model.save(path)
    model = Model(Source(path, Format.KERAS), Signature((TensorSpec("image", "float32", (1, 16, 16, 3), NHWC),),
                                                        (TensorSpec("scores", "float32", (1, 4)),)),
                  _keras_reference(keras_model))
    onnx = Path(run_stage("tf->onnx", model, work_root / "ln-onnx").one("onnx").path)
    run = run_stage("onnx->tf", model, work_root / "ln-tf", input_path=onnx, targets=("tflite",),
                    variants=("float32",))

    float32 = run.one("tflite")
    assert float32.backend == "onnx2tf-plain-layernorm", run.logs
    assert any(line.startswith("onnx2tf") and "trying onnx2tf-plain-layernorm" in line for line in run.logs)
    assert not any("onnx2tf-tf-converter" in line for line in run.logs)
    feeds = model.feeds()
    interpreter = Interpreter(float32.path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feeds["image"])
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    (ref,) = model.reference(feeds)
    assert float(ref.std()) > 0.01 and np.abs(got - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max()))


def test_the_layernorm_passes_are_onnx2tfs_own_again_after_a_conversion():
    import importlib

    from studio.stages.onnx2tf_fixes import LAYERNORM_STATISTICS_PASSES, missing_passes, passes_off

    assert missing_passes() == []
    before = [getattr(importlib.import_module(m), a) for m, a, _ in LAYERNORM_STATISTICS_PASSES]
    with pytest.raises(ValueError), passes_off():
        turned_off = [getattr(importlib.import_module(m), a) for m, a, _ in LAYERNORM_STATISTICS_PASSES]
        assert all(f() == {key: 0} for f, (_, _, key) in zip(turned_off, LAYERNORM_STATISTICS_PASSES))
        raise ValueError("the conversion failed")
    assert [getattr(importlib.import_module(m), a) for m, a, _ in LAYERNORM_STATISTICS_PASSES] == before


class DilatedDepthwise:
    """A depthwise conv with a depth multiplier of 2 and dilation 2 (torch Conv2d with groups == in_channels),
    then a pointwise conv: onnx2tf writes a DEPTHWISE_CONV_2D, which its SavedModel kernel could not run."""

    @staticmethod
    def build():
        import torch

        torch.manual_seed(4)
        return torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=2, dilation=2, groups=3), torch.nn.ReLU(),
                                   torch.nn.Conv2d(6, 4, 1)).eval()


@pytest.mark.slow
def test_a_depthwise_conv_gets_its_savedmodel_and_tflite_from_the_direct_writer(tmp_path, work_root):
    """The SavedModel (run in TF) and the TFLite match torch, and neither needed a fallback."""
    import tensorflow as tf
    import torch

    from studio.formats import Format, Source
    from studio.signature import NCHW, Signature, TensorSpec

    from .conftest import Model, _torch_reference, run_stage

    module = DilatedDepthwise.build()
    example = torch.rand(1, 3, 16, 16)
    path = tmp_path / "depthwise.pt2"
    torch.export.save(torch.export.export(module, (example,)), path)
    model = Model(Source(path, Format.EXPORTED_PROGRAM),
                  Signature((TensorSpec("x", "float32", (1, 3, 16, 16), NCHW),),
                            (TensorSpec("output", "float32", (1, 4, 16, 16)),)), _torch_reference(module))
    onnx = Path(run_stage("torch->onnx", model, work_root / "depthwise-onnx").one("onnx").path)
    run = run_stage("onnx->tf", model, work_root / "depthwise-tf", input_path=onnx,
                    targets=("savedmodel", "tflite"), variants=("float32",))

    assert {a.backend for a in run.artifacts} == {"onnx2tf"}, run.logs
    assert not any("failed" in line for line in run.logs), run.logs
    feeds = model.feeds()
    (ref,) = model.reference(feeds)
    serving = tf.saved_model.load(run.one("savedmodel").path).signatures["serving_default"]
    [got] = serving(tf.constant(feeds["x"].transpose(0, 2, 3, 1))).values()   # the SavedModel takes NHWC
    assert float(ref.std()) > 0.01
    assert np.abs(got.numpy().transpose(0, 3, 1, 2) - ref).max() <= 1e-4


@pytest.mark.slow
def test_when_only_the_direct_writers_savedmodel_fails_its_tflite_is_kept(tmp_path, work_root, monkeypatch):
    """onnx2tf's own depthwise SavedModel kernel (the fix turned off) fails after the TFLite is written: the
    TFLite still comes from the direct writer, and only the SavedModel from the next backend."""
    import contextlib

    import torch

    from studio.formats import Format, Source
    from studio.signature import NCHW, Signature, TensorSpec
    from studio.stages import backends

    from .conftest import Model, _torch_reference, run_stage

    monkeypatch.setattr(backends, "fixed_kernels", contextlib.nullcontext)
    module = DilatedDepthwise.build()
    path = tmp_path / "depthwise.pt2"
    torch.export.save(torch.export.export(module, (torch.rand(1, 3, 16, 16),)), path)
    model = Model(Source(path, Format.EXPORTED_PROGRAM),
                  Signature((TensorSpec("x", "float32", (1, 3, 16, 16), NCHW),),
                            (TensorSpec("output", "float32", (1, 4, 16, 16)),)), _torch_reference(module))
    onnx = Path(run_stage("torch->onnx", model, work_root / "depthwise-unfixed-onnx").one("onnx").path)
    run = run_stage("onnx->tf", model, work_root / "depthwise-unfixed-tf", input_path=onnx,
                    targets=("savedmodel", "tflite"), variants=("float32", "float16"))

    backends_made = {a.variant if a.kind == "tflite" else a.kind: a.backend for a in run.artifacts}
    assert backends_made == {"float32": "onnx2tf", "float16": "onnx2tf", "savedmodel": "onnx2tf-tf-converter"}
    assert any("onnx2tf failed to write its SavedModel (its SavedModel export failed in its depthwise_conv2d "
               "kernel: ValueError: `input.shape.rank` must be at least 5" in line for line in run.logs), run.logs


def _dense_block_onnx(tmp_path, work_root, name: str):
    """A conv + linear model whose weights are 4096 and 12288 elements and whose biases are 16 and 64, and its
    ONNX export."""
    import torch

    from studio.formats import Format, Source
    from studio.signature import NCHW, Signature, TensorSpec

    from .conftest import Model, _torch_reference, run_stage

    torch.manual_seed(2)
    module = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 4, stride=4), torch.nn.GELU(), torch.nn.Flatten(),
                                 torch.nn.Linear(16 * 4 * 4, 48)).eval()
    path = tmp_path / f"{name}.pt2"
    torch.export.save(torch.export.export(module, (torch.rand(1, 16, 16, 16),)), path)
    model = Model(Source(path, Format.EXPORTED_PROGRAM),
                  Signature((TensorSpec("x", "float32", (1, 16, 16, 16), NCHW),),
                            (TensorSpec("output", "float32", (1, 48)),)), _torch_reference(module))
    return model, Path(run_stage("torch->onnx", model, work_root / f"{name}-onnx").one("onnx").path)


def _dense_block_model(tmp_path, work_root, name: str):
    """The dense block converted to a SavedModel by the direct writer: its weights go to variables, its biases
    stay constants."""
    from .conftest import run_stage

    model, onnx = _dense_block_onnx(tmp_path, work_root, name)
    run = run_stage("onnx->tf", model, work_root / f"{name}-tf", input_path=onnx, targets=("savedmodel",),
                    variants=())
    return model, run


def _check_savedmodel(model, run) -> tuple[int, int]:
    """The SavedModel matches torch; (elements in its variables, bytes of its saved_model.pb)."""
    import tensorflow as tf

    folder = Path(run.one("savedmodel").path)
    feeds = model.feeds()
    (ref,) = model.reference(feeds)
    [got] = tf.saved_model.load(str(folder)).signatures["serving_default"](tf.constant(feeds["x"].transpose(
        0, 2, 3, 1))).values()
    assert float(ref.std()) > 0.01 and np.abs(got.numpy() - ref).max() <= 1e-4
    stored = tf.train.list_variables(str(folder / "variables" / "variables"))
    weights = [shape for name, shape in stored if name != "_CHECKPOINTABLE_OBJECT_GRAPH"]   # TF's own entry
    return sum(int(np.prod(shape)) for shape in weights), (folder / "saved_model.pb").stat().st_size


@pytest.mark.slow
def test_the_direct_writers_savedmodel_keeps_its_weights_in_variables(tmp_path, work_root):
    """The weights (16*16*4*4 + 256*48 = 16384 floats, 64 KB) are in variables/, not in saved_model.pb."""
    model, run = _dense_block_model(tmp_path, work_root, "weights")
    elements, graph_bytes = _check_savedmodel(model, run)
    assert elements == 16 * 16 * 4 * 4 + 256 * 48
    assert graph_bytes < 16384 * 4, graph_bytes   # smaller than the weights alone (21 KB measured)


@pytest.mark.slow
def test_a_savedmodel_that_fails_with_variables_is_exported_with_constants(tmp_path, work_root, monkeypatch):
    from studio.stages import onnx2tf_savedmodel

    def failing(numpy_dtype, tf_dtype):
        def build_root_constants(self):
            raise RuntimeError("injected variables failure")
        return build_root_constants

    monkeypatch.setattr(onnx2tf_savedmodel, "_weights_as_variables", failing)
    model, run = _dense_block_model(tmp_path, work_root, "constants")
    elements, graph_bytes = _check_savedmodel(model, run)
    assert elements == 0 and graph_bytes > 16384 * 4   # onnx2tf's own way: every weight a constant in the graph
    assert {a.backend for a in run.artifacts} == {"onnx2tf"}, run.logs   # no fallback to another backend


@pytest.mark.slow
def test_the_direct_writer_without_extra_weight_copies_writes_the_same_bytes(tmp_path, work_root, monkeypatch):
    """Shape inference without the weights, the float32 file's IR sharing them and the lean serializer make byte
    for byte the file onnx2tf makes on its own, and onnx2tf's log says they were used."""
    import contextlib

    from studio.stages import backends

    from .conftest import run_stage

    model, onnx = _dense_block_onnx(tmp_path, work_root, "lean")
    runs = []
    for lean in (True, False):
        if not lean:
            monkeypatch.setattr(backends, "lean_serializer", contextlib.nullcontext)
            monkeypatch.setattr(backends, "shapes_without_weights", contextlib.nullcontext)
            monkeypatch.setattr(backends, "float32_shares_weights", contextlib.nullcontext)
        logs = tmp_path / f"logs-{lean}"
        run = run_stage("onnx->tf", model, work_root / f"lean-{lean}-tf", input_path=onnx, log_dir=logs,
                        targets=("savedmodel", "tflite"), variants=("float32",))   # (shared: for the SavedModel)
        log = logs / "onnx2tf-run.log"   # the direct writer's: the first backend tried
        runs.append((Path(run.one("tflite").path).read_bytes(), log.read_text()))
    (lean, lean_log), (own, own_log) = runs
    assert len(lean) > (16 * 16 * 4 * 4 + 256 * 48) * 4 and lean == own
    assert "studio: shapes inferred without 2 weights (0.1 MB)" in lean_log, lean_log
    assert "stage=float32 mode=studio_lean_builder" in lean_log, lean_log
    assert "studio: the float32 file's IR shares " in lean_log, lean_log
    assert not any(said in own_log for said in ("studio_lean_builder", "shapes inferred without", "IR shares"))


@pytest.mark.slow
def test_a_pass_that_writes_into_a_shared_weight_gets_onnx2tfs_copies(tmp_path, work_root, monkeypatch):
    """A last pass of the float32 file that wrote into a weight (none of onnx2tf 2.6.9's does: this one is made up)
    meets a read-only array; the conversion runs again with onnx2tf's own copies and is right."""
    import tensorflow as tf
    from onnx2tf import tflite_builder

    from .conftest import run_stage

    writable = []   # each time the pass writes: was the weight writable?
    original = tflite_builder._optimize_constant_binary_elementwise_chains

    def writing_pass(model_ir, **kwargs):
        for tensor in model_ir.tensors.values():
            if isinstance(tensor.data, np.ndarray) and tensor.data.size >= 1024 and tensor.data.dtype == np.float32:
                writable.append(tensor.data.flags.writeable)
                tensor.data *= 1.0   # in place: the same numbers (raises on a read-only array)
                break
        return original(model_ir, **kwargs)

    monkeypatch.setattr(tflite_builder, "_optimize_constant_binary_elementwise_chains", writing_pass)
    model, onnx = _dense_block_onnx(tmp_path, work_root, "writing")
    run = run_stage("onnx->tf", model, work_root / "writing-tf", input_path=onnx, targets=("savedmodel", "tflite"),
                    variants=("float32",))
    # the shared weight raised (onnx2tf tries its direct export twice), and our second run wrote into its own copy
    assert writable[0] is False and writable[-1] is True and writable.count(True) == 1, writable
    assert {a.backend for a in run.artifacts} == {"onnx2tf"}, run.logs   # no fallback to another backend
    feeds = model.feeds()
    (ref,) = model.reference(feeds)
    [got] = tf.saved_model.load(run.one("savedmodel").path).signatures["serving_default"](
        tf.constant(feeds["x"].transpose(0, 2, 3, 1))).values()
    assert np.abs(got.numpy() - ref).max() <= 1e-4


def test_shapes_inferred_without_weights_are_onnxs_and_the_model_keeps_its_weights(capsys):
    """A MatMul whose 64x48 weight is taken out, then a Reshape whose int64 shape must stay for ONNX to infer it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx2tf.tflite_builder import lower_from_onnx2tf as lowering

    from studio.stages.onnx2tf_shapes import shapes_without_weights

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(64, 48)).astype(np.float32), "weight")
    shape = numpy_helper.from_array(np.array([1, 6, 8], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["hidden"], name="matmul"),
         helper.make_node("Reshape", ["hidden", "shape"], ["y"], name="reshape")],
        "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    before = model.SerializeToString()
    expected = onnx.shape_inference.infer_shapes(model)

    with shapes_without_weights():
        inferred = lowering._infer_shapes_with_fallback(model)

    assert "studio: shapes inferred without 1 weights (0.0 MB)" in capsys.readouterr().out
    assert model.SerializeToString() == before
    assert inferred.SerializeToString() == expected.SerializeToString()
    assert [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim] == [1, 6, 8]
    assert lowering._infer_shapes_with_fallback is not None and "infer_without_weights" not in \
        lowering._infer_shapes_with_fallback.__qualname__


def test_shapes_an_op_onnx_cannot_infer_leaves_unknown_are_onnx2tfs_own():
    """Add(x, a 2048-element bias) -> an op of a custom domain -> Relu: ONNX leaves the last two shapes unknown,
    and onnx2tf's fallback (onnxruntime's symbolic shape inference) reads the bias's values, so the model goes
    that way with its weights, and the result is onnx2tf's own."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx2tf.tflite_builder import lower_from_onnx2tf as lowering

    from studio.stages.onnx2tf_shapes import shapes_without_weights

    bias = numpy_helper.from_array(np.linspace(-1, 1, 2048, dtype=np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "bias"], ["added"], name="add"),
         helper.make_node("Foo", ["added"], ["z"], name="foo", domain="custom.domain"),
         helper.make_node("Relu", ["z"], ["y"], name="relu")],
        "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2048])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("custom.domain", 1)])
    own = lowering._infer_shapes_with_fallback(model)

    with shapes_without_weights():
        inferred = lowering._infer_shapes_with_fallback(model)

    assert inferred.SerializeToString() == own.SerializeToString()
    assert numpy_helper.to_array(inferred.graph.initializer[0]).shape == (2048,)

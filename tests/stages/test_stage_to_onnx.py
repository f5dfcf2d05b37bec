"""torch->onnx and tf->onnx on real tiny models: the ONNX runs in onnxruntime and matches the source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from studio.errors import StageError
from studio.signature import OTHER, Signature, TensorSpec
from .conftest import Model, run_stage

ATOL = 1e-4


def run_onnx(path: str, feeds: dict[str, np.ndarray]) -> tuple[list[str], list[str], list[np.ndarray]]:
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    return names, outputs, session.run(None, {n: feeds[n] for n in names})


@pytest.mark.parametrize("name", ["torch_cnn", "torch_block", "keras_cnn", "keras_two", "keras_two_savedmodel"])
def test_onnx_matches_the_source(name, sources, onnx_runs):
    model, run = sources[name], onnx_runs[name]
    (artifact,) = run.artifacts
    assert artifact.kind == "onnx" and artifact.variant == "float32" and artifact.path.endswith(".onnx")
    assert artifact.bytes > 0
    assert artifact.input_layout == {s.name: s.layout for s in model.signature.inputs}
    feeds = model.feeds()
    input_names, output_names, outputs = run_onnx(artifact.path, feeds)
    assert input_names == [s.name for s in model.signature.inputs]      # the source's names survive
    by_name = dict(zip(output_names, outputs))
    reference = model.reference(feeds)
    if model.signature.outputs:
        assert sorted(output_names) == sorted(s.name for s in model.signature.outputs)
        outputs = [by_name[s.name] for s in model.signature.outputs]
    for ref, got in zip(reference, outputs, strict=True):
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= ATOL


def test_torchscript_goes_through_ts2ep_and_the_dynamo_exporter(onnx_runs):
    run = onnx_runs["torch_cnn"]
    assert run.logs[0].startswith("export attempts, in order: 1. TorchScript -> ExportedProgram (TS2EP)")
    assert any("exported with TS2EP + the dynamo exporter, opset 18" in line for line in run.logs)
    assert not any("failed" in line for line in run.logs)
    assert run.one("onnx").backend == "torch.onnx (ts2ep+dynamo)"


def test_exported_program_goes_through_dynamo(onnx_runs):
    assert any("dynamo exporter, opset 18" in line for line in onnx_runs["torch_block"].logs)
    assert not any("failed" in line for line in onnx_runs["torch_block"].logs)


def test_a_static_exported_program_is_exported_as_it_is_and_a_dynamic_one_from_its_module(tmp_path, work_root,
                                                                                          monkeypatch):
    """The dynamo exporter takes a .pt2 whose shapes are the job's as it is, without capturing its module()
    again; one exported with a dynamic batch is specialized to the job's shapes through its module(), as before.
    Both ONNX files are static and match torch."""
    import torch

    from studio.formats import Format, Source
    from studio.signature import NCHW
    from studio.stages.torch_to_onnx import TorchToOnnx

    from .conftest import _torch_reference

    given = []
    export = TorchToOnnx._export
    monkeypatch.setattr(TorchToOnnx, "_export", staticmethod(
        lambda module, *args, **kwargs: given.append(type(module).__name__) or export(module, *args, **kwargs)))
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                 torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 5)).eval()
    example = (torch.rand(2, 3, 16, 16),)
    batch = torch.export.Dim("batch", min=1, max=8)
    programs = {"static": torch.export.export(module, example),
                "dynamic": torch.export.export(module, example, dynamic_shapes=({0: batch},))}
    signature = Signature((TensorSpec("image", "float32", (2, 3, 16, 16), NCHW),),
                          (TensorSpec("logits", "float32", (2, 5)),))
    for name, program in programs.items():
        path = tmp_path / f"{name}.pt2"
        torch.export.save(program, path)
        model = Model(Source(path, Format.EXPORTED_PROGRAM), signature, _torch_reference(module))
        run = run_stage("torch->onnx", model, work_root / f"program-{name}")
        feeds = model.feeds()
        _, _, (got,) = run_onnx(run.one("onnx").path, feeds)
        assert np.abs(got - model.reference(feeds)[0]).max() <= ATOL
        shape = [d.dim_value for d in onnx_input_shape(run.one("onnx").path)]
        assert shape == [2, 3, 16, 16], (name, shape)
    assert given == ["ExportedProgram", "GraphModule"]


def onnx_input_shape(path: str) -> list:
    import onnx

    return list(onnx.load(path, load_external_data=False).graph.input[0].type.tensor_type.shape.dim)


def test_onnx_is_one_self_contained_file_at_opset_18(onnx_runs):
    import onnx

    for run in onnx_runs.values():
        path = run.one("onnx").path
        model = onnx.load(path, load_external_data=False)
        assert {o.domain or "ai.onnx": o.version for o in model.opset_import}["ai.onnx"] == 18
        assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
        folder = Path(path).parent
        assert [p.name for p in folder.iterdir() if p.suffix != ".log"] == [Path(path).name]


def test_progress_is_reported_and_ends_at_one(onnx_runs):
    for run in onnx_runs.values():
        fractions = [f for f, _ in run.progress]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_model_that_cannot_run_on_the_given_shape_is_a_stage_error(sources, work_root):
    model = sources["torch_block"]
    wrong = Model(model.source, Signature((TensorSpec("tokens", "float32", (1, 10, 7), OTHER),)), model.reference)
    with pytest.raises(StageError) as err:
        run_stage("torch->onnx", wrong, work_root / "wrong-shape")
    assert err.value.stage == "torch->onnx" and "\n" not in str(err.value)


def test_when_from_keras_fails_the_model_is_traced_as_a_function(sources, work_root, monkeypatch):
    """tf2onnx.from_keras chokes on some Keras 3 models; the stage traces model.__call__ instead."""
    from studio.stages import tf_to_onnx

    def broken(*args, **kwargs):
        raise TypeError("unsupported Keras layer")

    monkeypatch.setattr(tf_to_onnx, "from_traced_keras", broken)
    model = sources["keras_two"]
    run = run_stage("tf->onnx", model, work_root / "from-function")
    assert any("from_keras failed (TypeError: unsupported Keras layer)" in line for line in run.logs)
    feeds = model.feeds()
    _, output_names, outputs = run_onnx(run.one("onnx").path, feeds)
    by_name = dict(zip(output_names, outputs))
    for spec, ref in zip(model.signature.outputs, model.reference(feeds)):
        assert np.abs(by_name[spec.name] - ref).max() <= ATOL


def test_the_fast_tf2onnx_path_writes_the_same_onnx_as_tf2onnx_by_default(sources, work_root, monkeypatch):
    """The stage skips tf2onnx's per-pass graph copies and proto syncs and its rebuilt ConcreteFunction
    (studio.stages.tf2onnx_speedups). Against tf2onnx.from_keras run as it ships: the same ops (tf2onnx's op
    order and generated names vary between runs), the same weights, bit-identical outputs."""
    from collections import Counter

    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    from studio.loaders import load_tf
    from studio.stages import tf2onnx_speedups

    passes = []
    unsynced = tf2onnx_speedups._optimize_without_sync
    monkeypatch.setattr(tf2onnx_speedups, "_optimize_without_sync",
                        lambda *args: passes.append(type(args[0]).__name__) or unsynced(*args))
    model = sources["keras_cnn"]
    run = run_stage("tf->onnx", model, work_root / "fast-tf2onnx")
    assert len(passes) >= 20 and not any("without its guards" in line for line in run.logs)   # the fast path ran
    fast = onnx.load(run.one("onnx").path)
    specs = [tf.TensorSpec(s.shape, tf.float32, name=s.name) for s in model.signature.inputs]
    plain, _ = tf2onnx.convert.from_keras(load_tf(model.source), input_signature=specs, opset=18)
    assert Counter(n.op_type for n in fast.graph.node) == Counter(n.op_type for n in plain.graph.node)
    assert sorted(t.raw_data for t in fast.graph.initializer) == sorted(t.raw_data for t in plain.graph.initializer)
    feeds = model.feeds()
    outputs = [ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
               for proto in (fast, plain)]
    assert all(np.array_equal(a, b) for a, b in zip(*outputs, strict=True))


def test_keras_outputs_keep_the_models_order_and_names_as_from_keras_gives_them():
    """The stage converts the function it traced (from_traced_keras) rather than tracing the model again in
    from_keras. Outputs whose names do not sort in the model's order, and one listed twice, come out as from_keras
    names and orders them, with the same values."""
    import keras
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    from studio.stages.tf_to_onnx import _keras_function, from_traced_keras

    wide, narrow = keras.Input((8,), name="wide"), keras.Input((4,), name="narrow")
    zeta = keras.layers.Dense(5, name="zeta")(wide)
    model = keras.Model([wide, narrow], [zeta, keras.layers.Dense(3, name="alpha")(narrow),
                                         keras.layers.Dense(2, name="mid")(wide), zeta])
    specs = [tf.TensorSpec([1, 8], tf.float32, name="wide"), tf.TensorSpec([1, 4], tf.float32, name="narrow")]
    ours = from_traced_keras(model, _keras_function(model, specs), 18)
    theirs, _ = tf2onnx.convert.from_keras(model, input_signature=specs, opset=18)
    assert [o.name for o in ours.graph.output] == [o.name for o in theirs.graph.output] == ["zeta", "alpha", "mid",
                                                                                              "zeta_1"]
    assert [i.name for i in ours.graph.input] == [i.name for i in theirs.graph.input] == ["wide", "narrow"]
    rng = np.random.default_rng(0)
    feeds = {"wide": rng.random((1, 8), np.float32), "narrow": rng.random((1, 4), np.float32)}
    got, want = (ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
                 for p in (ours, theirs))
    assert len(got) == len(want) == 4 and all(np.array_equal(a, b) for a, b in zip(got, want))

    # a model returning a dict, and two outputs Keras names alike (split, split, split_1, split_1)
    halves = [*keras.ops.split(keras.layers.Dense(4, name="left")(wide), 2, axis=-1),
              *keras.ops.split(keras.layers.Dense(4, name="right")(narrow), 2, axis=-1)]
    for outputs in ({"score": zeta, "aux": halves[0]}, halves):
        model = keras.Model([wide, narrow], outputs)
        ours = from_traced_keras(model, _keras_function(model, specs), 18)
        theirs, _ = tf2onnx.convert.from_keras(model, input_signature=specs, opset=18)
        names = [o.name for o in ours.graph.output]
        assert names == [o.name for o in theirs.graph.output] and len(set(names)) == len(model.outputs), names
        got, want = (ort.InferenceSession(p.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
                     for p in (ours, theirs))
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def test_a_failure_in_the_fast_freezing_is_retried_with_tfs_own(sources, work_root, monkeypatch):
    from studio.stages import tf2onnx_speedups

    class Broken:
        def __init__(self, graph_def):
            raise RuntimeError("injected freezing failure")

    monkeypatch.setattr(tf2onnx_speedups, "_Frozen", Broken)
    model = sources["keras_cnn"]
    run = run_stage("tf->onnx", model, work_root / "freeze-retry")
    assert any("tf2onnx failed without its guards (RuntimeError: injected freezing failure)" in line
               for line in run.logs), run.logs
    feeds = model.feeds()
    _, _, (got,) = run_onnx(run.one("onnx").path, feeds)
    assert np.abs(got - model.reference(feeds)[0]).max() <= ATOL


def test_a_failing_tf2onnx_optimizer_pass_is_retried_with_each_pass_guarded(sources, work_root, monkeypatch):
    """The stage runs tf2onnx's optimizer passes without its per-pass copy of the graph; a pass that fails (one
    injected here) makes it convert again with the copies, where tf2onnx skips that pass."""
    import os
    from collections import OrderedDict

    from tf2onnx import optimizer
    from tf2onnx.optimizer.optimizer_base import GraphOptimizerBase

    calls = []

    class Failing(GraphOptimizerBase):
        def _optimize(self, graph):
            calls.append(os.environ.get("TF2ONNX_CATCH_ERRORS"))
            raise RuntimeError("injected pass failure")

    monkeypatch.setattr(optimizer, "_optimizers", OrderedDict([*optimizer._optimizers.items(), ("failing", Failing)]))
    monkeypatch.delenv("TF2ONNX_CATCH_ERRORS", raising=False)
    model = sources["keras_two"]
    run = run_stage("tf->onnx", model, work_root / "optimizer-retry")
    assert calls[0] == "FALSE" and None in calls, calls          # unguarded first, then guarded
    assert any("tf2onnx failed without its guards (RuntimeError: injected pass failure)" in line for line in run.logs)
    assert "TF2ONNX_CATCH_ERRORS" not in os.environ
    feeds = model.feeds()
    _, output_names, outputs = run_onnx(run.one("onnx").path, feeds)
    by_name = dict(zip(output_names, outputs))
    for spec, ref in zip(model.signature.outputs, model.reference(feeds)):
        assert np.abs(by_name[spec.name] - ref).max() <= ATOL

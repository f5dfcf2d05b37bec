"""The torch runtime on every torch source format, against the module's own output."""

from __future__ import annotations

import numpy as np
import pytest

from studio.errors import StudioError
from studio.formats import Format, Source, detect
from studio.runtimes.torch_rt import TorchRuntime
from studio.signature import NCHW


def _source(torch_cnn, kind: str) -> Source:
    paths = torch_cnn.paths
    if kind == "factory":
        return detect(f"{paths['factory']}:build_model", weights=paths["weights"])
    return detect(paths[kind], allow_pickle=(kind == "pickle"))


@pytest.mark.parametrize("kind", ["torchscript", "pt2", "factory", "pickle"])
def test_every_torch_format_matches_the_module(kind, torch_cnn):
    runtime = TorchRuntime(_source(torch_cnn, kind))
    out = runtime.run({"image": torch_cnn.x})
    assert list(out) == ["output_0"]
    np.testing.assert_allclose(out["output_0"], torch_cnn.y, atol=1e-6, rtol=0)


def test_exported_program_knows_its_shapes(torch_cnn):
    runtime = TorchRuntime(_source(torch_cnn, "pt2"))
    (inp,) = runtime.signature.inputs
    assert (inp.name, inp.shape, inp.layout) == ("image", (1, 3, 16, 16), NCHW)
    assert runtime.signature.outputs[0].shape == (1, 5)


def test_torchscript_outputs_are_learned_from_the_first_run(torch_cnn):
    runtime = TorchRuntime(_source(torch_cnn, "torchscript"))
    assert runtime.signature.outputs == ()
    runtime.run({"image": torch_cnn.x})
    assert [(o.name, o.shape) for o in runtime.signature.outputs] == [("output_0", (1, 5))]


def test_an_already_loaded_model_is_reused(torch_cnn):
    source = Source(torch_cnn.paths["factory"], Format.PYTHON_FACTORY, factory="build_model")
    runtime = TorchRuntime(source, model=torch_cnn.extra["model"])
    np.testing.assert_allclose(runtime.run({"image": torch_cnn.x})["output_0"], torch_cnn.y, atol=1e-6, rtol=0)


STRUCTURED_SOURCE = '''
import torch


class TupleOut(torch.nn.Module):
    def forward(self, x, tokens):
        return x * 2, (x.sum(1), tokens + 1)


class DictOut(torch.nn.Module):
    def forward(self, x):
        return {"scores": x.softmax(-1), "best": x.argmax(-1)}
'''


@pytest.fixture(scope="module")
def structured(tmp_path_factory):
    path = tmp_path_factory.mktemp("structured") / "structured.py"
    path.write_text(STRUCTURED_SOURCE)
    return path


def test_nested_tuple_outputs_flatten_in_order_and_int_inputs_keep_their_dtype(structured):
    runtime = TorchRuntime(detect(f"{structured}:TupleOut"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    tokens = np.array([[1, 2, 3]], dtype=np.int64)
    out = runtime.run({"x": x, "tokens": tokens})
    assert list(out) == ["output_0", "output_1", "output_2"]
    np.testing.assert_array_equal(out["output_1"], x.sum(1))
    assert out["output_2"].dtype == np.int64 and out["output_2"].tolist() == [[2, 3, 4]]


def test_dict_outputs_are_named_by_their_keys(structured):
    out = TorchRuntime(detect(f"{structured}:DictOut")).run({"x": np.array([[0.0, 3.0, 1.0]], np.float32)})
    assert list(out) == ["scores", "best"]
    assert out["best"].tolist() == [1]


def test_a_run_failure_is_one_line(torch_cnn):
    runtime = TorchRuntime(_source(torch_cnn, "pt2"))
    with pytest.raises(StudioError) as info:
        runtime.run({"image": np.zeros((1, 3, 9, 9), np.float32)})  # the export fixed 16x16
    assert str(info.value).startswith("torch could not run the model") and "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["truncated.pt", "truncated.pt2"])
def test_damaged_torch_files_raise_studio_error(name, corrupt, torch_cnn):
    original = torch_cnn.paths["torchscript" if name.endswith(".pt") else "pt2"]
    with pytest.raises(StudioError):
        TorchRuntime(detect(corrupt(name, truncate_from=original)))

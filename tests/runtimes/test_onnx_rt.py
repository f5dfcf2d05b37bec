"""onnxruntime against torch on the same ONNX the torch exporter wrote."""

from __future__ import annotations

import numpy as np
import pytest

from studio.errors import StudioError
from studio.runtimes.onnx_rt import OnnxRuntime
from studio.signature import NCHW, OTHER


@pytest.fixture(scope="module")
def runtime(torch_cnn) -> OnnxRuntime:
    return OnnxRuntime(torch_cnn.paths["onnx"])


def test_matches_torch(runtime, torch_cnn):
    out = runtime.run({"image": torch_cnn.x})
    assert list(out) == ["logits"]
    np.testing.assert_allclose(out["logits"], torch_cnn.y, atol=1e-5, rtol=0)


def test_signature_marks_dynamic_batch_and_channels_first(runtime):
    (inp,), (out,) = runtime.signature.inputs, runtime.signature.outputs
    assert (inp.name, inp.dtype, inp.shape, inp.layout) == ("image", "float32", (None, 3, 16, 16), NCHW)
    assert (out.name, out.shape, out.layout) == ("logits", (None, 5), OTHER)


def test_dynamic_batch_runs(runtime, torch_cnn):
    batch = np.concatenate([torch_cnn.x] * 3)
    assert runtime.run({"image": batch})["logits"].shape == (3, 5)


def test_feeds_fall_back_to_order_and_cast(runtime, torch_cnn):
    out = runtime.run({"renamed_by_a_converter": torch_cnn.x.astype(np.float64)})
    np.testing.assert_allclose(out["logits"], torch_cnn.y, atol=1e-5, rtol=0)


def test_wrong_feeds_are_one_line_errors(runtime, torch_cnn):
    with pytest.raises(StudioError, match="takes 1 input"):
        runtime.run({"image": torch_cnn.x, "extra": torch_cnn.x})
    with pytest.raises(StudioError, match="expects 4 dims"):
        runtime.run({"image": torch_cnn.x[0]})


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_bad_files_raise_studio_error(kind, corrupt, torch_cnn):
    path = {"random": lambda: corrupt("bad.onnx"),
            "truncated": lambda: corrupt("half.onnx", truncate_from=torch_cnn.paths["onnx"]),
            "empty": lambda: corrupt("empty.onnx", b"")}[kind]()
    with pytest.raises(StudioError) as info:
        OnnxRuntime(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)

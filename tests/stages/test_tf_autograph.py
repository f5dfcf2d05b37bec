"""onnx2tf's SavedModel tracing without AutoGraph: a tensor branch asks for AutoGraph, the rules come back."""

import importlib.util
import sys

import pytest

tf = pytest.importorskip("tensorflow")

from studio.stages.tf_autograph import needs_autograph, onnx2tf_without_autograph  # noqa: E402

SOURCE = '''
def relu_by_branch(x):
    if x > 0:          # a Python branch on a tensor: only AutoGraph can trace it
        return x
    return x * 0
'''


@pytest.fixture
def onnx2tf_probe(tmp_path):
    """A function that lives in an onnx2tf module, as onnx2tf's kernels do (in a file: AutoGraph reads source)."""
    name = "onnx2tf._studio_autograph_probe"
    path = tmp_path / "probe.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module.relu_by_branch
    del sys.modules[name]


def serve(kernel):
    """Like onnx2tf's signature function: tf.function always converts its own function; the rules apply to
    what it calls (onnx2tf's executor and kernels)."""
    return tf.function(lambda x: kernel(x))


def test_a_tensor_branch_under_onnx2tf_asks_for_autograph(onnx2tf_probe):
    from tensorflow.python.autograph.core import config

    rules = config.CONVERSION_RULES
    with onnx2tf_without_autograph():
        with pytest.raises(Exception) as failed:
            serve(onnx2tf_probe)(tf.constant(-2.0))
    assert needs_autograph(failed.value)
    assert config.CONVERSION_RULES is rules
    # With AutoGraph back, the same function traces and computes.
    assert float(serve(onnx2tf_probe)(tf.constant(-2.0))) == 0.0
    assert float(serve(onnx2tf_probe)(tf.constant(3.0))) == 3.0


def test_other_failures_do_not_ask_for_autograph():
    assert not needs_autograph(ValueError("shape mismatch"))
    try:
        try:
            raise tf.errors.OperatorNotAllowedInGraphError("using a tf.Tensor as a Python bool")
        except Exception as inner:
            raise RuntimeError("export failed") from inner
    except RuntimeError as outer:
        assert needs_autograph(outer)

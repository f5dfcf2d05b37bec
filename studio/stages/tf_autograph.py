"""Trace onnx2tf's SavedModel function without AutoGraph.

onnx2tf's direct writer makes its SavedModel by tracing one tf.function that walks its op list in plain
Python and calls one kernel per op. AutoGraph converts every kernel it reaches to graph code first, which
buys nothing here (the loop and the branches run over the IR, not over tensors) and was most of the
SavedModel's cost: ViT-B/16's onnx2tf run took 53 s with it and 40 s without, the SavedModel bit-identical.

TensorFlow offers no public switch for a tf.function it does not create, so this adds onnx2tf to
AutoGraph's do-not-convert rules (the list TF keeps for numpy, keras and the like) for the duration of
one conversion and puts the rules back after (and makes AutoGraph forget the onnx2tf functions it
remembered as not to convert). Should a kernel ever branch on a tensor, tracing raises
OperatorNotAllowedInGraphError and the caller runs the conversion again with AutoGraph
(`needs_autograph`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def onnx2tf_without_autograph() -> Iterator[None]:
    """Inside: AutoGraph leaves onnx2tf's functions as they are. After: as before, the functions AutoGraph
    remembered as left alone forgotten again. TF internals that moved make this a no-op, never an error."""
    try:
        from tensorflow.python.autograph.core import config
        from tensorflow.python.autograph.impl import conversion
        rules = config.CONVERSION_RULES
        remembered = conversion._ALLOWLIST_CACHE._cache
    except (ImportError, AttributeError):
        yield
        return
    config.CONVERSION_RULES = (config.DoNotConvert("onnx2tf"), *rules)
    try:
        yield
    finally:
        config.CONVERSION_RULES = rules
        for function in list(remembered):
            if str(getattr(function, "__module__", "")).startswith("onnx2tf"):
                remembered.pop(function, None)


def needs_autograph(exc: BaseException) -> bool:
    """True when tracing failed because graph code needed AutoGraph (a Python branch on a tensor)."""
    from tensorflow.python.framework.errors_impl import OperatorNotAllowedInGraphError

    while exc is not None:
        if isinstance(exc, OperatorNotAllowedInGraphError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False

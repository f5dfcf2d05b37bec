"""tf2onnx handlers for TensorFlow ops that tf2onnx 1.17 cannot translate but ONNX expresses exactly.

Why: Keras 3's exact GELU (keras.activations.gelu, approximate=False, the default; ConvNeXt uses it)
is 0.5 * x * erfc(-x / sqrt(2)) in TensorFlow, and tf2onnx 1.17 has no handler for Erfc, so such
models failed with "could not translate Erfc". Keras' celu hits the same gap with Expm1.

Each handler rewrites the op into standard ONNX ops with the same mathematical value:
    Erfc(x)           -> 1 - Erf(x)
    Expm1(x)          -> Exp(x) - 1
    Log1p(x)          -> Log(1 + x)
    TruncateMod(x, y) -> Mod(x, y, fmod=1)   (the remainder takes the dividend's sign, like C fmod)
The first three lose the tiny values TF keeps (erfc of a large x, expm1 / log1p of a tiny x) to
float rounding: the absolute error stays within a rounding step of 1, which is what a converted
network can tolerate.

Importing this module registers the handlers; that happens once per process, and an op tf2onnx
already handles (a newer tf2onnx) keeps tf2onnx's own handler. Import it only in the worker, from
TfToOnnx.run: it imports tf2onnx, hence tensorflow, which the GUI must not load.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tf2onnx.onnx_opset  # noqa: F401  tf2onnx's own handlers first (tf2onnx imports them lazily)
from tf2onnx import constants, utils
from tf2onnx.handler import tf_op


def _scalar(ctx: Any, node: Any, value: float) -> str:
    """A scalar constant of the node's input dtype: ONNX arithmetic does not mix float32 and float16."""
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    return ctx.make_const(utils.make_name(f"{node.name}_{value}"), np.array(value, dtype=dtype)).output[0]


class Erfc:
    @classmethod
    def version_9(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
        """1 - Erf(x); ONNX has Erf since opset 9 (the node keeps its name and output)."""
        one = _scalar(ctx, node, 1)
        erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name).output[0]
        node.type = "Sub"
        ctx.replace_inputs(node, [one, erf])


class Expm1:
    @classmethod
    def version_1(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
        """Exp(x) - 1."""
        one = _scalar(ctx, node, 1)
        exp = ctx.make_node("Exp", [node.input[0]], op_name_scope=node.name).output[0]
        node.type = "Sub"
        ctx.replace_inputs(node, [exp, one])


class Log1p:
    @classmethod
    def version_1(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
        """Log(1 + x)."""
        one = _scalar(ctx, node, 1)
        shifted = ctx.make_node("Add", [node.input[0], one], op_name_scope=node.name).output[0]
        node.type = "Log"
        ctx.replace_inputs(node, [shifted])


class TruncateMod:
    @classmethod
    def version_10(cls, ctx: Any, node: Any, **kwargs: Any) -> None:
        """ONNX Mod with fmod=1 truncates like TF's TruncateMod (fmod=0 would floor, like FloorMod)."""
        node.type = "Mod"
        node.set_attr("fmod", 1)


HANDLERS = {"Erfc": Erfc, "Expm1": Expm1, "Log1p": Log1p, "TruncateMod": TruncateMod}


def _handled(op: str) -> bool:
    """Whether tf2onnx (or an earlier import of this module) has a handler for op at any opset."""
    return any(op in handlers for handlers in tf_op.get_opsets().get(constants.ONNX_DOMAIN, []))


for _op, _handler in HANDLERS.items():
    if not _handled(_op):
        tf_op(_op)(_handler)

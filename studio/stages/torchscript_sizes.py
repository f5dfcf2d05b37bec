"""Size arithmetic in a traced TorchScript graph, rewritten as int arithmetic before TS2EP converts it.

torch.jit.trace records `x.shape[1] // window` as tensor arithmetic on sizes: prim::NumToTensor(size),
aten::floor_divide by a 0-dim constant tensor, then aten::Int to get the int back. TS2EP turns each aten::Int
into aten._local_scalar_dense, whose value it cannot know while it traces, so a reshape by such a size (a
Swin window partition, a patch grid) stops it with "Could not guard on data-dependent expression". Written as
int arithmetic on the sizes (aten::floordiv, aten::mul, ...), the same sizes are known while it traces.
Imported in the worker only (torch).
"""

from __future__ import annotations

from typing import Any

# tensor op on 0-dim integer tensors -> the int op that computes the same value
_INT_OPS = {"aten::floor_divide": "aten::floordiv", "aten::mul": "aten::mul", "aten::add": "aten::add",
            "aten::sub": "aten::sub"}


def sizes_as_ints(graph: Any) -> int:
    """Replace each aten::Int of size arithmetic in the graph by the same arithmetic on ints; how many."""
    import torch

    ints: dict[Any, Any] = {}
    rewritten = 0
    for node in list(graph.nodes()):
        if node.kind() == "aten::Int" and isinstance(node.inputsAt(0).type(), torch._C.TensorType):
            value = _as_int(graph, node.inputsAt(0), ints)
            if value is not None:
                node.output().replaceAllUsesWith(value)
                rewritten += 1
    if rewritten:
        torch._C._jit_pass_dce(graph)
    return rewritten


def _as_int(graph: Any, tensor: Any, ints: dict[Any, Any]) -> Any:
    """An int Value equal to the 0-dim integer tensor, computed from ints and integer constants, or None."""
    import torch

    if tensor in ints:
        return ints[tensor]
    node, value = tensor.node(), None
    if node.kind() == "prim::NumToTensor" and isinstance(node.inputsAt(0).type(), torch._C.IntType):
        value = node.inputsAt(0)
    elif node.kind() == "prim::Constant" and node.hasAttribute("value") and node.kindOf("value") == "t":
        constant = node.t("value")
        if constant.dim() == 0 and constant.dtype == torch.int64:   # as sizes are: narrower ints would wrap
            with graph.insert_point_guard(node):
                value = graph.insertConstant(int(constant))
    elif node.kind() in _INT_OPS and _plain_operands(node):
        left, right = (_as_int(graph, operand, ints) for operand in list(node.inputs())[:2])
        if left is not None and right is not None:
            with graph.insert_point_guard(node):
                op = graph.insertNode(graph.create(_INT_OPS[node.kind()], [left, right]))
            op.output().setType(torch._C.IntType.get())
            value = op.output()
    ints[tensor] = value
    return value


def _plain_operands(node: Any) -> bool:
    """Two operands, and for add/sub an alpha of 1 (the only alpha the int ops have)."""
    operands = list(node.inputs())
    if node.kind() in ("aten::add", "aten::sub"):
        alpha = operands[2].node() if len(operands) == 3 else None
        return alpha is not None and alpha.kind() == "prim::Constant" and operands[2].toIValue() == 1
    return len(operands) == 2

"""tf2onnx without the work it does only in case something fails, and the retry when something does.

On Keras ResNet50, most of tf2onnx's time goes to three things that do not change its ONNX:
- before each of its ~24 optimizer passes it deep-copies the whole graph, weights included, so that it can skip a
  pass that fails (TF2ONNX_CATCH_ERRORS=false turns the copies off);
- after each pass it writes every node back to its NodeProto, weights included, and counts the ops for its log;
  the final Graph.make_graph writes every node back anyway;
- to freeze the traced function's variables it builds a new ConcreteFunction from the frozen GraphDef, then reads
  that function's GraphDef back; tf2onnx only uses the GraphDef (it imports and optimizes it itself).
  keras_tracing, which reads the function's inputs and outputs too, keeps TF's own freezing.

fast_tf2onnx() skips all three. A conversion that fails inside it is converted again the way tf2onnx does by
default: tf2onnx's own recoveries (a skipped optimizer pass; its fix for a graph that assigns variables, which it
applies when TF's ConcreteFunction rebuild raises) only happen that way. Imported in the worker only (TF).
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator
from unittest import mock

CATCH_ERRORS = "TF2ONNX_CATCH_ERRORS"   # tf2onnx's switch for guarding each optimizer pass with a copy of the graph


@contextmanager
def fast_tf2onnx() -> Iterator[None]:
    """Inside: tf2onnx without the three costs above. Every patch is undone on the way out, even when one of
    them could not be applied."""
    from tf2onnx import tf_loader
    from tf2onnx.optimizer.optimizer_base import GraphOptimizerBase

    with ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, {CATCH_ERRORS: "FALSE"}))
        stack.enter_context(mock.patch.object(GraphOptimizerBase, "optimize", _optimize_without_sync))
        stack.enter_context(mock.patch.object(tf_loader, "convert_variables_to_constants_v2", _frozen_graph_def))
        yield


def _optimize_without_sync(self: Any, graph: Any, iteration: int) -> Any:
    """GraphOptimizerBase.optimize without its per-pass update_proto() and op counts (log lines only)."""
    self.opt_iteration = iteration
    graph = self._optimize(graph)
    graph.delete_unused_nodes(graph.outputs)
    return graph


def _frozen_graph_def(func: Any, lower_control_flow: bool = True, aggressive_inlining: bool = False) -> Any:
    """convert_variables_to_constants_v2 up to the frozen GraphDef, as the one thing tf2onnx reads of its result
    (frozen.graph.as_graph_def())."""
    from tensorflow.python.framework import convert_to_constants

    data = convert_to_constants._FunctionConverterDataInEager(
        func=func, lower_control_flow=lower_control_flow, aggressive_inlining=aggressive_inlining)
    graph_def, _ = convert_to_constants._replace_variables_by_constants(converter_data=data)
    return _Frozen(graph_def)


class _Frozen:
    """Stands for the frozen ConcreteFunction: .graph.as_graph_def() gives the GraphDef."""

    def __init__(self, graph_def: Any):
        self.graph, self._graph_def = self, graph_def

    def as_graph_def(self, add_shapes: bool = False) -> Any:
        """The GraphDef without _output_shapes: tf2onnx imports it again, and TF infers the shapes on import."""
        return self._graph_def

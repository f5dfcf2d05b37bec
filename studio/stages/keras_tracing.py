"""Convert traced functions that call XLA-compiled functions (tf.function(jit_compile=True)).

Why: Keras 3's TensorFlow backend computes a grouped convolution (Conv2D(groups=g), g > 1: the
depthwise convolutions of ConvNeXt, RegNet's grouped ones) and a channels_first Conv3D inside a
tf.function(jit_compile=True) (keras/src/backend/tensorflow/nn.py, conv), because TF's CPU kernels
lack them. A traced model then calls that function through a StatefulPartitionedCall marked
_XlaMustCompile, whose FunctionDef is marked _noinline. Grappler inlines neither, tf2onnx has no
handler for call ops, and the conversion failed with "could not translate StatefulPartitionedCall"
(ConvNeXtTiny: 18 of them). A SavedModel exported from such a model has the same calls.

The fix: freeze the traced function as tf2onnx does, delete the two markers from the graph and its
function library, and convert the GraphDef with tf2onnx.convert.from_graph_def, whose grappler pass
then inlines the function bodies. They are plain TF ops; tf2onnx turns a grouped Conv2D into an ONNX
Conv with group=g. The markers only request XLA compilation, so the computation is unchanged, and
only the converted graph loses them: the model itself is not modified.

Imports tensorflow and tf2onnx inside the functions only: the GUI imports studio.stages.
"""

from __future__ import annotations

from typing import Any

# _XlaMustCompile marks the call node and the FunctionDef; _noinline (set with it by jit_compile=True)
# marks the FunctionDef. Either one stops grappler from inlining.
XLA_MARKERS = ("_XlaMustCompile", "_noinline")


def _nodes(graph_def: Any) -> list:
    """The GraphDef's nodes and those of every function in its library."""
    return list(graph_def.node) + [node for function in graph_def.library.function for node in function.node_def]


def xla_compiled_calls(function: Any) -> int:
    """How many call ops in the traced tf.function (its library included) must be compiled with XLA."""
    graph_def = function.get_concrete_function().graph.as_graph_def()
    return sum(1 for node in _nodes(graph_def) if node.attr["_XlaMustCompile"].b)


def _unmark(graph_def: Any) -> None:
    for holder in _nodes(graph_def) + list(graph_def.library.function):
        for marker in XLA_MARKERS:
            if marker in holder.attr:
                del holder.attr[marker]


def convert_inlining_xla(function: Any, specs: list, opset: int) -> Any:
    """The ONNX proto of a tf.function with an input_signature that returns a dict of named outputs,
    its XLA-compiled functions inlined. ONNX inputs are named after specs, outputs after the dict keys
    (in the dict's order)."""
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = function.get_concrete_function()
    outputs = concrete.structured_outputs
    if not isinstance(outputs, dict):
        raise TypeError(f"expected a function returning a dict of outputs, got {type(outputs).__name__}")
    # the same freezing as tf2onnx.tf_loader.from_function; it inlines everything but the marked calls
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    graph_def = frozen.graph.as_graph_def(add_shapes=True)
    _unmark(graph_def)
    input_names = [t.name for t in frozen.inputs if t.dtype != tf.dtypes.resource]
    if len(input_names) != len(specs):
        raise ValueError(f"the frozen graph has {len(input_names)} inputs, the signature {len(specs)}")
    position = {t.name: i for i, t in enumerate(concrete.outputs)}   # frozen.outputs follow concrete.outputs
    output_names = [frozen.outputs[position[t.name]].name for t in outputs.values()]
    renames = dict(zip(input_names, [s.name for s in specs])) | dict(zip(output_names, outputs))
    with tf.device("/cpu:0"):
        proto, _ = tf2onnx.convert.from_graph_def(graph_def, name=concrete.name, input_names=input_names,
                                                  output_names=output_names, opset=opset,
                                                  tensors_to_rename=renames)
    return proto

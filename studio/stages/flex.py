"""Find Select-TF ("Flex") ops in a TFLite file by reading its flatbuffer, without an interpreter.

LiteRT's builtin op set cannot run them (ai_edge_litert and tf.lite in TF 2.21 both refuse), so an
artifact that has any needs the Flex delegate and is never reported as verified. The schema module
ships with ai_edge_litert (no TensorFlow import); TF's copy is the fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CUSTOM = 32  # BuiltinOperator.CUSTOM: custom ops carry their name in custom_code


def _schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:  # pragma: no cover - the pinned stack has ai_edge_litert
        from tensorflow.lite.python import schema_py_generated
    return schema_py_generated


def custom_ops(tflite_path: str | Path) -> list[str]:
    """Names of all custom ops (Flex and others) the model's operator table declares."""
    schema = _schema()
    data = Path(tflite_path).read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    names = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == CUSTOM and code.CustomCode():
            names.append(code.CustomCode().decode("utf-8", "replace"))
    return sorted(set(names))


def flex_ops(tflite_path: str | Path) -> list[str]:
    """The Select-TF ops in a TFLite file, e.g. ["FlexErf"]; empty when it runs on builtin ops."""
    return [name for name in custom_ops(tflite_path) if name.startswith("Flex")]


def tflite_io(tflite_path: str | Path) -> tuple[list[tuple[str, tuple[int, ...]]], list[tuple[str, tuple[int, ...]]]]:
    """(name, shape) of the main subgraph's inputs and outputs, read from the file."""
    schema = _schema()
    model = schema.Model.GetRootAs(Path(tflite_path).read_bytes(), 0)
    graph = model.Subgraphs(0)

    def describe(index: int) -> tuple[str, tuple[int, ...]]:
        tensor = graph.Tensors(index)
        shape = tuple(int(tensor.Shape(j)) for j in range(tensor.ShapeLength()))
        return tensor.Name().decode("utf-8", "replace"), shape

    return ([describe(graph.Inputs(i)) for i in range(graph.InputsLength())],
            [describe(graph.Outputs(i)) for i in range(graph.OutputsLength())])

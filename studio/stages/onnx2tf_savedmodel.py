"""The direct writer's SavedModel with its weights in variables/, as TF's own SavedModels keep them.

onnx2tf 2.x makes its SavedModel by tracing its TFLite IR through one TF kernel per op, every tensor with data
an eager tf.constant the traced function captures. tf.saved_model.save then writes each of them into the graph:
ViT-B/16's 346 MB of weights went into saved_model.pb, through a GraphDef built and serialized in memory (its
worker's peak), and every load of the SavedModel parses them back out of that protobuf, which is capped at 2 GB.

weights_in_variables() makes each floating-point tensor of at least MIN_ELEMENTS elements a tf.Variable (not
trainable) instead: the traced function reads it, and the weights go to the variables/ checkpoint. The values
and the ops are the same. Smaller tensors and integer ones (shapes, axes, permutations; the kernels read some
of them with tf.get_static_value) stay constants. Measured on onnx2tf's run alone, ViT-B/16: 29.8 -> 28.2 s,
peak 4.73 -> 3.90 GB, loading and running the SavedModel 3.0 -> 2.1 s; Keras ResNet50: 9.1 -> 7.9 s.

An export that fails this way is exported again the way onnx2tf does (constants), and onnx2tf's log (logs/) says
why; failures constants would meet as well (an unsupported op, graph code that needs AutoGraph) are not retried.
onnx2tf has no switch for it, so this replaces attributes of its exporter and puts them back after; an
onnx2tf whose exporter moved is left as it is.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any, Iterator

MIN_ELEMENTS = 1024   # a bias of 768 stays a constant; every weight matrix and filter becomes a variable


@contextlib.contextmanager
def weights_in_variables() -> Iterator[None]:
    """Inside: the direct writer's SavedModel export keeps its weights in variables."""
    try:
        from onnx2tf.tflite_builder import saved_model_exporter as exporter
        module, executor = exporter._SavedModelModule, exporter._GraphExecutor
        originals = (exporter.export_saved_model_from_model_ir, module._build_root_constants,
                     executor._resolve_tensor)
        helpers = (exporter._numpy_dtype_from_tensor_ir, exporter._tf_dtype_from_tensor_ir)
    except (ImportError, AttributeError):
        yield
        return
    export, build, resolve = originals

    def export_with_variables(*, model_ir: Any, output_folder_path: str) -> str:
        module._build_root_constants = _weights_as_variables(*helpers)
        executor._resolve_tensor = _reading_variables(resolve)
        try:
            return export(model_ir=model_ir, output_folder_path=output_folder_path)
        except Exception as exc:   # noqa: BLE001 - constants may succeed where variables failed
            if _not_about_variables(exc):
                raise
            print(f"studio: the SavedModel with its weights in variables failed ({type(exc).__name__}: "
                  f"{str(exc)[:300]}); exporting it with constants, as onnx2tf does", flush=True)
        finally:
            module._build_root_constants, executor._resolve_tensor = build, resolve
        gc.collect()   # the first attempt's module and its variables, before a second copy of the weights
        return export(model_ir=model_ir, output_folder_path=output_folder_path)

    exporter.export_saved_model_from_model_ir = export_with_variables
    try:
        yield
    finally:
        exporter.export_saved_model_from_model_ir = export


def _not_about_variables(exc: BaseException) -> bool:
    """Failures that constants would meet too: an op the exporter does not support (its own error, raised before
    anything is traced), graph code that needs AutoGraph (the backend converts again with it)."""
    from studio.stages.tf_autograph import needs_autograph

    return type(exc).__name__ == "ModelIRSavedModelExportError" or needs_autograph(exc)


def _weights_as_variables(numpy_dtype, tf_dtype):
    """_SavedModelModule._build_root_constants, large floating-point tensors made variables."""

    def build_root_constants(self) -> dict:
        import numpy as np
        import tensorflow as tf

        constants = {}
        for name, tensor in self._model_ir.tensors.items():
            if tensor.data is None:
                continue
            data = np.asarray(tensor.data).astype(numpy_dtype(tensor), copy=False)
            dtype = tf_dtype(tensor)
            if dtype.is_floating and data.size >= MIN_ELEMENTS:
                constants[str(name)] = tf.Variable(data, dtype=dtype, trainable=False)
            else:
                constants[str(name)] = tf.constant(data, dtype=dtype, name=str(name))
        return constants

    return build_root_constants


def _reading_variables(resolve):
    """_GraphExecutor._resolve_tensor giving the kernels a variable's value (a tensor), not the variable."""

    def resolve_tensor(self, tensor_name: str, env: dict) -> Any:
        import tensorflow as tf

        value = resolve(self, tensor_name, env)
        return value.read_value() if isinstance(value, tf.Variable) else value

    return resolve_tensor

"""TensorFlow (Keras .keras / .h5, SavedModel) -> ONNX with tf2onnx.

Inputs get a fixed signature from the resolved shapes, so the ONNX is static like the TFLite it feeds.
Keras models go through tf2onnx.from_keras's steps on the function the stage traced once (from_traced_keras: input
and output names and order kept); SavedModels through their serving_default signature (outputs named by its keys).
Either one, when its trace calls XLA-compiled functions (Keras 3's grouped convolutions), goes through
keras_tracing, which inlines them.
"""

from __future__ import annotations

import time
from typing import Any

from studio.artifacts import Artifact, artifact_name
from studio.errors import StageError, one_line
from studio.formats import Format
from studio.stages.base import StageContext
from studio.stages.capture import captured_output, cause_from_log
from studio.stages.layouts import source_layout
from studio.stages.onnx_files import save_model, unknown_operators
from studio.stages.tf2onnx_speedups import fast_tf2onnx

MAX_OPSET = 18  # the newest opset tf2onnx 1.17 emits reliably, and the one the torch stage uses
DEFAULT_OPSET = 18


class TfToOnnx:
    name = "tf->onnx"
    consumes = (Format.KERAS.value, Format.H5.value, Format.SAVEDMODEL.value)
    produces = ("onnx",)

    def run(self, ctx: StageContext) -> list[Artifact]:
        import tensorflow as tf

        import studio.stages.tf2onnx_handlers  # noqa: F401  registers handlers for ops tf2onnx lacks (Erfc, ...)
        from studio.loaders import load_tf

        opset = ctx.options.opset or DEFAULT_OPSET
        if opset > MAX_OPSET:
            ctx.log(f"tf2onnx 1.17 writes opset {MAX_OPSET} at most: using {MAX_OPSET} instead of {opset}")
            opset = MAX_OPSET
        ctx.progress(0.05, "loading the TensorFlow model")
        model = ctx.model if ctx.model is not None else load_tf(ctx.source)
        specs = [tf.TensorSpec([int(d) for d in s.shape], tf.as_dtype(s.dtype or "float32"), name=s.name)
                 for s in ctx.signature.inputs]
        log_path = (ctx.log_dir or ctx.work_dir) / "tf2onnx.log"
        ctx.progress(0.2, "converting with tf2onnx")
        t0 = time.perf_counter()
        try:
            with captured_output(log_path):
                try:
                    with fast_tf2onnx():
                        proto, route, fallback = self._convert(model, specs, opset, ctx)
                except Exception as exc:
                    ctx.log(f"tf2onnx failed without its guards ({one_line(exc, 150)}); converting again the way "
                            "tf2onnx does by default, each optimizer pass guarded")
                    proto, route, fallback = self._convert(model, specs, opset, ctx)
        except StageError:
            raise
        except Exception as exc:
            raise StageError(self.name, cause_from_log(log_path, one_line(exc))) from exc
        if fallback:
            ctx.log(f"tf2onnx.from_keras failed ({fallback}); traced the model as a tf.function instead")
        missing = unknown_operators(proto)
        if missing:
            raise StageError(self.name, f"tf2onnx could not translate {', '.join(missing)} into ONNX")
        target = ctx.work_dir / artifact_name(ctx.source.stem, "onnx")
        size = save_model(proto, target)
        ctx.log(f"converted with tf2onnx ({route}), opset {opset}, in {time.perf_counter() - t0:.1f} s")
        ctx.progress(1.0, "ONNX written")
        layouts = {spec.name: source_layout(spec, ctx.source.framework) for spec in ctx.signature.inputs}
        return [Artifact(kind="onnx", variant="float32", path=str(target), bytes=size,
                         input_layout=layouts, produced_by=self.name, backend="tf2onnx",
                         notes=[f"tf2onnx {route}, opset {opset}"])]

    def _convert(self, model: Any, specs: list, opset: int, ctx: StageContext) -> tuple[Any, str, str | None]:
        """(ONNX proto, how it was made, why from_keras failed if it did)."""
        import tf2onnx

        from studio.stages.keras_tracing import convert_inlining_xla, xla_compiled_calls

        savedmodel = ctx.source.format is Format.SAVEDMODEL
        function = _serving_function(model, specs) if savedmodel else _keras_function(model, specs)
        calls = xla_compiled_calls(function)  # traces once; from_function below reuses the trace
        if calls:  # tf2onnx cannot translate them (Keras 3 computes grouped convolutions that way)
            ctx.log(f"the model calls {calls} XLA-compiled functions (jit_compile=True), which tf2onnx "
                    "cannot translate: converted with them inlined")
            route = "serving_default signature" if savedmodel else "from_function"
            return convert_inlining_xla(function, specs, opset), f"{route}, XLA calls inlined", None
        if savedmodel:
            proto, _ = tf2onnx.convert.from_function(function, input_signature=specs, opset=opset)
            return proto, "serving_default signature", None
        try:
            return from_traced_keras(model, function, opset), "from_keras", None
        except Exception as exc:
            fallback = one_line(exc, 200)
        # traced anew: tf2onnx's freezing takes lookup-table captures off the function it is given
        proto, _ = tf2onnx.convert.from_function(_keras_function(model, specs), input_signature=specs, opset=opset)
        return proto, "from_function", fallback


def from_traced_keras(model: Any, function: Any, opset: int) -> Any:
    """tf2onnx.convert.from_keras on the function this stage has traced already (_keras_function), which
    from_keras would trace again (Keras ResNet50: 2 s). The same steps: inputs without the captured ones, outputs
    named after the model's and in its order (the function's dict order; from_function would sort them by name),
    the model's lookup tables exported with it (from_trackable)."""
    import tensorflow as tf
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common, tensor_names_from_structed

    concrete = function.get_concrete_function()
    captured = {t.name for t in concrete.graph.function_captures.by_val_internal.values()}
    input_names = [t.name for t in concrete.inputs if t.name not in captured]
    output_names = [tensor.name for tensor in concrete.structured_outputs.values()]
    renames = tensor_names_from_structed(concrete, input_names, output_names)
    with tf.device("/cpu:0"):
        frozen, tables = tf_loader.from_trackable(model, concrete, input_names, output_names, False)
        proto, _ = _convert_common(frozen, name=model.name, continue_on_error=True, opset=opset,
                                   input_names=input_names, output_names=output_names,
                                   tensors_to_rename=renames, initialized_tables=tables)
    return proto


def _serving_function(saved: Any, specs: list) -> Any:
    """The SavedModel's serving signature behind a fixed-shape signature (keyword inputs by name)."""
    import tensorflow as tf

    serving = saved.signatures["serving_default"]
    names = [s.name for s in specs]

    @tf.function(input_signature=specs)
    def serve(*args):
        return serving(**dict(zip(names, args)))

    return serve


def _keras_function(model: Any, specs: list) -> Any:
    """A Keras model as a tf.function whose outputs are keyed by the model's output names."""
    import tensorflow as tf

    names = list(getattr(model, "output_names", None) or [])

    @tf.function(input_signature=specs)
    def call(*args):
        result = tf.nest.flatten(model(args[0] if len(args) == 1 else list(args), training=False))   # as Keras
        keys = names if len(names) == len(result) else [f"output_{i}" for i in range(len(result))]
        return dict(zip(_unique(keys), result))

    return call


def _unique(names: list[str]) -> list[str]:
    """The names, a repeated one suffixed _1, _2... (the first that is free), as tf2onnx.from_keras renames them:
    a model may list one output twice (outputs=[x, x]), or Keras may name two outputs alike."""
    used: set[str] = set()
    unique = []
    for name in names:
        new, i = name, 0
        while new in used:
            i += 1
            new = f"{name}_{i}"
        used.add(new)
        unique.append(new)
    return unique

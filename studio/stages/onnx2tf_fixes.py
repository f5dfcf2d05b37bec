"""Fixes for bugs in onnx2tf's direct writer, applied for the duration of one conversion.

**Its depthwise-convolution kernel for SavedModels.** The direct writer makes its SavedModel by running its
TFLite IR through one TF kernel per op. Its DEPTHWISE_CONV_2D kernel gives tf.nn.depthwise_conv2d four
dilations ([1, h, w, 1]) where TF takes two ([h, w]), so TF reads it as a 4-D convolution and raises
"`input.shape.rank` must be at least 5". Every model with a depthwise convolution (MobileNet, EfficientNet,
ConvNeXt, any torch Conv with groups == channels) failed to make its SavedModel, and the whole run, TFLite
files included, fell back to the far slower TF-converter path. `fixed_kernels()` swaps in a kernel that
passes two dilations and takes the filter's depth multiplier from its shape.

**Two LayerNorm layout passes.** onnx2tf 2.x rewrites its IR with a few hundred layout passes. Two of them
move a LayerNorm's statistics (ReduceMean over channels, the squared difference, the variance) from NCHW to
NHWC but leave the ops after the variance (epsilon, rsqrt, the scale) in NCHW, so the scale [1,C,1,1] meets
an NHWC [1,H,W,1] rsqrt: LiteRT refuses the file ("Given shapes, [1,16,16,1] and [1,96,1,1], are not
broadcastable") and the SavedModel cannot be traced. Keras LayerNormalization over conv features, as tf2onnx
exports it (ConvNeXtTiny), hits it. With the two passes off the statistics stay in NCHW between transposes
and the file is right (ConvNeXtTiny: 2.3e-6 max abs error). `passes_off()` swaps them for no-ops, the
onnx2tf-plain-layernorm backend uses it.

onnx2tf has no switch for either, so both replace module attributes and put them back after.
`missing_passes()` says when an onnx2tf release moved the passes, so that the backend fails with that
reason instead of converting with them on.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Iterator

# (module, attribute, the statistics key the pass returns): each place the passes are looked up at run time
LAYERNORM_STATISTICS_PASSES = (
    ("onnx2tf.tflite_builder.passes.layernorm_layout",
     "_optimize_transpose_layernorm_stats_nhwc_propagation_chains",
     "optimized_transpose_layernorm_stats_nhwc_propagation_chains"),
    ("onnx2tf.tflite_builder.passes.layernorm_layout",
     "_optimize_layernorm_stats_via_existing_post_transpose_nhwc_chains",
     "optimized_layernorm_stats_via_existing_post_transpose_nhwc_chains"),
    ("onnx2tf.tflite_builder.lower_from_onnx2tf",
     "_optimize_transpose_layernorm_stats_nhwc_propagation_chains_pass",
     "optimized_transpose_layernorm_stats_nhwc_propagation_chains"),
    ("onnx2tf.tflite_builder.lower_from_onnx2tf",
     "_optimize_layernorm_stats_via_existing_post_transpose_nhwc_chains_pass",
     "optimized_layernorm_stats_via_existing_post_transpose_nhwc_chains"),
)


def missing_passes(passes=LAYERNORM_STATISTICS_PASSES) -> list[str]:
    """The passes this onnx2tf does not have where we expect them (importing onnx2tf's IR builder)."""
    missing = []
    for module_name, attribute, _ in passes:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{module_name}.{attribute}")
            continue
        if not callable(getattr(module, attribute, None)):
            missing.append(f"{module_name}.{attribute}")
    return missing


def _skipped(key: str):
    def skipped(*args, **kwargs) -> dict[str, int]:
        return {key: 0}   # what the pass returns when it finds nothing to rewrite

    return skipped


@contextlib.contextmanager
def passes_off(passes=LAYERNORM_STATISTICS_PASSES) -> Iterator[None]:
    """Inside: the passes do nothing. After: they are onnx2tf's own again, even if the conversion raised."""
    missing = missing_passes(passes)
    if missing:
        raise RuntimeError(f"this onnx2tf has no {', '.join(missing)}")
    saved = []
    try:
        for module_name, attribute, key in passes:
            module = importlib.import_module(module_name)
            saved.append((module, attribute, getattr(module, attribute)))
            setattr(module, attribute, _skipped(key))
        yield
    finally:
        for module, attribute, original in reversed(saved):
            setattr(module, attribute, original)


def has_layernorm_statistics(model) -> bool:
    """True when the ONNX graph computes a LayerNorm's statistics by hand (what the passes rewrite): a ReduceMean
    whose input is also what a Sub takes the mean from. Turning the passes off changes nothing otherwise."""
    subtracted = {name for node in model.graph.node if node.op_type == "Sub" for name in node.input[:1]}
    return any(node.op_type == "ReduceMean" and node.input[0] in subtracted for node in model.graph.node)


def _depthwise_conv2d(executor, op, env) -> None:
    """onnx2tf's SavedModel kernel for DEPTHWISE_CONV_2D, with TF's two dilations. TFLite's filter is
    [1, H, W, C * M] (channel c's m-th output at c * M + m); TF's is [H, W, C, M]."""
    import tensorflow as tf
    from onnx2tf.tflite_builder.saved_model_exporter import _apply_fused_activation

    x = executor._resolve_tensor(op.inputs[0], env)
    w = executor._resolve_tensor(op.inputs[1], env)
    b = executor._resolve_optional_tensor(op.inputs[2], env) if len(op.inputs) >= 3 else None
    channels = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
    w = tf.reshape(w, [tf.shape(w)[1], tf.shape(w)[2], channels, -1])
    options = op.options
    strides = [1, int(options.get("strideH", 1)), int(options.get("strideW", 1)), 1]
    dilations = [int(options.get("dilationHFactor", 1)), int(options.get("dilationWFactor", 1))]   # two, as TF takes
    y = tf.nn.depthwise_conv2d(x, w, strides=strides, padding=str(options.get("padding", "SAME")).upper(),
                               dilations=dilations)
    if b is not None:
        y = tf.nn.bias_add(y, b)
    executor._assign_outputs(op, [_apply_fused_activation(y, str(options.get("fusedActivationFunction", "NONE")))],
                             env)


@contextlib.contextmanager
def fixed_kernels() -> Iterator[None]:
    """Inside: the direct writer's SavedModel uses the fixed kernels. An onnx2tf whose kernel table moved is
    left as it is (its SavedModel then fails as before, and the chain falls back)."""
    try:
        from onnx2tf.tflite_builder import saved_model_exporter
        kernels = saved_model_exporter._REGISTERED_KERNELS
        original = kernels["DEPTHWISE_CONV_2D"]
    except (ImportError, AttributeError, KeyError):
        yield
        return
    kernels["DEPTHWISE_CONV_2D"] = _depthwise_conv2d
    try:
        yield
    finally:
        kernels["DEPTHWISE_CONV_2D"] = original

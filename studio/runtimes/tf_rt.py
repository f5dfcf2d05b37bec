"""Run a TensorFlow source: a Keras model (.keras / .h5) or a SavedModel's serving_default signature."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from studio.errors import StudioError
from studio.formats import Format, Source
from studio.runtimes.base import bind_feeds, check_rank, flatten_outputs, natural_key, run_failed
from studio.signature import Signature, TensorSpec


class TFRuntime:
    """Keras: model(inputs, training=False). SavedModel: the serving_default concrete function."""

    name = "tensorflow"

    def __init__(self, source: Source, model: Any = None):
        from studio.loaders import load_tf, tf_signature

        self.source = source
        self.model = model if model is not None else load_tf(source)
        signature = tf_signature(source, self.model)
        self.is_saved_model = source.format is Format.SAVEDMODEL
        if self.is_saved_model:
            self.function = self.model.signatures["serving_default"]
            signature = Signature(tuple(sorted(signature.inputs, key=lambda s: natural_key(s.name))),
                                  tuple(sorted(signature.outputs, key=lambda s: natural_key(s.name))))
        self.signature = signature

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        bound = bind_feeds(self.signature.inputs, feeds)
        for spec in self.signature.inputs:
            check_rank(spec, bound[spec.name])
        try:
            result = self._call_saved_model(bound) if self.is_saved_model else self._call_keras(bound)
        except StudioError:
            raise
        except Exception as exc:
            raise run_failed(self.name, exc) from exc
        return self._name_outputs(result)

    def _call_saved_model(self, bound: dict[str, np.ndarray]) -> dict[str, Any]:
        import tensorflow as tf

        return self.function(**{name: tf.constant(value) for name, value in bound.items()})

    def _call_keras(self, bound: dict[str, np.ndarray]) -> Any:
        # One input goes in bare; several go in by name, which suits models built from a list or a dict alike.
        inputs = next(iter(bound.values())) if len(bound) == 1 else bound
        return self.model(inputs, training=False)

    def _name_outputs(self, result: Any) -> dict[str, np.ndarray]:
        names = [spec.name for spec in self.signature.outputs]
        if isinstance(result, dict) and set(map(str, result)) >= set(names):
            ordered = names + sorted((str(k) for k in result if str(k) not in names), key=natural_key)
            return {name: np.asarray(result[name]) for name in ordered}
        leaves = flatten_outputs(result)
        labels = names if len(names) == len(leaves) else [key or f"output_{i}" for i, (key, _) in enumerate(leaves)]
        outputs = {label: np.asarray(leaf) for label, (_, leaf) in zip(labels, leaves)}
        if len(names) != len(leaves):
            self.signature = replace(self.signature, outputs=tuple(
                TensorSpec(n, v.dtype.name, tuple(v.shape)) for n, v in outputs.items()))
        return outputs

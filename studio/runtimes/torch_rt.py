"""Run any PyTorch source (nn.Module, ScriptModule, ExportedProgram) on numpy inputs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from studio.errors import StudioError
from studio.formats import Source
from studio.runtimes.base import bind_feeds, flatten_outputs, run_failed
from studio.signature import TensorSpec, guess_layout


def _to_numpy(value: Any) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:  # numpy has no bfloat16
            value = value.float()
        return value.numpy()
    return np.asarray(value)


class TorchRuntime:
    """Calls the model under torch.inference_mode(); outputs come back flattened, in order."""

    name = "torch"

    def __init__(self, source: Source, model: Any = None):
        import torch

        from studio.loaders import load_torch, torch_signature

        self.source = source
        loaded = model if model is not None else load_torch(source)
        self.model = loaded   # as loaded (an ExportedProgram stays one): the job hands it to its stages
        self.signature = torch_signature(source, loaded)
        self.module = loaded.module() if isinstance(loaded, torch.export.ExportedProgram) else loaded
        # TorchScript and plain modules store no input dtypes: cast nothing where the shape is unknown too,
        # until resolve_inputs says which dtype the input has.
        self._feed_specs = tuple(spec if spec.shape else replace(spec, dtype="") for spec in self.signature.inputs)

    def resolve_inputs(self, inputs: tuple[TensorSpec, ...]) -> None:
        """Adopt the resolved shape and dtype (--input-shape NAME=1,64:int64, or an --inputs file) of each input
        the format stores none for (TorchScript, nn.Module): from now on it is fed in that dtype."""
        resolved = {spec.name: spec for spec in inputs}
        specs = tuple(replace(spec, dtype=resolved[spec.name].dtype, shape=resolved[spec.name].shape)
                      if not spec.shape and spec.name in resolved else spec for spec in self.signature.inputs)
        self.signature = replace(self.signature, inputs=specs)
        self._feed_specs = tuple(spec if spec.shape else replace(spec, dtype="") for spec in specs)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        bound = bind_feeds(self._feed_specs, feeds)
        args = [torch.from_numpy(np.array(bound[spec.name], copy=True)) for spec in self._feed_specs]
        try:
            with torch.inference_mode():
                result = self.module(*args)
        except StudioError:
            raise
        except Exception as exc:
            raise run_failed(self.name, exc) from exc
        outputs = self._name_outputs(flatten_outputs(result))
        if not self.signature.outputs:
            self.signature = replace(self.signature, outputs=_specs_from(outputs))
        return outputs

    def _name_outputs(self, leaves: list[tuple[str | None, Any]]) -> dict[str, np.ndarray]:
        known = [spec.name for spec in self.signature.outputs]
        names = known if len(known) == len(leaves) else [None] * len(leaves)
        outputs: dict[str, np.ndarray] = {}
        for i, ((key, leaf), name) in enumerate(zip(leaves, names)):
            label = key or name or f"output_{i}"
            outputs[label if label not in outputs else f"{label}_{i}"] = _to_numpy(leaf)
        return outputs


def _specs_from(outputs: dict[str, np.ndarray]) -> tuple[TensorSpec, ...]:
    """What one run revealed about outputs the format does not describe (TorchScript, nn.Module)."""
    return tuple(TensorSpec(name, value.dtype.name, tuple(value.shape), guess_layout(tuple(value.shape), channels_first=True))
                 for name, value in outputs.items())

"""The Runtime interface: run one model format on numpy inputs."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from studio.signature import Signature


class Runtime(Protocol):
    name: str              # "torch", "tensorflow", "onnxruntime", "litert"
    signature: Signature   # as this runtime sees the model: names, dtypes, shapes (None = dynamic), layouts

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run once. feeds are keyed by this runtime's input names, already in its layout.
        Returns outputs keyed by output name, in the model's output order."""
        ...

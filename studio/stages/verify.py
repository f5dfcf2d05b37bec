"""The ONNX -> TF stage's own check of each file a backend wrote, so it can choose a backend per artifact.

A converter can write a TFLite that LiteRT refuses to load or run, or that computes something else
(onnx2tf's direct writer has done both on real models). The stage runs every file on the job's inputs (the
comparison's: --inputs, or seeded random ones) as it runs the ONNX (in onnxruntime, once) and applies the variant's
tolerance, like the job's comparison will; a file that fails sends the stage to the next backend in the chain. The
outputs are remembered (studio.runtimes.recall), so the comparison does not run the same files again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np

from studio.errors import StudioError, one_line
from studio.options import InputOptions
from studio.runtimes.recall import remembered
from studio.signature import Signature
from studio.stages.layouts import TfInput


@dataclass(frozen=True)
class Problem:
    """Why a converted file fails the check: it did not load or run (ran=False), or its numbers are off."""

    reason: str
    ran: bool


class OnnxCheck:
    """Reference outputs of the ONNX on seeded inputs, and problem() for a converted file."""

    def __init__(self, onnx_path: Path, signature: Signature, options: InputOptions):
        self._onnx_path = onnx_path     # the stage's input: onnxruntime runs it as it is, dynamic dims included
        self._signature = signature
        self._options = options
        self._reference: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None = None

    def _feeds_and_outputs(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Computed on first use (a backend that fails outright never costs an ONNX run); only the outputs
        are kept, not the session, whose copy of the weights a large model cannot spare."""
        if self._reference is None:
            from studio.inputs import adapt_feeds, job_inputs
            from studio.runtimes.onnx_rt import OnnxRuntime

            runtime = OnnxRuntime(self._onnx_path)
            feeds = job_inputs(self._signature.inputs, self._options)
            outputs = remembered(runtime, adapt_feeds(feeds, self._signature.inputs, runtime.signature, {}))
            self._reference = feeds, outputs
        return self._reference

    def problem(self, variant: str, tflite: Path, inputs: list[TfInput]) -> Problem | None:
        """None when the file loads, runs and is within the variant's tolerance of the ONNX; else why not."""
        from studio.compare import compare_outputs, tolerance_for
        from studio.inputs import adapt_feeds
        from studio.runtimes.litert_rt import LiteRTRuntime

        try:
            feeds, reference = self._feeds_and_outputs()
        except StudioError:   # the ONNX itself does not run here: nothing to judge a backend by
            return None
        try:
            runtime = LiteRTRuntime(tflite)
            outputs = remembered(runtime, adapt_feeds(feeds, self._signature.inputs, runtime.signature,
                                                      {i.name: i.tf_layout for i in inputs}))
        except StudioError as exc:
            return Problem(_short(str(exc).replace(f"{tflite}: ", "")), ran=False)
        except Exception as exc:   # LiteRT's own errors on a malformed file
            return Problem(_short(one_line(exc)), ran=False)
        result = compare_outputs(reference, outputs, tolerance_for(variant), variant=variant)
        if result.passed:
            return None
        worst = next((o for o in result.outputs if not o.passed), None)
        return Problem(_short(f"{worst.name}: {worst.reason}" if worst is not None and worst.reason
                              else "outputs differ"), ran=True)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

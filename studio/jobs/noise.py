"""Lines the worker's libraries print that say nothing to a user of a CPU-only app: TensorFlow's and absl's start-up
notices (CUDA probing, oneDNN, TensorRT, factory registration, CPU instruction hints) and LiteRT's delegate banner.

One list, used wherever worker output is shown: the GUI's Log tab and the error dialog's "last output" leave these
out (the CLI's --debug can use `is_noise` too). Patterns are searched anywhere in a line; keep each one specific
enough that a real error can never match it.
"""

from __future__ import annotations

import re

NOISE_PATTERNS: tuple[str, ...] = (
    # absl, before TF initialises its logging
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    # CUDA probing on a machine without (or with no use for) a GPU
    r"failed call to cuInit",
    r"Could not find cuda drivers on your machine",
    r"Could not load dynamic library '?lib(cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|cudnn|nvinfer|"
    r"nvinfer_plugin)",
    r"Ignore above cudart dlerror if you do not have a GPU set up",
    r"Cannot dlopen some GPU libraries",
    r"Skipping registering GPU devices",
    r"kernel driver does not appear to be running on this host",
    r"retrieving CUDA diagnostic information for host",
    r"libcuda reported version is",
    r"successful NUMA node read from SysFS",
    # factories registered twice by TF and XLA
    r"Unable to register (cuDNN|cuBLAS|cuFFT) factory",
    r"Attempting to register factory for plugin (cuDNN|cuBLAS|cuFFT) when one has already been registered",
    r"computation placer already registered",
    # TensorRT
    r"TF-TRT Warning: Could not find TensorRT",
    # oneDNN and CPU instruction notices
    r"oneDNN custom operations are on",
    r"TF_ENABLE_ONEDNN_OPTS",
    r"This TensorFlow binary is optimized to use available CPU instructions",
    r"rebuild TensorFlow with the appropriate compiler flags",
    # LiteRT
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.?$",
)

_NOISE = re.compile("|".join(f"(?:{p})" for p in NOISE_PATTERNS))


def is_noise(line: str) -> bool:
    """Whether a line of worker output is one of the known start-up notices above."""
    return bool(_NOISE.search(line.strip()))

"""The two kinds of failure a user sees, each with its own exit code (see README)."""

import re


class StudioError(Exception):
    """Bad input or usage: the message is one line the user can act on. Exit code 2."""

    exit_code = 2


class StageError(StudioError):
    """A conversion stage failed; the message names the stage and the cause. Exit code 3."""

    exit_code = 3

    def __init__(self, stage: str, cause: str):
        super().__init__(f"stage {stage} failed: {cause}")
        self.stage = stage
        self.cause = cause


# The start of a printed numpy array: "[[[0. 0. ...", "[ 0.12 -3.4 ...", "[0 1 2 ...": converters put tensor
# dumps in their messages (onnx2tf: "Found: [[[[0. 0. 0. ... 0.]..."), which never help in a one-line error.
_TENSOR_DUMP = re.compile(r"(?:\[\s*){2,}[-+]?(?:\d|nan|inf)|\[\s*[-+]?(?:\d+\.?\d*(?:e[-+]?\d+)?|nan|inf)\s+[-+]?\d")


def without_tensor_dumps(text: str) -> str:
    """The text up to the first printed array, with "[...]" in its place."""
    match = _TENSOR_DUMP.search(text)
    return text if match is None else text[:match.start()].rstrip() + " [...]"


def one_line(exc: BaseException, limit: int = 400) -> str:
    """Squeeze an exception into one readable line (libraries love multi-line messages)."""
    text = without_tensor_dumps(" ".join(str(exc).split())) or type(exc).__name__
    if not isinstance(exc, StudioError) and type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def script_error_line(exc: BaseException, limit: int = 300) -> str:
    """one_line, except for TorchScript's errors: a serialized-code traceback whose last line is the error."""
    text = str(exc)
    if "Traceback of TorchScript" in text:
        last = [line for line in text.splitlines() if line.strip()][-1:]
        if last:
            return one_line(StudioError(last[0].strip()), limit)
    return one_line(exc, limit)

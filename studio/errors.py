"""The two kinds of failure a user sees, each with its own exit code (see README)."""


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


def one_line(exc: BaseException, limit: int = 400) -> str:
    """Squeeze an exception into one readable line (libraries love multi-line messages)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, StudioError) and type(exc).__name__ not in text:
        text = f"{type(exc).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."

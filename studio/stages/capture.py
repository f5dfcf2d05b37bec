"""Keep converter chatter out of the user's terminal and the worker's event stream.

torch.onnx, tf2onnx, onnx2tf and TensorFlow's C++ core print to stdout/stderr freely (onnx2tf even on
success). We send file descriptors 1 and 2 into a log file while a converter runs, so nothing leaks into
a pipe the worker may use, and read the file back to explain a failure in one line.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import Iterator

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ERROR_LINE = re.compile(r"\bERROR:\s*(.+)")
EXCEPTION_LINE = re.compile(r"^\s*(\w*(?:Error|Exception)\b.*)$")
# onnx2tf's generic advice after a failure: never the cause itself.
GENERIC = ("The trace log is below", "Read this and deal with it", "Alternatively, if the input OP",
           "If the input OP of ONNX", "Also, for models that include", "input_onnx_file_path:", "onnx_op_name:")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


@contextlib.contextmanager
def captured_output(log_path: Path) -> Iterator[Path]:
    """Redirect stdout/stderr (Python objects and the OS file descriptors) into log_path, appending."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with open(log_path, "ab", buffering=0) as log:
        text_log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
        old_out, old_err = sys.stdout, sys.stderr
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            sys.stdout, sys.stderr = text_log, text_log
            yield log_path
        finally:
            with contextlib.suppress(Exception):
                text_log.flush()
            sys.stdout, sys.stderr = old_out, old_err
            text_log.close()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)


def cause_from_log(log_path: Path, fallback: str) -> str:
    """The first specific "ERROR:" line a converter printed, else its last exception line, else fallback.

    An exception followed by a "WARNING:" line was caught and survived (onnx2tf prints the traceback of,
    say, its missing onnxsim, warns and goes on): it is not the cause of a failure, so it is skipped.
    """
    lines = _log_lines(log_path)
    if lines is None:
        return fallback
    for line in lines:
        match = ERROR_LINE.search(line)
        if match and not any(g in match.group(1) for g in GENERIC):
            return " ".join(match.group(1).split())[:300]
    for index in range(len(lines) - 1, -1, -1):
        match = EXCEPTION_LINE.match(lines[index])
        survived = index + 1 < len(lines) and lines[index + 1].startswith("WARNING:")
        if match and not survived:
            return " ".join(match.group(1).split())[:300]
    return fallback


def cause_before_warning(log_path: Path, warning: str) -> str | None:
    """The exception a converter caught and reported with a "WARNING: <warning>" line (onnx2tf prints the
    traceback, then the warning, and carries on), or None when no such warning is in the log."""
    lines = _log_lines(log_path) or []
    for end, line in enumerate(lines):
        if line.startswith("WARNING:") and line[len("WARNING:"):].strip() == warning:
            for previous in reversed(lines[:end]):
                if previous.startswith("WARNING:"):
                    break   # that traceback belongs to an earlier warning
                match = EXCEPTION_LINE.match(previous)
                if match:
                    return " ".join(match.group(1).split())
            return warning
    return None


def read_log(path: Path) -> str:
    """A converter's log as text; empty when it was never written."""
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _log_lines(log_path: Path) -> list[str] | None:
    """The log's non-blank lines, without colour codes and surrounding spaces; None if it cannot be read."""
    if not log_path.is_file():
        return None
    text = read_log(log_path)
    return [line for line in (strip_ansi(raw).strip() for raw in text.splitlines()) if line]

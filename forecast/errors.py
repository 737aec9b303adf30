"""Errors a user can act on: each kind carries its exit code and a one-line message.

The CLI prints ``forecast: error: <message>`` on stderr and exits with ``exit_code``;
anything that is not a ``ForecastError`` is a bug and exits 1.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from typing import IO, Iterator


class ForecastError(Exception):
    """Base class: a failure the user can fix. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1

    def __init__(self, message: str):
        # One line, always: a multi-line message would break `2>errors.log | grep`.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return self.args[0]


class UsageError(ForecastError):
    """A bad option or a combination of options that cannot work."""

    exit_code = 2


class DataError(ForecastError):
    """The input CSV cannot be used: missing column, unparsable value, too few rows, ..."""

    exit_code = 2


class ModelDirError(ForecastError):
    """A model directory is missing, incomplete, damaged or from an incompatible version."""

    exit_code = 2


class OutputError(ForecastError):
    """A file or directory the command would write cannot or must not be written there."""

    exit_code = 2


class TrainingError(ForecastError):
    """Training ran but did not produce a usable model (e.g. the loss became NaN)."""

    exit_code = 1


#: The one line for running out of memory, Python's (MemoryError) or TensorFlow's
#: (``training.tensorflow_memory``), in every command.
OUT_OF_MEMORY = ("out of memory; try a smaller input or smaller options (for train: "
                 "--batch-size, --window, --units)")


def where(source: str, line: int | None = None, column: str | None = None) -> str:
    """Format a location the way every message names it: ``file.csv line 12, column 'Close'``."""
    parts = [source]
    if line is not None:
        parts.append(f"line {line}")
    text = " ".join(parts)
    if column is not None:
        text += f", column '{column}'"
    return text


#: While a command runs, its warnings are held here (see ``held_warnings``).
_held: list[str] | None = None


def warn(message: str) -> None:
    """A warning on stderr (``forecast: warning: ...``), or held while a command runs."""
    note(f"warning: {message}")


def note(message: str) -> None:
    """A line for the user on stderr (``forecast: ...``), or held while a command runs."""
    if _held is not None:
        _held.append(message)
    else:
        print(f"forecast: {message}", file=sys.stderr)


class _Info(str):
    """A held line about how the command runs: printed as a note, not folded into an error."""


def info(message: str) -> None:
    """A note about how the command runs (the device, the windows, which band was chosen):
    held like any note, but dropped, not folded, when the command fails."""
    note(_Info(message))


def is_folded(line: str) -> bool:
    """Whether a held line goes into a failure's one line (warnings and notes do, ``info``
    does not)."""
    return not isinstance(line, _Info)


class HeldLines(io.TextIOBase):
    """A text stream for code that prints its notes: each ``forecast: ...`` line written is
    held as ``info`` (``forecast: warning: ...`` as a warning)."""

    def __init__(self):
        super().__init__()
        self._part = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self._part = (self._part + text).split("\n")
        for line in lines:
            line = line.removeprefix("forecast: ")
            (note if line.startswith("warning: ") else info)(line)
        return len(text)


def release_held() -> None:
    """Print the lines held so far, at once (see ``progress``)."""
    if _held:
        for line in _held:
            print(f"forecast: {line}", file=sys.stderr)
        _held.clear()


def _seconds_from_env(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


#: Steps (reading, windowing) that take longer than this many seconds say what they did on
#: stderr, so that a big input shows progress and a small one stays quiet. The environment
#: variable FORECAST_PROGRESS_AFTER_S changes it (the test suite turns progress off).
PROGRESS_AFTER_S = _seconds_from_env("FORECAST_PROGRESS_AFTER_S", 1.0)


def progress(message: str, started: float, stream: IO[str] | None = None) -> None:
    """``forecast: <message> (<seconds> s)`` on ``stream`` (default stderr), at once
    (progress is not a warning and is never held), if the step begun at ``started``
    (``time.perf_counter()``) has taken more than ``PROGRESS_AFTER_S``. On stderr the
    lines held so far come first (a quick command prints its notes after it succeeds,
    or only its error; a slow one shows them as it goes)."""
    seconds = time.perf_counter() - started
    if seconds > PROGRESS_AFTER_S:
        if stream is None or stream is sys.stderr:
            release_held()  # a command slow enough to show progress shows what it said
        print(f"forecast: {message} ({seconds:.1f} s)", file=stream or sys.stderr, flush=True)


@contextlib.contextmanager
def held_warnings() -> Iterator[list[str]]:
    """Hold the warnings of a command: it prints them once it succeeds, or folds them into
    its one-line error when it fails, so that a failing command prints exactly one line."""
    global _held
    saved, _held = _held, []
    try:
        yield _held
    finally:
        _held = saved

"""Errors a user can act on: each kind carries its exit code and a one-line message.

The CLI prints ``forecast: error: <message>`` on stderr and exits with ``exit_code``;
anything that is not a ``ForecastError`` is a bug and exits 1.
"""

from __future__ import annotations


class ForecastError(Exception):
    """Base class: a failure the user can fix. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1

    def __init__(self, message: str):
        # One line, always: a multi-line message would break `2>errors.log | grep`.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        """The one-line message, whitespace collapsed."""
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

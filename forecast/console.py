"""What a command says: its lines on stderr (notes, warnings, progress, held warnings), its
result on stdout, and the one line a failure prints (``run_guarded``).

Warnings are held while a command runs: printed after a success, folded into the one line
of a failure, so that a failing command prints exactly one line. Click and Typer are
imported only by ``run_guarded``, when a command runs, so that every stage can import this
module cheaply.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import sys
import time
import traceback
from typing import IO, Any, Callable, Iterator, NoReturn

from forecast import runtime
from forecast.config import json_safe
from forecast.errors import OUT_OF_MEMORY, ForecastError, OutputError
from forecast.runtime import Interrupted


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
        """Always writable (a text stream for ``print(file=...)``)."""
        return True

    def write(self, text: str) -> int:
        """Hold each complete line of ``text``; returns ``len(text)``."""
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


def run_guarded(call: Callable[[], Any], debug: bool = False) -> int:
    """Call ``call`` and map its outcome to an exit code, printing errors as one line.

    Warnings are held until the command ends: printed after a success, folded into the
    one line of a failure."""
    with held_warnings() as notes:
        code = _run(call, debug, notes)
    for line in notes:
        print(f"forecast: {line}", file=sys.stderr)
    return code


def _run(call: Callable[[], Any], debug: bool, notes: list[str]) -> int:
    import typer
    try:  # Typer >= 0.22 vendors Click; older releases depend on it.
        from typer import _click as click
    except ImportError:  # pragma: no cover
        import click
    try:
        result = call()
        return result if isinstance(result, int) else 0
    except ForecastError as exc:
        return fail(exc.message, exc.exit_code, debug, notes)
    except Interrupted as exc:
        return interrupted(exc.signum, debug, notes)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `forecast`: the help, as Click
        print(exc.format_message(), file=sys.stderr)   # gives it (stderr, exit 2)
        return 2
    except click.exceptions.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return fail(f"{exc.format_message()}{hint}", 2, debug, notes)
    except click.exceptions.ClickException as exc:
        return fail(exc.format_message(), exc.exit_code, debug, notes)
    except (typer.Abort, KeyboardInterrupt):
        return interrupted(signal.SIGINT, debug, notes)
    except ClosedStream as exc:  # e.g. --help >&-
        return fail(f"{exc.strerror}; nothing was written", 2, debug, notes)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining
        # about the unflushable stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except MemoryError:
        return fail(OUT_OF_MEMORY, 1, debug, notes)
    except Exception as exc:  # a bug, not a user mistake: say so, keep it one line
        if runtime.received is not None:  # a signal cut C code short (a SystemError, say)
            return interrupted(runtime.received, debug, notes)
        return fail(f"unexpected {type(exc).__name__}: {exc}; rerun with --debug for the "
                    "traceback and report it", 1, debug, notes)


def fail(message: str, code: int, debug: bool, notes: list[str] | None = None,
         kind: str = "error: ") -> int:
    """Print the one error line (with any held warnings folded in); empty ``notes``."""
    if debug:
        traceback.print_exc()
    warnings = [str(n).removeprefix("warning: ") for n in notes or () if is_folded(n)]
    if notes:
        notes.clear()
    runtime.restore_stderr()  # a signal during the quiet TensorFlow import: say it here
    print(one_line(f"forecast: {kind}", message, warnings), file=sys.stderr)
    return code


def interrupted(signum: int, debug: bool, notes: list[str]) -> int:
    """Ctrl-C: ``forecast: interrupted``, exit 130; SIGTERM: an error, exit 143."""
    if signum == signal.SIGINT:
        return fail("interrupted", 130, debug, notes, kind="")
    return fail("terminated", 128 + signum, debug, notes)


#: The longest error line: a message quoting a whole cell or list is cut to this.
MAX_LINE = 300


def one_line(prefix: str, message: str, folded: list[str] = ()) -> str:
    """``prefix + message`` with ``folded`` warnings after it, in at most MAX_LINE
    characters: what is too long is cut in its middle (`` ... ``), keeping the start of
    the message and its end (the fix), and the message before the folded warnings."""
    message = " ".join(message.split())
    after = f" (after: {'; '.join(' '.join(w.split()) for w in folded)})" if folded else ""
    room = MAX_LINE - len(prefix)
    if len(message) + len(after) > room:
        after = _cut(after, max(room - len(message), min(len(after), room // 4)))
    return prefix + _cut(message, room - len(after)) + after


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, its middle replaced by `` ... ``: the end
    kept is its last clause (after the last '; ', the fix) when that is short, else a
    third of the width."""
    if len(text) <= width:
        return text
    fix = text.rfind("; ")
    keep = len(text) - fix if 0 < fix and len(text) - fix <= width // 2 else width // 3
    tail = text[len(text) - keep:]
    gap = " ..." if tail.startswith("; ") else " ... "
    return text[:width - keep - len(gap)].rstrip() + gap + tail


def emit(result: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Write a command's result on stdout: strict JSON with --json (null for undefined
    figures), else the command's text form. A full disk or a closed file is an OutputError."""
    if as_json:
        body = json.dumps(json_safe(result), indent=2, default=_json_default, allow_nan=False)
    else:
        body = text(result).rstrip("\n")
    try:
        sys.stdout.write(body + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        _drop_stdout()  # so that the interpreter's own flush at exit does not fail again
        raise OutputError(f"cannot write the output to stdout ({exc.strerror or exc}); check "
                          "the disk or the redirection") from None


def _drop_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test runner's buffer)
        pass


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def leave(code: int) -> NoReturn:
    """Exit with ``code`` once stdout and stderr are flushed, without the interpreter's
    teardown: TensorFlow's and pyarrow's C++ threads, destroyed during it, can abort the
    process on a loaded machine ('terminate called without an active exception', exit
    134) after the command has done everything right. Every file is closed by then."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError) as exc:
        if code == 0:  # data left unwritten that nothing reported yet (--version > /dev/full)
            print(f"forecast: error: cannot write the output to stdout "
                  f"({getattr(exc, 'strerror', None) or exc}); check the disk or the "
                  "redirection", file=sys.stderr)
            code = 2
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


class ClosedStream(OSError):
    """Reading stdin or writing stdout that was closed when forecast started (``<&-``)."""


class _ClosedFile(io.RawIOBase):
    """What ``sys.stdin`` or ``sys.stdout`` reads or writes when it was closed at start:
    every read or write is a ClosedStream error that says so."""

    def __init__(self, fd: int, name: str, hint: str):
        super().__init__()
        self._fd, self.name, self._hint = fd, name, hint

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return self._fd == 0

    def writable(self) -> bool:
        return self._fd != 0

    def readinto(self, buffer) -> int:
        raise ClosedStream(errno.EBADF, f"{self.name} is closed{self._hint}")

    def write(self, data) -> int:
        raise ClosedStream(errno.EBADF, f"{self.name} is closed{self._hint}")


def reopen_closed_streams() -> None:
    """Put /dev/null on a stdin, stdout or stderr that was closed at start (``<&-``,
    ``>&-``, ``2>&-``), as daemons do: else the next file opened takes its number, and
    messages land in that file (a CSV being written) or data in the messages. A closed
    stderr drops the messages; reading a closed stdin or writing a closed stdout is an
    error that says so (``ClosedStream``)."""
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None and _is_open(fd):
            continue
        null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        if fd == 0:
            sys.stdin = io.TextIOWrapper(io.BufferedReader(_ClosedFile(
                0, name, "; pipe the prices in, or name a file instead of -")))
        elif fd == 1:
            sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedFile(1, name, "")))
        else:
            sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True

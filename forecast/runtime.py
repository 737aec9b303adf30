"""Process-level set-up: import TensorFlow quietly, and stop cleanly on SIGINT or SIGTERM.

TensorFlow's C++ start-up writes absl/oneDNN notices straight to file descriptor 2, before
TF_CPP_MIN_LOG_LEVEL takes effect, so no environment variable silences them. They are
noise on a user's terminal and in a script's log, so the import runs with fd 2 pointed at
/dev/null (unless FORECAST_DEBUG is set); a failed import still raises normally.

Ctrl-C (SIGINT) and SIGTERM raise ``Interrupted``, which unwinds through every ``finally``
(temporary directories are removed) to the command line, which says so and exits 130 or
143. Code that must not be cut anywhere (a tuning trial: Optuna's storage, TensorFlow's C
code that calls back into Python) runs under ``deferred_signals``: there the first signal
only marks the process, and ``check_signals`` raises it at a safe point.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator

#: Split the CPU into this many logical devices, so the multi-device (mirrored) path can
#: run and be tested on a machine without GPUs. Must happen before TensorFlow's runtime starts.
LOGICAL_CPUS_ENV = "FORECAST_LOGICAL_CPUS"


def import_tensorflow_quietly() -> None:
    """Import tensorflow (and keras) once, with TensorFlow's C++ start-up notices hidden."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" in sys.modules or os.environ.get("FORECAST_DEBUG"):
        import keras  # noqa: F401
        split_cpu()
        return
    global _quiet
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    _quiet = (saved, devnull)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        split_cpu()
        tf.constant(0)  # the runtime's own start-up notice comes on first use
        tf.get_logger().setLevel("ERROR")  # e.g. retracing notices: not for users
        import keras  # noqa: F401
    finally:
        restore_stderr()


#: (saved fd 2, /dev/null) while the import points fd 2 at /dev/null.
_quiet: tuple[int, int] | None = None


def restore_stderr() -> None:
    """Point fd 2 back where it was before a quiet import (if one left it pointed away:
    a signal can cut the import's ``finally`` short), so a message reaches the user."""
    global _quiet
    if _quiet is None:
        return
    saved, devnull = _quiet
    os.dup2(saved, 2)
    _quiet = None
    with contextlib.suppress(OSError):
        os.close(saved)
        os.close(devnull)


def split_cpu() -> None:
    """Apply FORECAST_LOGICAL_CPUS (if set and the runtime has not started yet)."""
    import tensorflow as tf

    count = int(os.environ.get(LOGICAL_CPUS_ENV, "0") or 0)
    if count > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
        except RuntimeError:  # the runtime already started; keep what it has
            pass


class Interrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM: unwinds like Ctrl-C; ``code`` is the exit code, 128 +
    the signal (130, 143). Not an Exception, so that no ``except Exception`` swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.code = 128 + signum


#: The first SIGINT or SIGTERM this process received (None: none yet).
received: int | None = None
_deferring = False


def handle_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Make these signals raise ``Interrupted`` (or wait for ``check_signals`` under
    ``deferred_signals``). One the process was started ignoring stays ignored, as Python
    leaves it (a shell starts background jobs with SIGINT ignored)."""
    for signum in signals:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, _on_signal)


def _on_signal(signum, frame):
    global received
    first = received is None
    if first:
        received = signum
    if not (_deferring and first):  # a second Ctrl-C does not wait for a safe point
        raise Interrupted(received)


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Within: the first SIGINT or SIGTERM only marks the process; ``check_signals``, called
    where stopping is safe, raises it. A second one raises at once."""
    global _deferring
    saved, _deferring = _deferring, True
    try:
        yield
    finally:
        _deferring = saved


def check_signals() -> None:
    """Raise ``Interrupted`` if the process received SIGINT or SIGTERM."""
    if received is not None:
        raise Interrupted(received)

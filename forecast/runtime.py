"""Process-level set-up for the heavy libraries: import TensorFlow quietly.

TensorFlow's C++ start-up writes absl/oneDNN notices straight to file descriptor 2, before
TF_CPP_MIN_LOG_LEVEL takes effect, so no environment variable silences them. They are
noise on a user's terminal and in a script's log, so the import runs with fd 2 pointed at
/dev/null (unless FORECAST_DEBUG is set); a failed import still raises normally.
"""

from __future__ import annotations

import os
import sys


def import_tensorflow_quietly() -> None:
    """Import tensorflow (and keras) once, with TensorFlow's C++ start-up notices hidden."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" in sys.modules or os.environ.get("FORECAST_DEBUG"):
        import keras  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.constant(0)  # the runtime's own start-up notice comes on first use
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

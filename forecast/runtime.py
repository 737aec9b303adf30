"""Process-level set-up for the heavy libraries: import TensorFlow quietly.

TensorFlow's C++ start-up writes absl/oneDNN notices straight to file descriptor 2, before
TF_CPP_MIN_LOG_LEVEL takes effect, so no environment variable silences them. They are
noise on a user's terminal and in a script's log, so the import runs with fd 2 pointed at
/dev/null (unless FORECAST_DEBUG is set); a failed import still raises normally.
"""

from __future__ import annotations

import os
import sys

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
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        split_cpu()
        tf.constant(0)  # the runtime's own start-up notice comes on first use
        tf.get_logger().setLevel("ERROR")  # e.g. retracing notices: not for users
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
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

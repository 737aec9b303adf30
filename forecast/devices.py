"""Where training runs: GPU discovery, memory growth, precision and distribution strategy."""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from forecast.errors import UsageError


@dataclass
class DeviceSetup:
    """The devices chosen and the strategy whose scope builds and trains the model."""

    kind: str            # "gpu" or "cpu"
    devices: list[str]   # logical device names used
    strategy: tf.distribute.Strategy
    precision: str

    @property
    def mirrored(self) -> bool:
        """Whether training runs under a MirroredStrategy (several GPUs)."""
        return isinstance(self.strategy, tf.distribute.MirroredStrategy)

    def describe(self, cudnn: bool) -> str:
        """The device line train prints. ``cudnn``: ``models.cudnn_eligible``, which only
        the recurrent layers' settings decide: --l1/--l2, --clipnorm/--clipvalue and
        --attention (after the last recurrent layer, which then returns sequences, as
        cuDNN allows) leave it as it is."""
        where = f"{self.kind.upper()} ({', '.join(self.devices)})"
        how = "MirroredStrategy" if self.mirrored else "one device"
        if self.kind == "gpu":
            kernel = "recurrent layers use cuDNN" if cudnn else \
                "recurrent layers NOT cuDNN-eligible (SimpleRNN or non-default settings)"
        else:
            kernel = "cuDNN not used on CPU" + (" (layers are eligible on a GPU)" if cudnn else "")
        return f"device: {where}, {how}, {self.precision}; {kernel}"


def setup_devices(device: str = "auto", strategy: str = "auto",
                  precision: str = "float32") -> DeviceSetup:
    """Pick devices before any model is built.

    Args:
        device: ``auto`` (GPU when TensorFlow sees one, else CPU), ``cpu`` or ``gpu``
            (an error without a GPU).
        strategy: ``auto`` (mirrored over several GPUs, else one device), ``one`` or
            ``mirrored`` (over every GPU, or every logical CPU when there is no GPU).
        precision: ``float32`` or ``mixed`` (GPU only).
    """
    gpus = tf.config.list_physical_devices("GPU")
    if device == "gpu" and not gpus:
        raise UsageError("--device gpu, but TensorFlow sees no GPU (is the `gpu` extra "
                         "installed and a CUDA driver present?); use --device auto or cpu")
    use_gpu = bool(gpus) and device != "cpu"
    if gpus and not use_gpu:
        tf.config.set_visible_devices([], "GPU")
    if use_gpu:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised in this process
                pass
    if precision == "mixed" and not use_gpu:
        raise UsageError("--precision mixed needs a GPU; use --precision float32 on the CPU")
    kind = "gpu" if use_gpu else "cpu"
    names = [d.name for d in tf.config.list_logical_devices(kind.upper())]
    if strategy == "mirrored" or (strategy == "auto" and kind == "gpu" and len(names) > 1):
        chosen = tf.distribute.MirroredStrategy(devices=names)
    else:
        chosen = tf.distribute.get_strategy()
        names = names[:1]
    return DeviceSetup(kind, names, chosen, precision)


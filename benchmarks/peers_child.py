"""One peer's training run for `benchmarks/peers.py`, in the peers' own venv (torch, Darts,
neuralforecast; never `forecast` or TensorFlow).

    PEERS_VENV/bin/python benchmarks/peers_child.py darts|neuralforecast SERIES.npz
        --epochs E --window 20 --units 32 --batch 64 --threads 2 --seed 42

SERIES.npz holds one float32 array per series (the scaled training log-returns that
`peers.py` wrote). Trains a one-step LSTM (one layer of ``--units``, a linear output, Adam at
1e-3, MAE loss, no validation) for ``--epochs`` epochs of every training window and prints one
JSON line: the tool and its version, the training windows an epoch runs through, each epoch's
seconds and the windows per second over the epochs after the first.

Darts: `BlockRNNModel(model="LSTM", input_chunk_length=window, output_chunk_length=1)`, an
epoch is one pass over its training dataset in batches of ``--batch``, timed by a Lightning
callback from the epoch's start to its end. That dataset gives every series as many samples
as the longest has windows (a shorter series' windows come round again), so on a panel of
unequal series a Darts epoch trains on more windows than the others' (panel20: 110,580
against 81,221); its windows per epoch are the dataset's length, the windows it trains on.
neuralforecast: `LSTM(h=1, input_size=window)` (one encoder layer of ``--units``, a one-layer
decoder of ``--units``), whose training is counted in steps of ``windows_batch_size`` windows
sampled from ``batch_size`` series (its default, 32); an "epoch" here is
ceil(windows / batch) steps, so that it sees as many windows as one of the others' epochs,
timed by a Lightning callback at each step's end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings


def series_from(path: str) -> list:
    import numpy as np

    with np.load(path) as data:
        return [data[k].astype(np.float32) for k in sorted(data.files, key=lambda k: int(k[1:]))]


def quiet() -> None:
    import logging

    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric",
                 "darts", "neuralforecast"):
        logging.getLogger(name).setLevel(logging.ERROR)


def lightning_callback_base():
    """Lightning's Callback as Darts and neuralforecast import it (pytorch_lightning)."""
    try:
        from pytorch_lightning import Callback
    except ImportError:
        from lightning.pytorch import Callback
    return Callback


def run_darts(series: list, args) -> dict:
    import darts
    import torch
    from darts import TimeSeries
    from darts.models import BlockRNNModel

    Callback = lightning_callback_base()
    seconds: list[float] = []
    counted: dict = {}

    class EpochTimer(Callback):
        def on_train_epoch_start(self, trainer, module):
            if "windows" not in counted:
                try:
                    counted["windows"] = len(trainer.train_dataloader.dataset)
                except Exception:  # a Lightning without the attribute: count below
                    pass
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            seconds.append(time.perf_counter() - self.start)

    model = BlockRNNModel(
        input_chunk_length=args.window, output_chunk_length=1, model="LSTM",
        hidden_dim=args.units, n_rnn_layers=1, dropout=0.0, batch_size=args.batch,
        n_epochs=args.epochs, optimizer_kwargs={"lr": 1e-3}, loss_fn=torch.nn.L1Loss(),
        random_state=args.seed, save_checkpoints=False, force_reset=True,
        pl_trainer_kwargs={"accelerator": "cpu", "callbacks": [EpochTimer()],
                           "enable_progress_bar": False, "enable_model_summary": False,
                           "logger": False, "enable_checkpointing": False})
    model.fit([TimeSeries.from_values(s) for s in series], verbose=False)
    windows = counted.get("windows") or sum(max(len(s) - args.window, 0) for s in series)
    return {"tool": "darts", "version": darts.__version__, "windows_per_epoch": int(windows),
            "epoch_seconds": seconds}


def run_neuralforecast(series: list, args) -> dict:
    import neuralforecast
    import numpy as np
    import pandas as pd
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM

    Callback = lightning_callback_base()
    windows = sum(max(len(s) - args.window, 0) for s in series)
    steps_per_epoch = math.ceil(windows / args.batch)
    steps = steps_per_epoch * args.epochs
    start: list[float] = []  # (neuralforecast copies its callbacks: state lives out here)
    ends: list[float] = []

    class StepTimer(Callback):
        def on_train_start(self, trainer, module):
            start.append(time.perf_counter())

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            ends.append(time.perf_counter())

    frame = pd.DataFrame({
        "unique_id": np.repeat([f"s{i}" for i in range(len(series))], [len(s) for s in series]),
        "ds": np.concatenate([np.arange(len(s)) for s in series]),
        "y": np.concatenate(series)})
    model = LSTM(h=1, input_size=args.window, encoder_n_layers=1,
                 encoder_hidden_size=args.units, decoder_hidden_size=args.units,
                 decoder_layers=1, max_steps=steps, windows_batch_size=args.batch,
                 learning_rate=1e-3, scaler_type="identity", random_seed=args.seed,
                 val_check_steps=steps + 1, accelerator="cpu", enable_progress_bar=False,
                 enable_model_summary=False, logger=False, enable_checkpointing=False,
                 callbacks=[StepTimer()])
    NeuralForecast(models=[model], freq=1).fit(frame, val_size=0)
    marks = start[:1] + [ends[min(len(ends), (e + 1) * steps_per_epoch) - 1]
                             for e in range(args.epochs)]
    return {"tool": "neuralforecast", "version": neuralforecast.__version__,
            "windows_per_epoch": steps_per_epoch * args.batch, "steps": len(ends),
            "epoch_seconds": [b - a for a, b in zip(marks, marks[1:])]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tool", choices=["darts", "neuralforecast"])
    parser.add_argument("series")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    quiet()
    series = series_from(args.series)
    result = (run_darts if args.tool == "darts" else run_neuralforecast)(series, args)
    steady = result["epoch_seconds"][1:] or result["epoch_seconds"]
    epochs = len(steady)
    result.update(torch=torch.__version__, threads=torch.get_num_threads(),
                  windows_per_second=result["windows_per_epoch"] * epochs / sum(steady))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Training speed: `forecast train`'s training loop against a plain Keras script.

Same model (LSTM(50, return_sequences) -> Dropout 0.2 -> LSTM(50) -> Dropout 0.2 ->
Dense 25 -> Dense 1, adam / mse), same windows (window 100 over data/sp500.csv Close, the
tool's chronological training and validation windows), same batch size (32), same epochs,
each in a fresh process, alternating, in one invocation.

    .venv/bin/python benchmarks/train_speed.py [--epochs 4] [--repeats 2]

Prints a Markdown table: windows per second (steady state: epochs after the first, which
includes tracing), first-epoch seconds, peak resident memory, and the ratio tool / plain.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys

from common import SP500, config_from, table

RECIPE = dict(cell="lstm", layers=2, units=50, dropout=0.2, dense_units=25, window=100,
              batch_size=32, loss="mse", baseline_guard=False, quantiles=[], derived=[])


def child(kind: str, epochs: int) -> dict:
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from forecast.data import read_panel
    from forecast.devices import setup_devices
    from forecast.models import build_model
    from forecast.training import (EpochTimer, compile_model, fit, prepare_training,
                                   sample_dates, seed_everything)

    prices = read_panel([SP500], warn=lambda m: None)
    config = config_from({**RECIPE, "epochs": epochs, "patience": epochs + 1})
    prepared, _, prices, config = prepare_training(prices, config)
    masks = prepared.masks
    n_train = int(masks["train"].sum())
    if kind == "tool":
        setup = setup_devices("cpu")
        seed_everything(1)
        model = build_model(config.model, 1)
        compile_model(model, 1e-3, "mse")
        seconds = fit(model, prepared, sample_dates(prices, prepared), config, setup,
                      io.StringIO())["seconds"]
    else:
        keras.utils.set_random_seed(1)
        model = keras.Sequential([
            keras.Input((100, 1)),
            keras.layers.LSTM(50, return_sequences=True), keras.layers.Dropout(0.2),
            keras.layers.LSTM(50), keras.layers.Dropout(0.2),
            keras.layers.Dense(25), keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        timer = EpochTimer()
        X, y = prepared.X.astype("float32"), prepared.y.astype("float32")
        model.fit(X[masks["train"]], y[masks["train"]], batch_size=32, epochs=epochs,
                  validation_data=(X[masks["val"]], y[masks["val"]]), verbose=0,
                  callbacks=[timer])
        seconds = timer.seconds
    steady = statistics.median(seconds[1:])
    return {"windows_per_second": n_train / steady, "first_epoch_s": seconds[0],
            "steady_epoch_s": steady, "train_windows": n_train,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=["tool", "plain"])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.epochs)))
        return
    runs: dict[str, list[dict]] = {"tool": [], "plain": []}
    for i in range(args.repeats):
        for kind in ("plain", "tool"):
            done = subprocess.run([sys.executable, __file__, "--child", kind, "--epochs",
                                   str(args.epochs)], capture_output=True, text=True, check=True)
            runs[kind].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {kind} run {i + 1}: {runs[kind][-1]['windows_per_second']:.0f} windows/s",
                  file=sys.stderr)
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    rows = [[name, f"{med[k]['windows_per_second']:.0f}", f"{med[k]['steady_epoch_s']:.2f}",
             f"{med[k]['first_epoch_s']:.2f}", f"{med[k]['peak_mb']:.0f}"]
            for k, name in (("plain", "plain Keras script (model.fit on arrays)"),
                            ("tool", "forecast train (tf.data, steps_per_execution)"))]
    print(f"{med['tool']['train_windows']:.0f} training windows of 100 rows, batch 32, "
          f"{args.epochs} epochs, median of {args.repeats} fresh processes each\n")
    print(table(rows, ["training loop", "windows / s (steady)", "s / epoch", "first epoch s",
                       "peak RSS MB"]))
    print(f"\nratio tool / plain: "
          f"{med['tool']['windows_per_second'] / med['plain']['windows_per_second']:.2f}")


if __name__ == "__main__":
    main()

"""Check the test suite's strength: change one line of forecast/, run the tests, put it back.

Each mutant below is one deliberate bug, written as an exact piece of code and what
replaces it. For each, this script copies the project to a scratch directory, applies the
change there (never in your checkout), runs the tests named beside it (``--full``: the
whole suite), and reports which test failed first: the test that catches the bug. A mutant
that no test catches "survives"; a mutant whose code is no longer in the file is "stale".

    .venv/bin/python docs/mutants.py                      # every mutant, its own tests
    .venv/bin/python docs/mutants.py guard-zero step-col  # some of them
    .venv/bin/python docs/mutants.py --full               # the whole suite per mutant
    .venv/bin/python docs/mutants.py --tests-from REV     # the tests as of a git revision
    .venv/bin/python docs/mutants.py --stale              # list stale mutants, run nothing

Prints a Markdown table (for docs/testing.md) on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    what: str
    tests: tuple[str, ...]


T = "tests/test_training.py"
P = "tests/test_predict.py"
I = "tests/test_intervals.py"
B = "tests/test_bundle.py"
E = "tests/test_engine.py"
W = "tests/test_windows.py"
N = "tests/data/test_panel.py"
U = "tests/test_tuning.py"
C = "tests/test_cli.py"
R = "tests/test_robustness.py"
D = "tests/test_robustness.py::test_damaged_model_directory_is_exit_2_naming_the_file"
F = "tests/data/test_formats.py"
L = "tests/data/test_layouts.py"
S = "tests/data/test_sources.py"

MUTANTS = [
    # The house rules (tests/test_layout.py).
    Mutant("keras-in-metrics", "forecast/metrics.py",
           "import math\nfrom typing import Sequence\n",
           "import math\nfrom typing import Sequence\n\nimport keras  # noqa: F401\n",
           "Keras imported at module level by a NumPy-only stage", ("tests/test_layout.py",)),
    Mutant("arrow-up", "forecast/windows.py",
           "from forecast.errors import DataError, where\n",
           "from forecast.errors import DataError, where\n"
           "from forecast import report  # noqa: F401\n",
           "windows imports report, a stage after it", ("tests/test_layout.py",)),
    # The baseline guard and early stopping.
    Mutant("guard-zero", "forecast/training.py",
           'kept = "network" if stat < -GUARD_Z else "start"',
           'kept = "network" if stat < 0 else "start"',
           "guard threshold -1.645 -> 0", (T,)),
    Mutant("guard-plus", "forecast/training.py",
           'kept = "network" if stat < -GUARD_Z else "start"',
           'kept = "network" if stat < GUARD_Z else "start"',
           "guard threshold -1.645 -> +1.645", (T,)),
    Mutant("guard-same-rows", "forecast/training.py",
           "starts = prepared.starts[guard_rows]", "starts = prepared.starts[stop_rows]",
           "guard tested on the validation rows that chose the epoch", (T,)),
    Mutant("split-no-gap", "forecast/training.py",
           "    gap = cut + horizon - 1\n", "    gap = cut\n",
           "validation halves share target rows (no gap of horizon - 1)", (T,)),
    Mutant("newey-west", "forecast/metrics.py",
           "for lag in range(1, horizon):", "for lag in range(1, 1):",
           "Diebold-Mariano without the Newey-West lag terms", (T,)),
    Mutant("guard-horizon", "forecast/training.py",
           "stat = diebold_mariano(diff, y.shape[1])", "stat = diebold_mariano(diff)",
           "guard passes horizon 1 to the DM test", (T,)),
    Mutant("guard-mse-as-mae", "forecast/training.py",
           "diff = ((y - trained) ** 2).mean(axis=1) - ((y - start) ** 2).mean(axis=1)",
           "diff = np.abs(y - trained).mean(axis=1) - np.abs(y - start).mean(axis=1)",
           "MSE-loss guard compares absolute errors", (T,)),
    Mutant("guard-keeps-start-weights", "forecast/training.py",
           "    if kept == \"network\":\n        model.set_weights(trained_weights)",
           "    if kept == \"network\":\n        pass",
           "guard says 'network' but leaves the start weights in the model", (T,)),
    Mutant("start-median-mean", "forecast/windows.py",
           'center="median" if t.loss == "mae" or m.quantiles else "mean",',
           'center="mean" if t.loss == "mae" or m.quantiles else "median",',
           "start from the mean for MAE and the median for MSE", (T,)),
    Mutant("no-guard-flag-ignored", "forecast/options.py",
           "baseline_guard=baseline_guard,", "baseline_guard=True,",
           "--no-baseline-guard ignored", (T,)),
    Mutant("no-guard-starts-at-median", "forecast/training.py",
           "return np.zeros(m.horizon) if config.training.baseline_guard else None",
           "return np.zeros(m.horizon) if True else None",
           "without the guard, still start from the median with a zero output kernel", (T, P)),
    Mutant("no-restore-best", "forecast/training.py",
           "restore_best_weights=True", "restore_best_weights=False",
           "early stopping keeps the last epoch, not the best", (T,)),
    Mutant("train-test-rows", "forecast/evaluation.py",
           "use = (rows >= max(int(lo[s]), 1)) & (rows < hi[s])",
           "use = (rows >= max(int(lo[s]), 1) - 1) & (rows < hi[s])",
           "train scores one row before the test split too", (T,)),
    # Intervals.
    Mutant("calibrate-target-vol", "forecast/intervals.py",
           "vols[s][rows[use] - 1], space))", "vols[s][target[use]], space))",
           "calibration scores scaled by the target row's volatility", (I,)),
    Mutant("train-band-target-vol", "forecast/evaluation.py",
           "self.vols[s][rows - 1]", "self.vols[s][rows]",
           "train's test coverage with bands at the target row's volatility", (T,)),
    Mutant("backtest-band-target-vol", "forecast/predict.py",
           'out["lower"], out["upper"] = self._band(predicted, at - step, level, step, raw)',
           'out["lower"], out["upper"] = self._band(predicted, at, level, step, raw)',
           "backtest bands scaled by the target row's volatility", (P,)),
    Mutant("future-band-origin", "forecast/predict.py",
           'predicted.ravel(), np.repeat(ends, steps), level, ahead, qprices, volatility)',
           'predicted.ravel(), np.repeat(ends - 1, steps), level, ahead, qprices, volatility)',
           "future bands scaled by the volatility one row before the last", (P,)),
    Mutant("scores-not-scaled", "forecast/intervals.py",
           "return np.abs(error) / np.asarray(scale)", "return np.abs(error)",
           "conformal scores not divided by volatility", (I,)),
    Mutant("band-not-scaled", "forecast/intervals.py",
           "half = q * np.asarray(scale)", "half = q * np.ones_like(np.asarray(scale))",
           "bands ignore the volatility", (I,)),
    Mutant("conformal-rank", "forecast/intervals.py",
           "rank = math.ceil((n + 1) * level - 1e-9)", "rank = math.ceil(n * level - 1e-9)",
           "conformal quantile without the +1", (I,)),
    Mutant("volatility-look-ahead", "forecast/intervals.py",
           "out[1:] = np.where(count >= 2, sd, np.nan)",
           "out[:-1] = np.where(count >= 2, sd, np.nan)",
           "volatility at row r includes the step into row r + 1", (I,)),
    # Predict.
    Mutant("step-column", "forecast/predict.py",
           'prices = direct[:, step - 1]',
           'prices = direct[:, 0]',
           "--step k reads the first output column", (P,)),
    Mutant("window-holds-target", "forecast/predict.py",
           'self.outputs[use], series, rows)',
           'np.roll(self.outputs, -1, axis=0)[use], series, rows)',
           "each forecast fed the window that contains its own target row", (P,)),
    Mutant("origin-rows", "forecast/windows.py",
           "return starts, series, local + window + offset\n",
           "return starts, series, local + window + offset - 1\n",
           "every origin window labelled one row early: it holds its target row", (P,)),
    Mutant("anchor-look-ahead", "forecast/windows.py",
           'anchor = panel.values[panel.offsets[series] + rows - 1, 0]',
           'anchor = panel.values[np.minimum(panel.offsets[series] + rows, '
           'len(panel.values) - 1), 0]',
           "price rebuilt from the target row's own price", (P,)),
    Mutant("future-window", "forecast/predict.py",
           'last = prepared.offsets[1:] - self.window\n',
           'last = prepared.offsets[1:] - self.window - 1\n',
           "future forecast from the second-last window", (P,)),
    Mutant("recursion-window", "forecast/predict.py",
           'recent = inputs[:, filled:filled + self.window]',
           'recent = inputs[:, filled - 1:filled - 1 + self.window]',
           "recursive steps fed a window one step stale", (P,)),
    Mutant("business-days", "forecast/calendar.py",
           'if describe_spacing(index) == "business days":', "if False:",
           "future dates skip the business-day rule", (P,)),
    Mutant("auto-engine-keras", "forecast/predict.py",
           'if engine == "numpy" or (engine == "auto" and bundle.has_numpy_engine):',
           'if engine == "numpy":',
           "--engine auto always loads Keras (TensorFlow)", (E,)),
    Mutant("evaluate-imports-tf", "forecast/cli.py",
           '    from forecast.predict import SEGMENTS, Forecaster, default_level, load_predictor\n',
           '    from forecast.predict import SEGMENTS, Forecaster, default_level, load_predictor\n'
           '    import tensorflow  # noqa: F401\n',
           "evaluate imports TensorFlow", (E,)),
    Mutant("gru-update", "forecast/engine.py",
           "return z * h + (1.0 - z) * candidate, c", "return (1.0 - z) * h + z * candidate, c",
           "GRU update gate inverted", (E,)),
    Mutant("gru-reset", "forecast/engine.py",
           "candidate = np.tanh(xw[:, 2 * u:] + r * inner[:, 2 * u:])",
           "candidate = np.tanh(xw[:, 2 * u:] + inner[:, 2 * u:])",
           "GRU reset gate dropped", (E,)),
    Mutant("lstm-forget", "forecast/engine.py",
           "c = f * c + i * g", "c = c + i * g", "LSTM forget gate dropped", (E,)),
    # The model directory.
    Mutant("no-lock", "forecast/bundle.py",
           "        with locked(target):\n            if target.is_dir() or",
           "        with contextlib.nullcontext():\n            if target.is_dir() or",
           "model directory swapped without the lock", (B,)),
    Mutant("no-rollback", "forecast/files.py",
           "        if old is not None:\n            os.rename(old, target)\n        raise",
           "        raise",
           "a failed swap does not put the old model back", (B,)),
    Mutant("delete-first", "forecast/files.py",
           "        old = target.parent / f\".{target.name}.old-{uuid.uuid4().hex[:8]}\"\n"
           "        os.rename(target, old)",
           "        shutil.rmtree(target)",
           "the old model is deleted before the new one is in place", (B,)),
    Mutant("sha256-of-part", "forecast/data/sources.py",
           "        self.digest.update(chunk)\n",
           "        self.digest.update(chunk[:-1])\n",
           "the stored sha256 is not of the training file's bytes", (B,)),
    Mutant("allow-pickle", "forecast/bundle.py",
           "np.load(io.BytesIO(raw), allow_pickle=False)",
           "np.load(io.BytesIO(raw), allow_pickle=True)",
           "weights.npz loaded with pickles allowed", (B,)),
    # Which directory train may replace (issue: a user's folder that looked like a model).
    Mutant("config-keys-unchecked", "forecast/model_dirs.py",
           "if not isinstance(raw, dict) or set(raw) != CONFIG_KEYS \\\n",
           "if not isinstance(raw, dict) \\\n",
           "a manifest-less folder is a model if its config.json has a format_version", (B,)),
    Mutant("manifest-sizes-unchecked", "forecast/model_dirs.py",
           '        if size != entry["size"]:', "        if False:",
           "a model directory whose files changed since is replaced", (B,)),
    Mutant("manifest-extra-own-names", "forecast/model_dirs.py",
           "own = OWN_FILES if manifest is None else {*manifest, MANIFEST, *ADDED_LATER}",
           "own = OWN_FILES",
           "a user's file named like one of forecast's (trials.csv) is deleted", (B,)),
    Mutant("same-source-not-under-lock", "forecast/bundle.py",
           "                if default_dir:\n                    check_same_source(target, "
           "prices.source)\n", "",
           "the same-file rule of the default directory skipped under the lock", (B,)),
    Mutant("model-file-message", "forecast/bundle.py",
           "    except NotADirectoryError:\n        if not path.is_file():",
           "    except ZeroDivisionError:\n        if not path.is_file():",
           "--model sp500.csv: no word that it is a price file", (B,)),
    # One model per read (issue: predict during train mixed two models' files).
    Mutant("data-by-path", "forecast/bundle.py",
           "        if pin is None:\n            return load(self.path / name)\n",
           "        return load(self.path / name)\n",
           "data.csv and model.keras read by path even after the directory was replaced", (B,)),
    Mutant("weights-by-path", "forecast/bundle.py",
           "raw = self._bytes(WEIGHTS)", "raw = (self.path / WEIGHTS).read_bytes()",
           "weights.npz read by path, from whatever directory is there now", (B,)),
    Mutant("pins-not-rechecked", "forecast/bundle.py",
           "            if _same_file(os.fstat(fd), path):\n                return pins",
           "            if True:\n                return pins",
           "files opened from a directory replaced meanwhile are kept", (B,)),
    Mutant("no-reader-wait", "forecast/bundle.py",
           "    with locked(path, shared=True):\n        try:\n            return _open_dir(path)",
           "    with contextlib.nullcontext():\n        try:\n            return _open_dir(path)",
           "a reader calls a directory mid-swap missing instead of waiting", (B,)),
    Mutant("digest-unchecked", "forecast/bundle.py",
           'if self.manifest is None or self.manifest.get(name, {}).get("sha256") == digest:',
           "if True:", "files are not checked against manifest.json", (B,)),
    # Damage that passed every check (issue: NaN weights, inf forecasts, window 0, ...).
    Mutant("config-not-validated", "forecast/config.py",
           "            config.validate()   # the bounds of the options it was written from",
           "            pass", "config.json values are not checked as the options are", (D,)),
    Mutant("centre-unbounded", "forecast/transforms.py",
           "if ((center < -1e-9) | (center > 1 + 1e-9)).any():", "if False:",
           "a scaler centre outside [0, 1] is read", (D,)),
    Mutant("series-names-unchecked", "forecast/bundle.py",
           "            [str(name) for name in series] != scaler.names:", "            False:",
           "scaler.json's series need not be config.json's", (D,)),
    Mutant("listed-file-gone-allowed", "forecast/bundle.py",
           "gone = [name for name in READ_FILES if name in manifest and name not in pins]",
           "gone = []", "a deleted weights.npz (listed in the manifest) silently falls back to "
           "Keras", (B,)),
    Mutant("late-ticker-refused", "forecast/bundle.py",
           "unknown = sorted(set(self.scaler.names) - set(panel.names))",
           "unknown = sorted(set(self.scaler.names) ^ set(panel.names))",
           "a ticker listed after the test start (no scaler) makes its model unreadable", (B,)),
    Mutant("nan-weights-allowed", "forecast/engine.py",
           "if not all(np.isfinite(w).all() for layer in self.weights for w in layer):",
           "if False:", "weights.npz may hold NaN", (D,)),
    Mutant("keras-nan-allowed", "forecast/bundle.py",
           "if not all(np.isfinite(w).all() for w in model.get_weights()):", "if False:",
           "model.keras may hold NaN", (D,)),
    Mutant("outputs-unchecked", "forecast/predict.py",
           "if out.size and np.isfinite(inputs).all():", "if False:",
           "network outputs of 1e30 or inf are not refused", (D,)),
    Mutant("prices-unchecked", "forecast/predict.py",
           "        if not good.all():", "        if False:",
           "infinite forecast prices are printed", (D,)),
    Mutant("price-warnings", "forecast/predict.py",
           '        with np.errstate(over="ignore", invalid="ignore", under="ignore"):\n'
           "            prices = convert(*args)",
           "        if True:\n            prices = convert(*args)",
           "NumPy's overflow warnings reach stderr", (D,)),
    # Less central code, tried to find what the suite misses.
    Mutant("evaluate-mase-scale", "forecast/predict.py",
           "        facts = self.bundle.config.facts\n        name = self.prices.names[s]\n",
           "        return metrics.naive_scale(self.prices.target_of(s))\n",
           "evaluate's MASE scaled by the whole file, not the training rows", (P, T)),
    Mutant("segment-boundary", "forecast/predict.py",
           'out[dates < pd.Timestamp(test_start)] = "validation"',
           'out[dates <= pd.Timestamp(test_start)] = "validation"',
           "the first test row labelled validation", (P,)),
    Mutant("future-dates-median", "forecast/calendar.py",
           'return last + step * pd.RangeIndex(1, steps + 1)',
           'return last + step * pd.RangeIndex(0, steps)',
           "irregular spacing: first future date repeats the last row", ("tests/test_calendar.py", P)),
    Mutant("volatility-flat-fallback", "forecast/intervals.py",
           "return out[np.where(last_valid >= 0, last_valid, np.argmax(valid))]",
           "return np.where(valid, out, 1.0)",
           "a flat stretch gets volatility 1 instead of the last usable value", (I,)),
    Mutant("replicas-ragged", "forecast/training.py",
           "starts = starts[: len(starts) - len(starts) % replicas]",
           "starts = starts[: len(starts)]",
           "mirrored training keeps a batch that does not split between replicas", (T,)),
    Mutant("reshuffle-off", "forecast/training.py",
           "rerandomize_each_iteration=True", "rerandomize_each_iteration=False",
           "the same batch order every epoch", (T,)),
    Mutant("op-determinism-off", "forecast/training.py",
           "    tf.config.experimental.enable_op_determinism()\n", "",
           "op determinism not enabled", (T,)),
    Mutant("steps-per-execution", "forecast/training.py",
           "STEPS_PER_EXECUTION = 16", "STEPS_PER_EXECUTION = 1",
           "one batch per compiled call (speed only)", (T,)),
    Mutant("no-fsync-dir", "forecast/bundle.py",
           "        fsync_dir(tmp)\n", "",
           "the new model directory is not fsynced before the swap", (B,)),
    Mutant("memory-growth-off", "forecast/devices.py",
           "set_memory_growth(gpu, True)", "set_memory_growth(gpu, False)",
           "GPU memory growth off", (T,)),
    Mutant("plot-band", "forecast/plotting.py",
           'zoom.fill_between(zoom_rows["date"], zoom_rows["lower"], zoom_rows["upper"],',
           'zoom.fill_between(zoom_rows["date"], zoom_rows["lower"], zoom_rows["lower"],',
           "the test-segment band drawn with no width", ("tests/test_plotting.py",)),
    # Splits, windows and per-series scaling.
    Mutant("train-targets-reach-val", "forecast/windows.py",
           '"train": last < train_end[series]', '"train": first_rows < train_end[series]',
           "with --horizon > 1, training windows whose later targets are validation rows", (W,)),
    Mutant("train-boundary", "forecast/windows.py",
           '"train": last < train_end[series]', '"train": last <= train_end[series]',
           "a training window whose last target is the first validation row", (W,)),
    Mutant("val-targets-reach-test", "forecast/windows.py",
           "& (last < val_end[series])", "& (first_rows < val_end[series])",
           "with --horizon > 1, validation windows whose later targets are test rows", (W,)),
    Mutant("center-last-input-row", "forecast/windows.py",
           "scaled[starts + window, 0], series", "scaled[starts + window - 1, 0], series",
           "each series centred on its training windows' last inputs, not first targets", (W,)),
    Mutant("val-start-first-date", "forecast/windows.py",
           "val.value <= unique[0]", "val.value < unique[0]",
           "--val-start on the first date accepted: no training rows", (W,)),
    Mutant("rows-needed-val-horizon", "forecast/windows.py",
           "and n_val >= horizon", "and n_val >= 1",
           "'need at least N rows' counts one validation row, not --horizon of them", (W,)),
    Mutant("rows-needed-train-window", "forecast/windows.py",
           "rows - n_test - n_val >= offset + window + horizon and",
           "rows - n_test - n_val >= offset + window and",
           "'need at least N rows' leaves no target row for a training window", (W,)),
    Mutant("constant-column-span", "forecast/transforms.py",
           "return 1.0 / np.where(span == 0.0, 1.0, span)",
           "return 1.0 / np.where(span == 0.0, 1e-12, span)",
           "a column constant on its fit rows blows later rows up (span 0 not taken as 1)",
           ("tests/test_transforms.py",)),
    # A ticker the model never saw: scaled on its rows dated before the test start.
    Mutant("new-ticker-step-into-test", "forecast/predict.py",
           "cut.value) - offset", "cut.value)",
           "a new ticker's scaling fit on the log-return into the first test row too", (N,)),
    Mutant("new-ticker-test-start-row", "forecast/predict.py",
           "panel.dates.asi8[panel.rows(s)], cut.value)",
           'panel.dates.asi8[panel.rows(s)], cut.value, side="right")',
           "a new ticker's scaling fit on its row dated on the test start too", (N,)),
    Mutant("new-ticker-center-row", "forecast/predict.py",
           "use = local < fit_rows[series]", "use = local <= fit_rows[series]",
           "a new ticker's center taken over one row more than its min and max", (N,)),
    # Tuning.
    Mutant("trial-score-last-epoch", "forecast/tuning/search.py",
           'min(trained.history["val_loss"])', 'trained.history["val_loss"][-1]',
           "a trial scores its last epoch, not its best (the one train keeps)", (U,)),
    Mutant("prune-reports-raw-loss", "forecast/tuning/search.py",
           "trial.report(self.best, epoch)", "trial.report(value, epoch)",
           "the pruner is told each epoch's own loss, not the best so far", (U,)),
    Mutant("prune-step-off-by-one", "forecast/tuning/search.py",
           "trial.report(self.best, epoch)", "trial.report(self.best, epoch + 1)",
           "each epoch reported to the pruner one step late", (U,)),
    # Options checked before any work.
    Mutant("interval-no-low-bound", "forecast/config.py",
           "INTERVAL_RANGE = (1e-6, 1 - 1e-6)", "INTERVAL_RANGE = (0, 1 - 1e-6)",
           "--interval 1e-12 accepted: an infinite band, an unexpected ValueError", (P,)),
    Mutant("interval-checked-late", "forecast/cli.py",
           "    check_interval(interval)\n    bundle = open_model(model)\n    data = load_panel(",
           "    bundle = open_model(model)\n    data = load_panel(",
           "evaluate checks --interval only after reading the model and data", (P,)),
    Mutant("seed-unbounded", "forecast/config.py",
           '"seed": Bound(*SEED_RANGE, whole=True),',
           '"seed": Bound(-math.inf, math.inf, whole=True),',
           "--seed -1 accepted (fails after the data is read)", ("tests/test_cli.py",)),
    Mutant("tf-oom-in-fit", "forecast/training.py",
           "@tensorflow_memory()\ndef fit(", "def fit(",
           "TensorFlow's out of memory in training is an unexpected ResourceExhaustedError",
           ("tests/test_cli.py",)),
    Mutant("tf-oom-in-predict", "forecast/predict.py",
           "    @tensorflow_memory()\n    def predict(", "    def predict(",
           "TensorFlow's out of memory in predict --engine keras is unexpected",
           ("tests/test_cli.py",)),
    # Where --out and --model-dir may write.
    Mutant("out-over-input", "forecast/model_dirs.py",
           'if source != "-" and out.exists() and os.path.samefile(out, source):', "if False:",
           "predict --out overwrites its own PRICES file", (P,)),
    Mutant("out-into-other-model-dir", "forecast/model_dirs.py",
           "if place == mine or is_model_dir(place):", "if place == mine:",
           "--out into a model directory other than the one in use is allowed", (P,)),
    Mutant("out-model-dir-any-name", "forecast/model_dirs.py",
           "if place == mine == folder and out.name == own:", "if place == mine == folder:",
           "plot --out writes any figure name into its model directory",
           ("tests/test_plotting.py",)),
    Mutant("out-missing-folder", "forecast/model_dirs.py",
           "    if not out.parent.is_dir():\n", "    if False:\n",
           "--out in a missing folder is not refused up front", (P,)),
    Mutant("plot-makes-folders", "forecast/plotting.py",
           "        write_atomically(out, lambda tmp: fig.savefig(",
           "        out.parent.mkdir(parents=True, exist_ok=True)\n"
           "        write_atomically(out, lambda tmp: fig.savefig(",
           "plot makes the folders of --out", ("tests/test_plotting.py",)),
    Mutant("name-length-no-temp", "forecast/model_dirs.py",
           "if size > name_max - (extra if last else 0):", "if size > name_max:",
           "a name that fits but its temporary sibling does not passes the check", (B,)),
    # tune's study storage.
    Mutant("journal-any-file", "forecast/tuning/study.py",
           "if names and not made_by_tune(folder):", "if False:",
           "tune appends its records to a file of the user's at <dir>.study/journal.log",
           ("tests/test_tuning.py",)),
    Mutant("journal-left-on-full-disk", "forecast/tuning/study.py",
           "        remove_made(made)\n        if isinstance(exc, OSError):",
           "        if isinstance(exc, OSError):",
           "a study that cannot be created (full disk) leaves an empty journal behind",
           ("tests/test_tuning.py",)),
    Mutant("space-bounds-unchecked", "forecast/tuning/space.py",
           "    if not bound.holds(value):\n", "    if False:\n",
           "--space values outside the options' bounds (config.OPTION_BOUNDS) accepted",
           ("tests/test_tuning.py",)),
    Mutant("storage-checked-late", "forecast/tuning/search.py",
           "    where = check_storage(storage, target)      # and before the data is read\n"
           "    data, config = request.read(prices)\n",
           "    data, config = request.read(prices)\n    where = check_storage(storage, target)\n",
           "a bad --storage is found only after the data is read", ("tests/test_tuning.py",)),
    Mutant("schema-race-fails", "forecast/tuning/study.py",
           "if search.journal or attempt == SCHEMA_TRIES - 1:", "if True:",
           "a tune process that loses the race to create a new database's tables fails",
           ("tests/test_tuning_postgres.py",)),
    Mutant("sqlite-memory-accepted", "forecast/tuning/study.py",
           'if not database or database == ":memory:" or database.startswith("file::memory:"):',
           "if False:", "an in-memory SQLite --storage is accepted (the study is lost)",
           ("tests/test_tuning.py",)),
    # Metrics.
    Mutant("rel-mae-denominator", "forecast/evaluation.py",
           "    naive_mae = mae(actual, previous)\n    forecasts",
           "    naive_mae = mae(actual, drift_forecast(prices, rows))\n    forecasts",
           "MAE / naive divided by the drift forecast's MAE", ("tests/test_evaluation.py",)),
    Mutant("coverage-edges", "forecast/metrics.py",
           "(np.asarray(lower) <= actual) & (actual <= np.asarray(upper))",
           "(np.asarray(lower) < actual) & (actual < np.asarray(upper))",
           "coverage excludes the band's edges", ("tests/test_metrics.py",)),
    Mutant("mape-zero-rows", "forecast/metrics.py",
           "nonzero = actual != 0", "nonzero = np.ones_like(actual, bool)",
           "MAPE divides by rows whose actual is 0", ("tests/test_metrics.py",)),
    # Files as the usual sources write them (issue 21, docs/formats.md).
    Mutant("yf-ticker-first", "forecast/data/tables.py",
           """    elif labels == ("ticker", "price"):
        fields, tickers = second[1:], first[1:]""",
           """    elif labels == ("ticker", "price"):
        fields, tickers = first[1:], second[1:]""",
           "yfinance group_by='ticker' rows read as fields then tickers", (F,)),
    Mutant("yf-unnamed", "forecast/data/tables.py",
           """    elif labels == ("", "") and {f.lower() for f in second[1:]} <= YFINANCE_FIELDS:""",
           """    elif labels == ("", "") and {f.lower() for f in first[1:]} <= YFINANCE_FIELDS:""",
           "yfinance's unlabelled rows, tickers first, not recognised", (F,)),
    Mutant("yf-ticker-name", "forecast/data/tables.py",
           'return dataclasses.replace(table, ticker=tickers[0], layout="yfinance")',
           'return dataclasses.replace(table, ticker="", layout="yfinance")',
           "a one-ticker download named by the file's stem", (F,)),
    Mutant("yf-span", "forecast/data/tables.py",
           "spans[t] = np.arange(present[0], present[-1] + 1)",
           "spans[t] = np.arange(len(table.cells))",
           "blanks before a ticker's first price kept as rows", (F,)),
    Mutant("yf-skip", "forecast/data/tables.py",
           "text=named if typed else range(len(header)), skip=layout.rows)",
           "text=named if typed else range(len(header)), skip=1)",
           "the fast reader reads yfinance's header rows as data", (F,)),
    Mutant("two-currencies", "forecast/data/numbers.py",
           "    if len(kinds) > 1:\n        (a_line, a_cell)",
           "    if len(kinds) > 2:\n        (a_line, a_cell)",
           "a column in $ and \u20ac read as one", (F,)),
    Mutant("suffix-m", "forecast/data/numbers.py",
           '_SUFFIXES = {"k": "e3", "m": "e6",', '_SUFFIXES = {"k": "e3", "m": "e3",',
           "1.2M read as 1200", (F,)),
    Mutant("currency-sign", "forecast/data/numbers.py",
           'out.iloc[at] = (parts["sign"] + parts["num"] + exponent).to_numpy()',
           'out.iloc[at] = (parts["num"] + exponent).to_numpy()',
           "-$1.50 read as 1.50", (F,)),
    Mutant("marks-shown", "forecast/data/numbers.py",
           "written = text if shown is None else shown", "written = text",
           "decimal messages show the cell without its marks", (F,)),
    Mutant("bom-ignored", "forecast/data/sources.py",
           "codec = next((bom_codec for bom, bom_codec in BOMS if raw.startswith(bom)), None)",
           "codec = None", "a UTF-16 byte-order mark not honoured", (F,)),
    Mutant("encoding-fast", "forecast/data/tables.py",
           "            if is_utf8(codec) else None\n", "            if True else None\n",
           "--encoding cp1252 bytes that are valid UTF-8 read as UTF-8", (F,)),
    Mutant("name-accents", "forecast/data/tables.py",
           "if not unicodedata.combining(ch))", "if True)",
           "Clôture and Zamknięcie not found as the close", (F,)),
    Mutant("date-ambiguous", "forecast/data/dates.py",
           '    if found:\n        raise DataError(f"{table.source}: which column holds the dates',
           '    if found and False:\n        raise DataError(f"{table.source}: which column '
           'holds the dates',
           "two date names of one rank: the first taken silently", (F,)),
    Mutant("target-ranks", "forecast/data/layouts.py",
           '    ("close",),\n    ("adj close",', '    ("close", "price"),\n    ("adj close",',
           "Close and Price of one rank (ambiguous)", (F,)),
    Mutant("headerless", "forecast/data/tables.py",
           "    if values and all(re.fullmatch(", "    if False and all(re.fullmatch(",
           "a first line of values taken for a header", (F,)),
    # Streams, signals and how a command leaves (issue items 11, 12, 14, 15).
    Mutant("closed-stderr-kept", "forecast/console.py",
           'for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):',
           'for fd, name in ((0, "stdin"), (1, "stdout")):',
           "a closed stderr left closed: print(file=None) writes messages into stdout",
           (f"{C}::test_a_closed_stderr_drops_the_messages_and_stdout_keeps_only_data",)),
    Mutant("closed-stdout-silent", "forecast/console.py",
           'sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedFile(1, name, "")))',
           'sys.stdout = open(1, "w", closefd=False)',
           "a closed stdout swallows the data and exits 0",
           (f"{C}::test_a_closed_stdout_is_one_line_exit_2",)),
    Mutant("leave-through-teardown", "forecast/console.py",
           "        sys.stderr.flush()\n    os._exit(code)",
           "        sys.stderr.flush()\n    sys.exit(code)",
           "the command ends through the interpreter's teardown (exit 134 under load)",
           (f"{R}::test_a_command_leaves_through_os_exit_with_its_output_flushed",)),
    Mutant("leave-unflushed", "forecast/console.py",
           "    try:\n        sys.stdout.flush()\n    except (OSError, ValueError) as exc:",
           "    try:\n        pass\n    except (OSError, ValueError) as exc:",
           "os._exit without flushing stdout: buffered output (--version) lost",
           (f"{R}::test_a_command_leaves_through_os_exit_with_its_output_flushed",)),
    Mutant("typer-eats-ctrl-c", "forecast/cli.py",
           "raise Interrupted(signal.SIGINT) from None", "raise",
           "a KeyboardInterrupt reaches Typer, which exits 130 saying nothing",
           (f"{C}::test_ctrl_c_in_process_is_one_line_exit_130",)),
    Mutant("interrupt-silent", "forecast/console.py",
           'return fail("interrupted", 130, debug, notes, kind="")', "return 130",
           "Ctrl-C exits 130 saying nothing",
           (f"{R}::test_a_signal_while_a_command_waits_for_stdin_is_one_line",)),
    Mutant("interrupt-as-bug", "forecast/console.py",
           "        if runtime.received is not None:  # a signal cut C code short",
           "        if False:  # a signal cut C code short",
           "a SystemError left by a signal reported as an unexpected error",
           (f"{R}::test_an_error_after_a_signal_is_the_interrupt_not_a_bug",)),
    Mutant("sigint-ignored-overridden", "forecast/runtime.py",
           "if signal.getsignal(signum) is not signal.SIG_IGN:", "if True:",
           "a background job's ignored SIGINT caught again",
           (f"{R}::test_a_command_started_with_sigint_ignored_keeps_ignoring_it",)),
    Mutant("quiet-import-unrestorable", "forecast/runtime.py",
           "    _quiet = (saved, devnull)\n", "",
           "fd 2 is not pointed back after the quiet TensorFlow import",
           (f"{R}::test_a_signal_during_the_quiet_tensorflow_import_reaches_stderr",)),
    Mutant("signals-not-deferred", "forecast/runtime.py",
           "saved, _deferring = _deferring, True", "saved, _deferring = _deferring, False",
           "a tuning trial interrupted anywhere (inside Optuna or TensorFlow's C code)",
           (f"{R}::test_under_deferred_signals_the_first_signal_waits_for_a_safe_point",)),
    Mutant("interrupt-first-trial-is-error", "forecast/tuning/search.py",
           "if best is None and interrupted:", "if best is None and False:",
           "Ctrl-C during tune's first trial ends as 'no trial completed', exit 1", (U,)),
    Mutant("trial-ignores-ctrl-c", "forecast/tuning/search.py",
           "            runtime.check_signals()\n            if search.expired():",
           "            if search.expired():",
           "a deferred Ctrl-C waits for the running trial to end",
           ("tests/test_tuning.py::test_ctrl_c_keeps_finished_trials_writes_the_best_and_"
            "exits_130",)),
    Mutant("error-line-uncapped", "forecast/console.py", "MAX_LINE = 300", "MAX_LINE = 3000",
           "an error quoting a long cell is longer than 300 characters",
           (f"{C}::test_an_error_line_is_cut_to_300_characters_keeping_its_start_and_its_fix",)),
    Mutant("error-line-cut-bluntly", "forecast/console.py",
           "    tail = text[len(text) - keep:]", "    tail = ''",
           "a long error cut at its end: the fix is lost",
           (f"{C}::test_an_error_line_is_cut_to_300_characters_keeping_its_start_and_its_fix",)),
    Mutant("train-notes-live", "forecast/training.py",
           "notes = stream or HeldLines()", "notes = stream or sys.stderr",
           "train prints its device and verdicts at once: a failing train prints them too",
           (f"{C}::test_a_train_that_fails_after_training_prints_only_its_error",)),
    Mutant("info-folded", "forecast/console.py",
           "    return not isinstance(line, _Info)", "    return True",
           "the device and window notes folded into a failing train's error",
           (f"{C}::test_a_train_that_fails_after_training_prints_only_its_error",)),
    Mutant("epoch-lines-at-once", "forecast/training.py",
           "            if time.perf_counter() - self._began <= console.PROGRESS_AFTER_S:\n"
           "                return\n",
           "",
           "every epoch line printed at once, before a quick training's error",
           ("tests/test_training.py::test_epoch_lines_come_once_training_has_taken_a_while_"
            "notes_first",)),
    Mutant("progress-keeps-notes", "forecast/console.py",
           "            release_held()  # a command slow enough",
           "            pass  # a command slow enough",
           "a slow step's progress shows, its notes stay held to the end",
           (f"{C}::test_a_slow_step_shows_the_notes_held_so_far_before_its_progress_line",)),
    Mutant("train-notes-after-scores", "forecast/report.py",
           "    release_held()\n    print(format_segment(",
           "    print(format_segment(",
           "train's notes printed after its scores and 'model written'",
           (f"{C}::test_train_writes_a_complete_directory_and_nothing_on_stdout",)),
    Mutant("bare-help-on-stdout", "forecast/console.py",
           "        print(exc.format_message(), file=sys.stderr)",
           "        print(exc.format_message(), file=sys.stdout)",
           "bare forecast prints its help on stdout, which carries data only",
           (f"{C}::test_bare_forecast_prints_the_help_on_stderr_exit_2",)),
    # The reader (issue 20): series columns, date options, binary input, messages.
    Mutant("series-named-needs-repeats", "forecast/data/layouts.py",
           "        if col.lower() in SERIES_NAMES:\n",
           "        if col.lower() in SERIES_NAMES and pd.Series(dates.asi8).duplicated().any():\n",
           "a ticker column counts only when dates repeat (OLD and NEW spliced into one series)",
           (L,)),
    Mutant("series-shape-any", "forecast/data/layouts.py",
           '(clear if shape == "panel" else could if shape == "could" else [])',
           '(clear if shape else [])',
           "any text column that splits the repeated dates becomes the series column (a Note)",
           (L,)),
    Mutant("series-shape-never", "forecast/data/layouts.py",
           "SHARED_DATES = 0.5", "SHARED_DATES = 1.01",
           "an unlisted series column (Market) is never found by its shape", (L,)),
    Mutant("series-no-candidate", "forecast/data/layouts.py",
           "    return SeriesChoice(None, candidate=could[0] if could else None)",
           "    return SeriesChoice(None)",
           "the duplicate-date error no longer names --series-column for a Note or Market",
           (L, S)),
    Mutant("duplicate-across-series", "forecast/data/layouts.py",
           "    dup = (codes[1:] == codes[:-1]) & (stamps[1:] == stamps[:-1])",
           "    dup = stamps[1:] == stamps[:-1]",
           "a date shared as one series ends and the next begins is a duplicate", (L,)),
    Mutant("duplicate-no-time", "forecast/data/layouts.py",
           "    timed = stamp != stamp.normalize()", "    timed = False",
           "the duplicate-date error drops the hour (the autumn clock change)", (L,)),
    Mutant("ffill-across-series", "forecast/data/layouts.py",
           "    filled = pd.DataFrame(values).groupby(codes, sort=False).ffill().to_numpy()",
           "    filled = pd.DataFrame(values).ffill().to_numpy()",
           "--missing ffill fills a series' first blank from the previous series", (L,)),
    Mutant("thousands-of-four", "forecast/data/numbers.py",
           r'_COMMA_NUMBER = r"[+-]?(?:[0-9]+|[1-9][0-9]{0,2}(?:\.[0-9]{3})+)?',
           r'_COMMA_NUMBER = r"[+-]?(?:[0-9]+|[1-9][0-9]{0,3}(?:\.[0-9]{3})+)?',
           "1234.567 could be a thousands group: refused in a semicolon or tab file",
           ("tests/data/test_dates.py",)),
    Mutant("long-prices-path-unexpected", "forecast/data/sources.py",
           "    except OSError as exc:   # a name too long, a permission, a loop of links",
           "    except PermissionError as exc:   # a name too long, a permission, a loop",
           "a PRICES name too long for the file system ends as 'unexpected OSError'",
           (S,)),
    Mutant("option-date-ignores-file-order", "forecast/data/dates.py",
           "        chosen = date_format if date_format in DATE_ORDERS else order",
           "        chosen = date_format if date_format in DATE_ORDERS else None",
           "--test-start 01.05.2020 ignores the day-first order of the file's dates",
           ("tests/data/test_dates.py",)),
    Mutant("option-date-guessed", "forecast/windows.py",
           "    starts = [None if value is None else option_date(value, flag, panel.date_order,",
           "    starts = [None if value is None else __import__(\"pandas\").Timestamp(value) or "
           "option_date(value, flag, panel.date_order,",
           "--test-start is guessed by pd.Timestamp (01.02.2018 is the 2nd of January)",
           ("tests/data/test_dates.py",)),
    Mutant("binary-read-whole", "forecast/data/tables.py",
           "        _judge_start(scan.start, name, encoding)\n", "",
           "binary input is judged only once read whole (a 400 MB file takes 400 MB)",
           (f"{R}::test_a_big_binary_file_is_refused_at_once_in_bounded_memory",)),
    Mutant("nul-late-accepted", "forecast/data/tables.py",
           '    _refuse_nul(text, text.find("\\x00"), name)\n', "",
           "a NUL byte late in a CSV file is read as text",
           (f"{R}::test_a_nul_byte_late_in_a_csv_is_a_clear_error",)),
    Mutant("stream-read-by-pyarrow", "forecast/data/tables.py",
           "        if spool:\n            scan.spool(name, is_utf8(codec or _bom_codec(scan.start)))\n",
           "",
           "a pipe is read inside pyarrow's parser, where SIGTERM and Ctrl-C do not reach",
           (f"{R}::test_a_signal_stops_an_endless_valid_csv_pipe",)),
    Mutant("lists-uncut", "forecast/data/tables.py",
           "def _listed(names: Sequence[str], room: int = 120) -> str:",
           "def _listed(names: Sequence[str], room: int = 10 ** 9) -> str:",
           "an error lists all 10,000 columns (a 69 KB line, cut in the middle)",
           (f"{S}::test_bad_input_catalogue",)),
    Mutant("cells-uncut", "forecast/data/sources.py",
           "QUOTE_CHARS = 40", "QUOTE_CHARS = 10 ** 9",
           "an error quotes a 1 MB cell whole", (f"{S}::test_bad_input_catalogue",)),
    Mutant("series-split-on-every-comma", "forecast/options.py",
           '    row = next(csv.reader([text or ""], skipinitialspace=True), [])',
           '    row = (text or "").split(",")',
           "--series cannot choose a ticker named A,B", (N,)),
    # issue 26: the levers (clipping, weight penalties, attention)
    Mutant("clipnorm-dropped", "forecast/training.py",
           "keras.optimizers.Adam(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)",
           "keras.optimizers.Adam(learning_rate, clipvalue=clipvalue)",
           "--clipnorm is recorded in config.json but the optimizer never clips",
           ("tests/test_cli.py::test_the_levers_reach_the_trained_model_and_config_json",)),
    Mutant("clipvalue-dropped", "forecast/training.py",
           "keras.optimizers.Adam(learning_rate, clipnorm=clipnorm, clipvalue=clipvalue)",
           "keras.optimizers.Adam(learning_rate, clipnorm=clipnorm)",
           "--clipvalue is recorded in config.json but the optimizer never clips",
           ("tests/test_cli.py::test_the_levers_reach_the_trained_model_and_config_json",)),
    Mutant("recurrent-penalty-dropped", "forecast/models.py",
           "                        recurrent_regularizer=penalty)",
           "                        )",
           "--l1/--l2 leave the recurrent kernels unpenalised",
           ("tests/test_models.py::test_l1_and_l2_reach_every_kernel_and_recurrent_kernel",)),
    Mutant("quantile-head-penalty-dropped", "forecast/models.py",
           'name="forecast",\n                             kernel_regularizer=penalty, **start)',
           'name="forecast",\n                             **start)',
           "--l1/--l2 leave the quantile head's kernel unpenalised",
           ("tests/test_models.py::test_l1_and_l2_reach_every_kernel_and_recurrent_kernel",)),
    Mutant("l1-l2-swapped", "forecast/models.py",
           "keras.regularizers.L1L2(l1=float(l1), l2=float(l2))",
           "keras.regularizers.L1L2(l1=float(l2), l2=float(l1))",
           "--l1's factor is used as the L2 penalty and the other way round",
           ("tests/test_models.py::test_each_penalty_has_its_own_factor",)),
    Mutant("attention-never-built", "forecast/models.py",
           "    if config.attention:\n        x = attention_block(",
           "    if False:\n        x = attention_block(",
           "--attention is recorded but the model has no attention layer",
           ("tests/test_models.py::test_attention_sits_between_the_last_recurrent_layer_and_the_head",)),
    Mutant("engine-attention-without-context", "forecast/engine.py",
           "    return np.concatenate([query, context], axis=-1)",
           "    return np.concatenate([query, query], axis=-1)",
           "the NumPy engine forecasts from the last step twice instead of its attention context",
           ("tests/test_engine.py::test_numpy_matches_keras_with_attention",)),
    Mutant("engine-attention-unscaled", "forecast/engine.py",
           'return attend(x, weights[0] if layer.get("scale") else 1.0)',
           "return attend(x, 1.0)",
           "the NumPy engine ignores the attention's learned scale",
           ("tests/test_engine.py::test_numpy_matches_keras_with_attention",)),
    Mutant("negative-penalty-allowed", "forecast/config.py",
           '**{name: Bound(0.0) for name in ("l1", "l2")},',
           '**{name: Bound(-1.0) for name in ("l1", "l2")},',
           "--l2 -1e-4 trains a model that rewards large weights",
           ("tests/test_config.py::test_a_lever_out_of_bounds_in_config_json_is_damage",)),
    Mutant("zero-clipnorm-allowed", "forecast/config.py",
           '**{name: Bound(0.0, open_low=True) for name in ("clipnorm", "clipvalue")},',
           '**{name: Bound(0.0) for name in ("clipnorm", "clipvalue")},',
           "--clipnorm 0 is accepted (every gradient clipped to nothing)",
           ("tests/test_config.py::test_bad_clipping_names_the_flag",)),
    Mutant("no-clipping-checked", "forecast/config.py",
           "            if value is not None:   # None: no clipping",
           "            if True:   # None: no clipping",
           "a config without --clipnorm (every old config.json) no longer reads",
           ("tests/test_config.py::test_a_config_without_the_levers_reads_with_them_off",)),
    # Issue 22: tail levels and VaR backtests.
    Mutant("tail-level-unchecked", "forecast/intervals.py",
           "        if scores < need:\n",
           "        if scores < 0:\n",
           "a tail level the validation rows cannot calibrate trains, its band infinite",
           ("tests/test_intervals.py", "tests/test_cli.py::test_tail_levels_the_validation_rows_"
            "cannot_calibrate_are_refused_before_training")),
    Mutant("kupiec-rate-of-null", "forecast/metrics.py",
           "    phat = x / n\n",
           "    phat = p\n",
           "Kupiec's alternative uses the promised rate: LR_pof is always 0",
           ("tests/test_metrics.py",)),
    Mutant("christoffersen-unconditional", "forecast/metrics.py",
           "    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0\n",
           "    pi11 = pi01\n",
           "the independence test ignores whether a hit follows a hit: clustering passes",
           ("tests/test_metrics.py",)),
    Mutant("beyond-horizon-unwidened", "forecast/intervals.py",
           "    grow = math.sqrt(factor)\n", "    grow = 1.0\n",
           "quantiles beyond the horizon keep the last direct step's spread",
           ("tests/test_intervals.py::test_widened_quantiles_keep_their_order_and_median",)),
    Mutant("beyond-horizon-calibrates-on-test", "forecast/predict.py",
           "        use = (target >= bounds[series, 0]) & (target < bounds[series, 1])\n",
           "        use = target >= bounds[series, 0]\n",
           "the CQR beyond the horizon also fits on test rows (leakage)",
           ("tests/test_predict.py::test_beyond_the_horizon_cqr_fits_on_the_validation_rows_only",)),
    Mutant("var-overlapping-tested", "forecast/metrics.py",
           "    tested = hits[::-1][::step][::-1]\n", "    tested = hits\n",
           "k-step VaR hits are tested on overlapping rows: clustered by construction",
           ("tests/test_metrics.py::test_var_backtest_tests_non_overlapping_rows_beyond_one_step",)),
    Mutant("garch-variance-flat", "forecast/baselines.py",
           "        ahead = w + (a + b) * ahead          # E[sigma2[h]] from sigma2[h - 1]\n",
           "        ahead = ahead\n",
           "GARCH's k-step quantile holds the one-step variance instead of arch's forecast",
           ("tests/test_baselines.py::test_garch_quantiles_at_step_1_are_its_band_and_at_step_k_"
            "sum_arch_variances",)),
    Mutant("mcs-keeps-all", "forecast/evaluation.py",
           '"included": [n for n in names if n in set(mcs.included)],',
           '"included": names,',
           "the Model Confidence Set reports every method as kept",
           ("tests/test_evaluation.py::test_var_mcs_drops_a_clearly_worse_method_and_averages_a_"
            "panel_per_date",)),
    Mutant("var-plot-marks-the-rest", "forecast/plotting.py",
           '"hits": metrics.exceedances(prices[r], q[:, j], level)}',
           '"hits": ~metrics.exceedances(prices[r], q[:, j], level)}',
           "plot --var marks the rows inside the band as exceedances",
           ("tests/test_plotting.py::test_plot_var_marks_the_exceedances_of_model_and_garch",)),
    Mutant("refit-trains-past-origin", "forecast/refit.py",
           "    test_end = int(unique[at + horizon]) if at + horizon < len(unique) else None",
           "    test_end = None\n"
           "    config.training.test_start = pd.Timestamp(int(unique[at + 5])).isoformat()",
           "a refit fold trains on its first five dates on and after its origin",
           ("tests/test_refit.py",)),
    Mutant("refit-folds-overlap", "forecast/refit.py",
           "mine = issued >= job.origin.value",
           "mine = issued >= 0",
           "a refit fold's table keeps every row before its origin too (rows twice)",
           ("tests/test_refit.py",)),
    Mutant("refit-seed-ignores-origin", "forecast/refit.py",
           'f"{int(seed)}:{origin.isoformat()}"',
           'f"{int(seed)}"',
           "every refit fold gets the same seed, whatever its origin",
           ("tests/test_refit.py",)),
    Mutant("refit-resume-ignored", "forecast/refit.py",
           "    if done.exists():\n        with open(done",
           "    if False:\n        with open(done",
           "a rerun with --work-dir retrains the folds it kept",
           ("tests/test_refit.py",)),
    Mutant("refit-step-cut", "forecast/refit.py",
           "through(job.panel, job.end.value, job.step - 1)",
           "through(job.panel, job.end.value, 0)",
           "with --step K a fold's last K-1 forecasts (targets past the next origin) are lost",
           ("tests/test_refit.py",)),
    Mutant("refit-every-zero", "forecast/refit.py",
           "    if every < 1:",
           "    if every < 0:",
           "--refit-every 0 is accepted",
           ("tests/test_refit.py",)),
    Mutant("refit-val-share", "forecast/refit.py",
           "val_dates = int(round(len(before) * val_dates / max(pre_test, 1)))",
           "val_dates = int(val_dates)",
           "a refit fold trained with --val-fraction keeps the saved model's count of "
           "validation dates instead of its share",
           ("tests/test_refit.py",)),
]


def copy_project(scratch: Path, tests_from: str | None) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in ("forecast", "tests", "data"):
        shutil.copytree(ROOT / name, scratch / name, ignore=ignore)
    (scratch / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "formats.md", scratch / "docs")   # tests read its samples
    shutil.copy(ROOT / "pyproject.toml", scratch)
    if tests_from:
        shutil.rmtree(scratch / "tests")
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", tests_from, "tests"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)


def run_tests(scratch: Path, tests: list[str]) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(scratch), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", "-rfE", *tests], cwd=scratch, env=env,
                          capture_output=True, text=True, timeout=1800)
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.MULTILINE)
    return done.returncode, failed


def try_mutant(mutant: Mutant, scratch: Path, full: bool) -> tuple[str, str]:
    """Apply, test, restore. Returns (file:line, outcome)."""
    path = scratch / mutant.file
    original = path.read_text()
    count = original.count(mutant.old)
    if count != 1:
        return f"{mutant.file}", f"stale ({count} matches; update this mutant)"
    line = original[:original.index(mutant.old)].count("\n") + 1
    try:
        path.write_text(original.replace(mutant.old, mutant.new))
        code, failed = run_tests(scratch, ["tests"] if full else list(mutant.tests))
    finally:
        path.write_text(original)
    where = f"{mutant.file}:{line}"
    if code == 0:
        return where, "**survives**"
    if not failed:
        return where, f"caught (pytest exit {code})"
    return where, "caught by `" + failed[0].split("tests/", 1)[-1] + "`"


def list_stale() -> int:
    """Print each mutant whose old code is not in its file exactly once, or whose tests are
    gone; 1 if any."""
    bad = 0
    for mutant in MUTANTS:
        path = ROOT / mutant.file
        count = path.read_text().count(mutant.old) if path.is_file() else 0
        missing = [t for t in mutant.tests if not (ROOT / t.split("::")[0]).is_file()]
        if count != 1 or missing:
            bad = 1
            print(f"{mutant.name}: {mutant.file}: {count} matches"
                  + (f"; no {', '.join(missing)}" if missing else ""))
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="mutants to try (default: all)")
    parser.add_argument("--full", action="store_true", help="run the whole suite per mutant")
    parser.add_argument("--tests-from", metavar="REV", help="use the tests of a git revision")
    parser.add_argument("--stale", action="store_true",
                        help="list the mutants whose code is not in their file exactly once "
                             "(and the test files that do not exist); exit 1 if any")
    args = parser.parse_args()
    if args.stale:
        sys.exit(list_stale())
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
    print("| mutant | where | change | outcome |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="forecast-mutants-") as tmp:
        scratch = Path(tmp)
        copy_project(scratch, args.tests_from)
        for mutant in chosen:
            start = time.perf_counter()
            where, outcome = try_mutant(mutant, scratch, args.full)
            print(f"{mutant.name}: {outcome} ({time.perf_counter() - start:.0f} s)",
                  file=sys.stderr)
            print(f"| {mutant.name} | {where} | {mutant.what} | {outcome} |", flush=True)


if __name__ == "__main__":
    main()

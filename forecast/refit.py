"""Refit backtests: walk forward through the test rows, retraining the model's own
configuration at each origin (``predict --backtest --refit-every K``, ``evaluate
--refit-every K``).

The origins are the model's test start, then every K-th date of the panel after it (the
union of every series' dates). Fold ``i`` owns the rows from its origin up to the next one;
its model is trained by ``training.run_training`` on rows dated before its origin only
(all of them, or the last D dates with ``--train-window D``), with its own split:

- validation: the last dates before the origin, as many as the saved model's rule gives:
  a model trained with ``--val-start`` keeps its number of validation dates; one trained
  with ``--val-fraction`` keeps its share of the dates before its test start;
- early stopping, the baseline guard, CQR calibration, the conformal calibration and each
  series' GARCH(1,1) come from those rows only (run_training's own rules);
- its test rows, as run_training needs some, are the first ``horizon`` dates from the
  origin: the weights, guard and calibration never read them.

The fold's model is written as a model directory (``bundle.write_bundle``) and read back
for ``predict.Forecaster``, which forecasts the fold's rows from the rows before each; a
fold's scores are ``Forecaster.evaluate``'s test segment of that model. A fold's seed is
``fold_seed(seed, origin)``, so a fold gives the same bytes in any process and any order:
``--jobs N`` runs folds in N spawned processes (TensorFlow is never forked) and
``--work-dir`` keeps finished folds for a rerun to skip.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from forecast import runtime
from forecast.config import ForecastConfig, TrainingFacts
from forecast.data.panel import Panel, unique_sorted
from forecast.errors import DataError, TrainingError, UsageError
from forecast.files import write_atomically

#: --refit-from: each fold trains from scratch (the default: see BENCHMARKS.md) or starts
#: from the saved model's weights, for a third of the epochs.
REFIT_FROM = ("scratch", "saved")
STATE = "refit.json"   # what a work directory's folds were made by


@dataclass(frozen=True)
class RefitPlan:
    """What a refit backtest runs: every K dates from the model's test start."""

    every: int
    train_window: int | None = None       # None: expanding
    seed: int | None = None               # None: the model's
    refit_from: str = "scratch"
    jobs: int = 1
    work_dir: Path | None = None
    ray: str | None = None                # "local" or a cluster's address


def parse_train_window(text: str | None) -> int | None:
    """``--train-window``: ``expanding`` (None) or a positive number of dates."""
    if text is None or text.strip().lower() == "expanding":
        return None
    try:
        rows = int(text)
    except ValueError:
        rows = 0
    if rows < 1:
        raise UsageError(f"--train-window must be 'expanding' or a number of rows of dates "
                         f"of at least 1, got '{text}'")
    return rows


def check_plan(every: int | None, train_window: str | None, jobs: int, refit_from: str,
               work_dir: Path | None, seed: int | None,
               ray: str | None = None) -> RefitPlan | None:
    """The refit options as a plan (None: no --refit-every), or a UsageError naming the
    flag; the refit-only options are refused without --refit-every."""
    if every is None:
        given = [flag for flag, value in (("--train-window", train_window),
                                          ("--work-dir", work_dir), ("--seed", seed),
                                          ("--ray", ray))
                 if value is not None]
        if jobs != 1:
            given.append("--jobs")
        if given:
            raise UsageError(f"{given[0]} applies only to a refit backtest; add "
                             "--refit-every K")
        return None
    if every < 1:
        raise UsageError(f"--refit-every must be at least 1 (rows of dates between "
                         f"refits), got {every}")
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if refit_from not in REFIT_FROM:
        raise UsageError(f"--refit-from must be one of {', '.join(REFIT_FROM)}; got "
                         f"'{refit_from}'")
    if ray is not None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:   # refused before any work
            raise UsageError("--ray needs Ray: pip install 'forecast[ray]'")
    if ray is not None and jobs != 1:
        raise UsageError("--jobs runs folds in processes on this machine and --ray as tasks "
                         "on a Ray cluster; drop one")
    return RefitPlan(every, parse_train_window(train_window), seed, refit_from, jobs,
                     work_dir, ray)


def fold_seed(seed: int, origin: pd.Timestamp) -> int:
    """The seed of the fold at ``origin``: from the run's seed and the origin only."""
    digest = hashlib.sha256(f"{int(seed)}:{origin.isoformat()}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2 ** 31 - 1)


def fold_origins(dates: np.ndarray, test_start: pd.Timestamp, every: int,
                 horizon: int) -> list[pd.Timestamp]:
    """Origins: the first date on or after ``test_start``, then every ``every``-th date of
    ``dates`` (int64 ns, the panel's) after it. A last origin with fewer than ``horizon``
    dates from it joins the fold before it (training needs a test window)."""
    unique = unique_sorted(np.asarray(dates, dtype=np.int64))
    first = int(np.searchsorted(unique, test_start.value))
    if first >= len(unique):
        raise DataError(f"the prices have no rows on or after the model's test start "
                        f"{test_start.date()}: nothing to backtest")
    at = list(range(first, len(unique), every))
    if len(at) > 1 and len(unique) - at[-1] < horizon:
        at.pop()
    return [pd.Timestamp(int(unique[i])) for i in at]


def between(panel: Panel, lo: int | None, hi: int | None) -> Panel:
    """The rows of ``panel`` dated in [lo, hi) (int64 ns; None: unbounded); series left
    with no row are left out."""
    stamps = panel.dates.asi8
    keep = np.ones(len(stamps), bool)
    if lo is not None:
        keep &= stamps >= lo
    if hi is not None:
        keep &= stamps < hi
    if keep.all():
        return panel
    series = panel.series_of_rows()
    lengths = np.bincount(series[keep], minlength=panel.n_series)
    index = np.flatnonzero(keep)
    cut = dataclasses.replace(
        panel, values=np.ascontiguousarray(panel.values[index]), dates=panel.dates[index],
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        lines=panel.lines[index])
    return cut.take(np.flatnonzero(lengths > 0))


def through(panel: Panel, end: int, extra: int) -> Panel:
    """Each series' rows dated before ``end`` (int64 ns) and its next ``extra`` rows:
    the targets of forecasts made before ``end``, ``extra + 1`` steps ahead."""
    stamps = panel.dates.asi8
    keep = np.zeros(len(stamps), bool)
    for s in range(panel.n_series):
        lo, hi = panel.offsets[s], panel.offsets[s + 1]
        keep[lo:min(lo + int(np.searchsorted(stamps[lo:hi], end)) + extra, hi)] = True
    index = np.flatnonzero(keep)
    lengths = np.bincount(panel.series_of_rows()[keep], minlength=panel.n_series)
    cut = dataclasses.replace(
        panel, values=np.ascontiguousarray(panel.values[index]), dates=panel.dates[index],
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        lines=panel.lines[index])
    return cut.take(np.flatnonzero(lengths > 0))


def fold_split(unique: np.ndarray, origin: pd.Timestamp, config: ForecastConfig,
               train_window: int | None) -> tuple[int, pd.Timestamp]:
    """The fold's first training date (int64 ns) and its validation start.

    The validation dates are the last ones before the origin: as many as the saved
    model's validation had where it was trained with ``--val-start``, else the same share
    of the fold's dates as the saved model's validation had of the dates before its test
    start."""
    facts, t = config.facts, config.training
    before = unique[unique < origin.value]
    if train_window is not None:
        before = before[-train_window:]
    if len(before) < 2:
        raise DataError(f"the fold at {origin.date()} has {len(before)} date(s) to train "
                        "on; use a later test start or a longer --train-window")
    val_dates = ((unique >= pd.Timestamp(facts.val_start).value)
                 & (unique < pd.Timestamp(facts.test_start).value)).sum()
    if t.val_start is None:
        pre_test = (unique < pd.Timestamp(facts.test_start).value).sum()
        val_dates = int(round(len(before) * val_dates / max(pre_test, 1)))
    val_dates = int(min(max(val_dates, 1), len(before) - 1))
    return int(before[0]), pd.Timestamp(int(before[-val_dates]))


def fold_config(saved: ForecastConfig, origin: pd.Timestamp, val_start: pd.Timestamp,
                seed: int) -> ForecastConfig:
    """The saved configuration with the fold's split and seed; facts start empty."""
    config = ForecastConfig.from_json(saved.to_json())
    return dataclasses.replace(
        config, facts=TrainingFacts(), network=[],
        data=dataclasses.replace(config.data, date_format=None),  # dates below are ISO
        training=dataclasses.replace(config.training, val_start=val_start.isoformat(),
                                     test_start=origin.isoformat(), seed=seed))


@dataclass
class FoldJob:
    """One fold to run, everything it needs, picklable for a spawned worker."""

    index: int
    origin: pd.Timestamp
    end: pd.Timestamp | None          # the next origin (None: the last fold)
    panel: Panel
    bundle_path: Path
    plan: RefitPlan
    step: int
    level: float | None
    quantiles: bool
    out: Path                          # the fold's directory

    @property
    def name(self) -> str:
        """The fold's directory name in the work dir: its index and origin."""
        return f"fold-{self.index:04d}-{self.origin.strftime('%Y%m%dT%H%M%S')}"


@dataclass
class FoldResult:
    """A finished fold: its backtest rows (today's columns plus ``fold``), each row's
    row within its series, and its scores (``Forecaster.evaluate``'s test segment)."""

    index: int
    origin: pd.Timestamp
    table: pd.DataFrame
    rows: np.ndarray
    scores: dict[str, Any]
    garch: dict[str, Any]
    calibration_rows: dict[str, list[int]]
    seconds: float
    resumed: bool = False
    notes: list[str] = field(default_factory=list)


def run_fold(job: FoldJob, keep: bool = True) -> FoldResult:
    """Train the fold's model on rows dated before its origin, forecast its rows, score
    them; the result is kept in the fold's directory (atomically; ``keep``) and reused."""
    done = job.out / "result.pkl"
    if done.exists():
        with open(done, "rb") as handle:
            result = pickle.load(handle)
        result.resumed = True
        return result
    started = time.perf_counter()
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import io

    from forecast.bundle import read_bundle, write_bundle
    from forecast.predict import Forecaster, default_level, load_predictor
    from forecast.training import run_training

    saved = read_bundle(job.bundle_path)
    horizon = saved.config.model.horizon
    unique = unique_sorted(job.panel.dates.asi8)
    first, val_start = fold_split(unique, job.origin, saved.config, job.plan.train_window)
    seed = fold_seed(saved.config.training.seed if job.plan.seed is None else job.plan.seed,
                     job.origin)
    config = fold_config(saved.config, job.origin, val_start, seed)
    at = int(np.searchsorted(unique, job.origin.value))
    test_end = int(unique[at + horizon]) if at + horizon < len(unique) else None
    train_panel = between(job.panel, first, test_end)
    log = io.StringIO()
    initial = None
    if job.plan.refit_from == "saved":
        initial = saved.load_keras().get_weights()
        config = dataclasses.replace(config, training=dataclasses.replace(
            config.training, epochs=max(1, math.ceil(config.training.epochs / 3))))
    trained = run_training(train_panel, config, stream=log, initial_weights=initial)
    model_dir = write_bundle(job.out / "model", trained, train_panel)
    bundle = read_bundle(model_dir)
    notes: list[str] = []
    panel = between(job.panel, None, None if job.end is None else job.end.value)
    predictor = load_predictor(bundle)
    forecaster = Forecaster(bundle, panel, predictor, warn=notes.append)
    # A forecast belongs to the fold it is made in (the row after its last input row):
    # with --step K its target may lie up to K - 1 rows past the next origin.
    ahead = forecaster if job.step == 1 or job.end is None else \
        Forecaster(bundle, through(job.panel, job.end.value, job.step - 1), predictor,
                   warn=notes.append)
    table = ahead.backtest(job.step, job.level, job.quantiles)
    use, series, rows = ahead.backtest_rows(job.step)
    issued = ahead.prices.dates.asi8[ahead.prices.offsets[series] + rows - job.step + 1]
    mine = issued >= job.origin.value
    if job.end is not None:
        mine &= issued < job.end.value
    table = table[mine].reset_index(drop=True)
    table["fold"] = job.origin
    level = job.level if job.level is not None else default_level(bundle.calibration,
                                                                  warn=notes.append)
    scores = forecaster.evaluate(level).get("test", {"series": {}, "aggregate": {}})
    names = ahead.prices.names
    result = FoldResult(job.index, job.origin, table, rows[mine], scores,
                        {n: bundle.garch[n].to_dict() if bundle.garch.get(n) else None
                         for n in names},
                        {n: list(range(*ahead.split_rows(s))) for s, n in enumerate(names)},
                        time.perf_counter() - started, notes=notes)
    if keep:
        keep_result(job, result)
    return result


def keep_result(job: FoldJob, result: FoldResult) -> None:
    """Write a fold's result into its directory, atomically: a rerun skips the fold."""
    job.out.mkdir(parents=True, exist_ok=True)
    write_atomically(job.out / "result.pkl", lambda tmp: _dump(result, tmp))


def _dump(result: FoldResult, path: str) -> None:
    with open(path, "wb") as handle:
        pickle.dump(result, handle, protocol=4)


def stamp(date: pd.Timestamp) -> str:
    """A date as ISO text: the day alone at midnight."""
    return str(date.date()) if date == date.normalize() else date.isoformat()


def fold_line(result: FoldResult) -> str:
    """The progress line of a finished fold: origin, seconds, interval score, MAE/naive."""
    agg = result.scores.get("aggregate", {})
    rel = agg.get("model", {}).get("median_rel_mae", float("nan"))
    score = agg.get("intervals", {}).get("model", {}).get("median_rel_interval_score",
                                                          float("nan"))
    how = "kept from the work dir" if result.resumed else f"{result.seconds:.1f}s"
    return (f"forecast: fold {stamp(result.origin)} ({len(result.table)} rows): {how}, "
            f"interval score / naive MAE {score:.4g}, MAE / naive {rel:.4g}")


def _worker_init(threads: int) -> None:
    """A spawned worker: its share of the cores, set before TensorFlow is imported;
    stdout is stderr (stdout carries data only); Ctrl-C is the parent's to handle, which
    stops a worker with SIGTERM (``_worker_fold`` unwinds and exits)."""
    os.dup2(2, 1)
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runtime.handle_signals((signal.SIGTERM,))


def _worker_fold(job: FoldJob) -> FoldResult:
    """``run_fold`` in a worker; SIGTERM unwinds it (a half-written fold file is removed)
    and ends the process at once."""
    try:
        return run_fold(job)
    except runtime.Interrupted as exc:
        sys.stderr.flush()
        os._exit(exc.code)


def _run_parallel(jobs: list[FoldJob], workers: int,
                  finished: Callable[[FoldResult], None]) -> None:
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    # The pool's pipes to workers stopped by Ctrl-C must not end this process by SIGPIPE
    # (the command sets SIG_DFL for `| head`): a write to one raises instead, inside the
    # pool, while it runs; stdout is written only after.
    piped = signal.getsignal(signal.SIGPIPE) if hasattr(signal, "SIGPIPE") else None
    if piped is not None:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        _pool_folds(jobs, workers, threads, context, finished)
    finally:
        if piped is not None:
            signal.signal(signal.SIGPIPE, piped)


def _pool_folds(jobs: list[FoldJob], workers: int, threads: int, context,
                finished: Callable[[FoldResult], None]) -> None:
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                               initargs=(threads,))
    try:
        pending = {pool.submit(_worker_fold, job) for job in jobs}
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                finished(future.result())
            runtime.check_signals()
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(60)
        raise
    pool.shutdown(wait=True)


def _bundle_files(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(Path(path).iterdir()) if f.is_file()}


def _ray_fold(job: FoldJob, panel: Panel, files: dict[str, bytes], threads: int
              ) -> FoldResult:
    """A fold as a Ray task, in a fresh worker process (``max_calls=1``: TensorFlow's
    memory goes back with it): the saved model is unpacked from the object store into a
    temporary directory, as is the fold's own, so any node can run it."""
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory(prefix="forecast-fold-") as tmp:
        saved = Path(tmp) / "saved"
        saved.mkdir()
        for name, data in files.items():
            (saved / name).write_bytes(data)
        job = dataclasses.replace(job, panel=panel, bundle_path=saved,
                                  out=Path(tmp) / job.out.name)
        return run_fold(job, keep=False)


def _run_ray(jobs: list[FoldJob], address: str, finished: Callable[[FoldResult], None],
             cpus_per_fold: int | None = None) -> None:
    """Run folds as Ray tasks: ``address`` ``local`` starts a Ray runtime on this machine,
    else it joins that cluster. The panel and the saved model go into the object store
    once; a task lost with its node is retried elsewhere (``max_retries``)."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'forecast[ray]'") from None
    # Ray prints its own notes (a task retried after its node died, ...) on sys.stdout,
    # which carries the forecasts only: they go to stderr while Ray runs.
    with contextlib.redirect_stdout(sys.stderr):
        started = not ray.is_initialized()
        if started:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     include_dashboard=False, ignore_reinit_error=True, logging_level="warning",
                     runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
        try:
            threads = cpus_per_fold or int(os.environ.get("FORECAST_RAY_CPUS", "1"))
            task = ray.remote(num_cpus=threads, max_retries=3, max_calls=1,
                              retry_exceptions=False)(_ray_fold)
            panel = ray.put(jobs[0].panel)
            files = ray.put(_bundle_files(jobs[0].bundle_path))
            pending = {task.remote(dataclasses.replace(job, panel=None), panel, files, threads): job
                       for job in jobs}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in done:
                    job = pending.pop(ref)
                    result = ray.get(ref)
                    if job.plan.work_dir is not None:
                        keep_result(job, result)
                    finished(result)
                runtime.check_signals()
        except BaseException:
            for ref in list(locals().get("pending", {})):
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()


def work_key(bundle, panel: Panel, plan: RefitPlan, step: int, level: float | None,
             quantiles: bool) -> dict[str, Any]:
    """What a work directory's folds depend on: a rerun must match it."""
    return {"model": hashlib.sha256(bundle.config.to_json().encode()).hexdigest(),
            "data": panel.sha256, "every": plan.every, "train_window": plan.train_window,
            "seed": plan.seed, "refit_from": plan.refit_from, "step": step,
            "level": level, "quantiles": quantiles}


def open_work_dir(path: Path, key: dict[str, Any]) -> None:
    """Create the work directory, or check that it holds folds of this very run."""
    state = path / STATE
    try:
        path.mkdir(parents=True, exist_ok=True)
        if state.exists():
            held = json.loads(state.read_text(encoding="utf-8"))
            if held != key:
                differ = next(k for k in key if held.get(k) != key[k])
                raise UsageError(f"--work-dir {path} holds folds of another run (its {differ} "
                                 "differs); use a new directory or remove that one")
            return
        write_atomically(state, lambda tmp: Path(tmp).write_text(json.dumps(key, indent=2),
                                                                  encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--work-dir {path}: {exc.strerror or exc}; choose a writable "
                         "directory") from None
    except json.JSONDecodeError:
        raise UsageError(f"--work-dir {path}: {STATE} is damaged; use a new directory or "
                         "remove that one") from None


def run_folds(bundle, panel: Panel, plan: RefitPlan, step: int = 1,
              level: float | None = None, quantiles: bool = False,
              stream=None) -> list[FoldResult]:
    """Every fold's result, in origin order (one progress line each on ``stream``)."""
    stream = stream or sys.stderr
    test_start = bundle.config.facts.test_start
    if not test_start:
        raise UsageError(f"the model in {bundle.path} records no test start; retrain it")
    origins = fold_origins(panel.dates.asi8, pd.Timestamp(test_start), plan.every,
                           bundle.config.model.horizon)
    scratch = None
    if plan.work_dir is not None:
        root = Path(plan.work_dir)
        open_work_dir(root, work_key(bundle, panel, plan, step, level, quantiles))
    else:
        scratch = root = Path(tempfile.mkdtemp(prefix="forecast-refit-"))
    jobs = []
    for i, origin in enumerate(origins):
        end = origins[i + 1] if i + 1 < len(origins) else None
        job = FoldJob(i, origin, end, panel, Path(bundle.path), plan, step, level,
                      quantiles, root)
        job.out = root / job.name
        jobs.append(job)
    results: dict[int, FoldResult] = {}

    def finished(result: FoldResult) -> None:
        results[result.index] = result
        print(fold_line(result), file=stream, flush=True)

    try:   # Ctrl-C stops at once: finished folds are kept (written atomically)
        todo = []
        for job in jobs:   # kept folds first, in this process
            if (job.out / "result.pkl").exists():
                finished(run_fold(job))
            else:
                todo.append(job)
        if plan.ray is not None and todo:
            _run_ray(todo, plan.ray, finished)
        elif plan.jobs == 1 or len(todo) <= 1:
            for job in todo:
                finished(run_fold(job))
        else:
            _run_parallel(todo, min(plan.jobs, len(todo)), finished)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    missing = [j.origin for j in jobs if j.index not in results]
    if missing:
        raise TrainingError(f"the fold at {missing[0].date()} did not finish")
    return [results[i] for i in range(len(jobs))]


def refit_table(results: list[FoldResult]) -> pd.DataFrame:
    """The refit backtest: every fold's rows, in fold order."""
    return pd.concat([r.table for r in results], ignore_index=True)


class FoldGarch:
    """GARCH(1,1) refit on the folds' schedule: each row's band from its own fold's fit
    (the ``Garch.band`` interface ``baselines.compare_intervals`` calls)."""

    def __init__(self, fits: list, starts: list[int]):
        self.fits, self.starts = fits, np.asarray(starts)

    def band(self, prices: np.ndarray, rows: np.ndarray, level: float):
        """Each row's GARCH band (``level``), from the fit of the fold the row is in;
        ``rows`` (n,) index ``prices``; returns (lower, upper), (n,) each."""
        lower, upper = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        for f, fit in enumerate(self.fits):
            sel = which == f
            if sel.any() and fit is not None:
                lower[sel], upper[sel] = fit.band(prices, rows[sel], level)
        return lower, upper


def refit_scores(forecaster, results: list[FoldResult], level: float) -> dict[str, Any]:
    """The whole refit backtest scored per series (``evaluation.score_series``) beside
    naive, drift, the rolling conformal band (calibrated on the first fold's validation
    rows) and GARCH(1,1) refit on the same schedule; MASE's scale is the saved model's
    (rows before the test start). Then each fold's own scores."""
    from forecast import metrics
    from forecast.baselines import Garch
    from forecast.evaluation import SeriesBand, pooled, score_series

    table = refit_table(results)
    rows = np.concatenate([r.rows for r in results])
    prices = forecaster.prices
    names = table["series"].to_numpy() if prices.multi else np.full(len(table),
                                                                    prices.names[0])
    levels = forecaster.levels
    band = "quantiles" if forecaster.bundle.quantile.uses_quantiles(level) else "conformal"
    per_series = {}
    for s, name in enumerate(prices.names):
        use = names == name
        if not use.any():
            continue
        fits, starts, calibration = [], [], None
        for r in results:
            mine = (r.table["series"] == name).to_numpy() if prices.multi else \
                np.ones(len(r.table), bool)
            if not mine.any():
                continue
            raw = r.garch.get(name)
            fits.append(None if raw is None else Garch.from_dict(raw))
            starts.append(int(r.rows[mine].min()))
            if calibration is None:
                calibration = np.asarray(r.calibration_rows.get(name, []), dtype=np.int64)
        sub = table[use]
        published = sub[[metrics.quantile_name(q) for q in levels]].to_numpy() \
            if levels and metrics.quantile_name(levels[0]) in sub else None
        per_series[name] = score_series(
            prices.target_of(s), rows[use], sub["predicted"].to_numpy(),
            forecaster.naive_scale(s),
            SeriesBand(level, sub["lower"].to_numpy(), sub["upper"].to_numpy(),
                       FoldGarch(fits, starts), calibration, published, levels, band))
    return {"source": prices.source, "model_dir": str(forecaster.bundle.path),
            "interval_band": band, "refit": {"folds": len(results)},
            "test": pooled(per_series),
            "folds": {stamp(r.origin): r.scores for r in results}}


def refit_backtest(forecaster, plan: RefitPlan, step: int = 1, level: float | None = None,
                   quantiles: bool = False) -> pd.DataFrame:
    """``predict --backtest --refit-every K``: the backtest of every fold, in fold order
    (the columns of ``Forecaster.backtest`` plus ``fold``, the fold's origin)."""
    forecaster._check_quantiles(quantiles)
    forecaster.backtest_rows(step)   # a bad --step is refused before any training
    return refit_table(run_folds(forecaster.bundle, forecaster.prices, plan, step, level,
                                 quantiles))


def refit_evaluate(forecaster, plan: RefitPlan, level: float) -> dict[str, Any]:
    """``evaluate --refit-every K``: the refit backtest's one-step scores (``refit_scores``)."""
    results = run_folds(forecaster.bundle, forecaster.prices, plan, 1, level,
                        bool(forecaster.levels))
    return refit_scores(forecaster, results, level)

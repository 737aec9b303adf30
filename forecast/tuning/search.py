"""Hyperparameter search over training, on an Optuna study.

Every trial trains one configuration with ``run_training(..., score=False)``: nothing is
forecast after fitting, so the test rows are never looked at. Its score is the lowest
validation loss of its epochs, the figure train itself uses to choose the epoch (the
pinball loss for a quantile model, else the point loss). A Keras callback reports that
figure after every epoch so a median pruner can stop unpromising trials early.

The study lives in a storage that several processes share: by default a journal file
beside the model directory (``<model-dir>.study/journal.log``, append-only, safe for
several processes of one machine), or any database URL Optuna supports (``--storage``,
e.g. one PostgreSQL server for workers on several machines). A second search with the same
study resumes it. Workers claim trials one at a time until the study holds ``--trials``
of them, so the total is exact with the journal (whose claims are under a file lock); with
a database URL two workers claiming at the same instant may overshoot by one.

Only the searched options vary; the study records the data's hash, the fixed options and
the space, and refuses to be resumed with different ones.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import multiprocessing
import os
import signal
import sys
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from forecast import runtime
from forecast.config import ForecastConfig
from forecast.errors import ForecastError, TrainingError, UsageError
from forecast.runtime import Interrupted
from forecast.tuning.space import read_space, with_params
from forecast.tuning.study import (Search, check_data, check_storage, claim_trial,
                                   claiming, counted, fail_abandoned, open_study, prepare_study,
                                   sampler_for)


# --- running trials --------------------------------------------------------------------

class SearchTimeout(Exception):
    """The search's --timeout passed during a trial."""


def pruning_callback(trial: optuna.Trial, search: Search):
    """A Keras callback that reports each epoch's best validation loss so far to the trial,
    stops the trial (``optuna.TrialPruned``) when the pruner says so, and stops it
    (``SearchTimeout``) when the search's deadline passes, or (``Interrupted``) after
    Ctrl-C or SIGTERM: between batches, where stopping is safe."""
    import keras

    class OptunaPruning(keras.callbacks.Callback):
        best = math.inf

        def on_train_batch_end(self, batch, logs=None):
            runtime.check_signals()
            if search.expired():
                raise SearchTimeout()

        def on_epoch_end(self, epoch, logs=None):
            value = float((logs or {}).get("val_loss", math.nan))
            if not math.isfinite(value):
                return  # training stops itself on a non-finite loss
            self.best = min(self.best, value)
            trial.report(self.best, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")
            self.on_train_batch_end(0)

    return OptunaPruning()


def run_trial(search: Search, study: optuna.Study, trial: optuna.Trial) -> bool:
    """Train one configuration on the trial's parameters, tell the study how it went and
    print a line. Returns False when the search's deadline stopped it."""
    import keras

    from forecast.training import run_training

    study.sampler = sampler_for(search.seed, trial.number)
    params = {name: param.suggest(trial) for name, param in search.space.items()}
    keras.utils.clear_session()
    state, value = TrialState.FAIL, None
    try:
        trained = run_training(search.panel, with_params(search.config, params),
                               stream=io.StringIO(), callbacks=[pruning_callback(trial, search)],
                               score=False)
        value, state = min(trained.history["val_loss"]), TrialState.COMPLETE
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except SearchTimeout:
        trial.set_user_attr("stopped", "--timeout")
    except ForecastError as exc:
        trial.set_user_attr("error", exc.message)
    except BaseException:  # Interrupted (Ctrl-C, SIGTERM): record it, then end the worker
        with contextlib.suppress(Exception):
            trial.set_user_attr("stopped", "interrupted")
            study.tell(trial, state=TrialState.FAIL)
            print(progress_line(study, trial.number, search), file=sys.stderr, flush=True)
        raise
    study.tell(trial, value, state=state)
    print(progress_line(study, trial.number, search), file=sys.stderr, flush=True)
    return not search.expired()


def run_worker(search: Search) -> None:
    """Run trials until the study holds ``search.trials`` of them or time is up."""
    from forecast.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    study = open_study(search)
    parent = os.getppid()
    while (trial := claim_trial(search, study)) is not None:
        if not run_trial(search, study, trial):
            return
        if os.getppid() != parent:  # the command that started this worker is gone
            return


def progress_line(study: optuna.Study, number: int, search: Search) -> str:
    """One line about a finished trial: its score or fate, the best so far, how many of
    the trials asked for are done, its seconds and its options."""
    trials = study.get_trials(deepcopy=False)
    trial = next(t for t in trials if t.number == number)
    best = best_trial(trials)
    if trial.state == TrialState.COMPLETE:
        what = f"score {trial.value:.6g}"
    elif trial.state == TrialState.PRUNED:
        what = f"pruned after epoch {len(trial.intermediate_values)} ({trial.value:.6g})"
    elif "error" in trial.user_attrs:
        what = f"failed: {trial.user_attrs['error']}"
    else:
        what = f"stopped: {trial.user_attrs.get('stopped', 'interrupted')} (not counted)"
    so_far = f"best {best.value:.6g} (trial {best.number})" if best else "no best yet"
    done = sum(counted(t) and t.state.is_finished() for t in trials)
    return (f"trial {number}  {what}  {so_far}  [{done}/{search.trials} done, "
            f"{_seconds(trial):.1f}s]  {describe_params(trial.params)}")


def describe_params(params: dict[str, Any]) -> str:
    """A trial's parameters as the notes say them: ``units 32, dropout 0.1``."""
    return ", ".join(f"{name} {_number(value)}" for name, value in params.items())


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _seconds(trial: FrozenTrial) -> float:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return math.nan
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def best_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The complete trial with the lowest score (the first of equals), or None."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    return min(complete, key=lambda t: (t.value, t.number)) if complete else None


def wait_for_others(search: Search, study: optuna.Study) -> None:
    """Wait until no trial of the study runs (other workers' included), so that the best
    configuration is chosen among every counted trial."""
    said = False
    while not search.expired():
        with claiming(search):
            fail_abandoned(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        runtime.check_signals()
        if not said:
            print(f"forecast: waiting for {len(running)} running trial(s) of other workers",
                  file=sys.stderr, flush=True)
            said = True
        time.sleep(1.0)


# --- several workers -------------------------------------------------------------------

def _worker_process(search: Search, threads: int) -> None:
    """A spawned worker: stdout is stderr (stdout carries data only), TensorFlow gets its
    share of the cores, SIGINT is left to the parent, which sends SIGTERM to stop it: the
    running trial stops at its next batch. Ends with ``os._exit`` once its output is
    flushed (as the command does: no teardown of TensorFlow's threads to abort in)."""
    os.dup2(2, 1)
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    runtime.handle_signals((signal.SIGTERM,))
    code = 0
    try:
        with runtime.deferred_signals():
            run_worker(search)
    except Interrupted:
        pass
    except ForecastError as exc:
        print(f"forecast: error: worker: {exc.message}", file=sys.stderr)
        code = exc.exit_code
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_search(search: Search, jobs: int = 1) -> int | None:
    """Run the search (after ``prepare_study``): in this process (``jobs`` 1) or in
    ``jobs`` spawned workers.

    Returns None when it ran to its end (all trials, or the timeout), or the exit code
    when it was interrupted (130 for Ctrl-C, 143 for SIGTERM): finished trials stay in the
    study either way. In this process signals are deferred (``runtime.deferred_signals``):
    a trial stops between batches, never inside Optuna's storage or TensorFlow's C code.
    """
    try:
        with runtime.deferred_signals():
            if jobs == 1:
                run_worker(search)
            else:
                _run_workers(search, jobs)
            wait_for_others(search, open_study(search))
            runtime.check_signals()
    except Interrupted as exc:
        return exc.code
    return None


def _run_workers(search: Search, jobs: int) -> None:
    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    workers = [context.Process(target=_worker_process, args=(search, threads),
                               name=f"forecast-tune-{i}") for i in range(jobs)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():  # (a deferred Ctrl-C is seen within a second)
                worker.join(1.0)
                runtime.check_signals()
    except BaseException:
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, signal.SIGTERM)
        for worker in workers:
            if worker.pid is not None:
                worker.join(60)
                if worker.is_alive():
                    worker.kill()
        raise
    failed = [w.exitcode for w in workers if w.exitcode]
    if failed:
        raise TrainingError(f"{len(failed)} of {jobs} tune workers failed (exit code "
                            f"{failed[0]}; see the message above); finished trials stay in "
                            "the study: rerun the same command to resume")


# --- the result ------------------------------------------------------------------------

def trials_csv(trials: list[FrozenTrial], names: list[str]) -> str:
    """Every trial as CSV: number, state, score, epochs, seconds, each searched option,
    and a note (why it failed or stopped)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "state", "score", "epochs", "seconds", *names, "note"])
    for t in trials:
        note = t.user_attrs.get("error") or (f"stopped: {t.user_attrs['stopped']}"
                                              if "stopped" in t.user_attrs else "")
        if t.state == TrialState.FAIL and not note:
            note = "abandoned: its process ended"
        seconds = _seconds(t)
        writer.writerow([t.number, t.state.name.lower(),
                         "" if t.value is None else f"{t.value:.8g}",
                         len(t.intermediate_values),
                         "" if math.isnan(seconds) else f"{seconds:.1f}",
                         *(_csv_value(t.params.get(name)) for name in names), note])
    return out.getvalue()


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.8g}" if isinstance(value, float) else str(value)


@dataclass
class Outcome:
    """A finished (or interrupted) search: the best trial and every trial, as recorded."""

    best: FrozenTrial
    trials: list[FrozenTrial]
    config: ForecastConfig
    table: str
    summary: dict[str, Any]


def outcome(search: Search, interrupted: int | None = None) -> Outcome:
    """The best configuration of the study so far; a ForecastError if none completed, or
    ``Interrupted`` again when the search was interrupted (``interrupted``: its exit code)
    before any trial completed: nothing to write, and the study is kept to resume."""
    study = open_study(search)
    trials = study.get_trials(deepcopy=False)
    best = best_trial(trials)
    states = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    if best is None and interrupted:
        raise Interrupted(interrupted - 128)
    if best is None:
        errors = [t.user_attrs["error"] for t in trials if "error" in t.user_attrs]
        why = f"; the first error: {errors[0]}" if errors else ""
        raise TrainingError(f"no trial of study '{search.study_name}' completed "
                            f"({len(trials)} in all){why}")
    names = list(search.space)
    summary = {"study": search.study_name, "storage": search.where, "best_trial": best.number,
               "score": best.value, "params": best.params, "trials": len(trials),
               "states": {k: v for k, v in states.items() if v},
               "space": {name: p.to_dict() for name, p in search.space.items()}}
    return Outcome(best, trials, with_params(search.config, best.params),
                   trials_csv(trials, names), summary)


# --- the command -----------------------------------------------------------------------

def tune(prices: list[str], request: Any, given: set[str], *, model_dir: Path | None,
         trials: int, timeout: float | None, jobs: int, study: str | None,
         storage: str | None, space: Path | None, as_json: bool) -> int:
    """``forecast tune``: check the options, the target and the storage before the data is
    read, search on validation rows, train the best configuration again and write it
    (with trials.csv). ``request`` is train's options (``options.TrainingRequest``);
    ``given``: the searchable options given on the command line (fixed, not searched).
    Returns the exit code: 130 or 143 if the search was interrupted, else 0."""
    if trials < 1 or jobs < 1:
        raise UsageError(f"--{'trials' if trials < 1 else 'jobs'} must be at least 1, got "
                         f"{trials if trials < 1 else jobs}")
    if timeout is not None and not timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout}")
    search_space = read_space(space, given)

    from forecast.model_dirs import model_dir_for

    target = model_dir_for(model_dir, prices, "tuned")  # refused before any search
    where = check_storage(storage, target)      # and before the data is read
    data, config = request.read(prices)
    search = Search(data, config, search_space, study or target.name, where,
                    storage is None, trials)
    runtime.import_tensorflow_quietly()
    check_data(search)
    held = sum(t.state.is_finished()
               for t in prepare_study(search).get_trials(deepcopy=False))
    print(f"forecast: searching {', '.join(search_space)} in study '{search.study_name}' "
          f"({search.where}{f', resumed with {held} trials' if held else ''}) until it holds "
          f"{trials} trials; the test rows are not used", file=sys.stderr)
    search.deadline = None if timeout is None else time.time() + timeout
    interrupted = run_search(search, jobs)
    result = outcome(search, interrupted)
    print(f"forecast: {result.summary['trials']} trials "
          f"({', '.join(f'{n} {k}' for k, n in result.summary['states'].items())}); best: "
          f"trial {result.best.number}, validation score {result.best.value:.6g}: "
          f"{describe_params(result.best.params)}", file=sys.stderr)
    print("forecast: training the best configuration again to write it", file=sys.stderr)

    from forecast.bundle import write_bundle
    from forecast.report import report_test_metrics
    from forecast.training import run_training

    trained = run_training(data, result.config)
    trained = dataclasses.replace(trained, config=dataclasses.replace(
        trained.config, facts=dataclasses.replace(trained.config.facts, tuning=result.summary)))
    out = write_bundle(target, trained, data, extra={"trials.csv": result.table},
                       default_dir=model_dir is None)
    report_test_metrics(trained, data, out, as_json,
                        extra={"tuning": result.summary} if as_json else None)
    if interrupted:
        print("forecast: the search was interrupted; run the same command again to resume "
              "it", file=sys.stderr)
    return interrupted or 0

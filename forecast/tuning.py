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
import copy
import csv
import fcntl
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import signal
import socket
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from forecast import runtime
from forecast.config import (CELLS, PRUNE_AFTER_EPOCHS, PRUNE_AFTER_TRIALS, SEARCH_SPACE,
                             ForecastConfig)
from forecast.data import Panel
from forecast.errors import ForecastError, OutputError, TrainingError, UsageError
from forecast.runtime import Interrupted

optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial instead
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

#: Searchable options: name -> (config section, value type).
SEARCHABLE = {
    "cell": ("model", str),
    "layers": ("model", int),
    "units": ("model", int),
    "dropout": ("model", float),
    "window": ("model", int),
    "learning_rate": ("training", float),
    "batch_size": ("training", int),
}
#: The study directory beside a model directory, and the only files it may hold. tune
#: writes STUDY_MARK first when it makes the directory, and appends only to a journal
#: beside its mark (or, in a directory from before the mark, to an Optuna journal).
STUDY_SUFFIX = ".study"
JOURNAL = "journal.log"
STUDY_MARK = "forecast-study.json"
STUDY_FILES = frozenset({JOURNAL, f"{JOURNAL}.lock", "claims.lock", STUDY_MARK})
WORKER = f"{socket.gethostname()}:{os.getpid()}"


# --- the search space ------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One searched option: a list of choices, or a range from ``low`` to ``high``."""

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if SEARCHABLE[self.name][1] is int:
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, step=self.step,
                                   log=self.log)

    def contains(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if not self.low <= value <= self.high:
            return False
        return self.step is None or math.isclose(
            round((value - self.low) / self.step) * self.step + self.low, value)

    def to_dict(self) -> Any:
        if self.choices is not None:
            return list(self.choices)
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out


def parse_space(raw: Any, source: str = "--space") -> dict[str, Param]:
    """The default space with the entries of ``raw`` (a space file's JSON) replacing
    their defaults; any problem is a UsageError naming ``source`` and the entry."""
    if not isinstance(raw, dict):
        raise UsageError(f"{source} must be a JSON object of option names, such as "
                         '{"units": {"low": 8, "high": 64}, "cell": ["lstm", "gru"]}')
    raw = {str(name).replace("-", "_"): value for name, value in raw.items()}
    unknown = [name for name in raw if name not in SEARCHABLE]
    if unknown:
        raise UsageError(f"{source}: unknown option '{unknown[0]}'; the options searched are "
                         f"{', '.join(SEARCHABLE)}")
    return {name: _param(name, raw.get(name, SEARCH_SPACE[name]), source)
            for name in SEARCHABLE}


def read_space(path: str | Path | None, fixed: set[str] = frozenset()) -> dict[str, Param]:
    """The search space: the defaults, changed by the JSON file at ``path``, less the
    options in ``fixed`` (given on the command line, so not searched)."""
    raw: Any = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--space {path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--space {path}: cannot read it ({exc})") from None
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--space {path} is not valid JSON ({exc})") from None
    space = parse_space(raw, str(path or "--space"))
    named = {str(name).replace("-", "_") for name in raw}
    both = [name for name in fixed if name in named]
    if both:
        flag = "--" + both[0].replace("_", "-")
        raise UsageError(f"{flag} is given on the command line and {path} searches "
                         f"'{both[0]}'; drop one of them")
    space = {name: p for name, p in space.items() if name not in fixed}
    if not space:
        raise UsageError("every searched option is given on the command line, so there is "
                         "nothing to search; leave some out, or use forecast train")
    return space


def _param(name: str, spec: Any, source: str) -> Param:
    kind = SEARCHABLE[name][1]
    where = f"{source}: '{name}'"
    if isinstance(spec, list):
        spec = {"choices": spec}
    if not isinstance(spec, dict):
        raise UsageError(f"{where} must be a list of choices or an object with low and "
                         f"high, got {json.dumps(spec)} (for one value: [{json.dumps(spec)}])")
    if "choices" in spec:
        if set(spec) != {"choices"}:
            raise UsageError(f"{where} has choices and {sorted(set(spec) - {'choices'})[0]}; "
                             "give either choices or low/high")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"{where} choices must be a non-empty list")
        for value in choices:
            _check_value(name, kind, value, where)
        if len(set(choices)) < len(choices):
            raise UsageError(f"{where} lists a choice twice: {json.dumps(choices)}")
        return Param(name, choices=tuple(float(v) if kind is float else v for v in choices))
    if kind is str:
        raise UsageError(f"{where} takes a list of choices (from {', '.join(CELLS)}), "
                         "not a range")
    extra = set(spec) - {"low", "high", "log", "step"}
    if extra:
        raise UsageError(f"{where}: unknown key '{sorted(extra)[0]}'; a range has low, high "
                         "and optionally log or step")
    if "low" not in spec or "high" not in spec:
        raise UsageError(f"{where} needs both low and high, got {json.dumps(spec)}")
    low, high = spec["low"], spec["high"]
    _check_value(name, kind, low, f"{where} low")
    _check_value(name, kind, high, f"{where} high")
    if low > high:
        raise UsageError(f"{where}: low {low} is above high {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"{where}: log must be true or false, got {json.dumps(log)}")
    if log and low <= 0:
        raise UsageError(f"{where}: a log range needs low above 0, got {low}")
    step = spec.get("step")
    if step is not None:
        if log:
            raise UsageError(f"{where}: give step or log, not both")
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 \
                or (kind is int and not isinstance(step, int)):
            raise UsageError(f"{where}: step must be a positive "
                             f"{'integer' if kind is int else 'number'}, got {json.dumps(step)}")
        if not math.isclose((high - low) / step, round((high - low) / step), abs_tol=1e-9):
            raise UsageError(f"{where}: high - low ({high} - {low}) is not a multiple of "
                             f"step {step}")
    cast = float if kind is float else int
    return Param(name, low=cast(low), high=cast(high), log=log,
                 step=None if step is None else cast(step))


def _check_value(name: str, kind: type, value: Any, where: str) -> None:
    """Type and bounds of one value of an option, as ``ForecastConfig.validate`` has them."""
    if kind is str:
        if value not in CELLS:
            raise UsageError(f"{where}: {json.dumps(value)} is not a cell; the cells are "
                             f"{', '.join(CELLS)}")
        return
    number = not isinstance(value, bool) and isinstance(value, (int, float))
    if kind is int and not (number and isinstance(value, int)):
        raise UsageError(f"{where} must be a whole number, got {json.dumps(value)}")
    if kind is float and not (number and math.isfinite(value)):
        raise UsageError(f"{where} must be a number, got {json.dumps(value)}")
    if name == "dropout" and not 0 <= value < 1:
        raise UsageError(f"{where}: dropout must be in [0, 1), got {value}")
    if name == "learning_rate" and not value > 0:
        raise UsageError(f"{where}: the learning rate must be above 0, got {value}")
    if kind is int and value < 1:
        raise UsageError(f"{where} must be at least 1, got {value}")


def with_params(config: ForecastConfig, params: dict[str, Any]) -> ForecastConfig:
    """A copy of ``config`` with the searched options set to ``params``."""
    config = copy.deepcopy(config)
    for name, value in params.items():
        setattr(getattr(config, SEARCHABLE[name][0]), name, value)
    return config


# --- the study -------------------------------------------------------------------------

@dataclass
class Search:
    """Everything a worker needs to run trials of one study. Spawned workers get a copy.

    Attributes:
        panel: the data, read once by the command.
        config: the fixed options; a trial sets the searched ones (``space``).
        storage: an Optuna database URL, or the journal file (``journal``).
        trials: the study is done when it holds this many counted trials (see ``counted``).
        deadline: a ``time.time()`` after which no trial runs (``--timeout``).
    """

    panel: Panel
    config: ForecastConfig
    space: dict[str, Param]
    study_name: str
    storage: str
    journal: bool
    trials: int
    deadline: float | None = None
    pruner: Any = field(default_factory=lambda: optuna.pruners.MedianPruner(
        n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_AFTER_EPOCHS))

    @property
    def seed(self) -> int:
        return self.config.training.seed

    @property
    def where(self) -> str:
        """The storage as messages and config.json name it (no password)."""
        return self.storage if self.journal else redact(self.storage)

    def expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline


def study_dir(model_dir: str | Path) -> Path:
    """Where the default study of a model directory lives: ``<model-dir>.study/``,
    beside it, so the model directory itself is still written in one atomic step."""
    model_dir = Path(model_dir)
    return model_dir.parent / f"{model_dir.name}{STUDY_SUFFIX}"


def check_storage(storage: str | None, model_dir: str | Path) -> str:
    """The study's storage, checked before the data is read (a UsageError, exit 2): the
    default journal file beside ``model_dir`` (``journal_file``), or the ``--storage``
    database URL (``check_storage_url``)."""
    if storage is None:
        return str(journal_file(model_dir))
    check_storage_url(storage)
    return storage


def journal_file(model_dir: str | Path) -> Path:
    """The default study's journal file. Its directory is refused if it holds anything
    this tool does not write there, or a journal tune did not write (``made_by_tune``);
    ``open_study`` makes it."""
    from forecast.bundle import check_name_length

    folder = study_dir(model_dir)
    check_name_length(folder / f"{JOURNAL}.lock", "--model-dir")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} exists and is not a study directory; move it, or pass "
                         "another --model-dir or --storage")
    if folder.is_dir():
        names = sorted(p.name for p in folder.iterdir())
        foreign = [name for name in names if name not in STUDY_FILES]
        if foreign:
            raise UsageError(f"{folder} holds {foreign[0]}, which forecast did not write; it "
                             "is not a study directory: move it, or pass another --model-dir "
                             "or --storage")
        if names and not made_by_tune(folder):
            raise UsageError(f"{folder / names[0]} was not written by forecast tune, which "
                             "never writes into a file of yours: move it, or pass another "
                             "--model-dir or --storage")
    return folder / JOURNAL


def made_by_tune(folder: Path) -> bool:
    """Whether a study directory is tune's: it holds tune's mark, or (made before the
    mark) a journal whose first record is Optuna's creation of a study; and the journal,
    if any, is a plain file, not a link to one."""
    journal, mark = folder / JOURNAL, folder / STUDY_MARK
    if journal.is_symlink() or (journal.exists() and not journal.is_file()):
        return False
    if mark.is_file() and not mark.is_symlink():
        try:
            return json.loads(mark.read_text(encoding="utf-8")).get("written_by") == \
                "forecast tune"
        except (OSError, ValueError, AttributeError):
            return False
    try:
        with open(journal, "rb") as handle:
            first = json.loads(handle.readline())
    except (OSError, ValueError):
        return False
    return isinstance(first, dict) and first.get("op_code") == 0 and "study_name" in first


def check_storage_url(url: str) -> None:
    """Refuse (UsageError, exit 2), before any work, a ``--storage`` URL Optuna cannot
    open: one that does not parse, an unknown kind of database, a missing driver, an
    SQLite file in a missing folder or in memory, a server that cannot be reached."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    shown = redact(url)
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except sqlalchemy.exc.NoSuchModuleError:   # (an ArgumentError too)
        raise UsageError(f"--storage {shown}: unknown kind of database "
                         f"'{url.split(':', 1)[0]}'; Optuna stores studies in sqlite, "
                         "postgresql, mysql, ... (sqlite:///tune.db)") from None
    except sqlalchemy.exc.ArgumentError:
        hint = f" (for a file: sqlite:///{url})" if "://" not in url else ""
        raise UsageError(f"--storage {shown} is not a database URL such as sqlite:///tune.db "
                         f"or postgresql://user:pass@host/db{hint}") from None
    if parsed.get_backend_name() == "sqlite":
        check_sqlite_file(parsed.database, shown)
        return
    try:
        engine = sqlalchemy.create_engine(parsed)
    except ImportError as exc:
        raise UsageError(f"--storage {shown} needs a database driver that is not installed "
                         f"({exc}); install it (with pip), or name another driver in the URL "
                         "such as postgresql+psycopg2://") from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:160]
        raise UsageError(f"--storage {shown} cannot be opened ({reason}); check the URL and "
                         "that the database server runs") from None
    finally:
        engine.dispose()


def check_sqlite_file(database: str | None, shown: str) -> None:
    """An SQLite ``--storage``: a file (not memory, which each process has its own of)
    in a folder that exists, and if it exists, an SQLite database. Nothing is created."""
    import sqlite3

    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise UsageError(f"--storage {shown} is a database in memory, which is gone when "
                         "the command ends and not shared with --jobs workers; name a file, "
                         "such as sqlite:///tune.db")
    path = Path(database)
    if not path.parent.is_dir():
        raise UsageError(f"--storage {shown}: there is no directory {path.parent}; create it "
                         "first, or choose another place")
    if path.exists() and not path.is_file():
        raise UsageError(f"--storage {shown}: {path} is not a file; name an SQLite file")
    if path.exists():
        try:
            with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro",
                                                    uri=True)) as db:
                db.execute("SELECT count(*) FROM sqlite_master").fetchall()
        except sqlite3.Error as exc:
            raise UsageError(f"--storage {shown}: {path} is not an SQLite database ({exc}); "
                             "name another file") from None


def redact(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def open_study(search: Search) -> optuna.Study:
    """The study, created if new (minimising the validation score). If that fails (a full
    disk, say), what this call made of a journal's directory is removed again."""
    made: list[Path] = []
    try:
        if search.journal:
            made = make_study_dir(Path(search.storage))
            storage: Any = optuna.storages.JournalStorage(
                optuna.storages.journal.JournalFileBackend(search.storage))
        else:
            storage = search.storage
        return _create_study(search, storage)
    except BaseException as exc:
        remove_made(made)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write the study journal {search.storage} "
                              f"({exc.strerror or exc}); nothing of it was kept: free some "
                              "space, or pass another --model-dir or --storage") from None
        raise


def make_study_dir(journal: Path) -> list[Path]:
    """Make the journal's directory, tune's mark in it first; returns what this call made
    (the journal, which Optuna makes next, included), in the order to remove it."""
    folder = journal.parent
    made = [p for p in (folder, *folder.parents) if not os.path.lexists(p)]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mark = folder / STUDY_MARK
        if not journal.exists() and not mark.exists():
            with contextlib.suppress(FileExistsError):   # another worker made it first
                with open(mark, "x", encoding="utf-8") as handle:
                    made.insert(0, mark)
                    handle.write(json.dumps({"written_by": "forecast tune",
                                             "journal": JOURNAL}) + "\n")
        if not journal.exists():
            made.insert(0, journal)
    except BaseException:
        remove_made(made)
        raise
    return made


def remove_made(made: list[Path]) -> None:
    """Remove files and then (empty) directories that ``make_study_dir`` made."""
    for path in made:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()


#: Tries at opening a database storage whose schema another process is creating.
SCHEMA_TRIES = 8


def _create_study(search: Search, storage: Any) -> optuna.Study:
    try:
        return _create_or_load(search, storage)
    except ImportError as exc:
        raise UsageError(f"--storage {search.where} needs a database driver that is not "
                         f"installed ({exc}); install it, e.g. pip install 'forecast[postgres]' "
                         "for PostgreSQL") from None
    except (ValueError, optuna.exceptions.OptunaError) as exc:
        raise UsageError(f"--storage {search.where} cannot be opened ({exc})") from None
    except OSError:  # writing the journal file: open_study says so
        raise
    except Exception as exc:  # SQLAlchemy's connection errors, for instance
        reason = " ".join(str(exc).split())[:200]
        raise ForecastError(f"the study storage {search.where} cannot be opened "
                            f"({type(exc).__name__}: {reason})") from None


def _create_or_load(search: Search, storage: Any) -> optuna.Study:
    """optuna.create_study, tried again while another process creates a new database's
    tables: two `tune` processes starting on one empty PostgreSQL database both issue
    CREATE TYPE / CREATE TABLE, and the loser fails with a unique violation."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(SCHEMA_TRIES):
        try:
            return optuna.create_study(study_name=search.study_name, storage=storage,
                                       direction="minimize", pruner=search.pruner,
                                       sampler=sampler_for(search.seed, 0),
                                       load_if_exists=True)
        except (IntegrityError, ProgrammingError):
            if search.journal or attempt == SCHEMA_TRIES - 1:
                raise
            time.sleep(0.25 * (attempt + 1))
    raise AssertionError("unreachable")


def sampler_for(seed: int, number: int) -> optuna.samplers.TPESampler:
    """A TPE sampler seeded by ``--seed`` and the trial number: one run is reproducible,
    and workers that start together still try different configurations."""
    return optuna.samplers.TPESampler(seed=(seed * 1_000_003 + number) % 2**32)


def fingerprint(search: Search) -> dict[str, Any]:
    """What must not change when a study is resumed: the data, the fixed options and the
    space (JSON, as the study stores it)."""
    panel = search.panel
    digest = hashlib.sha256()
    for part in (panel.values, panel.dates.asi8, panel.offsets):
        digest.update(part.tobytes())
    digest.update("\n".join(panel.names).encode())
    config = search.config.to_dict()
    for section in ("facts", "network"):
        config.pop(section, None)
    config["data"].pop("source", None)  # the same data from another path is the same data
    for name in search.space:
        config[SEARCHABLE[name][0]].pop(name)
    mark = {"data_sha256": digest.hexdigest(), "options": config,
            "space": {name: p.to_dict() for name, p in search.space.items()}}
    return json.loads(json.dumps(mark))


def check_data(search: Search) -> None:
    """Refuse data too short for the smallest window searched (a DataError, exit 2),
    before any trial runs; warnings (series left out) are printed once, here."""
    from forecast.training import prepare_training

    smallest = {name: min(p.choices) if p.choices is not None else p.low
                for name, p in search.space.items() if name == "window"}
    prepare_training(search.panel, with_params(search.config, smallest))


def prepare_study(search: Search) -> optuna.Study:
    """Open the study; a new one records the fingerprint and starts with the configuration
    the options give (as far as the space allows it), an existing one must match."""
    study = open_study(search)
    mark = fingerprint(search)
    with claiming(search):
        found = study.user_attrs.get("forecast")
        if found is None:
            if study.get_trials(deepcopy=False):
                raise UsageError(f"study '{search.study_name}' in {search.where} was not made "
                                 "by forecast tune; pass another --study")
            study.set_user_attr("forecast", mark)
            start = {name: getattr(getattr(search.config, SEARCHABLE[name][0]), name)
                     for name in search.space}
            start = {name: value for name, value in start.items()
                     if search.space[name].contains(value)}
            if start:
                study.enqueue_trial(start)
        elif found != mark:
            raise UsageError(f"study '{search.study_name}' in {search.where} was started with "
                             f"other {_difference(found, mark)}; rerun with the same ones, or "
                             "pass another --study or --model-dir")
    return study


def _difference(found: dict, mark: dict) -> str:
    if found.get("data_sha256") != mark["data_sha256"]:
        return "data (the prices differ)"
    if found.get("space") != mark["space"]:
        old, new = found.get("space") or {}, mark["space"]
        name = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
        return (f"search space ('{name}' {json.dumps(old.get(name, 'not searched'))} there, "
                f"{json.dumps(new.get(name, 'not searched'))} here)")
    old, new = _flat(found.get("options", {})), _flat(mark["options"])
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "options: " + ", ".join(f"{k.split('.')[-1]} {json.dumps(old.get(k))} there, "
                                   f"{json.dumps(new.get(k))} here" for k in keys[:3])


def _flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@contextlib.contextmanager
def claiming(search: Search) -> Iterator[None]:
    """Hold the study's claim lock (the journal's directory; none for a database URL):
    counting the trials and creating one happen as one step, so the total is exact."""
    if not search.journal:
        yield
        return
    with open(Path(search.storage).parent / "claims.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards ``--trials``: it ran to an end (complete, pruned, or
    failed with an error) or is running. Trials stopped by an interrupt or the timeout,
    or left behind by a process that died, do not: a resumed search runs them again."""
    if trial.state == TrialState.FAIL:
        return "error" in trial.user_attrs
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def fail_abandoned(study: optuna.Study) -> None:
    """Mark failed the running trials of processes of this machine that no longer run."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = str(trial.user_attrs.get("worker", ""))
        name, _, pid = owner.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(Exception):  # another worker may have done it first
                study.tell(trial.number, state=TrialState.FAIL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_trial(search: Search, study: optuna.Study) -> optuna.Trial | None:
    """The next trial to run, or None when the study holds enough or time is up;
    ``Interrupted`` after Ctrl-C or SIGTERM."""
    runtime.check_signals()
    if search.expired():
        return None
    with claiming(search):
        fail_abandoned(study)
        if sum(counted(t) for t in study.get_trials(deepcopy=False)) >= search.trials:
            return None
        trial = study.ask()
        trial.set_user_attr("worker", WORKER)
    return trial


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

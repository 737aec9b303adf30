"""The Optuna study a search shares between its workers: its storage (a journal file beside
the model directory, or a database URL), its fingerprint (resumed only with the same data,
fixed options and space), and the claiming of trials."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import socket
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from forecast import runtime
from forecast.config import PRUNE_AFTER_EPOCHS, PRUNE_AFTER_TRIALS, ForecastConfig
from forecast.data.panel import Panel
from forecast.errors import ForecastError, OutputError, UsageError
from forecast.tuning.space import SEARCHABLE, Param, with_params

optuna.logging.set_verbosity(optuna.logging.WARNING)  # our own line per trial instead
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


#: The study directory beside a model directory, and the only files it may hold. tune
#: writes STUDY_MARK first when it makes the directory, and appends only to a journal
#: beside its mark (or, in a directory from before the mark, to an Optuna journal).
STUDY_SUFFIX = ".study"
JOURNAL = "journal.log"
STUDY_MARK = "forecast-study.json"
STUDY_FILES = frozenset({JOURNAL, f"{JOURNAL}.lock", "claims.lock", STUDY_MARK})
WORKER = f"{socket.gethostname()}:{os.getpid()}"


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
        """The training seed, which seeds the sampler too."""
        return self.config.training.seed

    @property
    def where(self) -> str:
        """The storage as messages and config.json name it (no password)."""
        return self.storage if self.journal else redact(self.storage)

    def expired(self) -> bool:
        """Whether ``--timeout`` has passed."""
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
    from forecast.model_dirs import check_name_length

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
    from forecast.windows import prepare_training

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

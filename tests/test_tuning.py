"""forecast tune: the search space, the study (recorded, resumed, shared), pruning, and a
search that never looks at the test rows."""

import dataclasses
import contextlib
import csv
import io
import json
import re
import signal
import subprocess
import sys
import time

import optuna
import pytest

import forecast.tuning.search  # noqa: F401  (loads tuning.search, .study and .space)
from forecast import tuning
from forecast.config import SEARCH_SPACE, ForecastConfig
from forecast.errors import UsageError
from tests.conftest import ROOT, interruptible, price_frame

#: Tiny trials: 2 epochs of a few units over small windows, batch 32.
SMALL = {"window": {"low": 3, "high": 6}, "units": {"low": 2, "high": 6}, "layers": [1],
         "batch_size": [32]}
QUICK = ["--epochs", "2", "--patience", "5"]


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(SMALL))
    return path


def read_trials(model_dir):
    with open(model_dir / "trials.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def without_seconds(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


# --- the space -------------------------------------------------------------------------

def test_the_default_space_searches_every_option_named_in_the_issue():
    space = tuning.space.read_space(None)
    assert list(space) == ["cell", "layers", "units", "dropout", "window", "learning_rate",
                           "batch_size"]
    assert space["cell"].choices == ("lstm", "gru", "rnn") and space["units"].log
    assert list(SEARCH_SPACE) == list(space)


def test_a_space_file_replaces_entries_and_options_given_are_fixed(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"units": {"low": 4, "high": 16, "step": 4}, "learning-rate": [0.01],'
                    ' "dropout": [0, 0.25]}')
    space = tuning.space.read_space(path, fixed={"cell"})
    assert "cell" not in space
    assert space["units"] == tuning.space.Param("units", low=4, high=16, step=4)
    assert space["learning_rate"].choices == (0.01,)
    assert space["dropout"].choices == (0.0, 0.25)
    assert space["window"].to_dict() == SEARCH_SPACE["window"]
    assert space["units"].contains(8) and not space["units"].contains(10)


BAD_SPACES = [
    ('{"unit": [4]}', "unknown option 'unit'; the options searched are cell, layers"),
    ('{"units": {"low": 64, "high": 8}}', "'units': low 64 is above high 8"),
    ('{"units": {"low": "8", "high": 64}}', "'units' low must be a whole number, got \"8\""),
    ('{"units": {"low": 8.5, "high": 64}}', "'units' low must be a whole number, got 8.5"),
    ('{"window": {"low": 0, "high": 9}}', "'window' low must be at least 1, got 0"),
    ('{"dropout": {"low": 0, "high": 1.5}}', "dropout must be in [0, 1), got 1.5"),
    ('{"dropout": {"low": 0, "high": 0.5, "log": true}}', "a log range needs low above 0"),
    ('{"learning_rate": [0.01, -1]}', "the learning rate must be above 0, got -1"),
    ('{"cell": ["lstm", "tcn"]}', "\"tcn\" is not a cell; the cells are lstm, gru, rnn"),
    ('{"cell": {"low": 1, "high": 2}}', "'cell' takes a list of choices"),
    ('{"layers": []}', "'layers' choices must be a non-empty list"),
    ('{"layers": 2}', "'layers' must be a list of choices or an object with low and high, "
                      "got 2 (for one value: [2])"),
    ('{"layers": {"low": 1}}', "'layers' needs both low and high"),
    ('{"layers": {"low": 1, "high": 3, "by": 1}}', "'layers': unknown key 'by'"),
    ('{"units": {"low": 4, "high": 10, "step": 4}}', "is not a multiple of step 4"),
    ('["units"]', "must be a JSON object of option names"),
    ('{"units": ', "is not valid JSON (Expecting value: line 1 column 11"),
]


@pytest.mark.parametrize("text,message", BAD_SPACES, ids=[t for t, _ in BAD_SPACES])
def test_a_bad_space_file_is_one_line_exit_2(cli, prices_csv, tmp_path, text, message):
    path = tmp_path / "space.json"
    path.write_text(text)
    result = cli("tune", prices_csv, "--space", path, "--trials", "1")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("forecast: error: "), result.stderr
    assert message in lines[0]
    assert result.stdout == "" and not (tmp_path / "models").exists()


def test_a_missing_space_file_or_one_that_fights_an_option(cli, prices_csv, tmp_path):
    result = cli("tune", prices_csv, "--space", tmp_path / "nope.json")
    assert result.exit_code == 2 and "nope.json: no such file" in result.stderr
    (tmp_path / "s.json").write_text('{"units": [4, 8]}')
    result = cli("tune", prices_csv, "--space", tmp_path / "s.json", "--units", "4")
    assert result.exit_code == 2
    assert "--units is given on the command line and" in result.stderr


def test_tune_takes_every_option_of_train():
    import typer

    from forecast.cli import app
    commands = typer.main.get_command(app).commands
    train = {p.name for p in commands["train"].params} - {"dry_run"}
    assert train <= {p.name for p in commands["tune"].params}


def test_tune_help_does_not_import_tensorflow():
    code = ("import sys, typer\n"
            "from forecast.cli import app\n"
            "try:\n"
            "    typer.main.get_command(app)(['tune', '--help'], prog_name='forecast')\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "sys.exit(f'imported {heavy}' if heavy else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "--trials" in done.stdout and "--space" in done.stdout


# --- the study -------------------------------------------------------------------------

def test_trials_are_recorded_and_a_second_run_resumes_the_study(cli, prices_csv, tmp_path,
                                                                space_file):
    from forecast.bundle import read_bundle
    from forecast.model_dirs import FILES, RECENT, WEIGHTS

    args = ["tune", prices_csv, "--space", space_file, "--cell", "gru", *QUICK,
            "--model-dir", "m"]
    first = cli(*args, "--trials", "2")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == ""
    model = tmp_path / "m"
    assert sorted(p.name for p in model.iterdir()) == \
        sorted([*FILES, WEIGHTS, RECENT, "trials.csv", "manifest.json"])
    assert sorted(p.name for p in (tmp_path / "m.study").iterdir()) == \
        ["claims.lock", "forecast-study.json", "journal.log"]
    rows = read_trials(model)
    assert [r["number"] for r in rows] == ["0", "1"]
    assert {r["state"] for r in rows} == {"complete"}
    assert "cell" not in rows[0]  # given on the command line: fixed, not searched
    assert rows[0]["learning_rate"] == "0.001" and rows[0]["dropout"] == "0"  # train's
    assert "naive" in first.stderr and "drift" in first.stderr
    assert first.stderr.count("\ntrial ") == 2

    second = cli(*args, "--trials", "3", "--json")
    assert second.exit_code == 0, second.stderr
    assert "resumed with 2 trials" in second.stderr and second.stderr.count("\ntrial ") == 1
    again = read_trials(model)
    assert without_seconds(again[:2]) == without_seconds(rows) and len(again) == 3
    payload = json.loads(second.stdout)
    best = min(again, key=lambda r: float(r["score"]))
    assert payload["tuning"]["best_trial"] == int(best["number"])
    bundle = read_bundle(model)
    assert bundle.config.model.cell == "gru"
    assert bundle.config.model.units == int(best["units"])
    assert bundle.config.facts.tuning["trials"] == 3
    # What a trial scored is what the written model's history says (same seed, same run).
    assert min(bundle.history["val_loss"]) == pytest.approx(float(best["score"]), rel=1e-6)

    other = cli(*args[:-2], "--model-dir", "m", "--trials", "3", "--epochs", "3")
    assert other.exit_code == 2
    assert "was started with other options: epochs 2 there, 3 here" in other.stderr


def test_the_test_rows_do_not_change_the_search(cli, tmp_path, space_file):
    frame = price_frame(300)
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.loc[len(frame) - 30:, "Close"] *= 1.5  # well inside the last 20%: test rows
    frame.to_csv(tmp_path / "b.csv", index=False)
    results = {}
    for name in ("a", "b"):
        result = cli("tune", tmp_path / f"{name}.csv", "--space", space_file, *QUICK,
                     "--trials", "3", "--model-dir", name, "--json")
        assert result.exit_code == 0, result.stderr
        results[name] = json.loads(result.stdout)
    assert without_seconds(read_trials(tmp_path / "a")) == \
        without_seconds(read_trials(tmp_path / "b"))
    assert results["a"]["tuning"]["params"] == results["b"]["tuning"]["params"]
    assert results["a"]["test"]["model"]["mae"] != results["b"]["test"]["model"]["mae"]


def test_another_database_url_holds_the_study(cli, prices_csv, tmp_path, space_file):
    url = f"sqlite:///{tmp_path / 'tune.db'}"
    result = cli("tune", prices_csv, "--space", space_file, *QUICK, "--trials", "1",
                 "--storage", url, "--study", "s1", "--model-dir", "m")
    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "m.study").exists()
    study = optuna.load_study(study_name="s1", storage=url)
    assert len(study.trials) == 1 and study.trials[0].state.name == "COMPLETE"


def test_a_study_directory_holding_other_files_is_refused(cli, prices_csv, tmp_path):
    (tmp_path / "m.study").mkdir()
    (tmp_path / "m.study" / "notes.txt").write_text("mine")
    result = cli("tune", prices_csv, "--model-dir", "m", "--trials", "1")
    assert result.exit_code == 2
    assert "m.study holds notes.txt, which forecast did not write" in result.stderr
    assert (tmp_path / "m.study" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("content", ["my notes\n", "", '{"op_code": 4, "worker_id": "w"}\n'])
def test_a_file_of_the_users_where_the_journal_goes_is_never_written(cli, tmp_path, content):
    """Optuna appended its records to any file at <dir>.study/journal.log; tune appends only
    to a journal it made. Refused before the data is read (nowhere.csv is not read)."""
    (tmp_path / "m.study").mkdir()
    (tmp_path / "m.study" / "journal.log").write_text(content)
    result = cli("tune", tmp_path / "nowhere.csv", "--model-dir", "m", "--trials", "1")
    assert result.exit_code == 2, result.stderr
    assert result.stderr == ("forecast: error: m.study/journal.log was not written by "
                             "forecast tune, which never writes into a file of yours: move "
                             "it, or pass another --model-dir or --storage\n")
    assert (tmp_path / "m.study" / "journal.log").read_text() == content
    assert [p.name for p in (tmp_path / "m.study").iterdir()] == ["journal.log"]


def test_a_journal_is_tunes_by_its_mark_or_as_optunas_journal_from_before_the_mark(tmp_path):
    (tmp_path / "old.study").mkdir()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
        str(tmp_path / "old.study" / "journal.log")))
    optuna.create_study(storage=storage, study_name="old")
    assert tuning.study.check_storage(None, tmp_path / "old") == str(tmp_path / "old.study" /
                                                               "journal.log")
    # tune's own directory, with its mark, but the journal a link to a file of the user's
    (tmp_path / "new.study").mkdir()
    tuning.study.make_study_dir(tmp_path / "new.study" / "journal.log")
    assert tuning.study.made_by_tune(tmp_path / "new.study")
    (tmp_path / "mine.txt").write_text("mine")
    (tmp_path / "new.study" / "journal.log").symlink_to(tmp_path / "mine.txt")
    with pytest.raises(UsageError, match="new.study/forecast-study.json was not written by"):
        tuning.study.check_storage(None, tmp_path / "new")


@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_leaves_no_empty_journal_behind(cli, prices_csv, tmp_path, space_file,
                                                    monkeypatch, existing):
    import errno

    def full(self, logs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(optuna.storages.journal.JournalFileBackend, "append_logs", full)
    if existing:   # an empty directory of the user's there stays, empty
        (tmp_path / "sub" / "m.study").mkdir(parents=True)
    result = cli("tune", prices_csv, "--space", space_file, *QUICK, "--trials", "1",
                 "--model-dir", "sub/m")
    assert result.exit_code == 2, result.stderr
    assert result.stderr == ("forecast: error: cannot write the study journal "
                             "sub/m.study/journal.log (No space left on device); nothing of "
                             "it was kept: free some space, or pass another --model-dir or "
                             "--storage\n")
    if existing:
        assert list((tmp_path / "sub" / "m.study").iterdir()) == []
    else:
        assert not (tmp_path / "sub").exists()


BAD_STORAGES = [
    ("nonsense", "--storage nonsense is not a database URL such as sqlite:///tune.db or "
                 "postgresql://user:pass@host/db (for a file: sqlite:///nonsense)"),
    ("foo://u:secret@host/db", "--storage foo://u:***@host/db: unknown kind of database 'foo'"),
    ("sqlite:///nowhere/tune.db", "--storage sqlite:///nowhere/tune.db: there is no "
                                  "directory nowhere; create it first"),
    ("sqlite://", "--storage sqlite:// is a database in memory"),
    ("sqlite:///:memory:", "is a database in memory"),
    ("sqlite:///space.json", "--storage sqlite:///space.json: space.json is not an SQLite "
                             "database (file is not a database)"),
    ("sqlite:///.", "--storage sqlite:///.: . is not a file"),
    # no driver here (or, where there is one, nothing listens on port 1): either way exit 2
    ("postgresql://u:secret@127.0.0.1:1/db", "--storage postgresql://u:***@127.0.0.1:1/db "),
]


@pytest.mark.parametrize("url,message", BAD_STORAGES, ids=[u for u, _ in BAD_STORAGES])
def test_a_bad_storage_url_is_exit_2_before_the_data_is_read(cli, tmp_path, space_file, url,
                                                            message):
    before = sorted(tmp_path.iterdir())
    result = cli("tune", tmp_path / "nowhere.csv", "--storage", url, "--trials", "1")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("forecast: error: --storage ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "secret" not in result.stderr
    assert sorted(tmp_path.iterdir()) == before


def test_a_database_server_is_checked_by_connecting_once(monkeypatch):
    """No server here: a stand-in engine. One that connects passes (a reachable
    PostgreSQL works as before); one that cannot is exit 2 with the driver's reason."""
    import sqlalchemy

    class Engine:
        def __init__(self, error=None):
            self.error, self.disposed = error, False

        def connect(self):
            if self.error:
                raise self.error
            return contextlib.nullcontext()

        def dispose(self):
            self.disposed = True

    up = Engine()
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda url: up)
    tuning.study.check_storage_url("postgresql://u:secret@db.example/optuna")
    assert up.disposed
    down = Engine(sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(
        'connection to server at "db.example", port 5432 failed: Connection refused')))
    monkeypatch.setattr(sqlalchemy, "create_engine", lambda url: down)
    with pytest.raises(UsageError, match=r"--storage postgresql://u:\*\*\*@db.example/optuna "
                                         r"cannot be opened \(connection to server at "
                                         r'"db.example", port 5432 failed: Connection '
                                         r"refused\); check the URL and that the database "
                                         r"server runs"):
        tuning.study.check_storage_url("postgresql://u:secret@db.example/optuna")
    assert down.disposed


class PruneTrialOne(optuna.pruners.BasePruner):
    def prune(self, study, trial):
        return trial.number == 1


def test_a_pruned_trial_stops_early_and_is_marked_pruned(tmp_path):
    from forecast.config import ForecastConfig, TrainConfig
    from forecast.data import read_panel

    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    panel = read_panel([csv_path])
    config = ForecastConfig(training=TrainConfig(epochs=3)).validate()
    config = dataclasses.replace(config, columns=panel.columns)
    search = tuning.study.Search(panel, config, tuning.space.parse_space(SMALL), "p",
                                 str(tmp_path / "s" / "journal.log"), True, 3,
                                 pruner=PruneTrialOne())
    tuning.study.prepare_study(search)
    assert tuning.search.run_search(search) is None
    result = tuning.search.outcome(search)
    rows = list(csv.DictReader(io.StringIO(result.table)))
    assert [r["state"] for r in rows] == ["complete", "pruned", "complete"]
    assert rows[1]["epochs"] == "1" and rows[0]["epochs"] == "3"
    assert result.best.number in (0, 2)


class RecordingPruner(optuna.pruners.BasePruner):
    """Records the (step, value) it is asked about each time; prunes at ``at`` steps."""

    def __init__(self, at=()):
        self.seen, self.at = [], set(at)

    def prune(self, study, trial):
        step = trial.last_step
        self.seen.append((step, trial.intermediate_values[step]))
        return step in self.at


def small_search(tmp_path, pruner, learning_rate=0.001, **training):
    from forecast.config import ForecastConfig, TrainConfig
    from forecast.data import read_panel

    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    panel = read_panel([csv_path])
    config = ForecastConfig(training=TrainConfig(**training)).validate()
    config = dataclasses.replace(config, columns=panel.columns)
    space = tuning.space.parse_space({"cell": ["gru"], "layers": [1], "units": [4],
                                      "dropout": [0.0], "window": [5],
                                      "learning_rate": [learning_rate], "batch_size": [32]})
    return tuning.study.Search(panel, config, space, "p", str(tmp_path / "s" / "journal.log"),
                               True, 1, pruner=pruner)


def test_each_epoch_reports_the_best_validation_loss_so_far_at_its_own_step(tmp_path):
    pruner = RecordingPruner(at={5})
    study = optuna.create_study(direction="minimize", pruner=pruner)
    trial = study.ask()
    callback = tuning.search.pruning_callback(trial, small_search(tmp_path, pruner))
    losses = [0.5, 0.3, 0.4, float("nan"), 0.2, 0.25]
    for epoch, loss in enumerate(losses[:-1]):
        callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": loss})
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 6"):
        callback.on_epoch_end(5, {"loss": 1.0, "val_loss": losses[-1]})
    # a non-finite epoch reports nothing (training stops itself on it)
    assert pruner.seen == [(0, 0.5), (1, 0.3), (2, 0.3), (4, 0.2), (5, 0.2)]
    assert study.trials[0].intermediate_values == {0: 0.5, 1: 0.3, 2: 0.3, 4: 0.2, 5: 0.2}


def test_a_trial_scores_its_best_epoch_not_its_last(tmp_path):
    """The score is the lowest validation loss of the trial's epochs (the one train keeps),
    here of a run that early stopping ended on a worse epoch; and every epoch reported the
    best so far. The run is repeated by hand with the trial's options to know its losses."""
    import keras

    from forecast.training import run_training

    pruner = RecordingPruner()
    search = small_search(tmp_path, pruner, learning_rate=0.05, epochs=8, patience=1)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    assert tuning.search.run_trial(search, study, study.ask())
    done = study.trials[0]
    assert done.state == optuna.trial.TrialState.COMPLETE
    keras.utils.clear_session()
    history = run_training(search.panel, tuning.space.with_params(search.config, done.params),
                           stream=io.StringIO(), score=False).history["val_loss"]
    best = [min(history[:e + 1]) for e in range(len(history))]
    assert len(history) < 8 and history[-1] > best[-1] * 1.001  # stopped on a worse epoch
    assert done.value == pytest.approx(best[-1], rel=1e-6)
    assert list(done.intermediate_values) == list(range(len(history)))
    assert list(done.intermediate_values.values()) == pytest.approx(best, rel=1e-6)
    assert [step for step, _ in pruner.seen] == list(range(len(history)))


# --- several processes -----------------------------------------------------------------

def tune_process(csv_path, model_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "forecast", "tune", str(csv_path), "--model-dir",
         str(model_dir), *QUICK, *map(str, extra)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=interruptible)


def read_until(proc, mark: bytes, seconds: float = 300) -> bytes:
    """``proc``'s stderr up to the line holding ``mark`` (asserted to come)."""
    seen = b""
    deadline = time.time() + seconds
    while mark not in seen and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert mark in seen, seen.decode()
    return seen


def trial_lines(stderr: bytes) -> list[int]:
    return [int(line.split()[1]) for line in stderr.decode().splitlines()
            if line.startswith("trial ")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_before_any_trial_completes_is_an_interrupt_and_keeps_the_study(
        tmp_path, space_file, signum):
    """Ctrl-C (or SIGTERM) during the first trial: `forecast: interrupted`, exit 130 (143),
    no model written, the study kept with the stopped trial (not 'no trial completed',
    exit 1)."""
    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    model = tmp_path / "m"
    proc = tune_process(csv_path, model, "--space", space_file, "--trials", "5",
                        "--epochs", "1000", "--patience", "1000")
    seen = read_until(proc, b"forecast: searching")
    time.sleep(1.0)  # into trial 0, which runs 1000 epochs
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    err = (seen + err).decode()
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err and "unexpected" not in err and out == b""
    assert "no trial" not in err and "model written" not in err
    assert err.splitlines()[-1] == ("forecast: interrupted" if signum == signal.SIGINT
                                    else "forecast: error: terminated")
    assert not model.exists()
    assert "journal.log" in err and (tmp_path / "m.study").is_dir()


def test_two_processes_on_one_study_run_each_trial_once(tmp_path, space_file):
    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    model = tmp_path / "m"
    procs = [tune_process(csv_path, model, "--space", space_file, "--trials", "6", *jobs)
             for jobs in (["--jobs", "2"], [])]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err.decode()
        assert out == b""
    numbers = [n for _, err in outputs for n in trial_lines(err)]
    assert sorted(numbers) == list(range(6))  # every trial once, in one worker or another
    rows = read_trials(model)
    assert [r["number"] for r in rows] == [str(n) for n in range(6)]
    assert {r["state"] for r in rows} <= {"complete", "pruned"}


def test_ctrl_c_keeps_finished_trials_writes_the_best_and_exits_130(tmp_path, space_file):
    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    model = tmp_path / "m"
    proc = tune_process(csv_path, model, "--space", space_file, "--trials", "50",
                        "--epochs", "30", "--patience", "30")
    seen = read_until(proc, b"\ntrial 0 ")
    time.sleep(1.0)  # into trial 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    err = seen + err
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and b"unexpected" not in err and out == b""
    rows = read_trials(model)
    assert rows[0]["state"] == "complete"
    assert rows[-1]["state"] == "fail" and rows[-1]["note"] == "stopped: interrupted"
    assert b"model written to" in err and b"run the same command again to resume" in err


def test_the_levers_are_searched_only_when_a_space_file_names_them(tmp_path):
    assert not {"l1", "l2", "attention", "clipnorm"} & set(tuning.space.read_space(None))
    path = tmp_path / "s.json"
    path.write_text('{"l2": {"low": 1e-6, "high": 1e-3, "log": true}, "l1": [0, 1e-5],'
                    ' "attention": [true, false], "clipnorm": {"low": 0.5, "high": 5}}')
    space = tuning.space.read_space(path)
    assert space["l2"] == tuning.space.Param("l2", low=1e-6, high=1e-3, log=True)
    assert space["l1"].choices == (0.0, 1e-5) and space["attention"].choices == (True, False)
    assert not space["clipnorm"].contains(None) and space["clipnorm"].contains(1.0)
    config = tuning.space.with_params(ForecastConfig(), {"l2": 1e-4, "attention": True,
                                                        "clipnorm": 1.0})
    assert (config.model.l2, config.model.attention, config.training.clipnorm) == \
        (1e-4, True, 1.0)
    with pytest.raises(UsageError, match="--clipnorm is given on the command line"):
        tuning.space.read_space(path, fixed={"clipnorm"})


@pytest.mark.parametrize("text,message", [
    ('{"l2": {"low": -1, "high": 1}}', "'l2' low: l2 must be 0 or more, got -1"),
    ('{"clipnorm": [0, 1]}', "'clipnorm': clipnorm must be above 0, got 0"),
    ('{"attention": [1]}', "'attention': 1 is not true or false"),
    ('{"attention": {"low": 0, "high": 1}}', "takes a list of choices (from true, false)"),
])
def test_bad_lever_spaces_are_one_line_usage_errors(tmp_path, text, message):
    path = tmp_path / "s.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=re.escape(message)):
        tuning.space.read_space(path)


def test_tune_searches_the_levers_a_space_file_names(cli, prices_csv, tmp_path):
    from forecast.bundle import read_bundle

    path = tmp_path / "levers.json"
    path.write_text(json.dumps({**SMALL, "attention": [True], "l2": [1e-4],
                                "clipnorm": [1.0]}))
    result = cli("tune", prices_csv, "--space", path, *QUICK, "--trials", "1",
                 "--model-dir", "m")
    assert result.exit_code == 0, result.stderr
    row = read_trials(tmp_path / "m")[0]
    assert (row["attention"], row["l2"], row["clipnorm"]) == ("True", "0.0001", "1")
    best = read_bundle(tmp_path / "m").config
    assert best.model.attention and best.model.l2 == 1e-4 and best.training.clipnorm == 1.0

"""forecast tune: the search space, the study (recorded, resumed, shared), pruning, and a
search that never looks at the test rows."""

import csv
import io
import json
import signal
import subprocess
import sys
import time

import optuna
import pytest

from forecast import tuning
from forecast.config import SEARCH_SPACE
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
    space = tuning.read_space(None)
    assert list(space) == ["cell", "layers", "units", "dropout", "window", "learning_rate",
                           "batch_size"]
    assert space["cell"].choices == ("lstm", "gru", "rnn") and space["units"].log
    assert list(SEARCH_SPACE) == list(space)


def test_a_space_file_replaces_entries_and_options_given_are_fixed(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"units": {"low": 4, "high": 16, "step": 4}, "learning-rate": [0.01],'
                    ' "dropout": [0, 0.25]}')
    space = tuning.read_space(path, fixed={"cell"})
    assert "cell" not in space
    assert space["units"] == tuning.Param("units", low=4, high=16, step=4)
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
    from forecast.bundle import FILES, RECENT, WEIGHTS, read_bundle

    args = ["tune", prices_csv, "--space", space_file, "--cell", "gru", *QUICK,
            "--model-dir", "m"]
    first = cli(*args, "--trials", "2")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == ""
    model = tmp_path / "m"
    assert sorted(p.name for p in model.iterdir()) == \
        sorted([*FILES, WEIGHTS, RECENT, "trials.csv", "manifest.json"])
    assert sorted(p.name for p in (tmp_path / "m.study").iterdir()) == \
        ["claims.lock", "journal.log"]
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
    assert bundle.config.facts["tuning"]["trials"] == 3
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
    config.columns = panel.columns
    search = tuning.Search(panel, config, tuning.parse_space(SMALL), "p",
                           str(tmp_path / "s" / "journal.log"), True, 3,
                           pruner=PruneTrialOne())
    tuning.prepare_study(search)
    assert tuning.run_search(search) is None
    result = tuning.outcome(search)
    rows = list(csv.DictReader(io.StringIO(result.table)))
    assert [r["state"] for r in rows] == ["complete", "pruned", "complete"]
    assert rows[1]["epochs"] == "1" and rows[0]["epochs"] == "3"
    assert result.best.number in (0, 2)


# --- several processes -----------------------------------------------------------------

def tune_process(csv_path, model_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "forecast", "tune", str(csv_path), "--model-dir",
         str(model_dir), *QUICK, *map(str, extra)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, preexec_fn=interruptible)


def trial_lines(stderr: bytes) -> list[int]:
    return [int(line.split()[1]) for line in stderr.decode().splitlines()
            if line.startswith("trial ")]


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
    seen = b""
    deadline = time.time() + 300
    while b"\ntrial 0 " not in seen and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert b"\ntrial 0 " in seen, seen.decode()
    time.sleep(1.0)  # into trial 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    err = seen + err
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err and out == b""
    rows = read_trials(model)
    assert rows[0]["state"] == "complete"
    assert rows[-1]["state"] == "fail" and rows[-1]["note"] == "stopped: interrupted"
    assert b"model written to" in err and b"run the same command again to resume" in err

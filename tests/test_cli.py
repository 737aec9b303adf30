"""The command line as users and scripts see it."""

import io
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from forecast.cli import app
from tests.conftest import TINY, run_forecast


def test_import_does_not_load_tensorflow_or_matplotlib():
    code = ("import sys, forecast.cli; "
            "heavy = [m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_help_and_version_from_a_fresh_process():
    done = run_forecast("--help")
    assert done.returncode == 0 and b"inspect" in done.stdout
    done = run_forecast("--version")
    assert done.returncode == 0 and done.stdout.startswith(b"forecast ")


def command_names():
    import typer
    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("name", command_names())
def test_every_command_has_help_text(cli, name):
    import typer
    command = typer.main.get_command(app).commands[name]
    assert command.help and len(command.help.strip()) > 20
    result = cli(name, "--help")
    assert result.exit_code == 0 and "Usage:" in result.stdout
    for param in command.params:
        if param.name != "help":
            assert param.help, f"{name} {param.name} has no help"


def test_unknown_option_is_one_line_exit_2(cli):
    result = cli("inspect", "--bogus", "x.csv")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "forecast: error: No such option: --bogus (see 'forecast inspect --help')"]


def test_debug_shows_the_traceback(cli):
    result = cli("--debug", "inspect", "missing.csv")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "forecast: error:" in result.stderr


def test_debug_in_process_leaves_the_environment_as_it_was(cli, monkeypatch):
    """--debug sets FORECAST_DEBUG for the command (the TensorFlow import, spawned workers);
    an in-process run must not leave it set: a later subprocess would inherit it and print
    TensorFlow's start-up notices."""
    monkeypatch.delenv("FORECAST_DEBUG", raising=False)
    cli("--debug", "inspect", "missing.csv")
    assert "FORECAST_DEBUG" not in os.environ


def test_train_writes_a_complete_directory_and_nothing_on_stdout(cli, prices_csv, tmp_path):
    from forecast.model_dirs import FILES, MANIFEST, RECENT, WEIGHTS
    from tests.conftest import TINY

    result = cli("train", prices_csv, *TINY)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    out = tmp_path / "models" / "prices-lstm"
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, WEIGHTS, RECENT, MANIFEST])
    assert "model written to models/prices-lstm" in result.stderr
    # the notes held while it ran come before the scores, not after "model written"
    assert result.stderr.index("forecast: device: ") < result.stderr.index("test rows, one")
    assert "naive" in result.stderr and "drift" in result.stderr
    # the default quantile model says which band predict --interval will use, and why,
    # and prints the interval figures beside both baselines
    assert "80% interval: the network's quantile band (CQR)" in result.stderr
    assert "held-out validation dates (interval score, Diebold-Mariano p =" in result.stderr
    assert "predict --interval 0.8 uses" in result.stderr
    assert "inputs: Close, abs-return, log-range" in result.stderr
    for name in ("rolling conformal", "GARCH(1,1)", "coverage", "pinball"):
        assert name in result.stderr


def test_train_json_is_the_metrics(cli, prices_csv):
    import json
    from tests.conftest import TINY

    result = cli("train", prices_csv, *TINY, "--cell", "gru", "--json", "--model-dir", "g")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model_dir"] == "g"
    assert set(payload["test"]) >= {"model", "naive", "drift", "rows", "up_share"}


def test_train_from_stdin_goes_to_models_stdin(cli, prices_csv, tmp_path):
    from tests.conftest import TINY

    result = cli("train", "-", *TINY, "--cell", "rnn", input=prices_csv.read_text())
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "models" / "stdin-rnn" / "model.keras").is_file()


def test_dry_run_prints_the_summary_and_writes_nothing(cli, prices_csv, tmp_path):
    result = cli("train", prices_csv, "--dry-run", "--layers", "2", "--units", "3")
    assert result.exit_code == 0, result.stderr
    assert "lstm_1" in result.stderr and "lstm_2" in result.stderr and result.stdout == ""
    assert not (tmp_path / "models").exists()


TRAIN_ERRORS = [
    (["--window", "400"], "has 300 usable row(s); --window 400, --horizon 1 and the "
                          "validation/test splits need at least"),
    (["--cell", "tcn"], "--cell must be one of lstm, gru, rnn; got 'tcn'"),
    (["--device", "gpu"], "--device gpu, but TensorFlow sees no GPU"),
    (["--precision", "mixed", "--device", "cpu"], "--precision mixed needs a GPU"),
    (["--test-fraction", "1.5"], "--test-fraction must be in (0, 1)"),
    (["--target", "Nope"], "no column 'Nope' (--target)"),
    (["--seed", "-1"], "--seed must be a whole number from 0 to 4294967295, got -1"),
    (["--l2", "-0.0001"], "--l2 must be 0 or more, got -0.0001"),
    (["--l1", "-1"], "--l1 must be 0 or more, got -1.0"),
    (["--clipnorm", "0"], "--clipnorm must be above 0, got 0.0"),
    (["--clipvalue", "-1"], "--clipvalue must be above 0, got -1.0"),
    (["--clipnorm", "1", "--clipvalue", "1"], "are both given, but the optimizer clips one "
                                              "way: pass one of them"),
]


@pytest.mark.parametrize("args,message", TRAIN_ERRORS, ids=[a[0][0] for a in TRAIN_ERRORS])
def test_train_errors_are_one_line_exit_2(cli, prices_csv, tmp_path, args, message):
    result = cli("train", prices_csv, "--epochs", "1", *args)
    assert result.exit_code == 2, result.stderr
    error_lines = [l for l in result.stderr.splitlines() if l.startswith("forecast: error:")]
    assert len(error_lines) == 1 and message in error_lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not (tmp_path / "models").exists()


def test_the_levers_reach_the_trained_model_and_config_json(cli, prices_csv, tmp_path):
    import json

    import keras

    from forecast.bundle import read_bundle
    from tests.conftest import TINY

    out = tmp_path / "levers"
    result = cli("train", prices_csv, *TINY, "--clipnorm", "0.5", "--l1", "1e-5", "--l2",
                 "1e-4", "--attention", "--model-dir", out)
    assert result.exit_code == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["clipnorm"] == 0.5 and config["training"]["clipvalue"] is None
    assert (config["model"]["l1"], config["model"]["l2"]) == (1e-5, 1e-4)
    assert config["model"]["attention"] is True
    assert [layer["kind"] for layer in config["network"]][1] == "attention"
    model = keras.saving.load_model(out / "model.keras")
    assert model.optimizer.clipnorm == 0.5 and model.optimizer.clipvalue is None
    assert model.get_layer("lstm_1").cell.recurrent_regularizer.l2 == pytest.approx(1e-4)
    assert isinstance(model.get_layer("attention"), keras.layers.Attention)
    assert read_bundle(out).config.model.attention
    for engine in ("numpy", "keras"):
        predicted = cli("predict", prices_csv, "--model", out, "--engine", engine)
        assert predicted.exit_code == 0, predicted.stderr
    result = cli("train", prices_csv, *TINY, "--clipvalue", "0.1", "--model-dir",
                 tmp_path / "value")
    assert result.exit_code == 0, result.stderr
    model = keras.saving.load_model(tmp_path / "value" / "model.keras")
    assert model.optimizer.clipvalue == pytest.approx(0.1) and model.optimizer.clipnorm is None


def test_dry_run_with_attention_shows_it_and_keeps_cudnn(cli, prices_csv):
    result = cli("train", prices_csv, "--dry-run", "--units", "3", "--attention")
    assert result.exit_code == 0, result.stderr
    assert "attention" in result.stderr and "Attention" in result.stderr
    assert "(layers are eligible on a GPU)" in result.stderr


def test_log_return_with_a_zero_price_names_the_line(cli, tmp_path):
    from tests.conftest import price_frame

    frame = price_frame(300)
    frame.loc[100, "Close"] = 0.0
    path = tmp_path / "zero.csv"
    frame.to_csv(path, index=False)
    result = cli("train", path, "--epochs", "1")
    assert result.exit_code == 2
    assert "zero.csv line 102, column 'Close': value 0 is not positive" in result.stderr
    assert "--target-transform level" in result.stderr


@pytest.mark.parametrize("command", ["train", "tune"])
@pytest.mark.parametrize("seed", ["-1", "4294967296"])
def test_a_seed_numpy_and_tensorflow_cannot_take_is_refused_before_reading(cli, tmp_path,
                                                                          command, seed):
    from forecast.config import ForecastConfig, TrainConfig

    result = cli(command, tmp_path / "nowhere.csv", "--seed", seed)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == ("forecast: error: --seed must be a whole number from 0 to "
                             f"4294967295, got {seed}\n")
    for fine in (0, 2**32 - 1):
        ForecastConfig(training=TrainConfig(seed=fine)).validate()


def test_train_errors_advise_only_train_options(cli, prices_csv):
    from tests.conftest import assert_advice_fits

    for args, _ in TRAIN_ERRORS:
        result = cli("train", prices_csv, "--epochs", "1", *args)
        assert_advice_fits("train", result.stderr)


def refused_targets():
    from tests.test_bundle import MODEL_DIR_TARGETS
    return [case for case in MODEL_DIR_TARGETS if case[2] is not None]


@pytest.mark.parametrize("name,make,message", refused_targets(),
                         ids=[c[0] for c in refused_targets()])
def test_train_refuses_a_model_dir_before_reading_or_training(cli, tiny_model, prices_csv,
                                                              tmp_path, name, make, message):
    from tests.test_bundle import make_target, snapshot

    target = make_target(tmp_path, make, tiny_model)
    before = snapshot(tmp_path)
    result = cli("train", prices_csv, "--model-dir", target, "--epochs", "1")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and message in result.stderr
    assert snapshot(tmp_path) == before


def test_a_full_stdout_is_one_line_exit_2(tiny_model):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "forecast", "predict", "--model",
                               str(tiny_model), "--backtest"], stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "forecast: error: cannot write the output to stdout (No space left on device); check "
        "the disk or the redirection"]


def test_out_of_memory_does_not_blame_a_train_option_on_other_commands(capsys):
    from forecast.console import run_guarded

    def explode():
        raise MemoryError()
    assert run_guarded(explode) == 1
    error = capsys.readouterr().err
    assert error.startswith("forecast: error: out of memory; ")
    assert "(for train: --batch-size" in error
    from forecast.errors import OUT_OF_MEMORY
    assert error == f"forecast: error: {OUT_OF_MEMORY}\n"   # TensorFlow's says the same


def test_tensorflow_running_out_of_memory_is_the_out_of_memory_line(cli, prices_csv,
                                                                  tiny_model, monkeypatch):
    """TensorFlow says ResourceExhaustedError (GPU or CPU), not MemoryError: train, predict
    with Keras and a tune trial report it as the documented line, not "unexpected"."""
    import keras
    import tensorflow as tf

    from forecast.errors import OUT_OF_MEMORY

    def exhausted(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    line = f"forecast: error: {OUT_OF_MEMORY}"
    monkeypatch.setattr(keras.Model, "fit", exhausted)
    result = cli("train", prices_csv, "--model-dir", "m", "--window", "5", "--epochs", "1")
    assert result.exit_code == 1 and result.stderr.splitlines()[-1] == line, result.stderr
    assert not (prices_csv.parent / "m").exists()
    result = cli("tune", prices_csv, "--model-dir", "t", "--window", "5", "--epochs", "1",
                 "--trials", "1")
    assert result.exit_code == 1, result.stderr
    assert f"failed: {OUT_OF_MEMORY}" in result.stderr
    assert result.stderr.splitlines()[-1].endswith(f"the first error: {OUT_OF_MEMORY}")
    monkeypatch.setattr(keras.Model, "predict", exhausted)
    result = cli("predict", "--model", tiny_model, "--engine", "keras")
    assert result.exit_code == 1 and result.stderr == line + "\n" and result.stdout == ""


def test_a_constant_price_series_trains_evaluates_and_plots(cli, tmp_path):
    """Every undefined figure (MASE, MAE/naive, direction) is `-` in tables and null in
    strict JSON; the plot's title has no division by the naive MAE of 0."""
    import json

    from tests.conftest import TINY

    dates = pd.bdate_range("2020-01-01", periods=120).strftime("%Y-%m-%d")
    (tmp_path / "flat.csv").write_text("Date,Close\n" + "".join(f"{d},5\n" for d in dates))
    result = cli("train", "flat.csv", *TINY, "--model-dir", "flat", "--json")
    assert result.exit_code == 0, result.stderr
    strict = {"parse_constant": lambda name: pytest.fail(f"{name} in strict JSON")}
    trained = json.loads(result.stdout, **strict)
    assert trained["test"]["model"]["mase"] is None
    json.loads((tmp_path / "flat" / "metrics.json").read_text(), **strict)
    result = cli("evaluate", "--model", "flat", "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout, **strict)["test"]
    assert scores["naive"]["directional_accuracy"] is None and scores["naive"]["rel_mae"] is None
    table = cli("evaluate", "--model", "flat").stdout
    assert "nan" not in table and " - " in table
    result = cli("plot", "--model", "flat", "--dpi", "20")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == ["forecast: wrote flat/plot.png"]


@pytest.mark.parametrize("command,extra", [("train", ["--epochs", "1"]), ("inspect", ["--target", "Nope"])])
def test_a_failing_command_folds_its_warnings_into_its_one_line(cli, tmp_path, command, extra):
    rows = "".join(f"2020-01-{d:02d},{'' if d == 2 else d}\n" for d in range(1, 6))
    (tmp_path / "few.csv").write_text("Date,Close\n" + rows)
    result = cli(command, "few.csv", "--missing", "drop", *extra)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [result.stderr.strip()]
    if command == "train":   # the read succeeded with a note, then train refused the rows
        assert result.stderr.endswith("(after: dropped 1 row(s) with empty cells in few.csv "
                                      "(--missing drop))\n")
    result = cli("inspect", "few.csv", "--missing", "drop")
    assert result.exit_code == 0
    assert result.stderr == "forecast: warning: dropped 1 row(s) with empty cells in few.csv " \
                            "(--missing drop)\n"


@pytest.mark.parametrize("args,head", [
    ([], "quantiles (MonotoneQuantiles)"),
    (["--quantiles", "0.05,0.5,0.95"], "quantiles (MonotoneQuantiles)"),
    (["--quantiles", ""], "forecast (Dense)"),
    (["--no-quantiles"], "forecast (Dense)"),
])
def test_quantiles_by_default_and_the_point_model_on_request(cli, prices_csv, args, head):
    result = cli("train", prices_csv, "--dry-run", "--units", "3", *args)
    assert result.exit_code == 0, result.stderr
    last = [line for line in result.stderr.splitlines() if "(" in line and ")" in line
            and ("Dense" in line or "MonotoneQuantiles" in line)][-1]
    assert head in last


@pytest.mark.parametrize("args,message", [
    (["--quantiles", "0.1,0.9"], "--quantiles must include 0.5"),
    (["--quantiles", "a,b"], "--quantiles must be numbers"),
    (["--loss", "mse"], "--loss mse is for point models"),
    (["--derived-inputs", "vix"], "--derived-inputs must be one of abs-return, log-range"),
    (["--derived-inputs", "log-range", "--wide"], "cannot give High, Low"),
])
def test_quantile_and_derived_input_options_refuse_bad_values(cli, prices_csv, args, message):
    result = cli("train", prices_csv, "--epochs", "1", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr and result.stdout == ""


# --- streams: closed at start, and what a failure prints --------------------------------

def run_with(redirect: str, *args, cwd=None):
    """`python -m forecast ARGS` started by a shell with ``redirect`` (e.g. ``2>&-``)
    applied: the command starts with that stream closed, as a user's shell gives it."""
    return subprocess.run(["sh", "-c", f'exec "$0" -m forecast "$@" {redirect}',
                           sys.executable, *map(str, args)], capture_output=True, cwd=cwd,
                          timeout=300)


def few_rows_csv(tmp_path):
    rows = "".join(f"2020-01-{d:02d},{'' if d == 2 else d}\n" for d in range(1, 6))
    path = tmp_path / "few.csv"
    path.write_text("Date,Close\n" + rows)
    return path


def test_a_closed_stderr_drops_the_messages_and_stdout_keeps_only_data(tmp_path):
    """With fd 2 closed, Python's sys.stderr is None and print(file=None) writes to stdout:
    the warning used to land in the JSON."""
    import json

    done = run_with("2>&-", "inspect", few_rows_csv(tmp_path), "--missing", "drop", "--json")
    assert done.returncode == 0
    assert json.loads(done.stdout)["rows"] == 4   # the whole of stdout is the JSON


def test_train_with_stderr_closed_trains_and_writes_only_its_json(tmp_path):
    import json

    from tests.conftest import TINY, price_frame

    price_frame(300).to_csv(tmp_path / "p.csv", index=False)
    done = run_with("2>&-", "train", "p.csv", *TINY, "--model-dir", "m", "--json",
                    cwd=tmp_path)
    assert done.returncode == 0
    assert json.loads(done.stdout)["model_dir"] == "m"
    assert (tmp_path / "m" / "model.keras").is_file()


def test_a_closed_stdin_is_one_line_exit_2(tmp_path):
    done = run_with("<&-", "inspect", "-")
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "forecast: error: <stdin>: cannot read (stdin is closed; pipe the prices in, or name "
        "a file instead of -)"]


@pytest.mark.parametrize("args", [["--version"], ["predict", "--backtest"]],
                         ids=["version", "predict"])
def test_a_closed_stdout_is_one_line_exit_2(tiny_model, args):
    """Data that cannot be written is an error, as with a full disk (exit 2: the fix is in
    the command line's redirection), never a traceback or an "unexpected" error."""
    if args[0] == "predict":
        args = [*args, "--model", tiny_model]
    done = run_with(">&-", *args)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "forecast: error: cannot write the output to stdout (stdout is closed); check the "
        "disk or the redirection"]


def test_bare_forecast_prints_the_help_on_stderr_exit_2(cli):
    """No command is a usage mistake (exit 2, stdout untouched); the help comes as help, in
    lines, as Click gives it, not folded into one error line."""
    result = cli()
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Usage: forecast ") and len(lines) > 10
    assert "forecast: error:" not in result.stderr
    assert any(line.split()[:1] == ["predict"] for line in lines)


LONG_CELL = "9" * 2000


@pytest.mark.parametrize("warnings", [[], ["warning: dropped 1 row(s)"], [f"warning: {LONG_CELL}"]])
def test_an_error_line_is_cut_to_300_characters_keeping_its_start_and_its_fix(capsys,
                                                                               warnings):
    from forecast.console import run_guarded
    from forecast.console import held_warnings, note
    from forecast.errors import DataError

    def fail_on_a_long_cell():
        for line in warnings:
            note(line)
        raise DataError(f"x.csv line 2, column 'Close': cannot read '{LONG_CELL}' as a "
                        "number; fix the cell or pass --missing drop")
    with held_warnings():
        assert run_guarded(fail_on_a_long_cell) == 2
    line, = capsys.readouterr().err.splitlines()
    assert len(line) <= 300
    assert line.startswith("forecast: error: x.csv line 2, column 'Close': cannot read '999")
    message, _, after = line.partition(" (after: ")
    assert message.endswith(" ...; fix the cell or pass --missing drop")
    assert bool(after) == bool(warnings) and (not after or after.endswith(")"))
    if warnings and len(warnings[0]) < 100:
        assert after == "dropped 1 row(s))"


def test_a_short_error_line_is_left_as_it_is():
    from forecast.console import one_line

    assert one_line("forecast: error: ", "bad  value;\nfix it", ["w"]) == \
        "forecast: error: bad value; fix it (after: w)"


def test_a_train_that_fails_after_training_prints_only_its_error(cli, prices_csv,
                                                                  monkeypatch):
    """The device, the windows, the guards' and the intervals' verdicts are held while
    train runs: a failure at the end (here: writing the model) prints one line."""
    from forecast.errors import OutputError
    from tests.conftest import TINY

    def refuse(*args, **kwargs):
        raise OutputError("cannot write the model here")
    monkeypatch.setattr("forecast.bundle.write_bundle", refuse)
    result = cli("train", prices_csv, *TINY)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["forecast: error: cannot write the model here"]


def test_a_train_whose_loss_diverges_prints_only_its_error(cli, tmp_path):
    from tests.conftest import TINY, price_frame

    frame = price_frame(300)
    frame.loc[150, "Close"] *= 1e150
    frame.to_csv(tmp_path / "huge.csv", index=False)
    result = cli("train", "huge.csv", *TINY, "--learning-rate", "1e30", "--target-transform",
                 "level")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "forecast: error: the training loss became NaN or infinite in epoch 1; nothing was "
        "written; try a smaller --learning-rate or check the data for extreme values"]


def test_a_slow_step_shows_the_notes_held_so_far_before_its_progress_line(capsys,
                                                                          monkeypatch):
    from forecast.console import held_warnings, note, progress

    with held_warnings() as held:
        note("using model m")
        progress("read x.csv: 5 rows", 0.0)   # quick: nothing, the note stays held
        assert capsys.readouterr().err == "" and held == ["using model m"]
        monkeypatch.setattr("forecast.console.PROGRESS_AFTER_S", -1.0)
        progress("read x.csv: 5 rows", time.perf_counter())
        assert held == []
    assert capsys.readouterr().err.splitlines()[0] == "forecast: using model m"


def test_ctrl_c_in_process_is_one_line_exit_130(cli, prices_csv, monkeypatch):
    """Without forecast.cli.main (an embedding, this runner) Python's own KeyboardInterrupt
    comes; Typer would turn it into a silent exit 130."""
    def press_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr("forecast.data.describe.describe_file", press_ctrl_c)
    result = cli("inspect", prices_csv)
    assert (result.exit_code, result.stderr) == (130, "forecast: interrupted\n")


def test_tail_levels_the_validation_rows_cannot_calibrate_are_refused_before_training(
        cli, prices_csv, tmp_path):
    # 300 rows: 30 validation rows, and the 98% band of 0.01 and 0.99 needs 49
    result = cli("train", prices_csv, *TINY, "--model-dir", tmp_path / "m",
                 "--quantiles", "0.01,0.05,0.1,0.5,0.9,0.95,0.99")
    assert result.exit_code == 2, result.stderr
    assert "needs at least 49 validation rows" in result.stderr
    assert "give 30" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()[-1]) <= 300
    assert "training on" not in result.stderr and not (tmp_path / "m").exists()
    # 60 validation rows calibrate every level: each published quantile finite, in order
    result = cli("train", prices_csv, *TINY, "--model-dir", tmp_path / "m",
                 "--quantiles", "0.01,0.05,0.1,0.5,0.9,0.95,0.99", "--val-fraction", "0.2")
    assert result.exit_code == 0, result.stderr
    pairs = json.loads((tmp_path / "m" / "intervals.json").read_text())["pairs"]
    assert [p["level"] for p in pairs] == [0.98, 0.9, 0.8]
    result = cli("predict", "--model", tmp_path / "m", "--backtest", "--quantiles")
    assert result.exit_code == 0, result.stderr
    q = pd.read_csv(io.StringIO(result.stdout)).filter(like="q0").to_numpy()
    assert np.isfinite(q).all() and (np.diff(q, axis=1) >= 0).all()

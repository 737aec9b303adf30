"""Damaged model directories, interrupts and concurrent runs: clean exits, nothing lost."""

import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from forecast.bundle import read_bundle
from tests.conftest import ROOT, interruptible, price_frame


@pytest.fixture
def model_copy(tiny_model, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    return copy


def lambda_model_file(path):
    """A real .keras file whose model contains a Lambda layer (arbitrary code)."""
    import keras
    inputs = keras.Input((5, 1))
    x = keras.layers.Lambda(lambda t: t * 2)(inputs)
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(path)


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


DAMAGE = {
    "config truncated": (lambda m: (m / "config.json").write_text(
        (m / "config.json").read_text()[:50]), "config.json is not valid JSON"),
    "config newer format": (lambda m: edit_json(m / "config.json", lambda d: d.update(
        format_version=99)), "format version 99, newer than this forecast understands"),
    "config wrong type": (lambda m: edit_json(m / "config.json", lambda d: d["model"].update(
        window="five")), "config.json is damaged"),
    "config unknown key": (lambda m: edit_json(m / "config.json", lambda d: d["model"].update(
        evil=1)), "config.json is damaged"),
    "scaler edited": (lambda m: edit_json(m / "scaler.json", lambda d: next(iter(
        d["series"].values())).update(data_min=["x"])), "scaler.json is damaged"),
    "scaler is a pickle": (lambda m: (m / "scaler.json").write_bytes(
        b"\x80\x04\x95pickle"), "scaler.json"),
    "calibration empty": (lambda m: (m / "calibration.json").write_text("{}"),
                          "calibration.json is damaged"),
    "intervals edited": (lambda m: edit_json(m / "intervals.json", lambda d: d["pairs"][0].update(
        band="always")), "intervals.json is damaged"),
    "intervals levels": (lambda m: edit_json(m / "intervals.json", lambda d: d.update(
        levels=[0.2, 0.5, 0.8])), "intervals.json has levels"),
    "garch edited": (lambda m: edit_json(m / "garch.json", lambda d: d["series"].update(
        prices={"params": {}})), "garch.json is damaged"),
    "garch gone": (lambda m: (m / "garch.json").unlink(), "missing garch.json"),
    "weights truncated": (lambda m: (m / "weights.npz").write_bytes(
        (m / "weights.npz").read_bytes()[:100]), "weights.npz cannot be read"),
    "network edited": (lambda m: edit_json(m / "config.json", lambda d: d["network"][0].update(
        units=999, kind="lstm", weights=["forecast/0"])), "'network' does not match"),
    "data.csv gone": (lambda m: (m / "data.csv").unlink(), "missing data.csv"),
}


#: damage that needs a quantile model's intervals.json (a point model's has no pairs)
QUANTILE_DAMAGE = {"intervals edited", "intervals levels"}
DAMAGE_CASES = [(fixture, name) for name in sorted(DAMAGE)
                for fixture in ("tiny_quantile_model", "tiny_model")
                if fixture == "tiny_quantile_model" or name not in QUANTILE_DAMAGE]


@pytest.mark.parametrize("fixture,name", DAMAGE_CASES,
                         ids=[f"{n} ({'quantile' if 'quantile' in f else 'point'})"
                              for f, n in DAMAGE_CASES])
def test_damaged_model_directory_is_exit_2_naming_the_file(cli, request, tmp_path, fixture,
                                                           name):
    model = tmp_path / "m"
    shutil.copytree(request.getfixturevalue(fixture), model)
    damage, message = DAMAGE[name]
    damage(model)
    result = cli("predict", "--model", model)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("forecast: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("content", ["not a model", "lambda"])
def test_a_bad_or_unsafe_keras_file_is_refused(cli, model_copy, content):
    target = model_copy / "model.keras"
    if content == "lambda":
        lambda_model_file(target)
    else:
        target.write_bytes(b"this is not a zip file")
    result = cli("predict", "--model", model_copy, "--engine", "keras")
    assert result.exit_code == 2, result.stderr
    assert ("model.keras is not a Keras model file" if content == "not a model" else
            "model.keras cannot be loaded as a safe Keras model") in result.stderr
    assert "Traceback" not in result.stderr


def test_the_lambda_file_really_holds_a_lambda(tmp_path):
    path = tmp_path / "l.keras"
    lambda_model_file(path)
    with zipfile.ZipFile(path) as z:
        assert b"Lambda" in z.read("config.json")


def start_train(csv, model_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "forecast", "train", str(csv), "--model-dir", str(model_dir),
         "--window", "5", "--units", "4", "--patience", "1000", *extra],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, preexec_fn=interruptible)


def wait_for_epoch(proc, timeout=120):
    """Read stderr until the first epoch line: training is under way."""
    deadline = time.time() + timeout
    seen = b""
    while time.time() < deadline:
        line = proc.stderr.readline()
        seen += line
        if line.startswith(b"epoch "):
            return seen
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"training never started: {seen.decode()}")


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_train_leaves_the_old_model_and_no_temporary_files(tiny_model, tmp_path,
                                                                          sig, code):
    csv = tmp_path / "p.csv"
    price_frame(3000).to_csv(csv, index=False)
    models = tmp_path / "models"
    target = models / "m"
    shutil.copytree(tiny_model, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    proc = start_train(csv, target, "--epochs", "500")
    wait_for_epoch(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()
    assert b"Traceback" not in err
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in models.iterdir()) == ["m"]  # no lock or temporary files


def test_two_trains_into_one_directory_end_with_one_complete_model(tmp_path):
    csv = tmp_path / "p.csv"
    price_frame(400).to_csv(csv, index=False)
    target = tmp_path / "models" / "m"
    runs = [start_train(csv, target, "--epochs", "2", "--units", str(u)) for u in (3, 7)]
    for proc in runs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
    bundle = read_bundle(target)
    units = bundle.config.model.units
    assert units in (3, 7)
    model = bundle.load_keras()
    assert model.get_layer("lstm_1").units == units  # config and model from the same run
    numpy_model = bundle.load_numpy()
    X = np.random.default_rng(0).uniform(0, 1, (3, 5, len(bundle.config.inputs)))
    np.testing.assert_allclose(numpy_model(X), model.predict(X, verbose=0), atol=1e-5)
    assert sorted(p.name for p in target.parent.iterdir()) \
        == ["m"]


def test_two_predicts_reading_one_model_at_once(tiny_model):
    procs = [subprocess.Popen([sys.executable, "-m", "forecast", "predict", "--model",
                               str(tiny_model), "--backtest"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0][0] == outputs[1][0] and outputs[0][0].startswith(b"date,actual")

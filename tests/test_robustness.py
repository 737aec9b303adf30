"""Damaged model directories, interrupts and concurrent runs: clean exits, nothing lost."""

import json
import shutil
import signal
import subprocess
import sys
import time
import warnings
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


def edit_weights(model, change):
    """weights.npz with ``change(name, array)`` in place of each array."""
    with np.load(model / "weights.npz") as arrays:
        weights = {name: change(name, array) for name, array in arrays.items()}
    np.savez(model / "weights.npz", **weights)


def nan_keras_weights(model):
    """model.keras with NaN weights, and no weights.npz: predict loads the Keras model."""
    import keras
    loaded = keras.saving.load_model(model / "model.keras", compile=False)
    loaded.set_weights([np.full_like(w, np.nan) for w in loaded.get_weights()])
    loaded.save(model / "model.keras")
    (model / "weights.npz").unlink()


def resigned(damage):
    """``damage``, then the manifest written again, as if forecast had written the damaged
    files: what refuses them is then a check behind the manifest's."""
    def apply(model):
        from forecast.bundle import write_manifest
        damage(model)
        write_manifest(model)
    return apply


def first_series(change):
    return lambda d: change(next(iter(d["series"].values())))


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
    "network edited (manifest re-written)": (resigned(lambda m: edit_json(
        m / "config.json", lambda d: d["network"][0].update(
            units=999, kind="lstm", weights=["forecast/0"]))), "'network' does not match"),
    "data.csv gone": (lambda m: (m / "data.csv").unlink(), "missing data.csv"),
    "weights NaN": (lambda m: edit_weights(m, lambda name, w: np.full_like(w, np.nan)),
                    "weights.npz holds weights that are not finite numbers (NaN or infinity)"),
    "weights of 1e30 (manifest re-written)": (resigned(lambda m: edit_weights(
        m, lambda name, w: np.full_like(w, 1e30))), "weights.npz produces non-finite forecasts"),
    "model.keras weights NaN": (nan_keras_weights, "model.keras holds weights that are not "
                                                   "finite numbers"),
    "scaler centre 1e6": (lambda m: edit_json(m / "scaler.json", first_series(
        lambda s: s.update(center=1e6))), "scaler.json is damaged (a center of 1e+06, outside "
                                          "[0, 1])"),
    "scaler range 1e300 (manifest re-written)": (resigned(lambda m: edit_json(
        m / "scaler.json", first_series(lambda s: s["data_max"].__setitem__(0, 1e300)))),
        "(weights.npz, scaler.json) produces non-finite forecasts; retrain the model"),
    "scaler series renamed": (lambda m: edit_json(m / "scaler.json", lambda d: d.update(
        series={"renamed": next(iter(d["series"].values()))})),
        "scaler.json names the series renamed but config.json prices"),
    "config window 0": (lambda m: edit_json(m / "config.json", lambda d: d["model"].update(
        window=0)), "config.json is damaged ('window' must be at least 1, got 0)"),
    "config dropout 2": (lambda m: edit_json(m / "config.json", lambda d: d["model"].update(
        dropout=2.0)), "config.json is damaged ('dropout' must be in [0, 1), got 2.0)"),
    "metrics edited (still valid JSON)": (lambda m: edit_json(m / "metrics.json", lambda d: d.update(
        note="mine")), "metrics.json is not the file forecast wrote there (manifest.json lists "
                       "another sha256): it was changed after training"),
    "recent.csv edited (still valid CSV)": (lambda m: (m / "recent.csv").write_text(
        (m / "recent.csv").read_text().replace(",1", ",2")), "recent.csv is not the file "
                                                              "forecast wrote there"),
    "manifest truncated": (lambda m: (m / "manifest.json").write_text("{"),
                           "manifest.json is not valid JSON"),
    "manifest of another tool": (lambda m: edit_json(m / "manifest.json", lambda d: d.update(
        tool="other")), "manifest.json is damaged (not a manifest of forecast)"),
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
    with warnings.catch_warnings():   # NumPy's own warnings are no message for a user
        warnings.simplefilter("error", RuntimeWarning)
        result = cli("predict", "--model", model)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("forecast: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
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


#: Replaces a model directory again and again the way write_bundle does (a complete copy
#: renamed into place under the lock), alternating between two models, until told to stop.
SWAPPER = """
import shutil, sys, uuid
from pathlib import Path
from forecast.bundle import _locked, replace_dir
a, b, target, stop = map(Path, sys.argv[1:])
rounds = 0
while not stop.exists():
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    shutil.copytree((a, b)[rounds % 2], tmp)
    with _locked(target):
        replace_dir(tmp, target)
    rounds += 1
print(rounds)
"""


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    """A model like tiny_model, trained on more rows: its scaler, weights and recent rows
    all differ, so a forecast from a mix of the two directories' files is neither's."""
    from tests.conftest import train_tiny
    return train_tiny(tmp_path_factory.mktemp("second"), rows=340)


def test_predict_while_train_replaces_the_model_sees_one_model(cli, tiny_model, second_model,
                                                                tmp_path):
    """Each predict during a loop of replacements prints the forecast of one of the two
    models (or, were the directory replaced again and again while it opened its files, says
    so: exit 2, one line); never a forecast from a mix of the two (before: 75 of 137), nor
    that the directory does not exist or is incomplete."""
    expected = set()
    for model in (tiny_model, second_model):
        result = cli("predict", "--model", model)
        assert result.exit_code == 0, result.stderr
        expected.add(result.stdout)
    assert len(expected) == 2
    target, stop = tmp_path / "models" / "m", tmp_path / "stop"
    shutil.copytree(tiny_model, target)
    swapper = subprocess.Popen([sys.executable, "-c", SWAPPER, str(tiny_model),
                                str(second_model), str(target), str(stop)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    outcomes, started = [], time.monotonic()
    try:
        while len(outcomes) < 100 and time.monotonic() - started < 12:
            result = cli("predict", "--model", target)
            outcomes.append((result.exit_code, result.stdout, result.stderr))
    finally:
        stop.touch()
        out, err = swapper.communicate(timeout=60)
    assert swapper.returncode == 0, err.decode()
    assert int(out) >= 10, "the directory was hardly replaced while predict read it"
    replaced = f"forecast: error: model directory {target} was replaced 5 times while"
    wrong = [o for o in outcomes if not (
        (o[0] == 0 and o[1] in expected) or
        (o[0] == 2 and o[1] == "" and o[2].startswith(replaced) and o[2].count("\n") == 1))]
    assert wrong == [], f"{len(wrong)} of {len(outcomes)} predicts: {wrong[:3]}"
    assert sum(o[0] == 0 for o in outcomes) >= len(outcomes) // 2

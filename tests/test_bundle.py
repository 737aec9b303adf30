import dataclasses
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import bundle
from forecast.bundle import read_bundle
from forecast.model_dirs import FILES, MANIFEST, RECENT, WEIGHTS, latest_model_dir
from forecast.errors import ModelDirError, OutputError


def test_a_trained_directory_is_complete_and_reads_back(tiny_quantile_model):
    assert sorted(p.name for p in tiny_quantile_model.iterdir()) == \
        sorted([*FILES, WEIGHTS, RECENT, MANIFEST])
    b = read_bundle(tiny_quantile_model)
    assert b.config.columns == ["Close", "High", "Low"] and b.config.model.window == 5
    assert b.config.inputs == ["Close", "abs-return", "log-range"]   # the default inputs
    assert b.config.model.quantiles == [0.1, 0.5, 0.9] and b.quantile.pairs[0]["level"] == 0.8
    assert len(b.config.facts.sha256) == 64
    assert {"keras", "numpy", "pandas", "python"} <= set(b.config.facts.versions)
    assert list(b.history.columns) == ["epoch", "loss", "val_loss", "seconds"]
    assert b.data().frame.shape == (300, 3)
    scaler = json.loads((tiny_quantile_model / "scaler.json").read_text())
    assert scaler["kind"] == "minmax-per-series"


def test_the_manifest_lists_every_other_file_with_its_size_and_sha256(tiny_quantile_model):
    import hashlib

    manifest = json.loads((tiny_quantile_model / MANIFEST).read_text())
    assert manifest["tool"] == "forecast"
    files = sorted(p for p in tiny_quantile_model.iterdir() if p.name != MANIFEST)
    assert manifest["files"] == {
        p.name: {"size": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
        for p in files}


@pytest.mark.parametrize("name", [*FILES, WEIGHTS, RECENT])
def test_a_missing_file_is_named(tiny_model, tmp_path, name):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    (copy / name).unlink()
    with pytest.raises(ModelDirError, match=f"incomplete: missing {name}"):
        read_bundle(copy)


def test_unknown_directory(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        read_bundle(tmp_path / "nope")


def test_latest_model_dir_picks_the_newest(tmp_path):
    for i, name in enumerate(["a", "b"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    import os
    os.utime(tmp_path / "a" / "config.json", (1, 1))
    assert latest_model_dir(tmp_path) == tmp_path / "b"
    with pytest.raises(ModelDirError, match="no trained model"):
        latest_model_dir(tmp_path / "empty")


def test_a_write_that_fails_midway_leaves_the_old_model(tiny_model, tmp_path, monkeypatch):
    from forecast.training import Trained

    target = tmp_path / "models" / "m"
    shutil.copytree(tiny_model, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    b = read_bundle(target)

    class Exploding:
        def save(self, path):
            (path.parent / "model.keras").write_bytes(b"partial")
            raise OSError("disk full")

    trained = Trained(Exploding(), b.scaler, b.config, {"loss": [1.0]}, {}, b.calibration)
    with pytest.raises(OutputError, match=r"cannot write the model directory .* \(disk full\); nothing was written"):
        bundle.write_bundle(target, trained, b.data())
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in target.parent.iterdir() if "tmp" in p.name] == []


def test_a_quantile_model_loads_in_safe_mode_in_a_fresh_interpreter(tmp_path):
    import subprocess
    import sys

    from forecast.config import ModelConfig
    from forecast.models import build_model

    build_model(ModelConfig(units=2, window=3, quantiles=[0.1, 0.5, 0.9]), 1).save(
        tmp_path / "model.keras")
    code = ("from pathlib import Path\n"
            "from forecast.bundle import load_keras_file\n"
            f"model = load_keras_file(Path(r'{tmp_path}') / 'model.keras')\n"
            "print(tuple(model.output_shape))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("(None, 1, 3)")


def _model(tiny_model, extra: dict[str, str] | None = None, subdir: bool = False):
    def make(root):
        shutil.copytree(tiny_model, root / "m")
        for name, text in (extra or {}).items():
            (root / "m" / name).write_text(text)
        if subdir:
            (root / "m" / "old").mkdir()
        return "m"
    return make


def _dir(files: dict[str, str]):
    def make(root):
        (root / "d").mkdir()
        for name, text in files.items():
            (root / "d" / name).write_text(text)
        return "d"
    return make


def _unwritable(root):
    """A place this process cannot create files in: a read-only directory, or (as root,
    whom permissions do not stop) /sys."""
    import os
    if os.geteuid() != 0:
        (root / "ro").mkdir(mode=0o555)
        return "ro/m"
    return "/sys/forecast-test-model"


# `train --model-dir PATH`: (name, make(root) -> PATH, None if train may write there, else
# the error's words). docs/make_robustness.py shows these cases and the tool's answers.
MODEL_DIR_TARGETS = [
    ("a new path", lambda root: "new/m", None),
    ("an empty directory", _dir({}), None),
    ("a model directory written by forecast", lambda root: "MODEL", None),
    ("a model directory with its plot.png", lambda root: "MODEL+plot", None),
    ("a directory of user files (the CSV itself)", _dir({"prices.csv": "x", "notes.txt": "y"}),
     "--model-dir d exists and is not a forecast model directory (it holds notes.txt, "
     "prices.csv); forecast never deletes it"),
    ("an existing file", lambda root: (root / "f").write_text("keep") and "f",
     "--model-dir f exists and is not a directory; forecast never replaces it"),
    ("a link to a directory", lambda root: (root / "t").mkdir() or (root / "l").symlink_to(
        root / "t") or "l", "--model-dir l exists and is not a directory"),
    ("the current directory", lambda root: ".", "--model-dir . is the current directory or "
     "one above it"),
    ("the parent directory", lambda root: "..", "is the current directory or one above it"),
    ("a model directory with a user file in it", lambda root: "MODEL+notes",
     "--model-dir m holds notes.txt besides the model; forecast replaces a model directory "
     "only when nothing else is in it"),
    ("a model directory with a subdirectory", lambda root: "MODEL+subdir", "holds old besides"),
    ("config.json without a format_version", _dir({"config.json": "{}", "model.keras": ""}),
     "is not a forecast model directory"),
    ("a folder that looks like a model: another tool's config.json with a format_version",
     _dir({"config.json": '{"format_version": 1, "app": "mine"}', "data.csv": "a,b\n1,2\n",
           "metrics.json": "{}"}),
     "--model-dir d exists and is not a forecast model directory (it holds config.json, "
     "data.csv, metrics.json); forecast never deletes it"),
    ("files named as a model's, with another tool's config.json",
     _dir({**{name: "mine" for name in FILES},
           "config.json": '{"format_version": 1, "app": "mine"}'}),
     "is not a forecast model directory"),
    ("a model directory of an earlier version (no manifest.json)",
     lambda root: "MODEL-manifest", None),
    ("an earlier version's directory lacking a file",
     lambda root: "MODEL-manifest-history", "is not a forecast model directory"),
    ("an earlier version's directory with a user file in it",
     lambda root: "MODEL-manifest+notes", "holds notes.txt besides the model"),
    ("a model directory whose data.csv was changed",
     lambda root: "MODEL+data", "--model-dir m is not the model directory forecast wrote "
     "(data.csv has 9 bytes where manifest.json lists"),
    ("a model directory missing a file its manifest lists", lambda root: "MODEL-history",
     "(history.csv, listed in its manifest.json, is missing)"),
    ("a model directory with a user's file named as forecast's", lambda root: "MODEL+trials",
     "--model-dir m holds trials.csv besides the model"),
    ("another tool's manifest.json", _dir({"manifest.json": '{"tool": "other", "files": {}}',
                                           "config.json": "{}"}),
     "is not a forecast model directory"),
    ("config.json that is not JSON", _dir({"config.json": "not json"}),
     "is not a forecast model directory"),
    ("a path below a file", lambda root: (root / "f").write_text("keep") and "f/m",
     "is a file, not a directory"),
    ("a read-only place", _unwritable, "cannot write in"),
    ("a name too long for the temporary directory beside it", lambda root: "d" * 250,
     "its name is 250 bytes (264 with the 14 characters forecast adds for its temporary "
     "file); this file system takes names of at most"),
    ("a folder name too long for the file system", lambda root: "d" * 300 + "/m",
     "the folder name " + "d" * 40 + "..." + "d" * 17 + " is 300 bytes; this file system "
     "takes names of at most"),
]


def make_target(root, make, tiny_model):
    """Build a MODEL_DIR_TARGETS case under ``root``; returns the --model-dir argument.

    ``MODEL`` is a copy of tiny_model; ``+name`` adds (or overwrites) a file, ``+subdir`` a
    directory, and ``-name`` removes one (``-manifest``: a directory of an earlier
    version)."""
    made = make(root)
    if made.startswith("MODEL"):
        extra = {"plot": {"plot.png": "png"}, "notes": {"notes.txt": "mine"},
                 "data": {"data.csv": "Date,x\n1\n"}, "trials": {"trials.csv": "mine"}}
        changes = re.findall(r"([+-])(\w+)", made)
        added = {k: v for sign, name in changes if sign == "+" for k, v in
                 extra.get(name, {}).items()}
        made = _model(tiny_model, added, ("+", "subdir") in changes)(root)
        for sign, name in changes:
            if sign == "-":
                (root / made / f"{name}.{'json' if name == 'manifest' else 'csv'}").unlink()
    return made


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("name,make,message", MODEL_DIR_TARGETS,
                         ids=[c[0] for c in MODEL_DIR_TARGETS])
def test_a_model_dir_target_is_checked_and_nothing_of_the_users_is_touched(
        tiny_model, tmp_path, monkeypatch, name, make, message):
    from forecast.model_dirs import check_model_dir_target

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    target = make_target(work, make, tiny_model)
    before = snapshot(tmp_path)
    if message is None:
        assert check_model_dir_target(target) == Path(target)
    else:
        with pytest.raises(OutputError, match=re.escape(message)):
            check_model_dir_target(target)
    assert snapshot(tmp_path) == before


def test_train_refuses_a_directory_of_user_files_up_front(cli, prices_csv, tmp_path):
    """The issue's case: `train mydata/prices.csv --model-dir mydata` kept everything."""
    mydata = tmp_path / "mydata"
    mydata.mkdir()
    shutil.copy(prices_csv, mydata / "prices.csv")
    (mydata / "notes.txt").write_text("my notes")
    before = snapshot(mydata)
    result = cli("train", mydata / "prices.csv", "--model-dir", mydata, "--epochs", "1")
    assert result.exit_code == 2 and "epoch" not in result.stderr   # before any training
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert snapshot(mydata) == before


def test_a_file_appearing_in_the_model_dir_during_training_is_kept(tiny_model, tmp_path):
    """Checked up front, and again under the lock just before the old model is replaced."""
    from forecast.training import Trained

    target = tmp_path / "m"
    shutil.copytree(tiny_model, target)
    b = read_bundle(target)

    class SavesAndMeanwhile:
        layers = ()

        def save(self, path):
            shutil.copy(tiny_model / "model.keras", path)
            (target / "notes.txt").write_text("written while training")

    trained = Trained(SavesAndMeanwhile(), b.scaler, b.config, {"loss": [1.0]}, {},
                      b.calibration)
    with pytest.raises(OutputError, match="holds notes.txt besides the model"):
        bundle.write_bundle(target, trained, b.data())
    assert (target / "notes.txt").read_text() == "written while training"
    assert (target / "model.keras").read_bytes() == (tiny_model / "model.keras").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_the_default_directory_of_another_file_with_the_same_name_is_refused(
        cli, tiny_model, tmp_path):
    """a/prices.csv and b/prices.csv both default to models/prices-lstm."""
    shutil.copytree(tiny_model, tmp_path / "models" / "prices-lstm")
    (tmp_path / "b").mkdir()
    shutil.copy(read_bundle(tiny_model).config.facts.source, tmp_path / "b" / "prices.csv")
    before = snapshot(tmp_path / "models")
    result = cli("train", "b/prices.csv", "--epochs", "1")
    assert result.exit_code == 2, result.stderr
    assert "models/prices-lstm holds a model trained on" in result.stderr
    assert "not b/prices.csv; pass --model-dir to keep both" in result.stderr
    assert snapshot(tmp_path / "models") == before


def test_retraining_the_same_file_replaces_its_default_model_and_leaves_no_lock(
        cli, prices_csv, tmp_path):
    from tests.conftest import TINY

    for seed in ("1", "2"):
        result = cli("train", prices_csv, *TINY, "--seed", seed)
        assert result.exit_code == 0, result.stderr
    assert read_bundle(tmp_path / "models" / "prices-lstm").config.training.seed == 2
    assert read_bundle(tmp_path / "models" / "prices-lstm").config.facts.source_path == \
        str(prices_csv)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["prices-lstm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models", "prices.csv"]


def test_strict_json_files(tiny_model):
    strict = {"parse_constant": lambda name: pytest.fail(f"{name} in strict JSON")}
    for name in ("metrics.json", "config.json", "calibration.json", "scaler.json"):
        json.loads((tiny_model / name).read_text(), **strict)
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert metrics["test"]["series"]["prices"]["naive"]["directional_accuracy"] is None


def test_the_stored_sha256_is_that_of_the_training_file(tiny_model):
    import hashlib

    facts = read_bundle(tiny_model).config.facts
    csv = tiny_model.parent / "prices.csv"
    assert facts.sha256 == hashlib.sha256(csv.read_bytes()).hexdigest()


def model_dir(path, marker: str):
    """A stand-in model directory: every file holds ``marker``."""
    path.mkdir(parents=True)
    for name in FILES:
        (path / name).write_text(marker)
    return path


def contents(path):
    return {p.name: p.read_text() for p in path.iterdir()}


def test_a_failure_during_the_swap_puts_the_old_model_back(tmp_path, monkeypatch):
    import os

    target = model_dir(tmp_path / "m", "old")
    new = model_dir(tmp_path / ".m.tmp", "new")
    rename = os.rename

    def failing_rename(src, dst):
        if str(src) == str(new):          # the old one is already out of the way
            raise OSError("device busy")
        return rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="device busy"):
        bundle.replace_dir(new, target)
    monkeypatch.undo()
    assert contents(target) == {name: "old" for name in FILES}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.tmp", "m"]  # no .old left
    bundle.replace_dir(new, target)
    assert contents(target) == {name: "new" for name in FILES}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_concurrent_writers_take_turns_and_leave_one_complete_model(tiny_model, tmp_path,
                                                                   monkeypatch):
    # Two threads write the same model directory. A barrier lets both finish writing their
    # temporary directory before either swaps it in, and moving a new model into place is
    # slowed down, so that the gap between moving the old one aside and moving the new one
    # in is wide: under the lock the two swaps take turns; without it the second writer
    # finds no model (or one being moved) and its swap fails.
    import os
    import threading
    import time

    target = tmp_path / "models" / "m"
    shutil.copytree(tiny_model, target)
    b = read_bundle(target)
    prices = b.data()
    rename, fsync_dir = os.rename, bundle.fsync_dir
    barrier = threading.Barrier(2, timeout=60)

    def both_ready(path):
        fsync_dir(path)
        barrier.wait()

    def slow_rename(src, dst):
        if str(dst) == str(target):
            time.sleep(0.3)
        return rename(src, dst)

    monkeypatch.setattr(bundle, "fsync_dir", both_ready)
    monkeypatch.setattr(os, "rename", slow_rename)
    model = b.load_keras()
    errors = []

    def write(marker):
        from forecast.training import Trained

        config = read_bundle(tiny_model).config
        config = dataclasses.replace(config, facts=dataclasses.replace(
            config.facts, other={"writer": marker}))
        try:
            bundle.write_bundle(target, Trained(model, b.scaler, config, {"loss": [1.0]},
                                                {"writer": marker}, b.calibration), prices)
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(m,)) for m in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.undo()
    assert errors == []
    final = read_bundle(target)
    assert final.metrics["writer"] == final.config.facts.other["writer"] in ("a", "b")
    leftovers = [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == ["m"]


def test_a_pickled_weights_file_is_refused_unopened(cli, tiny_model, tmp_path):
    import numpy as np

    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with np.load(copy / WEIGHTS) as arrays:
        weights = dict(arrays)
    first = next(iter(weights))
    weights[first] = np.array([Evil()], dtype=object)
    np.savez(copy / WEIGHTS, **weights)
    result = cli("predict", "--model", copy, "--engine", "numpy")
    assert result.exit_code == 2, result.stderr
    assert "weights.npz cannot be read" in result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("dates,names", [
    (pd.bdate_range("2020-01-01", periods=5), ["AAA", "BBB"]),                # pyarrow
    (pd.date_range("2020-01-01 09:30", periods=5, freq="h"), ["AAA", "BBB"]),   # pyarrow
    (pd.date_range("2020-01-01 09:30:00.5", periods=5, freq="h"), ["AAA", "B"]),  # pandas
    (pd.bdate_range("2020-01-01", periods=5), ['A,"x"', "BBB"]),              # pandas
    (pd.bdate_range("1900-01-01", periods=5), ["one"]),                        # one series
], ids=["daily", "hourly", "sub-second", "quoted name", "single"])
def test_data_csv_reads_back_as_the_panel_it_was_written_from(tmp_path, dates, names):
    from forecast.bundle import write_data_csv
    from forecast.data import Panel, read_panel

    rng = np.random.default_rng(0)
    panel = Panel.from_frames({n: pd.DataFrame({"Close": rng.random(5) * 100,
                                                "Volume": [1.0, 2.0, 3.5, 1e-7, 1e20]},
                                               index=dates) for n in names})
    panel.date_column = "Date"
    file = tmp_path / "data.csv"
    write_data_csv(file, panel)
    back = read_panel([file], target="Close", features=["Volume"], missing="error",
                      series_column="series" if panel.multi else None)
    np.testing.assert_array_equal(back.values, panel.values)
    assert (back.dates == panel.dates).all() and back.offsets.tolist() == panel.offsets.tolist()
    assert back.names == (names if panel.multi else ["data"])


def test_the_same_file_rule_holds_under_the_lock_too(tiny_model, tmp_path):
    """Two trains of a/prices.csv and b/prices.csv into the default directory both find it
    absent up front; the second to finish must not replace the first one's model."""
    from forecast.training import Trained

    target = tmp_path / "models" / "prices-lstm"
    shutil.copytree(tiny_model, target)        # the first train's model, of tiny/prices.csv
    b = read_bundle(target)
    other = b.data()                            # another file: .../prices-lstm/data.csv
    assert other.source != b.config.facts.source

    class Saves:
        layers = ()

        def save(self, path):
            shutil.copy(tiny_model / "model.keras", path)

    before = snapshot(tmp_path)
    trained = Trained(Saves(), b.scaler, b.config, {"loss": [1.0]}, {}, b.calibration)
    with pytest.raises(OutputError, match="holds a model trained on .* pass --model-dir to "
                                          "keep both"):
        bundle.write_bundle(target, trained, other, default_dir=True)
    assert snapshot(tmp_path) == before
    bundle.write_bundle(target, trained, other)   # --model-dir given: the rule is not for it
    assert read_bundle(target).config.facts.source == other.source


@pytest.mark.parametrize("name,message", [
    ("sp500.csv", "sp500.csv is a price file, not a model directory: prices go first and the "
                  "model directory after --model, as in `forecast predict sp500.csv --model "
                  "DIR`"),
    ("m/config.json", "m/config.json is a file of a model directory, not the directory; pass "
                      "--model m"),
])
def test_a_file_given_as_the_model_says_what_to_pass(cli, tiny_model, tmp_path, name, message):
    from tests.conftest import assert_advice_fits

    shutil.copytree(tiny_model, tmp_path / "m")
    (tmp_path / "sp500.csv").write_text("Date,Close\n2020-01-02,1\n")
    result = cli("predict", "--model", name)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == f"forecast: error: {message}\n"
    assert_advice_fits("predict", result.stderr)


def test_a_model_directory_of_an_earlier_version_still_predicts(cli, tiny_model, tmp_path):
    shutil.copytree(tiny_model, tmp_path / "m")
    expected = cli("predict", "--model", "m", "--backtest")
    (tmp_path / "m" / MANIFEST).unlink()
    result = cli("predict", "--model", "m", "--backtest")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected.stdout and expected.exit_code == 0


def swap_in(source, target):
    """Replace ``target`` by a copy of ``source``, as write_bundle does."""
    tmp = target.parent / f".{target.name}.tmp"
    shutil.copytree(source, tmp)
    bundle.replace_dir(tmp, target)


def test_files_read_after_a_replacement_are_of_the_model_first_read(tiny_model, tiny_model_h3,
                                                                     tmp_path):
    target, other = tmp_path / "m", tmp_path / "other"
    shutil.copytree(tiny_model, target)
    shutil.copytree(tiny_model_h3, other)
    for name in ("data.csv", "recent.csv"):      # other rows than tiny_model's
        lines = (other / name).read_text().splitlines(keepends=True)
        (other / name).write_text("".join(lines[:-10]))
    bundle.write_manifest(other)
    first = read_bundle(target)
    swap_in(other, target)
    assert read_bundle(target).config.model.horizon == 3
    weights = first.load_numpy()                 # from the file opened at read_bundle
    X = np.random.default_rng(0).uniform(0, 1, (2, 5, len(first.config.inputs)))
    assert weights(X).shape == (2, 1)
    np.testing.assert_array_equal(weights(X), read_bundle(tiny_model).load_numpy()(X))
    assert first.load_keras().output_shape == (None, 1)
    old, new = read_bundle(tiny_model).data(), read_bundle(target).data()
    for recent in (False, True):                 # data.csv and recent.csv: the first model's
        data = first.data(recent=recent)
        assert data.source == str(target / ("recent.csv" if recent else "data.csv"))
        np.testing.assert_array_equal(data.values, old.values[-len(data.values):])
        assert data.dates[-1] == old.dates[-1] != new.dates[-1]


def test_a_directory_replaced_while_it_is_opened_is_opened_again(tiny_model, tiny_model_h3,
                                                                 tmp_path, monkeypatch):
    target = tmp_path / "m"
    shutil.copytree(tiny_model, target)
    open_in, calls = bundle._open_in, []

    def replaced_after_two_files(fd, name, path):
        calls.append(name)
        if len(calls) == 3:
            swap_in(tiny_model_h3, target)       # the old one's files are gone from here on
        return open_in(fd, name, path)

    monkeypatch.setattr(bundle, "_open_in", replaced_after_two_files)
    read = read_bundle(target)
    assert len(calls) == 2 * len(bundle.READ_FILES)    # opened twice
    assert read.config.model.horizon == 3 and read.load_numpy()(
        np.zeros((1, 5, len(read.config.inputs)))).shape == (1, 3)
    assert len(read.data().values) == 300


def test_a_file_edited_after_training_is_refused_naming_it(tiny_model, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(tiny_model, copy)
    history = (copy / "history.csv").read_text()
    (copy / "history.csv").write_text(history.replace("1,", "1,0", 1))
    with pytest.raises(ModelDirError, match=r"m/history.csv is not the file forecast wrote "
                                            r"there \(manifest.json lists another sha256\)"):
        read_bundle(copy)


def test_a_reader_waits_for_a_swap_in_progress(tiny_model, tmp_path):
    """Between replace_dir's two renames the directory is absent: a reader that finds it
    so waits for the writer's lock instead of saying it does not exist."""
    import os
    import threading

    target, aside = tmp_path / "m", tmp_path / ".m.old"
    shutil.copytree(tiny_model, target)
    results = []

    def read():
        try:
            results.append(read_bundle(target).config.model.window)
        except ModelDirError as exc:
            results.append(exc)

    with bundle.locked(target):
        os.rename(target, aside)                  # the old model moved aside, the new not in
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(1.0)
        os.rename(aside, target)                  # the swap done
    reader.join(60)
    assert results == [5]


def test_a_ticker_listed_after_the_test_start_predicts_from_the_model_directory(cli, tmp_path):
    """A series with no training rows has no scaler in scaler.json (predict scales it on its
    rows before the test start), yet it is in data.csv and recent.csv: the model directory
    must still read (panel20's FB did not: 'recent.csv holds 20 series but scaler.json 19')."""
    import json

    import pandas as pd

    from tests.conftest import TINY, price_frame

    frames = [price_frame(300, seed=s).assign(symbol=name)
              for s, name in enumerate(["AAA", "BBB"])]
    late = price_frame(300, seed=7).assign(symbol="NEW").tail(30)
    csv = tmp_path / "long.csv"
    pd.concat([*frames, late]).to_csv(csv, index=False)
    model = tmp_path / "m"
    assert cli("train", csv, "--model-dir", model, *TINY).exit_code == 0
    assert "NEW" not in json.loads((model / "scaler.json").read_text())["series"]
    result = cli("predict", "--model", model)
    assert result.exit_code == 0, result.stderr
    assert sorted(line.split(",")[0] for line in result.stdout.splitlines()[1:]) == \
        ["AAA", "BBB", "NEW"]

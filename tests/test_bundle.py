import json
import shutil

import pytest

from forecast import bundle
from forecast.bundle import FILES, WEIGHTS, latest_model_dir, read_bundle
from forecast.errors import ModelDirError


def test_a_trained_directory_is_complete_and_reads_back(tiny_model):
    assert sorted(p.name for p in tiny_model.iterdir()) == sorted([*FILES, WEIGHTS])
    b = read_bundle(tiny_model)
    assert b.config.columns == ["Close"] and b.config.model.window == 5
    assert len(b.config.facts["sha256"]) == 64
    assert {"keras", "numpy", "pandas", "python"} <= set(b.config.facts["versions"])
    assert list(b.history.columns) == ["epoch", "loss", "val_loss", "seconds"]
    assert b.data().frame.shape == (300, 1)
    assert json.loads((tiny_model / "scaler.json").read_text())["kind"] == "minmax"


@pytest.mark.parametrize("name", FILES)
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
    with pytest.raises(OSError, match="disk full"):
        bundle.write_bundle(target, trained, b.data())
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in target.parent.iterdir() if "tmp" in p.name] == []


def test_the_stored_sha256_is_that_of_the_training_file(tiny_model):
    import hashlib

    facts = read_bundle(tiny_model).config.facts
    csv = tiny_model.parent / "prices.csv"
    assert facts["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()


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
    rename, fsync_dir = os.rename, bundle._fsync_dir
    barrier = threading.Barrier(2, timeout=60)

    def both_ready(path):
        fsync_dir(path)
        barrier.wait()

    def slow_rename(src, dst):
        if str(dst) == str(target):
            time.sleep(0.3)
        return rename(src, dst)

    monkeypatch.setattr(bundle, "_fsync_dir", both_ready)
    monkeypatch.setattr(os, "rename", slow_rename)
    model = b.load_keras()
    errors = []

    def write(marker):
        from forecast.training import Trained

        config = read_bundle(tiny_model).config
        config.facts["writer"] = marker
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
    assert final.metrics["writer"] == final.config.facts["writer"] in ("a", "b")
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

import json
import shutil

import pytest

from forecast import bundle
from forecast.bundle import FILES, WEIGHTS, latest_model_dir, read_bundle
from forecast.errors import ModelDirError


def test_a_trained_directory_is_complete_and_reads_back(tiny_model):
    assert sorted(p.name for p in tiny_model.iterdir()) == sorted([*FILES, WEIGHTS])
    b = read_bundle(tiny_model)
    assert b.config.columns == ["Close", "High", "Low"] and b.config.model.window == 5
    assert b.config.inputs == ["Close", "abs-return", "log-range"]   # the default inputs
    assert b.config.model.quantiles == [0.1, 0.5, 0.9] and b.quantile.pairs[0]["level"] == 0.8
    assert len(b.config.facts["sha256"]) == 64
    assert {"keras", "numpy", "pandas", "python"} <= set(b.config.facts["versions"])
    assert list(b.history.columns) == ["epoch", "loss", "val_loss", "seconds"]
    assert b.data().frame.shape == (300, 3)
    assert json.loads((tiny_model / "scaler.json").read_text())["kind"] == "minmax-per-series"


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


def test_a_quantile_model_loads_in_safe_mode_in_a_fresh_interpreter(tmp_path):
    import subprocess
    import sys

    from forecast.config import ModelConfig
    from forecast.models import build_model

    build_model(ModelConfig(units=2, window=3, quantiles=[0.1, 0.5, 0.9]), 1).save(
        tmp_path / "model.keras")
    code = ("from pathlib import Path; from types import SimpleNamespace\n"
            "from forecast.bundle import Bundle\n"
            f"model = Bundle.load_keras(SimpleNamespace(path=Path(r'{tmp_path}')))\n"
            "print(tuple(model.output_shape))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("(None, 1, 3)")

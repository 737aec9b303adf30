"""Refit backtests (issue 23): predict --backtest --refit-every K and evaluate --refit-every K
retrain the model's configuration at each origin, on rows dated before it only."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.conftest import TINY, price_frame
from forecast.cli import app

EVERY = "20"   # 60 test rows of 300: three folds


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="forecast")


@pytest.fixture(scope="module")
def refit_model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny default (quantile, guarded) model on a two-series long file, and the file."""
    root = tmp_path_factory.mktemp("refit")
    a, b = price_frame(300, seed=3), price_frame(300, seed=4)
    csv = root / "panel.csv"
    pd.concat([a.assign(symbol="AAA"), b.assign(symbol="BBB")]).to_csv(csv, index=False)
    out = root / "model"
    result = invoke("train", csv, "--model-dir", out, *TINY)
    assert result.exit_code == 0, result.stderr
    return out, csv


def table(stdout: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(stdout), parse_dates=["date", "fold"])


def test_folds_cover_every_test_row_once(refit_model, tmp_path):
    model, _ = refit_model
    result = invoke("predict", "-m", model, "--backtest", "--refit-every", EVERY,
                    "--interval", "0.8", "--work-dir", tmp_path / "wd")
    assert result.exit_code == 0, result.stderr
    refit = table(result.stdout)
    frozen = pd.read_csv(io.StringIO(invoke("predict", "-m", model, "--backtest").stdout),
                         parse_dates=["date"])
    config = json.loads((model / "config.json").read_text())
    test_start = pd.Timestamp(config["facts"]["test_start"])
    expected = frozen[frozen["date"] >= test_start][["series", "date"]]
    got = refit[["series", "date"]]
    assert not got.duplicated().any()
    assert sorted(map(tuple, got.to_numpy())) == sorted(map(tuple, expected.to_numpy()))
    dates = np.unique(frozen["date"][frozen["date"] >= test_start])
    origins = dates[::int(EVERY)]
    assert list(np.unique(refit["fold"])) == list(origins)
    for origin in origins:   # each row in the fold whose [origin, next origin) holds it
        later = origins[origins > origin]
        end = later[0] if len(later) else np.datetime64("2100-01-01")
        rows = refit[refit["fold"] == origin]["date"]
        assert ((rows >= origin) & (rows < end)).all()
    assert list(refit.columns) == ["series", "date", "actual", "predicted", "lower",
                                   "upper", "fold"]
    assert "fold 20" in result.stderr and "MAE / naive" in result.stderr


def fold_state(work: Path, index: int) -> dict:
    """What a fold learnt: its weights, guard verdict and calibrations."""
    fold = sorted(work.glob(f"fold-{index:04d}-*"))[0] / "model"
    weights = np.load(fold / "weights.npz")
    facts = json.loads((fold / "config.json").read_text())["facts"]
    return {"weights": {k: weights[k].tolist() for k in weights.files},
            "guard": facts["baseline_guard"], "val_start": facts["val_start"],
            **{name: (fold / name).read_text()
               for name in ("calibration.json", "intervals.json", "garch.json",
                            "scaler.json")}}


def test_a_fold_never_sees_rows_on_or_after_its_origin(refit_model, tmp_path):
    model, csv = refit_model
    config = json.loads((model / "config.json").read_text())
    test_start = pd.Timestamp(config["facts"]["test_start"])
    frame = pd.read_csv(csv)
    later = pd.to_datetime(frame["Date"]) >= test_start
    for column in ("Open", "High", "Low", "Close"):
        frame.loc[later, column] *= 1.5
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    states = []
    for prices, work in ((csv, tmp_path / "a"), (changed, tmp_path / "b")):
        result = invoke("predict", prices, "-m", model, "--backtest", "--refit-every", EVERY,
                        "--work-dir", work)
        assert result.exit_code == 0, result.stderr
        states.append(fold_state(work, 0))
    assert states[0] == states[1]


def test_jobs_give_the_same_bytes(refit_model, tmp_path):
    model, _ = refit_model
    outs = []
    for jobs in ("1", "2"):
        result = invoke("predict", "-m", model, "--backtest", "--refit-every", "30",
                        "--interval", "0.8", "--quantiles", "--jobs", jobs)
        assert result.exit_code == 0, result.stderr
        outs.append(result.stdout)
    assert outs[0] == outs[1]


def test_work_dir_resumes_and_refuses_another_run(refit_model, tmp_path):
    model, _ = refit_model
    work = tmp_path / "wd"
    args = ("evaluate", "-m", model, "--refit-every", "30", "--json", "--work-dir", work)
    first = invoke(*args)
    assert first.exit_code == 0, first.stderr
    assert "kept from the work dir" not in first.stderr
    folds = sorted(work.glob("fold-*"))
    assert len(folds) == 2
    (folds[1] / "result.pkl").unlink()   # as if interrupted during the second fold
    again = invoke(*args)
    assert again.exit_code == 0, again.stderr
    assert again.stderr.count("kept from the work dir") == 1
    assert again.stdout == first.stdout
    result = json.loads(again.stdout)
    assert len(result["folds"]) == 2
    assert result["test"]["aggregate"]["rows"] == sum(
        f["aggregate"]["rows"] for f in result["folds"].values())
    assert result["test"]["aggregate"]["intervals"]["garch"]["series"] >= 1
    text = invoke("evaluate", "-m", model, "--refit-every", "30", "--work-dir", work)
    assert text.exit_code == 0, text.stderr
    assert text.stderr.count("kept from the work dir") == 2   # --json is no part of the key
    assert "refit backtest, all folds" in text.stdout and text.stdout.count("fold from") == 2
    other = invoke(*args[:-2], "--seed", "7", "--work-dir", work)
    assert other.exit_code == 2
    assert "holds folds of another run" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, says", [
    (["predict", "--backtest", "--refit-every", "0"], "--refit-every must be at least 1"),
    (["evaluate", "--refit-every", "0"], "--refit-every must be at least 1"),
    (["predict", "--backtest", "--refit-every", "5", "--train-window", "0"],
     "--train-window must be"),
    (["predict", "--refit-every", "5"], "--refit-every applies only with --backtest"),
    (["predict", "--backtest", "--jobs", "2"], "--jobs applies only to a refit backtest"),
    (["evaluate", "--work-dir", "x"], "--work-dir applies only to a refit backtest"),
    (["predict", "--backtest", "--refit-every", "5", "--refit-from", "nope"],
     "--refit-from must be one of"),
])
def test_bad_refit_options_are_one_line(refit_model, args, says):
    model, _ = refit_model
    result = invoke(*args, "-m", model)
    assert result.exit_code == 2, result.stderr
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_fold_seed_depends_on_seed_and_origin():
    from forecast.refit import fold_seed

    day = pd.Timestamp("2021-01-04")
    assert fold_seed(1, day) == fold_seed(1, day)
    assert len({fold_seed(1, day), fold_seed(2, day),
                fold_seed(1, day + pd.Timedelta(days=1))}) == 3


def test_train_window_and_validation_rule():
    import dataclasses

    from forecast.config import ForecastConfig, TrainingFacts
    from forecast.refit import fold_split

    unique = pd.date_range("2020-01-01", periods=100, freq="D").as_unit("ns").asi8
    config = ForecastConfig(facts=TrainingFacts(val_start="2020-03-01",
                                                test_start="2020-03-21"))   # 20 of 80 dates
    origin = pd.Timestamp("2020-04-01")   # 91 dates before it
    first, val = fold_split(unique, origin, config, None)
    assert first == unique[0] and val == pd.Timestamp(unique[91 - 23])   # 91 * 20 / 80
    first, val = fold_split(unique, origin, config, 40)
    assert first == unique[91 - 40] and val == pd.Timestamp(unique[91 - 10])
    config = dataclasses.replace(config, training=dataclasses.replace(
        config.training, val_start="2020-03-01"))   # an explicit --val-start: the same 20 dates
    assert fold_split(unique, origin, config, None)[1] == pd.Timestamp(unique[91 - 20])


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_keeps_finished_folds(refit_model, tmp_path, jobs):
    import signal
    import subprocess
    import sys

    from conftest import interruptible
    from test_tuning import read_until

    model, _ = refit_model
    work = tmp_path / "wd"
    args = [sys.executable, "-m", "forecast", "predict", "-m", str(model), "--backtest",
            "--refit-every", "2", "--jobs", jobs, "--work-dir", str(work)]   # 30 folds
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=interruptible)
    try:
        read_until(proc, b"forecast: fold ")
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest.decode()
    kept = len(list(work.glob("fold-*/result.pkl")))
    assert 1 <= kept < 30
    assert not list(work.glob("fold-*/.result.pkl.*"))   # no half-written fold


def test_a_two_node_ray_cluster_gives_the_same_bytes(refit_model, tmp_path):
    """Folds as Ray tasks on Ray's own multi-node harness (two nodes on this machine)."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    model, _ = refit_model
    args = ("predict", "-m", model, "--backtest", "--refit-every", "30", "--interval", "0.8")
    local = invoke(*args)
    assert local.exit_code == 0, local.stderr
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        result = invoke(*args, "--ray", cluster.address, "--work-dir", tmp_path / "wd")
        assert result.exit_code == 0, result.stderr
        assert result.stdout == local.stdout
        assert len(list((tmp_path / "wd").glob("fold-*/result.pkl"))) == 2
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_ray_without_ray_installed_is_one_line(refit_model, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError(name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    model, _ = refit_model
    result = invoke("predict", "-m", model, "--backtest", "--refit-every", "30", "--ray",
                    "local")
    assert result.exit_code == 2
    assert "pip install 'forecast[ray]'" in result.stderr


def test_a_node_lost_mid_run_still_gives_every_fold(refit_model, tmp_path):
    """The second node is removed while folds run: its task is retried on the head."""
    import os
    import subprocess
    import sys

    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from test_tuning import read_until

    model, _ = refit_model
    args = ("predict", "-m", model, "--backtest", "--refit-every", "20")
    local = invoke(*args)
    assert local.exit_code == 0, local.stderr
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        proc = subprocess.Popen([sys.executable, "-m", "forecast", *map(str, args), "--ray",
                                 cluster.address], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=dict(os.environ))
        try:
            read_until(proc, b"forecast: fold ")   # one done, one running on each node
            cluster.remove_node(worker)
            out, err = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err.decode()
        assert out.decode() == local.stdout
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_step_k_forecast_belongs_to_the_fold_it_is_made_in(tmp_path):
    """With --step 2 a row's forecast is made from the rows up to two before it: its fold
    is the one holding the row after those (the row before it), never a later model."""
    csv = tmp_path / "p.csv"
    price_frame(300, seed=5).to_csv(csv, index=False)
    model = tmp_path / "m"
    assert invoke("train", csv, "--model-dir", model, *TINY, "--horizon", "2").exit_code == 0
    result = invoke("predict", "-m", model, "--backtest", "--step", "2", "--refit-every", "30")
    assert result.exit_code == 0, result.stderr
    refit = table(result.stdout)
    dates = pd.to_datetime(pd.read_csv(csv)["Date"])
    previous = dates.shift(1)[dates.isin(refit["date"]).to_numpy()].to_numpy()
    assert not refit["date"].duplicated().any()
    assert (previous >= refit["fold"].to_numpy()).all()
    config = json.loads((model / "config.json").read_text())
    test_start = pd.Timestamp(config["facts"]["test_start"])
    expected = dates[dates.shift(1) >= test_start]
    assert list(refit["date"]) == list(expected)

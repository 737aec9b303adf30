import json
import shutil
import struct

import numpy as np

from forecast.bundle import read_bundle
from forecast.plotting import draw, plot_data, title_for
from forecast.predict import Forecaster, load_predictor
from forecast.transforms import to_prices


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plotted_predictions_are_the_inverse_transformed_model_output(tiny_model):
    bundle = read_bundle(tiny_model)
    forecaster = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    data = plot_data(forecaster, 0.8)
    # Undo the scaling and the log-return by hand, from the raw model outputs.
    returns = (forecaster.outputs[:, 0] - bundle.scaler.min_[0]) / bundle.scaler.scale_[0]
    close = bundle.data().frame["Close"].to_numpy()
    by_hand = to_prices(returns[:, None], close[forecaster.rows - 1], "log-return")[:, 0]
    np.testing.assert_allclose(data["backtest"]["predicted"], by_hand[:-1], rtol=1e-12)
    np.testing.assert_allclose(data["backtest"]["actual"], close[6:])
    np.testing.assert_allclose(data["backtest"]["naive"], close[5:-1])
    assert set(data["backtest"]["segment"]) == {"train", "validation", "test"}
    assert len(data["future"]) == 20
    assert data["future"]["date"].iloc[0] > bundle.data().frame.index[-1]


def test_a_png_of_the_expected_size_is_written(tiny_model, tmp_path):
    bundle = read_bundle(tiny_model)
    data = plot_data(Forecaster(bundle, bundle.data(), load_predictor(bundle)))
    out = draw(data, title_for(bundle, "prices.csv", data["scores"]), tmp_path / "f.png")
    assert png_size(out) == (1400, 1100)
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]  # no temporary file left


def test_plot_command(cli, tiny_model, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    result = cli("plot", "--model", model)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"wrote {model / 'plot.png'}" in result.stderr
    assert png_size(model / "plot.png") == (1400, 1100)
    result = cli("plot", "--model", model, "--out", "figs/x.png")
    assert result.exit_code == 0 and png_size(tmp_path / "figs" / "x.png") == (1400, 1100)


def test_title_names_the_file_cell_window_and_the_three_test_maes(tiny_model):
    bundle = read_bundle(tiny_model)
    data = plot_data(Forecaster(bundle, bundle.data(), load_predictor(bundle)))
    title = title_for(bundle, "prices.csv", data["scores"])
    assert title.startswith("prices.csv: LSTM x1 (4 units), window 5, horizon 1")
    # The test MAEs by hand from the evaluate command's own figures (one code path) and
    # the price series (naive, drift), not from plot_data's scores (another).
    from typer.testing import CliRunner

    from forecast.cli import app
    evaluated = json.loads(CliRunner().invoke(app, ["evaluate", "--model", str(tiny_model),
                                                    "--json"]).stdout)["test"]
    close = bundle.data().frame["Close"].to_numpy()
    rows = np.arange(240, 300)
    naive = np.mean(np.abs(close[rows] - close[rows - 1]))
    drift = np.mean(np.abs(close[rows] - close[rows - 1] - (close[rows - 1] - close[0])
                           / (rows - 1)))
    model = evaluated["model"]["mae"]
    assert f"model {model:.2f}, naive {naive:.2f}, drift {drift:.2f}" in title
    assert f"(model / naive {model / naive:.4f})" in title
    assert "network not kept" not in title       # the fixture's network is kept

import json
import shutil
import struct

import numpy as np
import pytest

from forecast.bundle import read_bundle
from forecast.plotting import draw, plot_data, title_for
from forecast.predict import Forecaster, load_predictor
from forecast.transforms import to_prices


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_quantile_model"])
def test_plotted_predictions_are_the_inverse_transformed_model_output(request, fixture):
    bundle = read_bundle(request.getfixturevalue(fixture))
    forecaster = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    data = plot_data(forecaster, 0.8)
    # Undo the centring, the scaling and the log-return by hand, from the raw model
    # outputs: the point output, or a quantile model's median level.
    scaler = bundle.scaler
    levels = bundle.config.model.quantiles
    point = (forecaster.outputs[:, 0, levels.index(0.5)] if levels
             else forecaster.outputs[:, 0])
    returns = (point + scaler.center_[0] - scaler.min_[0, 0]) / scaler.scale_[0, 0]
    close = bundle.data().frame["Close"].to_numpy()
    rows = forecaster.origins[2]
    by_hand = to_prices(returns[:, None], close[rows - 1], "log-return")[:, 0]
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
    assert result.exit_code == 2 and "there is no directory figs" in result.stderr
    assert not (tmp_path / "figs").exists()   # folders for --out are the user's to make
    (tmp_path / "figs").mkdir()
    result = cli("plot", "--model", model, "--out", "figs/x.png")
    assert result.exit_code == 0 and png_size(tmp_path / "figs" / "x.png") == (1400, 1100)


def test_plot_out_inside_a_model_directory_is_only_its_own_plot_png(cli, tiny_model, tmp_path):
    """plot.png is the one file forecast writes in a model directory (plot's default);
    any other name there, or another model's plot.png, or the input itself, is refused."""
    from tests.test_bundle import snapshot

    for name in ("m", "other"):
        shutil.copytree(tiny_model, tmp_path / name)
    shutil.copy(tiny_model / "data.csv", tmp_path / "prices.png")   # a CSV by another name
    (tmp_path / "m" / "sub").mkdir()
    before = snapshot(tmp_path)
    for args, message in [(["--out", "m/plot.svg"], "inside the model directory m"),
                          (["--out", "m/sub/x.png"], "inside the model directory m"),
                          (["--out", "other/plot.png"], "inside the model directory other"),
                          (["prices.png", "--out", "prices.png"], "--out prices.png is the "
                                                                  "command's input")]:
        result = cli("plot", "--model", "m", *args)
        assert result.exit_code == 2 and message in result.stderr, (args, result.stderr)
        assert snapshot(tmp_path) == before
    result = cli("plot", "--model", "m", "--out", "m/plot.png", "--dpi", "20")
    assert result.exit_code == 0, result.stderr
    assert png_size(tmp_path / "m" / "plot.png") == (280, 220)


def test_a_figure_is_never_written_into_a_folder_that_is_gone(tiny_model, tmp_path):
    from forecast.errors import OutputError
    from forecast.plotting import save_figure
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with pytest.raises(OutputError, match="cannot write the figure"):
        save_figure(plt.figure(), tmp_path / "gone" / "p.png", 20)
    assert list(tmp_path.iterdir()) == []


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


def _ro_dir(root):
    import os
    if os.geteuid() != 0:
        (root / "ro").mkdir(mode=0o555)
        return "ro/p.png"
    return "/sys/forecast-test.png"   # root is not stopped by permissions; /sys is


# `plot` mistakes: (name, make(root) -> extra arguments, the error's words). Each is exit 2,
# one line, before any drawing, with nothing written. docs/make_robustness.py shows them.
PLOT_ERRORS = [
    ("--out into a read-only place", lambda root: ["--out", _ro_dir(root)], "cannot write in"),
    ("--out onto an existing directory", lambda root: (root / "figs").mkdir() or
     ["--out", "figs"], "--out figs is a directory; forecast replaces only a file there: "
     "name a file such as figs/plot.png"),
    ("--out below a file", lambda root: (root / "f").write_text("x") and ["--out", "f/p.png"],
     "is a file, not a directory"),
    ("--out with a suffix it cannot write", lambda root: ["--out", "p.jpg"],
     "--out p.jpg: forecast writes .png, .pdf, .svg figures"),
    ("--out without a suffix", lambda root: ["--out", "plot"], "forecast writes .png, .pdf"),
    ("--dpi 0", lambda root: ["--dpi", "0"], "Invalid value for '--dpi'"),
    ("--dpi 100000", lambda root: ["--dpi", "100000"], "Invalid value for '--dpi'"),
    ("--interval wider than the calibration", lambda root: ["--interval", "0.999"],
     "--interval 0.999 is wider than the model's"),
    ("--out in a folder that does not exist", lambda root: ["--out", "missing/x.png"],
     "--out missing/x.png: there is no directory missing; create it first, or choose another "
     "place"),
    ("--out into the model directory", lambda root: ["--out", "m/x.png"],
     "--out m/x.png is inside the model directory m, which holds only that model's own "
     "files"),
    ("--out with a name too long for the file system", lambda root: ["--out", "p" * 250 +
                                                                      ".png"],
     "its name is 254 bytes (268 with the 14 characters forecast adds for its temporary "
     "file)"),
    ("--interval too near 0 (an infinite band)", lambda root: ["--interval", "1e-17"],
     "--interval must be between 0 and 1 (from 1e-06 to 0.999999; e.g. 0.8), got 1e-17"),
]


@pytest.mark.parametrize("name,make,message", PLOT_ERRORS, ids=[c[0] for c in PLOT_ERRORS])
def test_plot_mistakes_are_exit_2_naming_the_flag(cli, tiny_model, tmp_path, name, make,
                                                  message):
    from tests.conftest import assert_advice_fits

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    args = make(tmp_path)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = cli("plot", "--model", model, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("forecast: error: ") and message in result.stderr
    assert "--batch-size" not in result.stderr and result.stdout == ""
    assert_advice_fits("plot", result.stderr)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("suffix,magic", [(".pdf", b"%PDF"), (".svg", b"<?xml"),
                                          (".PNG", b"\x89PNG")])
def test_the_figure_format_is_the_one_the_suffix_names(cli, tiny_model, tmp_path, suffix,
                                                       magic):
    result = cli("plot", "--model", tiny_model, "--out", f"fig{suffix}", "--dpi", "20")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / f"fig{suffix}").read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"fig{suffix}"]


def test_plot_overwrites_an_existing_figure_file(cli, tiny_model, tmp_path):
    (tmp_path / "p.png").write_bytes(b"old")
    result = cli("plot", "--model", tiny_model, "--out", "p.png", "--dpi", "20")
    assert result.exit_code == 0, result.stderr
    assert png_size(tmp_path / "p.png") == (280, 220)


def test_title_of_a_series_the_naive_forecast_fits_exactly(tiny_model):
    bundle = read_bundle(tiny_model)
    title = title_for(bundle, "flat.csv", {"model": 0.0, "naive": 0.0, "drift": 0.0})
    assert title.endswith("(model / naive -)")


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_quantile_model"])
def test_title_states_test_coverage_and_interval_score_against_garch(request, fixture):
    bundle = read_bundle(request.getfixturevalue(fixture))
    forecaster = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    data = plot_data(forecaster)
    figures = forecaster.evaluate(0.8)["test"]["series"]["prices"]["intervals"]
    assert data["intervals"] == figures
    title = title_for(bundle, "prices.csv", data["scores"], data["intervals"])
    line = title.splitlines()[-1]
    # the band the interval guard chose for a quantile model; conformal for a point model
    band = bundle.quantile.pairs[0]["band"] if bundle.quantile.pairs else "conformal"
    assert line.startswith(f"test 80% interval ({band})")
    assert f"covers {figures['model']['coverage']:.1%}" in line
    assert f"interval score {figures['model']['interval_score']:.3g}" in line
    assert f"vs GARCH(1,1) {figures['garch']['interval_score']:.3g}" in line


def test_panel_figure_title_compares_the_intervals_with_garch(tiny_panel_model, tmp_path):
    from forecast.plotting import draw_figure, panel_plot_data, panel_title, test_intervals

    bundle = read_bundle(tiny_panel_model)
    forecaster = Forecaster(bundle, bundle.data(), load_predictor(bundle))
    data = panel_plot_data(forecaster)
    data["intervals"] = test_intervals(forecaster, 0.8)
    title = panel_title(bundle, "panel.csv", data)
    assert "test 80% intervals, median score / naive MAE: model" in title
    assert "model beats GARCH on" in title and "pooled coverage" in title
    out = draw_figure(forecaster, "panel.csv", tmp_path / "p.png")
    assert png_size(out)[0] > 0


def test_plot_var_marks_the_exceedances_of_model_and_garch(cli, tiny_panel_model, tiny_model,
                                                           tmp_path):
    from forecast import metrics
    from forecast.plotting import var_plot_data

    bundle = read_bundle(tiny_panel_model)
    data = var_plot_data(Forecaster(bundle, bundle.data(), load_predictor(bundle)))
    assert [d["name"] for d in data] == ["AAA", "BBB"] and data[0]["levels"] == [0.1]
    aaa = data[0]["bands"]
    assert set(aaa) == {("model", 0.1), ("GARCH(1,1)-t", 0.1)}       # BBB: no GARCH fit
    assert set(data[1]["bands"]) == {("model", 0.1)}
    band = aaa[("model", 0.1)]
    assert band["hits"].mean() == band["rate"]
    np.testing.assert_array_equal(band["hits"], data[0]["returns"] < band["returns"])
    assert band["p_pof"] == metrics.kupiec(band["hits"], 0.1)["p_pof"]
    result = cli("plot", "--model", tiny_panel_model, "--var", "--out", tmp_path / "var.png")
    assert result.exit_code == 0, result.stderr
    assert png_size(tmp_path / "var.png")[0] == 1400
    result = cli("plot", "--model", tiny_model, "--var", "--out", tmp_path / "p.png")
    assert result.exit_code == 2 and "plot --var draws lower-tail quantiles" in result.stderr

import numpy as np
import pytest

from forecast import intervals
from forecast.windows import split_rows


def test_conformal_quantile_rank():
    scores = np.arange(1, 10, dtype=float)          # n = 9
    assert intervals.conformal_quantile(scores, 0.8) == 8.0   # ceil(10 * 0.8) = 8th
    assert intervals.conformal_quantile(scores, 0.95) == np.inf  # ceil(9.5) = 10 > n


def test_volatility_uses_only_steps_up_to_the_row():
    prices = np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 60)))
    vol = intervals.volatility(prices, "log", window=5)
    changed = prices.copy()
    changed[40:] *= np.linspace(1, 3, 20)
    vol2 = intervals.volatility(changed, "log", window=5)
    np.testing.assert_array_equal(vol[:40], vol2[:40])
    assert np.all(vol > 0)
    steps = np.diff(np.log(prices))
    assert vol[30] == pytest.approx(np.std(steps[25:30], ddof=1))


def test_band_is_ordered_and_in_price_units():
    lower, upper = intervals.band(np.array([100.0, 200.0]), np.array([0.01, 0.02]), 2.0, "log")
    assert np.all(lower < [100, 200]) and np.all(upper > [100, 200])
    np.testing.assert_allclose(upper, [100 * np.exp(0.02), 200 * np.exp(0.04)])


def test_calibration_uses_no_test_row():
    import pandas as pd

    from forecast.data import Panel
    from forecast.training import OriginForecasts, calibrate

    rng = np.random.default_rng(1)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))
    split = split_rows(200, 0.2, 0.2)
    rows = np.arange(10, 201)
    forecasts = prices[rows - 1][:, None] * 1.001

    def calibrated(prices, forecasts):
        index = pd.bdate_range("2020-01-01", periods=len(prices))
        panel = Panel.from_frames({"x": pd.DataFrame({"Close": prices}, index=index)})
        vols = [intervals.volatility(prices, "log")]
        return calibrate(panel, OriginForecasts(np.zeros(len(rows), int), rows, forecasts),
                         np.array([split.train_end]), np.array([split.val_end]), "log", vols)
    base = calibrated(prices, forecasts)
    wild_prices, wild_forecasts = prices.copy(), forecasts.copy()
    wild_prices[split.val_end:] *= 50
    wild_forecasts[rows >= split.val_end] *= 3
    wild = calibrated(wild_prices, wild_forecasts)
    np.testing.assert_array_equal(base.step_scores[0], wild.step_scores[0])
    assert len(base.step_scores[0]) == split.n_val


def test_quantile_beyond_the_calibrated_steps_widens_like_a_random_walk():
    cal = intervals.Calibration("log", [np.arange(1, 20.0), np.arange(2, 21.0)])
    assert cal.quantile(0.5, 4) == pytest.approx(cal.quantile(0.5, 2) * np.sqrt(2))
    again = intervals.Calibration.from_dict(cal.to_dict())
    assert again.quantile(0.8, 1) == cal.quantile(0.8, 1)

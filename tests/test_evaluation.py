"""Scoring forecasts beside the naive and drift forecasts (train's and evaluate's scorer)."""

import numpy as np
import pytest

from forecast import evaluation, metrics
from forecast.baselines import naive_forecast


def test_mase_of_the_naive_forecast_is_one_on_its_own_rows():
    prices = np.array([5.0, 6.0, 4.0, 7.0, 7.5])
    rows = np.arange(1, 5)
    scores = evaluation.compare(prices, rows, naive_forecast(prices, rows),
                             scale=metrics.naive_scale(prices))
    assert scores["naive"]["mase"] == pytest.approx(1.0)
    assert scores["model"]["rel_mae"] == pytest.approx(1.0)


def test_rel_mae_divides_by_the_naive_mae_on_the_same_rows():
    prices = np.array([5.0, 6.0, 4.0, 7.0, 7.5])
    rows = np.array([2, 3, 4])                      # naive errors 2, 3, 0.5: MAE 11/6
    scores = evaluation.compare(prices, rows, np.array([5.0, 6.0, 7.0]), scale=2.0)
    assert scores["model"]["mae"] == pytest.approx(2.5 / 3)   # errors 1, 1, 0.5
    assert scores["model"]["rel_mae"] == pytest.approx((2.5 / 3) / (11 / 6))
    assert scores["model"]["mase"] == pytest.approx((2.5 / 3) / 2.0)
    # drift from p[0] = 5: row 2: 6 + 1/1 = 7; row 3: 4 - 1/2 = 3.5; row 4: 7 + 2/3
    drift = np.mean([abs(4 - 7), abs(7 - 3.5), abs(7.5 - 7 - 2 / 3)])
    assert scores["drift"]["rel_mae"] == pytest.approx(drift / (11 / 6))


# --- VaR backtests ----------------------------------------------------------------------------
def test_var_series_and_pooled_figures():
    from forecast import evaluation

    actual = np.arange(10.0)
    low = np.full((10, 2), [0.5, 8.5])      # levels 0.1 and 0.9: 1 hit each
    per = {"A": evaluation.var_series(actual, {"model": low, "garch": None,
                                               "rolling_conformal": low - 100}, [0.1, 0.9], 2.0),
           "B": evaluation.var_series(actual, {"model": low + 1, "garch": low,
                                               "rolling_conformal": low}, [0.1, 0.9], 2.0)}
    a = per["A"]["q0.1"]["model"]
    assert a["exceedances"] == 1 and a["rate"] == 0.1 and a["expected_rate"] == 0.1
    assert a["rel_pinball"] == pytest.approx(a["pinball"] / 2.0)
    assert per["A"]["q0.1"]["garch"] is None
    pooled = evaluation.var_pooled(per)
    model = pooled["q0.1"]["model"]
    assert model["series"] == 2 and model["rows"] == 20
    assert model["exceedances"] == 1 + 2 and model["rate"] == pytest.approx(0.15)
    assert pooled["q0.1"]["garch"]["series"] == 1                  # B only
    assert pooled["q0.9"]["rolling_conformal"]["exceedances"] == 10 + 1
    assert pooled["q0.9"]["rolling_conformal"]["share_rejected_pof"] == 0.5


def test_var_mcs_drops_a_clearly_worse_method_and_averages_a_panel_per_date():
    from forecast import evaluation

    rng = np.random.default_rng(0)
    dates = np.tile(np.arange(300), 2)                 # two series on the same 300 dates
    good = rng.exponential(1.0, 600)
    losses = {"model": good, "garch": good + rng.normal(0, 0.01, 600),
              "rolling_conformal": good + 0.5}
    out = evaluation.var_mcs(losses, dates)
    assert out["dates"] == 300 and out["size"] == 0.1
    assert "rolling_conformal" not in out["included"] and "model" in out["included"]
    assert out["pvalues"]["rolling_conformal"] < 0.1
    assert out["mean_loss"]["rolling_conformal"] == pytest.approx(good.mean() + 0.5)
    assert evaluation.var_mcs(losses, dates, reps=200) is not None
    assert evaluation.var_mcs({k: v[:5] for k, v in losses.items()}, dates[:5]) is None

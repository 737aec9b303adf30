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

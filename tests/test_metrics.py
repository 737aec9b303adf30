import numpy as np
import pytest

from forecast import metrics


def test_hand_computed_errors():
    actual, predicted = np.array([10.0, 12.0, 9.0]), np.array([11.0, 12.0, 12.0])
    assert metrics.mae(actual, predicted) == pytest.approx(4 / 3)
    assert metrics.rmse(actual, predicted) == pytest.approx(np.sqrt(10 / 3))
    assert metrics.mape(actual, predicted) == pytest.approx(100 * (0.1 + 0 + 1 / 3) / 3)
    assert metrics.mase(actual, predicted, scale=2.0) == pytest.approx(2 / 3)


def test_naive_and_drift_forecasts():
    prices = np.array([1.0, 3.0, 4.0, 8.0])
    rows = np.array([1, 2, 3])
    np.testing.assert_array_equal(metrics.naive_forecast(prices, rows), [1, 3, 4])
    # drift: last + (last - first) / (r - 1); r = 1 has no step yet
    np.testing.assert_allclose(metrics.drift_forecast(prices, rows), [1, 3 + 2, 4 + 3 / 2])


def test_mase_of_the_naive_forecast_is_one_on_its_own_rows():
    prices = np.array([5.0, 6.0, 4.0, 7.0, 7.5])
    rows = np.arange(1, 5)
    scores = metrics.compare(prices, rows, metrics.naive_forecast(prices, rows),
                             scale=metrics.naive_scale(prices))
    assert scores["naive"]["mase"] == pytest.approx(1.0)
    assert scores["model"]["rel_mae"] == pytest.approx(1.0)


def test_rel_mae_divides_by_the_naive_mae_on_the_same_rows():
    prices = np.array([5.0, 6.0, 4.0, 7.0, 7.5])
    rows = np.array([2, 3, 4])                      # naive errors 2, 3, 0.5: MAE 11/6
    scores = metrics.compare(prices, rows, np.array([5.0, 6.0, 7.0]), scale=2.0)
    assert scores["model"]["mae"] == pytest.approx(2.5 / 3)   # errors 1, 1, 0.5
    assert scores["model"]["rel_mae"] == pytest.approx((2.5 / 3) / (11 / 6))
    assert scores["model"]["mase"] == pytest.approx((2.5 / 3) / 2.0)
    # drift from p[0] = 5: row 2: 6 + 1/1 = 7; row 3: 4 - 1/2 = 3.5; row 4: 7 + 2/3
    drift = np.mean([abs(4 - 7), abs(7 - 3.5), abs(7.5 - 7 - 2 / 3)])
    assert scores["drift"]["rel_mae"] == pytest.approx(drift / (11 / 6))


def test_directional_accuracy_and_up_share():
    previous = np.array([10.0, 10.0, 10.0, 10.0])
    actual = np.array([11.0, 9.0, 12.0, 10.0])
    predicted = np.array([10.5, 10.5, 11.0, 10.0])
    assert metrics.directional_accuracy(actual, predicted, previous) == 0.75
    assert metrics.up_share(actual, previous) == 0.5


def test_coverage_and_width_on_a_hand_made_case():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    lower = np.array([0.0, 2.5, 3.0, 3.0])
    upper = np.array([2.0, 3.0, 3.5, 3.9])
    assert metrics.coverage(actual, lower, upper) == 0.5   # rows 0 and 2 (edges count)
    assert metrics.mean_width(lower, upper) == pytest.approx((2 + 0.5 + 0.5 + 0.9) / 4)


def test_format_scores_shows_every_forecast():
    prices = np.array([5.0, 6.0, 4.0, 7.0])
    text = metrics.format_scores(metrics.compare(prices, np.array([1, 2, 3]),
                                                 np.array([5.5, 5.0, 6.0]), 1.0))
    assert [line.split()[0] for line in text.splitlines()[1:4]] == ["model", "naive", "drift"]
    assert "up-days" in text

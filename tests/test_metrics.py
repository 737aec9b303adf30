import json

import numpy as np
import pytest

from forecast import metrics
from forecast.config import json_safe


def test_hand_computed_errors():
    actual, predicted = np.array([10.0, 12.0, 9.0]), np.array([11.0, 12.0, 12.0])
    assert metrics.mae(actual, predicted) == pytest.approx(4 / 3)
    assert metrics.rmse(actual, predicted) == pytest.approx(np.sqrt(10 / 3))
    assert metrics.mape(actual, predicted) == pytest.approx(100 * (0.1 + 0 + 1 / 3) / 3)
    assert metrics.mase(actual, predicted, scale=2.0) == pytest.approx(2 / 3)


def test_mape_skips_rows_whose_actual_is_zero():
    actual, predicted = np.array([10.0, 0.0, 4.0]), np.array([11.0, 3.0, 3.0])
    assert metrics.mape(actual, predicted) == pytest.approx(100 * (0.1 + 0.25) / 2)
    assert np.isnan(metrics.mape(np.zeros(2), np.ones(2)))


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


def test_pinball_loss_by_hand():
    actual = np.array([10.0, 4.0])
    forecasts = np.array([[8.0, 10.0, 12.0],     # row 0: errors +2, 0, -2
                          [5.0, 6.0, 7.0]])      # row 1: errors -1, -2, -3
    levels = [0.1, 0.5, 0.9]
    rows = metrics.pinball_rows(actual, forecasts, levels)
    # tau * u above the forecast, (1 - tau) * |u| below it
    np.testing.assert_allclose(rows, [[0.1 * 2, 0.0, 0.1 * 2],
                                      [0.9 * 1, 0.5 * 2, 0.1 * 3]])
    loss = metrics.pinball_loss(actual, forecasts, levels)
    assert loss["q0.1"] == pytest.approx((0.2 + 0.9) / 2)
    assert loss["q0.5"] == pytest.approx(0.5)
    assert loss["q0.9"] == pytest.approx((0.2 + 0.1 * 3) / 2)
    assert loss["mean"] == pytest.approx((0.2 + 0 + 0.2 + 0.9 + 1.0 + 0.3) / 6)


def test_pinball_at_the_median_is_half_the_absolute_error():
    rng = np.random.default_rng(0)
    actual, predicted = rng.normal(size=50), rng.normal(size=50)
    loss = metrics.pinball_loss(actual, predicted[:, None], [0.5])
    assert loss["mean"] == pytest.approx(metrics.mae(actual, predicted) / 2)


def test_pinball_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="expected"):
        metrics.pinball_rows(np.zeros(3), np.zeros((3, 2)), [0.1, 0.5, 0.9])


def test_interval_score_by_hand():
    actual = np.array([5.0, 0.0, 12.0])
    lower, upper = np.array([4.0, 1.0, 8.0]), np.array([6.0, 3.0, 10.0])
    alpha = 0.2                                   # 2 / alpha = 10
    rows = metrics.interval_score_rows(actual, lower, upper, alpha)
    np.testing.assert_allclose(rows, [2.0, 2.0 + 10 * 1.0, 2.0 + 10 * 2.0])
    assert metrics.interval_score(actual, lower, upper, alpha) == pytest.approx(36 / 3)
    summary = metrics.interval_summary(actual, lower, upper, 0.8)
    assert summary == pytest.approx({"level": 0.8, "coverage": 1 / 3, "mean_width": 2.0,
                                     "interval_score": 12.0, "rows": 3})


def test_interval_score_is_twice_the_pinball_of_its_ends_over_alpha():
    # A known identity: IS_alpha = (2 / alpha) * (pinball_{alpha/2}(lo) + pinball_{1-alpha/2}(hi))
    rng = np.random.default_rng(1)
    actual = rng.normal(size=40)
    lower, upper = -np.abs(rng.normal(size=40)), np.abs(rng.normal(size=40))
    pin = metrics.pinball_rows(actual, np.stack([lower, upper], axis=1), [0.1, 0.9])
    np.testing.assert_allclose(metrics.interval_score_rows(actual, lower, upper, 0.2),
                               pin.sum(axis=1) * 2 / 0.2)


def test_diebold_mariano_and_its_p_value():
    diff = np.array([-1.0, -2.0, -3.0])
    assert metrics.diebold_mariano(diff) == pytest.approx(-2 / np.sqrt((2 / 3) / 3))
    assert metrics.normal_cdf(0.0) == 0.5
    assert metrics.normal_cdf(-1.6448536) == pytest.approx(0.05, abs=1e-6)


@pytest.mark.parametrize("previous", [[10.0, 10.0, 10.0, 10.0], [10.0, 11.0, 9.0, 10.0]])
def test_a_forecast_that_predicts_no_move_has_no_direction_score(previous):
    previous = np.array(previous)
    actual = previous + np.array([1.0, 0.0, 0.0, 0.0])   # mostly flat: 0.75 would flatter it
    assert metrics.directional_accuracy(actual, previous.copy(), previous) is None
    one_move = previous + np.array([0.5, 0.0, 0.0, 0.0])
    assert metrics.directional_accuracy(actual, one_move, previous) == 1.0


def test_json_ready_makes_every_undefined_figure_null():
    raw = {"a": float("nan"), "b": [np.float32(np.inf), -np.inf, np.float64(1.5)],
           "c": {"d": np.int64(3), "e": np.nan}, "t": (np.nan, 2.0),
           "f": np.array([1.0, np.nan])}
    assert json_safe(raw) == {"a": None, "b": [None, None, 1.5],
                                       "c": {"d": 3, "e": None}, "t": [None, 2.0],
                                       "f": [1.0, None]}
    json.dumps(json_safe(raw), allow_nan=False)

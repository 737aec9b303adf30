import json
import math

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


# --- VaR backtests: Kupiec and Christoffersen by hand ------------------------------------
def _hits(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


def test_kupiec_no_exceedances_by_hand():
    out = metrics.christoffersen(_hits("0" * 10), 0.1)
    assert out["exceedances"] == 0 and out["rate"] == 0.0
    assert out["lr_pof"] == pytest.approx(-2 * 10 * math.log(0.9))      # 2.1072
    assert out["lr_pof"] == pytest.approx(2.107210, abs=1e-6)
    assert out["transitions"] == [9, 0, 0, 0] and out["lr_ind"] == 0.0
    assert out["p_pof"] == pytest.approx(0.14660, abs=1e-5)


def test_kupiec_all_exceedances_by_hand():
    out = metrics.christoffersen(_hits("1" * 10), 0.1)
    assert out["lr_pof"] == pytest.approx(-2 * 10 * math.log(0.1))      # 46.05
    assert out["transitions"] == [0, 0, 0, 9] and out["lr_ind"] == 0.0
    assert out["lr_cc"] == pytest.approx(out["lr_pof"])


def test_christoffersen_alternating_by_hand():
    out = metrics.christoffersen(_hits("10" * 5), 0.5)
    assert out["lr_pof"] == pytest.approx(0.0, abs=1e-12)   # 5 of 10 at rate 0.5
    assert out["transitions"] == [0, 4, 5, 0]
    # pi = 4/9 under the null; pi01 = 1 and pi11 = 0 under the alternative: likelihood 1
    expected = -2 * (5 * math.log(5 / 9) + 4 * math.log(4 / 9))
    assert out["lr_ind"] == pytest.approx(expected) and out["lr_ind"] == pytest.approx(
        12.3653, abs=1e-4)
    assert out["p_ind"] < 0.001
    assert out["lr_cc"] == pytest.approx(expected)


def test_christoffersen_clustered_by_hand():
    out = metrics.christoffersen(_hits("0000000111"), 0.1)
    pof = (-2 * (7 * math.log(0.9) + 3 * math.log(0.1))
           + 2 * (7 * math.log(0.7) + 3 * math.log(0.3)))
    assert out["lr_pof"] == pytest.approx(pof)
    assert out["transitions"] == [6, 1, 0, 2]
    ind = (-2 * (6 * math.log(2 / 3) + 3 * math.log(1 / 3))
           + 2 * (6 * math.log(6 / 7) + math.log(1 / 7)))
    assert out["lr_ind"] == pytest.approx(ind)
    assert out["lr_cc"] == pytest.approx(pof + ind)
    from scipy.stats import chi2
    assert out["p_cc"] == pytest.approx(chi2.sf(pof + ind, 2))


@pytest.mark.parametrize("days, p, accepted", [
    # Jorion, Value at Risk (3rd ed., 2007), Table 6-3, after Kupiec (1995): the number of
    # exceptions N that a 5% test does not reject. The zero at the 1% level is rejected by
    # the LR (Jorion prints "N < 7": no lower bound is usable at that sample size).
    (255, 0.01, range(1, 7)), (510, 0.01, range(2, 11)), (1000, 0.01, range(5, 17)),
    (255, 0.05, range(7, 21)), (510, 0.05, range(17, 36)), (1000, 0.05, range(38, 65)),
])
def test_kupiec_non_rejection_region_matches_jorion(days, p, accepted):
    kept = [n for n in range(days + 1)
            if metrics.kupiec(np.arange(days) < n, p)["p_pof"] > 0.05]
    assert kept == list(accepted)


@pytest.mark.parametrize("count, zone", [(0, "green"), (4, "green"), (5, "yellow"),
                                         (9, "yellow"), (10, "red"), (30, "red")])
def test_basel_traffic_light_zones(count, zone):
    hits = np.zeros(300, bool)
    hits[-250:][:count] = True
    hits[:50] = True                      # before the last 250 days: not counted
    assert metrics.traffic_light(hits) == {"days": 250, "exceptions": count, "zone": zone}
    assert metrics.traffic_light(hits[:249]) is None


def test_var_backtest_sides_and_pinball():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    low = metrics.var_backtest(actual, np.full(4, 1.5), 0.05)
    assert low["exceedances"] == 1 and low["expected_rate"] == 0.05
    high = metrics.var_backtest(actual, np.full(4, 1.5), 0.95)
    assert high["exceedances"] == 3 and high["expected_rate"] == pytest.approx(0.05)
    assert low["pinball"] == pytest.approx(np.mean([0.95 * 0.5, 0.05 * 0.5, 0.05 * 1.5,
                                                    0.05 * 2.5]))
    assert low["traffic_light"] is None


def test_var_backtest_tests_non_overlapping_rows_beyond_one_step():
    actual = np.zeros(12)
    quantile = np.where(np.arange(12) % 3 == 2, 1.0, -1.0)     # hits at rows 2, 5, 8, 11
    out = metrics.var_backtest(actual, quantile, 0.05, step=3)
    assert out["rows"] == 12 and out["exceedances"] == 4 and out["rate"] == pytest.approx(1 / 3)
    assert out["tested_rows"] == 4                             # rows 2, 5, 8, 11: all hits
    assert out["transitions"] == [0, 0, 0, 3]
    assert out["lr_pof"] == pytest.approx(-2 * 4 * math.log(0.05))
    assert metrics.var_backtest(actual, quantile, 0.01, step=1)["traffic_light"] is None

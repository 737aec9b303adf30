"""The baselines: naive and drift forecasts, and the interval baselines (rolling-volatility
conformal, GARCH(1,1))."""

import math
import subprocess
import sys

import numpy as np
import pytest

from forecast import baselines, intervals, metrics
from forecast.errors import ModelDirError

Z80 = 1.2815515655446004      # the standard normal's 0.9 quantile


def garch_path(n, omega, alpha, beta, rng, nu=None):
    """Simulate GARCH(1,1) steps (n,) and their true conditional sd (n,); unit-variance
    Student-t innovations with ``nu`` degrees of freedom, or normal ones."""
    shocks = rng.standard_normal(n) if nu is None else \
        rng.standard_t(nu, n) * np.sqrt((nu - 2) / nu)
    var = np.empty(n)
    steps = np.empty(n)
    var[0] = omega / (1 - alpha - beta)
    for t in range(n):
        if t:
            var[t] = omega + alpha * steps[t - 1] ** 2 + beta * var[t - 1]
        steps[t] = np.sqrt(var[t]) * shocks[t]
    return steps, np.sqrt(var)


def filtered_sd(steps, omega, alpha, beta):
    """The conditional sd a GARCH(1,1) with these parameters assigns to each step."""
    var = np.empty(len(steps))
    var[0] = omega / (1 - alpha - beta)
    for t in range(1, len(steps)):
        var[t] = omega + alpha * steps[t - 1] ** 2 + beta * var[t - 1]
    return np.sqrt(var)


def prices_of(steps):
    return 100 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(7)
    steps, _ = garch_path(3000, 1e-4 * 0.05, 0.08, 0.87, rng, nu=6)
    return steps


def test_fixed_parameter_filter_equals_arch_own_forecast(simulated):
    from arch import arch_model

    n_train = 1500
    garch = baselines.Garch.fit_steps(simulated[:n_train])
    ours = garch.volatility(simulated)
    assert ours.shape == (len(simulated) + 1,)
    # arch's own route: fit on the first n_train observations only, then forecast one step
    # from later origins; with the same parameters it must give our filtered volatility.
    model = arch_model(simulated * garch.scale, mean="Zero", vol="GARCH", p=1, q=1, dist="t",
                       rescale=False)
    result = model.fit(last_obs=n_train, disp="off")
    np.testing.assert_allclose(result.params.to_numpy(), garch.param_vector(), rtol=1e-4)
    origins = np.array([n_train - 1, n_train + 10, 2400, len(simulated) - 1])
    forecast = result.forecast(params=np.array(garch.param_vector()), horizon=1,
                               start=int(origins[0]),
                               reindex=False)
    theirs = np.sqrt(forecast.variance.to_numpy()[origins - origins[0], 0]) / garch.scale
    np.testing.assert_allclose(ours[origins + 1], theirs, rtol=1e-10)


def test_later_rows_never_change_the_fit_or_earlier_volatility(simulated):
    garch = baselines.Garch.fit_steps(simulated[:1500])
    wild = simulated.copy()
    wild[2000:] *= 5
    np.testing.assert_array_equal(garch.volatility(simulated)[:2001],
                                  garch.volatility(wild)[:2001])
    assert baselines.Garch.fit_steps(wild[:1500]) == garch


def test_garch_price_band_and_json(simulated):
    prices = prices_of(simulated)
    garch = baselines.Garch.fit(prices[:1501])
    assert garch.space == "log" and garch.dist == "t"
    rows = np.arange(1501, len(prices) + 1)              # through the next, unknown row
    lower, upper = garch.band(prices, rows, 0.8)
    assert lower.shape == (len(rows),)
    assert np.all(lower < prices[rows - 1]) and np.all(upper > prices[rows - 1])
    covered = metrics.coverage(prices[rows[:-1]], lower[:-1], upper[:-1])
    assert abs(covered - 0.8) < 0.04
    again = baselines.Garch.from_dict(garch.to_dict())
    np.testing.assert_array_equal(again.band(prices, rows, 0.8)[1], upper)
    with pytest.raises(ModelDirError, match="garch.json is damaged"):
        baselines.Garch.from_dict({"params": {"omega": 1.0}, "scale": 1.0, "dist": "t",
                                   "space": "log"})


def test_garch_refuses_too_few_or_flat_steps():
    with pytest.raises(ValueError, match="at least"):
        baselines.Garch.fit_steps(np.ones(10))
    with pytest.raises(ValueError, match="vary"):
        baselines.Garch.fit_steps(np.zeros(500))


def test_rolling_conformal_band_is_the_intervals_machinery():
    rng = np.random.default_rng(3)
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    cal, rows = np.arange(200, 300), np.arange(300, 400)
    lower, upper = baselines.rolling_conformal_band(prices, rows, cal, 0.8)
    vol = intervals.volatility(prices, "log")
    scores = np.sort(np.abs(np.log(prices[cal] / prices[cal - 1])) / vol[cal - 1])
    q = intervals.conformal_quantile(scores, 0.8)
    np.testing.assert_allclose(upper, prices[rows - 1] * np.exp(q * vol[rows - 1]))
    np.testing.assert_allclose(lower, prices[rows - 1] * np.exp(-q * vol[rows - 1]))
    # Around a given forecast instead of the last price:
    shifted = baselines.rolling_conformal_band(prices, rows, cal, 0.8, prices[rows - 1] * 2,
                                               prices[cal - 1])
    np.testing.assert_allclose(shifted[1], 2 * upper)


def test_naive_and_drift_forecasts():
    prices = np.array([1.0, 3.0, 4.0, 8.0])
    rows = np.array([1, 2, 3])
    np.testing.assert_array_equal(baselines.naive_forecast(prices, rows), [1, 3, 4])
    # drift: last + (last - first) / (r - 1); r = 1 has no step yet
    np.testing.assert_allclose(baselines.drift_forecast(prices, rows), [1, 3 + 2, 4 + 3 / 2])


def test_baselines_import_neither_keras_nor_arch():
    code = ("import sys, forecast.baselines, forecast.intervals, forecast.metrics\n"
            "heavy = [m for m in ('tensorflow', 'keras', 'arch') if m in sys.modules]\n"
            "print(heavy); sys.exit(1 if heavy else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_fit_that_does_not_converge_prints_no_warning(simulated, monkeypatch):
    """arch turns its ConvergenceWarning back on inside fit() (filterwarnings "always")
    unless show_warning is off: on 5,000 tickers that was hundreds of stderr lines."""
    import warnings

    import arch.univariate.base as arch_base

    real = arch_base.minimize

    def unconverged(*args, **kwargs):
        result = real(*args, **kwargs)
        result.status, result.message = 8, "Positive directional derivative for linesearch"
        return result
    monkeypatch.setattr(arch_base, "minimize", unconverged)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        baselines.Garch.fit_steps(simulated[:600])
    assert not [w for w in caught if "optimizer" in str(w.message)]


def test_garch_quantiles_at_step_1_are_its_band_and_at_step_k_sum_arch_variances(simulated):
    prices = 100 * np.exp(np.cumsum(simulated[:1800]))
    garch = baselines.Garch.fit(prices[:1501])
    rows = np.arange(1600, 1700)
    q = baselines.garch_quantiles(garch, prices, rows, 1, [0.1, 0.5, 0.9])
    lower, upper = garch.band(prices, rows, 0.8)
    np.testing.assert_allclose(q[:, 0], lower, rtol=1e-10)
    np.testing.assert_allclose(q[:, 2], upper, rtol=1e-10)
    np.testing.assert_allclose(q[:, 1], prices[rows - 1], rtol=1e-10)
    # step 5: the sd of the summed steps from arch's own horizon-5 variance forecasts
    import warnings

    step, origin = 5, 1650
    scaled = np.diff(np.log(prices)) * garch.scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = baselines._arch_model(scaled[:origin], garch.dist).fix(garch.param_vector())
        variance = fixed.forecast(horizon=step, start=origin - 1, reindex=False).variance
    sd = math.sqrt(float(variance.to_numpy()[-1].sum())) / garch.scale
    q5 = baselines.garch_quantiles(garch, prices, np.array([origin + step]), step, [0.01])
    assert q5[0, 0] == pytest.approx(prices[origin] * math.exp(
        garch.innovation_quantile(0.01) * sd), rel=1e-8)


def test_rolling_conformal_quantiles_are_its_central_bands_ends(simulated):
    prices = 100 * np.exp(np.cumsum(simulated[:600]))
    rows, calibration = np.arange(500, 600), np.arange(300, 500)
    q = baselines.rolling_conformal_quantiles(prices, rows, calibration, 1, [0.1, 0.5, 0.9])
    lower, upper = baselines.rolling_conformal_band(prices, rows, calibration, 0.8)
    np.testing.assert_allclose(q[:, 0], lower)
    np.testing.assert_allclose(q[:, 2], upper)
    assert (np.diff(q, axis=1) > 0).all()
    q3 = baselines.rolling_conformal_quantiles(prices, rows, calibration, 3, [0.1, 0.9])
    assert np.median(q3[:, 1] / q3[:, 0]) > np.median(q[:, 2] / q[:, 0])   # wider at step 3

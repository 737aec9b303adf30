import json

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler

from forecast.errors import DataError, ModelDirError
from forecast.transforms import SeriesScaler, apply_transform, to_prices, transform_offset


def one_series(X: np.ndarray, fit_rows: int | None = None) -> SeriesScaler:
    """A SeriesScaler of one series, fit on its first ``fit_rows`` rows (default all)."""
    return SeriesScaler.fit(X, np.array([0, len(X)]),
                            np.array([len(X) if fit_rows is None else fit_rows]), ["x"])


def zeros(X: np.ndarray) -> np.ndarray:
    return np.zeros(len(X), int)


def test_scaler_matches_scikit_learn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * [1, 100, 1e6]
    ours, theirs = one_series(X), SkMinMaxScaler().fit(X)
    np.testing.assert_allclose(ours.transform(X, zeros(X)), theirs.transform(X), rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(ours.scale_[0], theirs.scale_)
    np.testing.assert_allclose(ours.min_[0], theirs.min_)


def test_constant_column_maps_like_scikit_learn():
    X = np.array([[1.0, 5.0], [2.0, 5.0]])
    np.testing.assert_allclose(one_series(X).transform(X, zeros(X)),
                               SkMinMaxScaler().fit(X).transform(X))


def test_a_series_constant_on_its_fit_rows_scales_later_rows_like_scikit_learn():
    # a volume that never moved in training, then does: a span of 0 counts as 1
    values = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 7.5]])
    scaler = SeriesScaler.fit(values, np.array([0, 4]), np.array([3]), ["x"])
    theirs = SkMinMaxScaler().fit(values[:3])
    np.testing.assert_allclose(scaler.transform(values, np.zeros(4, int)),
                               theirs.transform(values), rtol=0, atol=1e-12)


def test_inputs_are_not_mutated():
    X = np.array([[1.0, 2.0], [3.0, 5.0]])
    before = X.copy()
    scaler = one_series(X)
    scaler.transform(X, zeros(X))
    scaler.inverse_column(X, zeros(X), 1)
    np.testing.assert_array_equal(X, before)


def test_target_column_inverts_alone_without_padding():
    rng = np.random.default_rng(2)
    X = rng.uniform(10, 20, size=(40, 4))
    scaler = one_series(X)
    scaled = scaler.transform(X, zeros(X))
    np.testing.assert_allclose(scaler.inverse_column(scaled[:, 0], zeros(X), 0), X[:, 0],
                               atol=1e-9)
    np.testing.assert_allclose(scaler.inverse_column(scaled[:, 2:3], zeros(X), 2), X[:, 2:3],
                               atol=1e-9)


def test_scaler_json_round_trip_is_exact():
    X = np.random.default_rng(3).normal(size=(20, 2))
    scaler = one_series(X)
    again = SeriesScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.transform(X, zeros(X)), scaler.transform(X, zeros(X)))


def test_a_format_1_scaler_reads_as_one_series():
    X = np.random.default_rng(3).normal(size=(20, 2))
    raw = {"kind": "minmax", "feature_range": [0.0, 1.0],
           "data_min": X.min(axis=0).tolist(), "data_max": X.max(axis=0).tolist()}
    again = SeriesScaler.from_dict(json.loads(json.dumps(raw)))
    assert again.names == [""]
    np.testing.assert_array_equal(again.transform(X, zeros(X)),
                                  one_series(X).transform(X, zeros(X)))


@pytest.mark.parametrize("raw", [{}, {"kind": "minmax"}, {"kind": "pickle"}, [],
                                 {"kind": "minmax", "data_min": [0], "data_max": [1, 2]},
                                 {"kind": "minmax", "data_min": ["x"], "data_max": [1]}])
def test_damaged_scaler_json_is_a_model_dir_error(raw):
    with pytest.raises(ModelDirError, match="scaler.json"):
        SeriesScaler.from_dict(raw)


@pytest.mark.parametrize("kind", ["level", "log-return"])
def test_transform_scale_and_invert_round_trip(kind):
    rng = np.random.default_rng(4)
    prices = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, size=(200, 2)), axis=0))
    transformed = apply_transform(prices, kind)
    assert len(transformed) == len(prices) - transform_offset(kind)
    scaler = one_series(transformed, 100)
    back = scaler.inverse_column(scaler.transform(transformed, zeros(transformed))[:, 0],
                                 zeros(transformed), 0)
    off = transform_offset(kind)
    anchors = prices[off - 1:-1, 0] if off else np.zeros(len(back))
    rebuilt = to_prices(back[:, None], anchors, kind)[:, 0]
    np.testing.assert_allclose(rebuilt, prices[off:, 0], rtol=1e-9, atol=1e-9)


def test_multi_step_log_returns_compound():
    steps = np.log(np.array([[1.1, 1.1, 0.5]]))
    np.testing.assert_allclose(to_prices(steps, np.array([100.0]), "log-return"),
                               [[110.0, 121.0, 60.5]])


def test_log_return_names_the_row_with_a_non_positive_price():
    prices = np.array([[10.0], [11.0], [0.0], [12.0]])
    with pytest.raises(DataError, match=r"p.csv line 9, column 'Close'.*not positive"):
        apply_transform(prices, "log-return", source="p.csv", lines=[2, 5, 9, 11],
                        columns=["Close"])


def ohlc_panel(close_a, close_b, high_over_low=1.02):
    """A two-series panel with High and Low read as extra columns."""
    import pandas as pd

    from forecast.data import Panel

    frames = {}
    for name, close in (("a", close_a), ("b", close_b)):
        close = np.asarray(close, dtype=float)
        frames[name] = pd.DataFrame({"Close": close, "High": close * high_over_low,
                                     "Low": close}, index=pd.bdate_range("2020-01-01",
                                                                         periods=len(close)))
    return Panel.from_frames(frames, extra=["High", "Low"])


def test_derived_inputs_by_hand_never_crossing_series():
    from forecast.transforms import derived_inputs

    panel = ohlc_panel([100.0, 110.0, 99.0], [50.0, 25.0], high_over_low=1.5)
    out = derived_inputs(panel, ["abs-return", "log-range"])
    # abs-return: 0 on each series' first row (no step before it, never the other series')
    np.testing.assert_allclose(out[:, 0], [0, np.log(1.1), abs(np.log(99 / 110)), 0,
                                           np.log(2)])
    np.testing.assert_allclose(out[:, 1], np.log(1.5))


def test_model_inputs_align_derived_inputs_with_the_transformed_rows():
    from forecast.transforms import model_inputs

    panel = ohlc_panel([100.0, 110.0, 99.0], [50.0, 25.0])
    inputs, offsets = model_inputs(panel, "log-return", ["abs-return", "log-range"])
    assert offsets.tolist() == [0, 2, 3]
    np.testing.assert_allclose(inputs[:, 0], [np.log(1.1), np.log(0.9), np.log(0.5)])
    np.testing.assert_allclose(inputs[:, 1], np.abs(inputs[:, 0]))
    levels, _ = model_inputs(panel, "level", ["abs-return"])
    assert levels.shape == (5, 2) and levels[0, 1] == 0.0


def test_a_non_positive_low_is_named_by_line_and_column():
    from forecast.data import Panel
    from forecast.transforms import derived_inputs

    panel = ohlc_panel([100.0, 110.0, 99.0], [50.0, 25.0])
    panel.values[4, 2] = 0.0
    with pytest.raises(DataError, match=r"line 3, column 'Low': value 0 is not positive.*"
                                        "--derived-inputs none"):
        derived_inputs(panel, ["log-range"])
    with pytest.raises(DataError, match="no column 'High', which the log-range input reads"):
        derived_inputs(Panel.from_frames({"a": panel.frame.iloc[:3, :1]}), ["log-range"])


def test_tied_columns_are_scaled_in_the_target_units_from_zero():
    values = np.array([[-0.02, 0.02, 0.5], [0.04, 0.04, 0.7], [0.01, 0.01, 0.9],
                       [0.5, 0.5, 9.0]])                   # last row: not a fit row
    scaler = SeriesScaler.fit(values, np.array([0, 4]), np.array([3]), ["x"], tied=[1])
    np.testing.assert_allclose(scaler.data_min_[0], [-0.02, 0.0, 0.5])
    np.testing.assert_allclose(scaler.data_max_[0], [0.04, 0.06, 0.9])
    scaled = scaler.transform(values, np.zeros(4, int))
    # a move of 0.06 is one unit in both the target and its tied absolute-move column
    assert scaled[1, 0] - scaled[0, 0] == pytest.approx(1.0)
    assert scaled[1, 1] == pytest.approx(0.04 / 0.06)

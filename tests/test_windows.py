import numpy as np
import pandas as pd
import pytest

from forecast.data import Panel
from forecast.errors import DataError
from forecast.transforms import transform_offset
from forecast.transforms import SeriesScaler
from forecast.windows import Prepared, prepare_panel, rows_needed, split_dates, window_starts


def arange_prepared(data: np.ndarray, window: int, horizon: int) -> Prepared:
    """A one-series Prepared whose scaled panel is ``data`` (rows, features) as is."""
    offsets = np.array([0, len(data)])
    starts, series, first_rows = window_starts(offsets, window, horizon)
    scaler = SeriesScaler(["x"], np.zeros(data.shape[1]), np.ones(data.shape[1]))
    return Prepared(np.asarray(data, dtype=float), offsets, 0, scaler, window, horizon,
                    starts, series, first_rows, {})


def test_windows_on_arange_are_exact():
    data = np.arange(10, dtype=float).reshape(-1, 1)
    prepared = arange_prepared(data, window=3, horizon=2)
    X, y = prepared.X, prepared.y
    assert X.shape == (6, 3, 1) and y.shape == (6, 2)
    for i in range(6):
        assert X[i, :, 0].tolist() == [i, i + 1, i + 2]
        assert y[i].tolist() == [i + 3, i + 4]
    assert prepared.first_rows.tolist() == list(range(3, 9))


def test_windows_keep_features_in_order():
    data = np.stack([np.arange(6), 100 + np.arange(6)], axis=1).astype(float)
    prepared = arange_prepared(data, window=2, horizon=1)
    X, y = prepared.X, prepared.y
    assert X[0].tolist() == [[0, 100], [1, 101]]
    assert X[-1].tolist() == [[3, 103], [4, 104]]
    assert y[:, 0].tolist() == [2, 3, 4, 5]


def test_origins_include_the_last_window():
    prepared = arange_prepared(np.arange(5, dtype=float).reshape(-1, 1), window=3, horizon=1)
    starts, _, rows = prepared.origins()
    assert prepared.inputs(starts)[:, :, 0].tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert rows.tolist() == [3, 4, 5]          # the last window forecasts the first future row


def test_too_short_gives_empty_arrays():
    prepared = arange_prepared(np.zeros((3, 2)), window=3, horizon=1)
    assert prepared.X.shape == (0, 3, 2) and prepared.y.shape == (0, 1)


def test_fractions_split_one_series_chronologically():
    panel = one_series(np.arange(1, 101, dtype=float))
    train_end, val_end = split_dates(panel.dates, 0.1, 0.2).bounds(panel.dates, panel.offsets)
    assert (int(train_end[0]), int(val_end[0])) == (70, 80)


def split_at(rows: int, train_end: int, val_end: int, window: int, horizon: int) -> Prepared:
    panel = one_series(np.arange(1, rows + 1, dtype=float))
    split = split_dates(panel.dates, 0.1, 0.2, val_start=panel.dates[train_end],
                        test_start=panel.dates[val_end])
    return prepare_panel(panel, "level", window, horizon, split=split)


def test_every_target_row_in_exactly_one_split_for_horizon_one():
    prepared = split_at(20, 12, 16, window=3, horizon=1)
    first, masks = prepared.first_rows, prepared.masks
    assert first.tolist() == list(range(3, 20))
    total = masks["train"].astype(int) + masks["val"] + masks["test"]
    assert total.tolist() == [1] * len(first)
    assert first[masks["train"]].tolist() == list(range(3, 12))
    assert first[masks["val"]].tolist() == [12, 13, 14, 15]
    assert first[masks["test"]].tolist() == [16, 17, 18, 19]


def test_samples_whose_targets_straddle_a_boundary_are_dropped():
    prepared = split_at(20, 12, 16, window=3, horizon=3)   # last target = first + 2
    first, masks = prepared.first_rows, prepared.masks
    assert first.tolist() == list(range(3, 18))
    assert first[masks["train"]].tolist() == list(range(3, 10))   # last target <= 11
    assert first[masks["val"]].tolist() == [12, 13]                # targets within 12..15
    assert first[masks["test"]].tolist() == [16, 17]
    assert not (masks["train"] & masks["val"]).any()


def one_series(values: np.ndarray, name: str = "x") -> Panel:
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    index = pd.bdate_range("2020-01-01", periods=len(values))
    return Panel.from_frames({name: pd.DataFrame(values, index=index,
                                                 columns=[f"c{i}" for i in range(values.shape[1])])})


@pytest.mark.parametrize("kind", ["level", "log-return"])
def test_scaler_never_sees_a_validation_or_test_row(kind):
    rng = np.random.default_rng(1)
    values = 100 + np.cumsum(rng.uniform(0.1, 1, size=(60, 2)), axis=0)
    panel = one_series(values)
    split = split_dates(panel.dates, 0.1, 0.2)
    train_end = int(split.bounds(panel.dates, panel.offsets)[0][0])
    base = prepare_panel(panel, kind, window=4, horizon=1, split=split)
    wild = values.copy()
    wild[train_end:] *= 1000  # only validation and test rows change
    changed = prepare_panel(one_series(wild), kind, window=4, horizon=1, split=split)
    np.testing.assert_array_equal(base.scaler.data_min_, changed.scaler.data_min_)
    np.testing.assert_array_equal(base.scaler.data_max_, changed.scaler.data_max_)
    np.testing.assert_array_equal(base.scaler.center_, changed.scaler.center_)
    # Training rows scale into [0, 1]; and the change is visible to the scaler's output.
    train_rows = base.scaled[: train_end - base.offset]
    assert train_rows.min() == 0.0 and train_rows.max() == 1.0
    assert not np.allclose(changed.scaled, base.scaled)


def test_prepare_aligns_first_target_rows_with_price_rows():
    values = np.arange(1, 31, dtype=float)
    panel = one_series(values)
    split = split_dates(panel.dates, 0.1, 0.2)
    level = prepare_panel(panel, "level", window=3, horizon=1, split=split)
    # The unscaled target of each sample is the price at its first target row.
    unscaled = level.scaler.inverse_target(level.y[:, 0], level.series)
    np.testing.assert_allclose(unscaled, values[level.first_rows])
    logret = prepare_panel(panel, "log-return", window=3, horizon=1, split=split)
    r = logret.scaler.inverse_target(logret.y[:, 0], logret.series)
    np.testing.assert_allclose(r, np.log(values[logret.first_rows] /
                                         values[logret.first_rows - 1]))


def test_windows_never_cross_from_one_series_into_another():
    a = one_series(np.arange(1, 11, dtype=float), "a").frame
    b = one_series(np.arange(101, 108, dtype=float), "b").frame
    panel = Panel.from_frames({"a": a, "b": b})
    split = split_dates(panel.dates, 0.1, 0.2)
    prepared = prepare_panel(panel, "level", window=3, horizon=2, split=split)
    # 10 - 3 - 2 + 1 = 6 samples in a, 7 - 3 - 2 + 1 = 3 in b, none spanning both.
    assert np.bincount(prepared.series).tolist() == [6, 3]
    inputs = prepared.scaler.inverse_column(prepared.X[..., 0].reshape(-1),
                                            np.repeat(prepared.series, 3)).reshape(-1, 3)
    low, high = np.where(prepared.series == 0, 1, 101), np.where(prepared.series == 0, 10, 107)
    assert ((inputs >= low[:, None] - 1e-9) & (inputs <= high[:, None] + 1e-9)).all()
    targets = prepared.scaler.inverse_target(prepared.y, prepared.series)
    np.testing.assert_allclose(targets[:, 0], panel.values[panel.offsets[prepared.series]
                                                           + prepared.first_rows, 0])


def test_window_starts_are_arithmetic_on_offsets():
    starts, series, first = window_starts(np.array([0, 5, 5, 9]), window=2, horizon=1)
    assert starts.tolist() == [0, 1, 2, 5, 6]
    assert series.tolist() == [0, 0, 0, 2, 2]
    assert first.tolist() == [2, 3, 4, 2, 3]


def test_fractions_cut_the_union_of_dates_and_dates_split_every_series_alike():
    a = one_series(np.arange(1, 101, dtype=float), "a").frame
    b = a.iloc[50:]  # listed later: shares the cut dates
    panel = Panel.from_frames({"a": a, "b": b})
    split = split_dates(panel.dates, 0.1, 0.2)
    assert split.test_start == a.index[80] and split.val_start == a.index[70]
    train_end, val_end = split.bounds(panel.dates, panel.offsets)
    assert train_end.tolist() == [70, 20] and val_end.tolist() == [80, 30]
    given = split_dates(panel.dates, 0.1, 0.2, test_start=str(a.index[90].date()))
    assert given.test_start == a.index[90] and given.val_start == a.index[80]
    with pytest.raises(DataError, match="no rows on or after"):
        split_dates(panel.dates, 0.1, 0.2, test_start="2030-01-01")
    with pytest.raises(DataError, match="not before the test start"):
        split_dates(panel.dates, 0.1, 0.2, val_start="2020-05-01", test_start="2020-04-01")


@pytest.mark.parametrize("kind", ["level", "log-return"])
def test_no_training_target_reaches_the_validation_start_nor_a_validation_one_the_test_start(
        kind):
    # Price row r of each series is exp(r^2 / 1000): its level gives r back, and so does
    # its log-return (2r - 1) / 1000, so every target the network is given names its row.
    def prices(n):
        return np.exp(np.arange(n, dtype=float) ** 2 / 1000)

    a = one_series(prices(60), "a").frame
    b = pd.DataFrame({"c0": prices(45)}, index=a.index[12:57])  # starts later: other bounds
    panel = Panel.from_frames({"a": a, "b": b})
    split = split_dates(panel.dates, 0.15, 0.2)
    horizon = 3
    prepared = prepare_panel(panel, kind, window=4, horizon=horizon, split=split)
    assert prepared.train_end[0] != prepared.train_end[1]
    target = prepared.scaler.inverse_target(prepared.y, prepared.series)
    rows = np.sqrt(np.log(target) * 1000) if kind == "level" else (target * 1000 + 1) / 2
    rows = np.rint(rows).astype(int)
    np.testing.assert_array_equal(rows, prepared.first_rows[:, None] + np.arange(horizon))
    # (samples, horizon) the date of every target
    dates = panel.dates.to_numpy()[panel.offsets[prepared.series][:, None] + rows]
    val, test = split.val_start.to_datetime64(), split.test_start.to_datetime64()
    expected = {"train": (dates < val).all(axis=1),
                "val": ((dates >= val) & (dates < test)).all(axis=1),
                "test": (dates >= test).all(axis=1)}
    for name, mask in expected.items():
        np.testing.assert_array_equal(prepared.masks[name], mask, err_msg=name)
    # Each series has windows whose targets straddle each cut: they belong to no split.
    for s in range(2):
        own = prepared.series == s
        for cut in (val, test):
            straddle = own & (dates[:, 0] < cut) & (dates[:, -1] >= cut)
            assert straddle.sum() == horizon - 1
            assert not (prepared.masks["train"] | prepared.masks["val"]
                        | prepared.masks["test"])[straddle].any()


@pytest.mark.parametrize("center", ["median", "mean"])
@pytest.mark.parametrize("kind", ["level", "log-return"])
def test_each_series_is_centred_on_its_own_training_targets(kind, center):
    # Rising prices, so the targets of one row earlier or later have another median/mean.
    a = one_series(np.exp(np.arange(60) ** 2 / 1000), "a").frame
    b = pd.DataFrame({"c0": np.exp(np.arange(45) ** 1.5 / 200)}, index=a.index[12:57])
    panel = Panel.from_frames({"a": a, "b": b})
    prepared = prepare_panel(panel, kind, window=4, horizon=2, center=center,
                             split=split_dates(panel.dates, 0.15, 0.2))
    statistic = np.median if center == "median" else np.mean
    for s in range(2):
        train = prepared.masks["train"] & (prepared.series == s)
        # the network's first-step targets of the training windows are centred on 0
        assert statistic(prepared.y[train, 0]) == pytest.approx(0.0, abs=1e-12)
        assert prepared.scaler.center_[s] > 0.01


@pytest.mark.parametrize("window,horizon,kind,val_fraction,test_fraction", [
    (5, 1, "level", 0.1, 0.2), (5, 1, "log-return", 0.1, 0.2), (5, 3, "log-return", 0.1, 0.2),
    (4, 5, "level", 0.3, 0.3), (30, 2, "log-return", 0.05, 0.05)])
def test_the_rows_said_to_be_needed_give_each_split_a_window_and_one_less_does_not(
        window, horizon, kind, val_fraction, test_fraction):
    offset = transform_offset(kind)
    need = rows_needed(window, horizon, offset, val_fraction, test_fraction)
    for rows, enough in ((need, True), (need - 1, False)):
        panel = one_series(np.exp(np.linspace(0, 1, rows)))
        prepared = prepare_panel(panel, kind, window, horizon,
                                 split=split_dates(panel.dates, val_fraction, test_fraction))
        assert all(mask.any() for mask in prepared.masks.values()) == enough, rows


def test_a_validation_start_on_the_first_date_leaves_no_training_rows():
    dates = one_series(np.arange(1, 41, dtype=float)).dates
    with pytest.raises(DataError, match=f"--val-start {dates[0].date()}: input has no "
                                        "training rows before it"):
        split_dates(dates, 0.1, 0.2, val_start=str(dates[0].date()))
    assert split_dates(dates, 0.1, 0.2, val_start=str(dates[1].date())).val_start == dates[1]


def test_preparing_the_training_data_imports_no_tensorflow():
    """tune checks its data (``prepare_training``) before any trial: no TensorFlow for it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from forecast.config import ForecastConfig\n"
            "from forecast.windows import prepare_training\n"
            "from forecast.evaluation import score_segment\n"
            "import forecast.tuning.study\n"
            "heavy = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
            "print(heavy); sys.exit(1 if heavy else 0)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

"""Score tables as a command prints them (forecast.report)."""

import json

import numpy as np

from forecast import evaluation, report
from forecast.config import json_safe


def test_format_scores_shows_every_forecast():
    prices = np.array([5.0, 6.0, 4.0, 7.0])
    text = report.format_scores(evaluation.compare(prices, np.array([1, 2, 3]),
                                                 np.array([5.5, 5.0, 6.0]), 1.0))
    assert [line.split()[0] for line in text.splitlines()[1:4]] == ["model", "naive", "drift"]
    assert "up-days" in text


def test_tables_show_a_dash_and_json_null_for_undefined_figures():
    prices = np.array([5.0, 5.0, 5.0, 5.0])              # flat: no naive error to scale by
    scores = evaluation.compare(prices, np.array([1, 2, 3]), np.array([5.0, 5.0, 5.0]), 0.0)
    assert scores["naive"]["directional_accuracy"] is None
    assert np.isnan(scores["model"]["mase"]) and np.isnan(scores["model"]["rel_mae"])
    naive_row = report.format_scores(scores).splitlines()[2].split()
    assert naive_row[0] == "naive" and naive_row[4:] == ["-", "-", "-"]
    assert "nan" not in report.format_scores(scores)
    strict = json.dumps(json_safe(scores), allow_nan=False)
    assert json.loads(strict)["model"]["mase"] is None


def test_the_footer_of_an_interval_at_a_fractional_level():
    prices = np.array([5.0, 6.0, 4.0, 7.0])
    scores = evaluation.compare(prices, np.array([1, 2, 3]), np.array([5.5, 5.0, 6.0]), 1.0)
    scores["interval"] = {"level": 0.9677, "coverage": 2 / 3, "mean_width": 1.5}
    assert "96.77% interval covered 66.7%, mean width 1.5" in report.format_scores(scores)

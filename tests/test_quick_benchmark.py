"""benchmarks/quick.py's recorded table and its flags (the measuring itself is not tested:
benchmarks are never timed in the suite)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if not (BENCH / "quick.py").exists():  # a copy of the package and its tests alone (mutants)
    pytest.skip("benchmarks/ is not here", allow_module_level=True)
sys.path.insert(0, str(BENCH))
import quick  # noqa: E402


def test_benchmarks_md_records_every_figure_quick_prints():
    recorded = quick.read_recorded()
    assert list(recorded) == [name for name, *_ in quick.FIGURES]


def test_record_then_read_gives_the_figures_back(tmp_path):
    copy = tmp_path / "BENCHMARKS.md"
    copy.write_text(quick.BENCHMARKS.read_text())
    figures = {"sp500 training, forecast / plain Keras": 1.5,
               "panel training, forecast": 16162.4, "inspect, 1M-row OHLCV CSV": 1.11,
               "predict, next value, NumPy engine, peak RSS": 129}
    quick.write_recorded(figures, copy)
    back = quick.read_recorded(copy)
    assert back["sp500 training, forecast / plain Keras"] == 1.5
    assert back["panel training, forecast"] == 16162
    assert back["inspect, 1M-row OHLCV CSV"] == 1.11
    assert back["predict, next value, NumPy engine, peak RSS"] == 129
    assert back["sp500 training, plain Keras"] is None
    outside = quick.BENCHMARKS.read_text().split(quick.BEGIN)
    assert copy.read_text().startswith(outside[0])
    assert copy.read_text().endswith(outside[1].split(quick.END)[1])


def test_a_table_without_markers_is_refused(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n")
    with pytest.raises(SystemExit, match="no recorded-figures table"):
        quick.read_recorded(path)


@pytest.mark.parametrize("name, recorded, value, flagged", [
    ("sp500 training, forecast / plain Keras", 1.50, 1.40, False),   # 7% lower: within
    ("sp500 training, forecast / plain Keras", 1.50, 1.25, True),    # 20% lower
    ("sp500 training, forecast / plain Keras", 1.50, 2.50, False),   # faster
    ("inspect, 1M-row OHLCV CSV", 1.00, 1.10, False),
    ("inspect, 1M-row OHLCV CSV", 1.00, 1.20, True),                 # slower by 20%
    ("inspect, 1M-row OHLCV CSV", 1.00, 0.50, False),
    ("predict, next value, NumPy engine, peak RSS", 129, 160, True),
    ("panel training, forecast", 20000, 1000, False),                # shown, never flagged
    ("panel training, forecast / plain Keras", None, 0.1, False),    # not recorded yet
])
def test_a_figure_is_flagged_only_when_more_than_15_percent_worse(name, recorded, value, flagged,
                                                                  capsys):
    assert (quick.report({name: value}, {name: recorded}) == [name]) is flagged
    assert ("worse by more than 15%" in capsys.readouterr().out) is flagged


@pytest.mark.parametrize("argv, code", [([], 0), (["--strict"], 1)])
def test_a_flag_fails_the_run_only_with_strict(monkeypatch, capsys, argv, code):
    name = "inspect, 1M-row OHLCV CSV"
    monkeypatch.setattr(quick, "training", lambda epochs: {})
    monkeypatch.setattr(quick, "inspect_and_predict", lambda: {name: 2.0})
    monkeypatch.setattr(quick, "read_recorded", lambda: {name: 1.0})
    monkeypatch.setattr(sys, "argv", ["quick.py", *argv])
    with pytest.raises(SystemExit) as raised:
        quick.main()
    assert raised.value.code == code
    assert "1 figure(s) more than 15% worse than recorded: " + name in capsys.readouterr().out


def test_no_flag_passes_even_with_strict(monkeypatch, capsys):
    name = "inspect, 1M-row OHLCV CSV"
    monkeypatch.setattr(quick, "training", lambda epochs: {})
    monkeypatch.setattr(quick, "inspect_and_predict", lambda: {name: 1.1})
    monkeypatch.setattr(quick, "read_recorded", lambda: {name: 1.0})
    monkeypatch.setattr(sys, "argv", ["quick.py", "--strict"])
    with pytest.raises(SystemExit) as raised:
        quick.main()
    assert raised.value.code == 0
    assert "worse than recorded" not in capsys.readouterr().out

"""What a command prints as its result: score tables (one series, a panel's aggregate, per
series, intervals), their JSON view, and forecast tables as CSV, JSON or a file.

Formatting only: the scores themselves come from ``metrics`` and ``evaluation``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from forecast.console import emit, note, release_held
from forecast.errors import OutputError
from forecast.files import write_atomically
from forecast.metrics import BASELINES, INTERVAL_NAMES


def report_test_metrics(trained, data, out: Path, as_json: bool,
                        extra: Optional[dict] = None) -> None:
    """With --json the metrics (and ``extra``) on stdout; then, the command done, its
    notes, the test-row scores (model, naive, drift) and where the model went on stderr."""
    if as_json:
        emit({"model_dir": str(out), **(extra or {}),
              **single_series_view(trained.metrics, data.multi)}, True, str)
    release_held()
    print(format_segment(trained.metrics["test"], data.multi,
                         f"test rows, one step ahead, in {data.target} units:"),
          file=sys.stderr)
    print(f"forecast: model written to {out}", file=sys.stderr)


def format_segment(segment: dict, multi: bool, title: str, per_series: bool = False) -> str:
    """One segment's scores as text: the familiar table for one series; for a panel the
    aggregate over series (and, with ``per_series``, a row per series)."""
    if not multi:
        scores = next(iter(segment["series"].values()))
        text = format_scores(scores, title=title)
        if scores.get("intervals"):
            text += "\n" + format_intervals(scores["intervals"],
                                            band_name(scores["intervals"].get("band")))
        return text
    text = format_aggregate(segment["aggregate"], title=title)
    if "intervals" in segment["aggregate"]:
        band = next((s["intervals"].get("band") for s in segment["series"].values()
                     if s.get("intervals")), None)
        text += "\n" + format_interval_aggregate(segment["aggregate"]["intervals"],
                                                 band_name(band))
    if per_series:
        text += "\n" + format_per_series(segment["series"])
    return text


def band_name(band: Optional[str]) -> str:
    """What the tables call the model's band (``quantiles``, ``conformal`` or none)."""
    return {"quantiles": "model: the network's quantiles, CQR-calibrated",
            "conformal": "model: rolling-volatility conformal band around its forecast"
            }.get(band or "", "")


def single_series_view(result: dict, multi: bool) -> dict:
    """For a one-series model, each segment is that series' scores, as before panels."""
    if multi:
        return result
    return {k: (next(iter(v["series"].values())) if isinstance(v, dict) and "series" in v
                else v) for k, v in result.items()}


def format_scores(scores: dict, title: str = "") -> str:
    """A fixed-width table: one row per forecast, one column per metric."""
    names = [n for n in ("model", *BASELINES) if n in scores]
    headers = ["forecast", "MAE", "RMSE", "MAPE%", "MASE", "MAE/naive", "direction"]
    lines = [title] if title else []
    lines.append("".join(h.rjust(11) if i else h.ljust(9) for i, h in enumerate(headers)))
    for name in names:
        s = scores[name]
        cells = [s["mae"], s["rmse"], s["mape"], s["mase"], s["rel_mae"],
                 s["directional_accuracy"]]
        lines.append(name.ljust(9) + "".join(_fmt(v).rjust(11) for v in cells))
    footer = f"{scores.get('rows', 0)} rows; up-days {_pct(scores.get('up_share'))}" \
             " (the direction score of always-up)"
    if scores.get("interval"):
        iv = scores["interval"]
        footer += (f"; {iv['level'] * 100:.4g}% interval covered {_pct(iv['coverage'])}, "
                   f"mean width {_fmt(iv['mean_width'])}")
    lines.append(footer)
    return "\n".join(lines)


def _undefined(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def _fmt(value: float | None) -> str:
    if _undefined(value):
        return "-"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def format_intervals(compared: dict, band: str = "") -> str:
    """One series' ``compare_intervals`` as a table: one row per method."""
    lines = [f"{compared['level']:.0%} intervals, one step ahead{f' ({band})' if band else ''}:"]
    headers = ["coverage", "mean width", "score", "score/naive", "pinball"]
    lines.append("interval".ljust(18) + "".join(h.rjust(12) for h in headers))
    for method, name in INTERVAL_NAMES.items():
        f = compared.get(method)
        if not f:
            why = "  (too few training rows)" if method == "garch" else ""
            lines.append(name.ljust(18) + "n/a".rjust(12) + why)
            continue
        lines.append(name.ljust(18) + f"{f['coverage']:.1%}".rjust(12) + "".join(
            _fmt(v).rjust(12) for v in (f["mean_width"], f["interval_score"],
                                        f["rel_interval_score"], f["pinball"])))
    return "\n".join(lines)


def format_interval_aggregate(summary: dict, band: str = "") -> str:
    """``aggregate_intervals`` as a table: one row per method, then the share of wins."""
    lines = [f"{summary['level']:.0%} intervals, one step ahead{f' ({band})' if band else ''}:"]
    headers = ["median score/naive", "median pinball/naive", "pooled coverage"]
    lines.append("interval".ljust(18) + "".join(h.rjust(22) for h in headers))
    for method, name in INTERVAL_NAMES.items():
        f = summary[method]
        cov = f"{f['coverage']:.1%}" if math.isfinite(f["coverage"]) else "n/a"
        lines.append(name.ljust(18) + _fmt(f["median_rel_interval_score"]).rjust(22)
                     + _fmt(f["median_rel_pinball"]).rjust(22) + cov.rjust(22))
    share = summary["share_model_beats_garch"]
    if math.isfinite(share):
        lines.append(f"model's interval score below GARCH(1,1)'s on {share:.0%} of "
                     f"{summary['series_with_garch']} series")
    return "\n".join(lines)


def format_aggregate(summary: dict, title: str = "") -> str:
    """A fixed-width table of ``aggregate``: one row per forecast."""
    lines = [title] if title else []
    headers = ["forecast", "median MAE/naive", "mean MAE/naive", "series <= naive"]
    lines.append(headers[0].ljust(9) + "".join(h.rjust(18) for h in headers[1:]))
    for name in ("model", *BASELINES):
        s = summary[name]
        lines.append(name.ljust(9) + _fmt(s["median_rel_mae"]).rjust(18)
                     + _fmt(s["mean_rel_mae"]).rjust(18)
                     + f"{s['share_at_or_below_naive']:.0%}".rjust(18))
    footer = f"{summary['series']} series, {summary['rows']} rows"
    if "interval" in summary:
        iv = summary["interval"]
        footer += f"; {iv['level']:.0%} interval covered {iv['coverage']:.1%} (pooled)"
    lines.append(footer)
    return "\n".join(lines)


def format_per_series(per_series: dict[str, dict], title: str = "") -> str:
    """One row per series: MAE / naive of model and drift, direction, coverage."""
    lines = [title] if title else []
    lines.append("series".ljust(12) + "".join(h.rjust(12) for h in
                                               ("rows", "model/naive", "drift/naive",
                                                "direction", "coverage")))
    for name, s in per_series.items():
        cov = s.get("interval", {}).get("coverage", float("nan"))
        lines.append(str(name)[:12].ljust(12) + f"{s['rows']}".rjust(12)
                     + "".join(_fmt(v).rjust(12) for v in (
                         s["model"]["rel_mae"], s["drift"]["rel_mae"],
                         s["model"]["directional_accuracy"], cov)))
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if _undefined(value) else f"{value:.1%}"


def write_table(table: Any, as_json: bool, out: Optional[Path] = None) -> None:
    """A forecast table on stdout: CSV (a leading series column for a panel), or JSON
    records with --json; with ``out``, the same table to that file (CSV or Parquet by its
    suffix, typed dates and numbers in Parquet), written atomically."""
    if out is not None:
        write_table_file(table, out)
        return
    table = dated(table)
    emit(table.to_dict(orient="records"), as_json, lambda _: csv_text(table))


def write_table_file(table: Any, out: Path) -> None:
    """Write ``table`` to ``out`` through a temporary file renamed into place, so a reader
    never sees half a file and a failure leaves any older file as it was."""
    def write(tmp: str) -> None:
        if out.suffix.lower() == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            csv_text(dated(table), tmp)

    try:
        write_atomically(out, write)
    except OSError as exc:
        raise OutputError(f"--out {out}: cannot write ({exc.strerror}); choose another "
                          "path") from None
    note(f"wrote {out}")


def dated(table: Any) -> Any:
    """``table`` with its dates as text: ``%Y-%m-%d`` when every one is a midnight, else to
    the second."""
    daily = (table["date"].dt.normalize() == table["date"]).all()
    return table.assign(date=table["date"].dt.strftime("%Y-%m-%d" if daily else
                                                       "%Y-%m-%dT%H:%M:%S"))


def csv_text(table: Any, path: Optional[str] = None) -> Optional[str]:
    """The CSV of a forecast table (10 significant digits, \\n line ends), or into ``path``."""
    return table.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")


#: Segment titles of the VaR tables.
VAR_SEGMENTS = {"all": "all rows", "train": "training rows", "validation": "validation rows",
                "test": "test rows"}


def format_var(var: dict, multi: bool, per_series: bool = False) -> str:
    """``Forecaster.var_backtests`` as text: per step and segment, a row per tail level and
    method. One series: exceedance rate, each test's LR and p-value, pinball loss and the
    Basel zone; a panel: the pooled rate, the share of series each test rejects at 5%, the
    median relative pinball and the series per Basel zone (``per_series``: then one series
    at a time, as for one series)."""
    from forecast.evaluation import VAR_METHODS

    blocks = []
    for step, by_segment in var["steps"].items():
        ahead = f"{step} step{'s' if step != '1' else ''} ahead"
        for name, segment in by_segment.items():
            title = f"VaR backtests, {ahead}, {VAR_SEGMENTS[name]}"
            if multi:
                blocks.append(_var_pooled_table(segment["pooled"], VAR_METHODS,
                                                f"{title}, over {len(segment['series'])} "
                                                f"series ({var['note']}):"))
            if per_series or not multi:
                for series, levels in segment["series"].items():
                    head = f"{title}{f', {series}' if multi else ''}:"
                    blocks.append(_var_series_table(levels, VAR_METHODS, head))
            if segment.get("mcs"):
                blocks.append(_var_mcs_lines(segment["mcs"], VAR_METHODS))
    return "\n\n".join(blocks)


def _var_mcs_lines(mcs: dict, methods: dict) -> str:
    found = next((m for m in mcs.values() if m), None)
    if found is None:
        return "  Model Confidence Set: too few dates"
    lines = [f"  {1 - found['size']:.0%} Model Confidence Set of the pinball loss (block "
             f"bootstrap over {found['dates']} dates; MCS p-value, mean date-averaged "
             "relative loss):"]
    for key, m in mcs.items():
        if m:
            def shown(n: str) -> str:
                return f"{methods[n]} ({m['pvalues'][n]:.2f}, {_fmt(m['mean_loss'][n])})"
            kept = ", ".join(shown(n) for n in m["included"])
            out = ", ".join(shown(n) for n in methods if n not in m["included"])
            lines.append(f"  {key:<7}in: {kept}{f'; out: {out}' if out else ''}")
    return "\n".join(lines)


def _var_series_table(levels: dict, methods: dict, title: str) -> str:
    def cells(f: dict) -> str:
        zone = f["traffic_light"]
        basel = f"{zone['zone']} ({zone['exceptions']})" if zone else "-"
        return (f"{_lr(f['lr_pof'], f['p_pof']):>17}{_lr(f['lr_ind'], f['p_ind']):>17}"
                f"{_lr(f['lr_cc'], f['p_cc']):>17}{_fmt(f['pinball']):>10}  {basel}")
    return _var_table(levels, methods, title, f"{'Kupiec LR (p)':>17}{'indep. LR (p)':>17}"
                      f"{'cond. LR (p)':>17}{'pinball':>10}  Basel 250d", cells)


def _var_pooled_table(levels: dict, methods: dict, title: str) -> str:
    def cells(f: dict) -> str:
        zones = f["traffic_light"]
        basel = "/".join(str(zones[z]) for z in ("green", "yellow", "red")) if zones else "-"
        return (f"{_pct(f['share_rejected_pof']):>18}{_pct(f['share_rejected_ind']):>8}"
                f"{_pct(f['share_rejected_cc']):>8}{_fmt(f['median_rel_pinball']):>13}"
                f"  {basel}")
    return _var_table(levels, methods, title, f"{'rejected: Kupiec':>18}{'indep.':>8}"
                      f"{'cond.':>8}{'rel pinball':>13}  Basel green/yellow/red", cells)


def _var_table(levels: dict, methods: dict, title: str, header: str,
               cells: Callable[[dict], str]) -> str:
    """One VaR table: a row per level and method that has figures, its rate and expected
    rate, then ``cells`` of its figures under ``header``."""
    lines = [title, f"  {'level':<7}{'method':<20}{'rate':>7}{'expected':>9}{header}"]
    for key, per in levels.items():
        for method, label in methods.items():
            f = per.get(method)
            if f:
                lines.append(f"  {key:<7}{label:<20}{_pct(f['rate']):>7}"
                             f"{_pct(f['expected_rate']):>9}{cells(f)}")
    return "\n".join(lines)


def _lr(stat: float | None, p: float | None) -> str:
    return "-" if _undefined(stat) else f"{stat:.2f} ({p:.3f})"

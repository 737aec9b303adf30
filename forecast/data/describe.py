"""What ``inspect`` shows: ``describe_file`` (rows, series, dates, spacing, columns and the
choices the reader made) and ``format_description``.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Sequence

import numpy as np
import pandas as pd

from forecast import console
from forecast.config import MISSING_POLICIES
from forecast.errors import DataError, UsageError
from forecast.data.tables import read_tables
from forecast.data.dates import describe_spacing
from forecast.data.numbers import parse_numbers
from forecast.data.panel import panel_from_tables


def describe_file(sources: str | Path | Sequence[str | Path], *, target: str | None = None,
                  features: Sequence[str] = (), date_column: str | None = None,
                  series_column: str | None = None, wide: bool = False,
                  missing: str = "ffill", stdin: IO[bytes] | None = None,
                  series: Sequence[str] = (), date_format: str | None = None,
                  decimal: str | None = None, encoding: str | None = None) -> dict:
    """What ``train`` would read: rows, series, dates, spacing, columns, choices
    (``series``: only these)."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    if missing not in MISSING_POLICIES:
        raise UsageError(f"--missing must be one of {', '.join(MISSING_POLICIES)}; got '{missing}'")
    tables = read_tables(sources, stdin, encoding)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        console.warn(message)

    panel = panel_from_tables(tables, target=target, features=features,
                              date_column=date_column, series_column=series_column, wide=wide,
                              missing=missing, warn=note, date_format=date_format,
                              decimal=decimal)
    if series:
        panel = panel.select(series)
    table = tables[0]
    columns = []
    for col in table.cells.columns:
        if col == panel.date_column:
            kind, n_missing = "date", 0
        else:
            try:
                values, invalid = parse_numbers(table, col, decimal)
                kind = "text" if invalid.any() else "number"
            except DataError:  # mixed or ambiguous decimal separators (see number_format)
                values, invalid, kind = np.zeros(len(table.cells)), np.zeros(1, bool), \
                    "number (decimal separator unclear)"
            n_missing = int(np.isnan(values).sum() - invalid.sum())
        role = ("date" if col == panel.date_column else "series" if col == panel.series_column
                or panel.layout == "wide" else "target" if col == panel.target
                else "feature" if col in panel.features else "")
        columns.append({"name": col, "role": role, "type": kind, "missing": n_missing})
    index = panel.dates
    daily = index[:0] if (index.normalize() == index).all() else index  # decided once
    series = [{"name": name, "rows": int(panel.lengths[s]),
               "first_date": format_date(index[panel.offsets[s]], daily),
               "last_date": format_date(index[panel.offsets[s + 1] - 1], daily)}
              for s, name in enumerate(panel.names)]
    return {
        "source": panel.source,
        "layout": panel.layout,
        "rows": int(len(panel.values)),
        "rows_in_file": int(sum(len(t.cells) for t in tables)),
        "series_count": panel.n_series,
        "series_column": panel.series_column,
        "first_date": format_date(index.min(), index),
        "last_date": format_date(index.max(), index),
        "spacing": describe_spacing(index[panel.rows(int(np.argmax(panel.lengths)))]),
        "delimiter": table.delimiter,
        "date_column": panel.date_column,
        "target": panel.target,
        "features": panel.features,
        "missing_policy": missing,
        "notes": notes,
        "columns": columns,
        "series": series,
    }


def format_description(info: dict) -> str:
    """The human form of ``describe_file``: a short summary, then the columns as CSV
    (and, for a panel, one row per series)."""
    lines = [
        f"source: {info['source']}",
        f"rows: {info['rows']} used of {info['rows_in_file']}",
        f"dates: {info['first_date']} to {info['last_date']} ({info['spacing']})",
    ]
    if info["layout"] != "single":
        by = f", series column '{info['series_column']}'" if info["series_column"] else ""
        lines.append(f"series: {info['series_count']} ({info['layout']} layout{by})")
    lines += [
        f"target: {info['target']}",
        f"features: {', '.join(info['features']) or '(none besides the target)'}",
        *(f"note: {n}" for n in info["notes"]),
        "",
        "column,role,type,missing",
        *(f"{_csv_cell(c['name'])},{c['role']},{c['type']},{c['missing']}"
          for c in info["columns"]),
    ]
    if info["layout"] != "single":
        lines += ["", "series,rows,first_date,last_date",
                  *(f"{_csv_cell(s['name'])},{s['rows']},{s['first_date']},{s['last_date']}"
                    for s in info["series"])]
    return "\n".join(lines)


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(ch in text for ch in ',"\n') else text


def format_date(stamp: pd.Timestamp, index: pd.DatetimeIndex) -> str:
    """ISO date for data at midnight (daily and slower), ISO date and time otherwise."""
    if (index.normalize() == index).all():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat()

"""Tables to rows: one series, a series column (long), or wide (a column per series);
choosing the target and the series column; duplicates and the missing-value policy.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from forecast.errors import DataError, UsageError, where
from forecast.data.sources import quote_cell, shorten
from forecast.data.tables import (
    SERIES_NAMES, TICKER_COLUMN, Table, _by_name_tiers, _listed, _named, cell_text,
    resolve_column,
)
from forecast.data.dates import _UTC_OFFSET, find_date_column, parse_dates
from forecast.data.numbers import _read_as, parse_numbers, text_codes


#: The names the usual sources give the close, in tiers as ``DATE_NAME_TIERS``: Close; then
#: the adjusted close; then the sources' and languages' own words (Investing.com's Price,
#: nasdaq.com's Close/Last, Quandl's Last and Settle; German, French, Spanish, Italian,
#: Polish, Portuguese and Dutch).
TARGET_NAME_TIERS = (
    ("close",),
    ("adj close", "adjclose", "adjusted close", "adj close price", "adjusted close price"),
    ("price", "last", "close/last", "last price", "close price", "closing price", "closing",
     "last close", "settle", "schluss", "schlusskurs", "schlusspreis", "zuletzt", "cloture",
     "dernier", "cours de cloture", "cierre", "ultimo", "precio de cierre", "chiusura",
     "prezzo di chiusura", "zamkniecie", "ostatnio", "kurs zamkniecia", "fechamento",
     "slot", "slotkoers"),
)

DEFAULT_TARGETS = tuple(name for tier in TARGET_NAME_TIERS for name in tier)


def numeric_columns(table: Table, date_column: str) -> list[str]:
    """Columns (besides the date) whose every present cell is a finite number."""
    out = []
    for col in table.cells.columns:
        if col == date_column:
            continue
        try:
            values, invalid = parse_numbers(table, col)
        except DataError:  # numbers in a format only --decimal settles: still numbers
            out.append(col)
            continue
        if not invalid.any() and np.isfinite(values).any():
            out.append(col)
    return out


def choose_target(table: Table, date_column: str, target: str | None,
                  exclude: str | None = None) -> str:
    """``--target`` if given; else the close by its name (Close, else Adj Close, else the
    sources' words: ``TARGET_NAME_TIERS``), else the only numeric column (besides
    ``exclude``, the series column). Two candidates of one tier are ambiguous."""
    if target:
        return resolve_column(table, target, "--target")
    named = _by_name_tiers(table, TARGET_NAME_TIERS, (date_column, exclude))
    if len(named) == 1:
        return named[0]
    candidates = named or [c for c in numeric_columns(table, date_column) if c != exclude]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(f"{table.source} has no numeric column to forecast; columns are: "
                        f"{_listed(table.cells.columns)}")
    raise DataError(f"{table.source}: which column to forecast is ambiguous; pass --target, "
                    f"one of: {_listed(candidates)}")


def source_stem(source: str) -> str:
    """The series name a plain file gives: its stem, or ``stdin``."""
    return "stdin" if source in ("-", "<stdin>") else Path(source).stem


def series_name(table: Table) -> str:
    """The name of a file's one series: the ticker its header names, else its stem."""
    return table.ticker or source_stem(table.source)


@dataclass
class _Rows:
    """One table's rows in long form, before sorting: the reader's one intermediate shape."""

    codes: np.ndarray          # (rows,) series index within this table
    names: list[str]
    dates: pd.DatetimeIndex    # (rows,)
    values: np.ndarray         # (rows, columns)
    lines: np.ndarray          # (rows,)
    columns: list[str]
    date_column: str
    layout: str
    series_column: str | None = None
    extra: list[str] = field(default_factory=list)
    date_order: str | None = None  # of numeric dates, as the column settled it
    note: str = ""                # a warning about the choice of series column
    candidate: str | None = None  # a text column that could name the series (not taken)


def _series_date_order(codes: np.ndarray, stamps: np.ndarray) -> np.ndarray | None:
    """The order that sorts rows by series, then date (None: they already are): a stable
    sort by series alone when the dates already ascend (a file sorted by date), else
    both keys."""
    same = codes[1:] == codes[:-1]
    if (codes[1:] >= codes[:-1]).all() and (stamps[1:][same] >= stamps[:-1][same]).all():
        return None
    del same
    if (stamps[1:] >= stamps[:-1]).all():
        return np.argsort(codes, kind="stable")
    return np.lexsort((stamps, codes))


def _table_rows(table: Table, target: str | None, features: list[str], date_column: str | None,
                series_column: str | None, wide: bool, date_format: str | None = None,
                decimal: str | None = None, extra: list[str] | None = None,
                extra_optional: bool = False) -> _Rows:
    """One table in long form: parse dates and the used columns, find the series."""
    date_col = find_date_column(table, date_column)
    dates = parse_dates(table, date_col, date_format)
    order = table.parsed.get(("order", date_col, ""))
    if wide:
        if table.layout == "yfinance" and TICKER_COLUMN in table.cells.columns:
            raise UsageError(f"{table.source} is a yfinance download of several tickers, read "
                             "as a panel of them (each one's Close, High, ...) without --wide; "
                             "drop --wide")
        if extra and not extra_optional:
            raise UsageError(f"a --wide file has one column per series, so it cannot give "
                             f"{', '.join(extra)}; use a long file or --derived-inputs "
                             "abs-return")
        return dataclasses.replace(_wide_rows(table, date_col, dates, target, features,
                                              series_column, decimal), date_order=order)
    choice = choose_series(table, date_col, dates, series_column)
    series_col = choice.column
    target_col = choose_target(table, date_col, target, exclude=series_col)
    feature_cols = [resolve_column(table, f, "--features") for f in features if f.strip()]
    columns = list(dict.fromkeys([target_col, *feature_cols]))
    for col in (date_col, series_col):
        if col is not None and col in columns:
            raise UsageError(f"'{col}' is the {'date' if col == date_col else 'series'} "
                             "column; it cannot be a target or feature")
    extra_cols = [resolve_column(table, name, "--derived-inputs") for name in extra or []
                  if not extra_optional or _named(table, name) is not None]
    extra_cols = [c for c in dict.fromkeys(extra_cols)
                  if c not in columns and c not in (date_col, series_col)]
    columns += extra_cols
    values = np.column_stack([_numbers_or_fail(table, col, decimal=decimal) for col in columns])
    if series_col is None:
        return _Rows(np.zeros(len(dates), np.int64), [series_name(table)], dates,
                     values, table.lines, columns, date_col, "single", extra=extra_cols,
                     date_order=order, candidate=choice.candidate)
    codes, labels = series_codes(table, series_col)
    blank = labels.eq("").to_numpy()
    if blank.any():
        i = int(np.argmax(codes == int(np.argmax(blank))))
        raise DataError(f"{where(table.source, table.lines[i], series_col)}: empty series name; "
                        "every row of a long file needs one")
    return _Rows(codes.astype(np.int64), [str(u) for u in labels], dates, values,
                 table.lines, columns, date_col, "long", series_col, extra_cols, order,
                 choice.note)


def _wide_rows(table: Table, date_col: str, dates: pd.DatetimeIndex, target: str | None,
               features: list[str], series_column: str | None,
               decimal: str | None = None) -> _Rows:
    """A wide table: one series per numeric column. Leading blanks mean "not listed yet" and
    trailing ones "delisted": they shorten the series; blanks inside it stay for --missing."""
    if [f for f in features if f.strip()]:
        raise UsageError("--features cannot be used with --wide: every numeric column of a "
                         "wide file is one series of the same quantity")
    if series_column:
        raise UsageError("--series-column is for long files; a --wide file has one column "
                         "per series")
    names, blocks = [], []
    for col in table.cells.columns:
        if col == date_col:
            continue
        values = _numbers_or_fail(table, col, "with --wide every column besides the date "
                                              "is one series", decimal)
        present = np.flatnonzero(np.isfinite(values))
        if present.size:
            names.append(col)
            blocks.append((present[0], present[-1] + 1, values))
    if not names:
        raise DataError(f"{table.source} has no numeric column to read with --wide; columns "
                        f"are: {_listed(table.cells.columns)}")
    index = np.concatenate([np.arange(a, b) for a, b, _ in blocks])
    codes = np.repeat(np.arange(len(names)), [b - a for a, b, _ in blocks])
    values = np.concatenate([v[a:b] for a, b, v in blocks])[:, None]
    return _Rows(codes, names, dates[index], values, table.lines[index],
                 [target or "close"], date_col, "wide")


def find_series_column(table: Table, date_col: str, dates: pd.DatetimeIndex,
                       series_column: str | None = None) -> str | None:
    """The long layout's series column (None: a single series); see ``choose_series``."""
    return choose_series(table, date_col, dates, series_column).column


@dataclass
class SeriesChoice:
    """What ``choose_series`` decided.

    Attributes:
        column: the series column, or None (one series).
        note: a warning to give when the column was taken by its shape alone ("").
        candidate: a text column that could name the series but was not taken (its shape
            is not clear enough): the duplicate-date error names it and --series-column.
    """

    column: str | None
    note: str = ""
    candidate: str | None = None


#: A column taken by its shape alone: at least this share of rows must share their date
#: with another label (a panel's tickers trade on the same days; a note marks a few rows).
SHARED_DATES = 0.5


def choose_series(table: Table, date_col: str, dates: pd.DatetimeIndex,
                  series_column: str | None = None) -> SeriesChoice:
    """The long layout's series column: ``--series-column``, else the rule below.

    1. A column named like a series column (``SERIES_NAMES``: symbol, ticker, ...), of
       text or of whole-number codes (7203, 0005: read as text, leading zeros kept), is
       the series column when it has two labels or more and some label is on more than
       one row, whether or not dates repeat: two tickers that never share a date (one
       delisted as the next is listed, or at different UTC offsets) are two series, never
       one spliced together. A named column with a label per row is a row id.
    2. Only when some date is on more than one row, another text column (``Market``) is
       the series column when its shape is unmistakably a panel's: no blank cell, every
       label on two rows or more, no label with a date twice, and at least half the rows
       (``SHARED_DATES``) sharing their date with another label. Taking it is said in
       ``note``; two such columns are refused, naming ``--series-column``.
    3. A text column that would only split the repeated dates (a ``Note`` beside one
       revised row: a label on one row, blanks, few shared dates) never becomes the series
       column: it is the ``candidate`` that the duplicate-date error names with
       ``--series-column``. Numeric columns not named like a series column never are.
    """
    if series_column:
        col = resolve_column(table, series_column, "--series-column")
        if col == date_col:
            raise UsageError(f"--series-column '{col}' is the date column; name the column "
                             "that holds the ticker")
        labels = series_codes(table, col)[1]
        values = _non_codes(labels)
        if len(values) and not parse_numbers(table, col)[1].any():   # numbers, every cell
            example = values.iloc[0]
            raise DataError(f"{table.source}, column '{col}' (--series-column) holds numbers "
                            f"such as {quote_cell(example)}, not series names or codes; name "
                            "the column that holds the ticker")
        return SeriesChoice(col)
    others = [c for c in table.cells.columns if c != date_col]
    for col in others:
        if col.lower() in SERIES_NAMES:
            label_codes, labels = series_codes(table, col)
            if 2 <= len(labels) < len(label_codes) and (_is_text(table, col)
                                                         or _codes_only(labels)):
                return SeriesChoice(col)
    if not pd.Series(dates.asi8).duplicated().any():  # one row per date: one series (a
        return SeriesChoice(None)     # text column is a note; --series-column says otherwise)
    clear, could = [], []
    for col in others:
        if col.lower() in SERIES_NAMES or not _is_text(table, col):
            continue
        label_codes, labels = series_codes(table, col)
        shape = _panel_shape(label_codes, labels, dates)
        (clear if shape == "panel" else could if shape == "could" else []).append(col)
    if len(clear) > 1:
        raise DataError(f"{table.source}: columns {_listed(clear)} could each name the "
                        "series of a long file; pass --series-column NAME")
    if clear:
        return SeriesChoice(clear[0], f"took column '{clear[0]}' as the series column (its "
                                      "labels repeat the dates); pass --series-column to "
                                      "choose it yourself")
    return SeriesChoice(None, candidate=could[0] if could else None)


def _codes_only(labels: pd.Series) -> bool:
    """Whether every label that reads as a number is a whole-number code (7203, 0005): such
    a column names series (read as text), one of 1.5 or -2 holds values."""
    return not len(_non_codes(labels))


def _non_codes(labels: pd.Series) -> pd.Series:
    """The labels that read as numbers but are no whole-number code (1.5, -2, 1e5)."""
    numeric = ~np.isnan(_read_as(labels, ".")) | ~np.isnan(_read_as(labels, ","))
    return labels[numeric & ~labels.str.fullmatch("[0-9]+").to_numpy(bool)]


def _panel_shape(label_codes: np.ndarray, labels: pd.Series, dates: pd.DatetimeIndex) -> str:
    """``panel``: the rows split by label look like a panel's series (rule 2 of
    ``choose_series``); ``could``: splitting by label leaves no date twice within a label,
    but the shape is not clear; ``""``: neither."""
    if len(labels) < 2 or _pairs_repeat(label_codes, dates):
        return ""
    per_label = np.bincount(label_codes, minlength=len(labels))
    date_codes = pd.factorize(dates)[0]
    shared = np.bincount(date_codes)[date_codes] >= 2
    if labels.eq("").any() or per_label.min() < 2 or shared.mean() < SHARED_DATES:
        return "could"
    return "panel"


def series_codes(table: Table, column: str) -> tuple[np.ndarray, pd.Series]:
    """(rows,) each row's code in ``column`` and (distinct,) the stripped cells, in order
    of first appearance."""
    repeated = text_codes(table, column)
    if repeated is not None:
        return repeated[0], repeated[1]
    codes, uniques = pd.factorize(cell_text(table, column))
    return codes.astype(np.intp), pd.Series(np.asarray(uniques, dtype=object), dtype="str")


def _pairs_repeat(label_codes: np.ndarray, dates: pd.DatetimeIndex) -> bool:
    """Whether some (label, date) pair occurs twice, compared as integer codes."""
    date_codes, date_values = pd.factorize(dates)
    pairs = label_codes.astype(np.int64) * max(len(date_values), 1) + date_codes
    return bool(pd.Series(pairs).duplicated().any())   # hashing: np.unique sorts


def _is_text(table: Table, col: str) -> bool:
    """Whether no cell of ``col`` reads as a number (a column of names, not of values)."""
    try:
        values, invalid = parse_numbers(table, col)
    except DataError:  # numbers whose decimal separator only --decimal settles
        return False
    return bool(invalid.any()) and not np.isfinite(values).any()


def _numbers_or_fail(table: Table, col: str,
                     hint: str = "fix or blank the cell (blanks follow --missing)",
                     decimal: str | None = None) -> np.ndarray:
    """(rows,) the column as floats (NaN where blank); the first non-number is an error."""
    numbers, invalid = parse_numbers(table, col, decimal)
    if invalid.any():
        i = int(np.argmax(invalid))
        cell = cell_text(table, col).iloc[i]
        raise DataError(f"{where(table.source, table.lines[i], col)}: {quote_cell(cell)} is "
                        f"not a finite number; {hint}")
    return numbers


def _check_duplicates(codes: np.ndarray, dates: pd.DatetimeIndex, lines: np.ndarray,
                      names: list[str], sources: list[str], col: str, layout: str,
                      tables: Sequence[Table] = (), candidates: Sequence[str | None] = ()
                      ) -> None:
    """Duplicate dates within one series (rows sorted by series, then date) are an error.

    The message shows the time when the rows have one (hourly data across the autumn clock
    change repeats an hour), and the cells as written when they carry UTC offsets.
    ``tables`` and ``candidates`` (per series): the table each series was read from and a
    text column of it that could name the series (``choose_series``), named in the fix."""
    stamps = dates.asi8
    dup = (codes[1:] == codes[:-1]) & (stamps[1:] == stamps[:-1])
    if not dup.any():
        return
    i = int(np.argmax(dup)) + 1
    s = int(codes[i])
    series = "" if layout == "single" else f" in series {quote_cell(names[s])}"
    stamp = dates[i]
    timed = stamp != stamp.normalize()
    shown = stamp.strftime("%Y-%m-%d %H:%M:%S" if stamp.second else "%Y-%m-%d %H:%M") \
        if timed else str(stamp.date())
    written, fix = "", "keep one row per date"
    if s < len(tables):
        table = tables[s]
        cells = [cell_text(table, col).iloc[int(np.searchsorted(table.lines, line))]
                 for line in (lines[i - 1], lines[i])]
        if timed and any(re.search(_UTC_OFFSET, c) for c in cells):
            written = f"; written {quote_cell(cells[1])} and {quote_cell(cells[0])}"
    if timed:
        fix = ("the same wall-clock time twice, as a local clock change (summer time ending) "
               "gives: write the times in UTC, or keep one row per time")
    candidate = candidates[s] if s < len(candidates) else None
    if candidate:
        fix += (f"; if column {quote_cell(candidate)} names each row's series, pass "
                f"--series-column {shorten(candidate)}")
    raise DataError(f"{where(sources[s], lines[i], col)}: duplicate date {shown}{series} "
                    f"(also on line {lines[i - 1]}{written}); {fix}")


def apply_missing(values: np.ndarray, codes: np.ndarray, dates: pd.DatetimeIndex,
                  lines: np.ndarray, policy: str, names: list[str], sources: list[str],
                  columns: list[str]):
    """Apply ``--missing`` within each series (never filling from another series).

    Returns:
        values, codes, dates, lines with no NaN left, how many cells were filled (or rows
        dropped), and the warning to print ("" when nothing was missing).
    """
    mask = np.isnan(values)
    count = int(mask.sum())
    if count == 0:
        return values, codes, dates, lines, 0, ""
    if policy == "error":
        row, col = np.argwhere(mask)[0]
        raise DataError(f"{where(sources[codes[row]], lines[row], columns[col])}: empty cell; "
                        "fill it, or pass --missing ffill or --missing drop")
    where_from = sources[0] if len(set(sources)) == 1 else "the input files"
    if policy == "drop":
        keep = ~mask.any(axis=1)
        dropped = int((~keep).sum())
        return (values[keep], codes[keep], dates[keep], lines[keep], dropped,
                f"dropped {dropped} row(s) with empty cells in {where_from} (--missing drop)")
    filled = pd.DataFrame(values).groupby(codes, sort=False).ffill().to_numpy()
    leading = np.isnan(filled).any(axis=1)
    n_filled = int(mask[~leading].sum())
    parts = []
    if n_filled:
        parts.append(f"filled {n_filled} empty cell(s) in {where_from} with the previous row's "
                     "value")
    if leading.any():
        parts.append(f"dropped {int(leading.sum())} leading row(s) of {where_from} with empty "
                     "cells and no row before them to fill from")
    keep = ~leading
    return (filled[keep], codes[keep], dates[keep], lines[keep], n_filled,
            "; ".join(parts) + " (--missing ffill)")

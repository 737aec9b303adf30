"""The Panel (every series' rows, contiguous and date-sorted) and reading files into one:
``read_panel``, ``panel_from_tables``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Sequence

import numpy as np
import pandas as pd

from forecast.config import MISSING_POLICIES
from forecast.console import progress, warn
from forecast.errors import DataError, UsageError, where
from forecast.data.sources import quote_cell, shorten
from forecast.data.tables import (
    SERIES_NAMES, TICKER_COLUMN, Table, _by_name_tiers, _listed, _named, cell_text, read_tables,
    resolve_column,
)
from forecast.data.dates import (
    _UTC_OFFSET, check_date_format, describe_spacing, find_date_column, parse_dates,
    series_step,
)
from forecast.data.numbers import _read_as, check_decimal, parse_numbers, text_codes


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


@dataclass
class Panel:
    """One or many price series, each on its own ascending dates, stored end to end.

    A CSV of one ticker is a panel of one series: there is no other data shape.

    Attributes:
        values: (rows, columns) float64, C-contiguous; series s is rows
            ``offsets[s]:offsets[s + 1]``. Column 0 is the target.
        dates: (rows,) DatetimeIndex, ascending within each series.
        offsets: (series + 1,) int64 row boundaries.
        names: (series,) series names: the series column's values, the wide file's column
            names, or the file stems.
        target: the target column name as spelled in the (first) file.
        features: extra input columns, as spelled in the (first) file.
        source: the name used in messages (the file, or the files joined by ", ").
        lines: (rows,) 1-based line in its own file of each row.
        sources: (series,) the file each series came from.
        layout: ``single`` (one file, one series, no series column), ``long``, ``wide`` or
            ``files``. Every layout but ``single`` gives outputs a ``series`` column.
        date_column: the date column's name.
        series_column: the long layout's series column, else None.
        filled: cells the missing-value policy filled, or rows it dropped.
        digests: the sha256 (hex) of each file read.
        extra: raw columns read after the features only to derive inputs from (e.g. High
            and Low for the log range), as spelled in the (first) file.
        date_order: ``day-first`` or ``month-first``: the order of the numeric dates
            (02.01.2019) of the (first) file that had any, else None. Date options are
            read by it (``option_date``).
    """

    values: np.ndarray
    dates: pd.DatetimeIndex
    offsets: np.ndarray
    names: list[str]
    target: str
    features: list[str]
    source: str
    lines: np.ndarray
    sources: list[str]
    layout: str = "single"
    date_column: str = "Date"
    series_column: str | None = None
    filled: int = 0
    digests: list[str] = field(default_factory=list, repr=False)
    extra: list[str] = field(default_factory=list)
    date_order: str | None = None

    def __post_init__(self) -> None:
        # Dates are compared as int64 nanoseconds throughout (splits, duplicates, spacing).
        self.dates = pd.DatetimeIndex(self.dates).as_unit("ns")

    @classmethod
    def from_frames(cls, frames: dict[str, pd.DataFrame], source: str = "<memory>",
                    layout: str | None = None, extra: Sequence[str] = ()) -> "Panel":
        """A panel of in-memory series: name -> DataFrame indexed by ascending dates, the
        target column first (the same columns in each), the ``extra`` columns last. For
        tests and benchmarks."""
        names = list(frames)
        first = frames[names[0]]
        values = np.concatenate([f.to_numpy(float) for f in frames.values()])
        dates = pd.DatetimeIndex(np.concatenate([f.index.to_numpy() for f in frames.values()]))
        lengths = [len(f) for f in frames.values()]
        extra = [str(c) for c in extra]
        inputs = [str(c) for c in first.columns[:len(first.columns) - len(extra)]]
        if [str(c) for c in first.columns[len(inputs):]] != extra:
            raise ValueError(f"the extra columns {extra} must be the frames' last columns")
        return cls(np.ascontiguousarray(values), dates,
                   np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), names,
                   inputs[0], inputs[1:], source,
                   np.concatenate([np.arange(2, n + 2) for n in lengths]), [source] * len(names),
                   layout or ("single" if len(names) == 1 else "long"),
                   first.index.name or "Date", extra=extra)

    @property
    def columns(self) -> list[str]:
        """Every column read, in ``values`` order: the target, the features, the extras."""
        return [self.target, *self.features, *self.extra]

    @property
    def input_columns(self) -> list[str]:
        """The columns fed to the network as they are (transformed): target and features."""
        return [self.target, *self.features]

    def column(self, name: str) -> int | None:
        """The index in ``values`` of column ``name`` (case-insensitive), or None."""
        lower = [c.lower() for c in self.columns]
        return lower.index(name.lower()) if name.lower() in lower else None

    @property
    def n_series(self) -> int:
        return len(self.names)

    @property
    def multi(self) -> bool:
        """Whether outputs carry a ``series`` column (every layout but one plain file)."""
        return self.layout != "single"

    @property
    def sha256(self) -> str:
        """The sha256 of the file read; of several, the sha256 of their digests (hex, one
        per line, in order)."""
        if len(self.digests) == 1:
            return self.digests[0]
        return hashlib.sha256("\n".join(self.digests).encode()).hexdigest()

    @property
    def lengths(self) -> np.ndarray:
        """(series,) rows per series."""
        return np.diff(self.offsets)

    @property
    def frame(self) -> pd.DataFrame:
        """All rows as a DataFrame indexed by date (one series: the familiar price frame)."""
        frame = pd.DataFrame(self.values, index=self.dates, columns=self.columns)
        frame.index.name = self.date_column
        return frame

    def rows(self, s: int) -> slice:
        """The rows of series ``s``."""
        return slice(int(self.offsets[s]), int(self.offsets[s + 1]))

    def series_of_rows(self) -> np.ndarray:
        """(rows,) the series index of every row."""
        return np.repeat(np.arange(self.n_series), self.lengths)

    def target_of(self, s: int) -> np.ndarray:
        """(rows of s,) the target prices of series ``s`` (a view)."""
        return self.values[self.rows(s), 0]

    def select(self, names: Sequence[str], flag: str = "--series") -> "Panel":
        """The panel restricted to ``names`` (in that order); unknown names list the known."""
        known = {name: i for i, name in enumerate(self.names)}
        lower = {name.lower(): i for i, name in enumerate(self.names)}
        picked = []
        for name in names:
            i = known.get(name, lower.get(name.lower()))
            if i is None:
                raise UsageError(f"{flag}: no series {quote_cell(name)} in {self.source}; "
                                 f"series are: {_listed(self.names)}")
            picked.append(i)
        return self.take(picked)

    def recent(self, rows: int, span: pd.Timedelta) -> "Panel":
        """Each series' last ``rows`` rows, and every earlier row dated within ``span`` of
        its last date (itself when that is every row). Taking it again gives the same."""
        starts, ends = self.offsets[:-1], self.offsets[1:]
        stamps = self.dates.asi8
        cut = stamps[ends - 1] - span.value
        by_date = np.array([s + np.searchsorted(stamps[s:e], c)
                            for s, e, c in zip(starts, ends, cut)], dtype=np.int64)
        first = np.minimum(np.maximum(ends - rows, starts), by_date)
        if (first == starts).all():
            return self
        lengths = ends - first
        index = np.arange(int(lengths.sum())) + np.repeat(
            first - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return dataclasses.replace(
            self, values=np.ascontiguousarray(self.values[index]), dates=self.dates[index],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            lines=self.lines[index])

    def take(self, picked: Sequence[int]) -> "Panel":
        """The panel of series ``picked`` (indices), in that order."""
        picked = [int(i) for i in picked]
        if picked == list(range(self.n_series)):
            return self
        index = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1])
                                for i in picked]) if picked else np.empty(0, np.int64)
        lengths = self.lengths[picked]
        return dataclasses.replace(
            self, values=np.ascontiguousarray(self.values[index]), dates=self.dates[index],
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            names=[self.names[i] for i in picked], lines=self.lines[index],
            sources=[self.sources[i] for i in picked])


def unique_sorted(values: np.ndarray, return_inverse: bool = False):
    """``np.unique`` of a 1-D array of integers or dates (with ``return_inverse``, also the
    index of each value's unique), through pandas' hash table: the same result without
    NumPy 2.4's slow path (1.8 s for 2.5 M int64 values that a sort orders in 0.02 s)."""
    codes, uniques = pd.factorize(np.asarray(values), sort=True)
    uniques = np.asarray(uniques)
    return (uniques, codes.astype(np.intp)) if return_inverse else uniques


def source_stem(source: str) -> str:
    """The series name a plain file gives: its stem, or ``stdin``."""
    return "stdin" if source in ("-", "<stdin>") else Path(source).stem


def series_name(table: Table) -> str:
    """The name of a file's one series: the ticker its header names, else its stem."""
    return table.ticker or source_stem(table.source)


def read_panel(sources: Sequence[str | Path], *, target: str | None = None,
               features: Sequence[str] = (), date_column: str | None = None,
               series_column: str | None = None, wide: bool = False, missing: str = "ffill",
               stdin: IO[bytes] | None = None,
               warn: Callable[[str], None] | None = None, date_format: str | None = None,
               decimal: str | None = None, extra: Sequence[str] = (),
               extra_optional: bool = False, encoding: str | None = None) -> Panel:
    """Read one or several files (paths, or ``-`` for stdin once) into one Panel.

    Args:
        sources: the files; each is one series (named by its stem), a long file (a series
            column, given or detected) or, with ``wide``, one series per numeric column.
        target, features, date_column: as in ``prices_from_table``.
        series_column: the long layout's series column (default: detected).
        wide: every numeric column besides the date is one series of the same quantity.
        missing: ``ffill`` (warns how many cells), ``drop`` or ``error``.
        warn: where warnings go (default: stderr); only a successful read warns: a failure
            folds its explanation into the error.
        date_format: ``day-first``, ``month-first`` or a strftime pattern (``parse_dates``).
        decimal: ``.`` or ``,`` for every numeric column (default: decided per column).
        extra: more columns to read (``Panel.extra``), e.g. High and Low; with
            ``extra_optional`` only those the first file has (and none for ``wide``).
        encoding: the files' text encoding (``--encoding``; default UTF-8, or as a
            byte-order mark says).
    """
    check_date_format(date_format)
    check_decimal(decimal)
    if missing not in MISSING_POLICIES:
        raise UsageError(f"--missing must be one of {', '.join(MISSING_POLICIES)}; got '{missing}'")
    sources = [str(s) for s in sources]
    if not sources:
        raise UsageError("no PRICES given; pass a CSV file or - for stdin")
    if sources.count("-") > 1:
        raise UsageError("stdin (-) can be given only once")
    tables = read_tables(sources, stdin, encoding)
    return panel_from_tables(tables, target=target, features=features, date_column=date_column,
                             series_column=series_column, wide=wide, missing=missing,
                             warn=warn, date_format=date_format, decimal=decimal,
                             extra=extra, extra_optional=extra_optional)


def read_prices(source: str | Path, **options) -> Panel:
    """Read one file into a Panel (see ``read_panel``)."""
    return read_panel([source], **options)


def prices_from_table(table: Table, **options) -> Panel:
    """The Panel of one already-read table (see ``panel_from_tables``)."""
    return panel_from_tables([table], **options)


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


def panel_from_tables(tables: Sequence[Table], *, target: str | None = None,
                      features: Sequence[str] = (), date_column: str | None = None,
                      series_column: str | None = None, wide: bool = False,
                      missing: str = "ffill", warn: Callable[[str], None] | None = None,
                      date_format: str | None = None, decimal: str | None = None,
                      extra: Sequence[str] = (), extra_optional: bool = False) -> Panel:
    """Validate, sort and clean already-read tables into one Panel.

    Rows are sorted by date within each series (any input order), duplicate dates within a
    series are an error naming both lines, and ``missing`` applies within each series only.
    ``extra`` columns (see ``read_panel``) are read after the features.
    """
    warn = warn or _warn_stderr
    started = time.perf_counter()
    parts: list[_Rows] = []
    for table in tables:
        if parts:  # later files use the first file's columns, by name
            first = parts[0]
            inputs = first.columns[:len(first.columns) - len(first.extra)]
            target, features, extra, extra_optional = inputs[0], inputs[1:], first.extra, False
        parts.append(_table_rows(table, target, list(features), date_column, series_column,
                                 wide, date_format, decimal, list(extra), extra_optional))
    names: list[str] = []
    series_source: list[str] = []
    series_tables: list[Table] = []        # per series: its table, and a text column of it
    series_candidates: list[str | None] = []   # that could name the series (not taken)
    for table, part in zip(tables, parts):
        part_names = [series_name(table)] if part.layout == "single" else part.names
        series_tables += [table] * len(part_names)
        series_candidates += [part.candidate] * len(part_names)
        for name in part_names:
            if name in names:
                other = series_source[names.index(name)]
                raise DataError(f"two series are named '{name}' ({other} and {table.source}); "
                                "rename one file or series")
            names.append(name)
            series_source.append(table.source)
    starts = np.cumsum([0] + [len(p.names) for p in parts])
    stamps = np.concatenate([p.dates.asi8 for p in parts])
    codes = np.concatenate([p.codes + s for p, s in zip(parts, starts)])
    values = np.concatenate([p.values for p in parts])
    lines = np.concatenate([p.lines for p in parts])
    layout = parts[0].layout if len(parts) == 1 else "files"
    source = ", ".join(t.source for t in tables)
    choices = [p.note for p in parts if p.note]
    date_order = next((p.date_order for p in parts if p.date_order), None)
    first = dataclasses.replace(parts[0], codes=codes[:0], dates=pd.DatetimeIndex([]),
                                values=values[:0], lines=lines[:0])
    del parts   # their rows are in the arrays above: each copy goes once sorted

    order = _series_date_order(codes, stamps)
    if order is not None:
        codes, stamps, values, lines = codes[order], stamps[order], values[order], lines[order]
        del order
    dates = pd.DatetimeIndex(stamps.view("datetime64[ns]"))
    _check_duplicates(codes, dates, lines, names, series_source, first.date_column, layout,
                      series_tables, series_candidates)
    values, codes, dates, lines, filled, note = apply_missing(
        values, codes, dates, lines, missing, names, series_source, first.columns)
    counts = np.bincount(codes, minlength=len(names))
    if not counts.any():  # the commands that use the rows say how many they need
        raise DataError(f"{source} has no usable rows: {note}")
    empty = [names[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        warn(f"left out {len(empty)} series with no usable rows: {_listed(empty)}")
    for line in [*choices, note]:
        if line:
            warn(line)
    keep = np.flatnonzero(counts > 0)
    inputs = first.columns[:len(first.columns) - len(first.extra)]
    panel = Panel(np.ascontiguousarray(values, dtype=np.float64), dates,
                  np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), names,
                  inputs[0], inputs[1:], source, lines, series_source,
                  layout, first.date_column, first.series_column, filled,
                  [t.sha256 for t in tables], first.extra, date_order)
    panel = panel.take(keep)
    _check_spacing(panel)
    progress(f"found {panel.n_series:,} series, {len(panel.values):,} rows", started)
    return panel


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


def _check_spacing(panel: Panel) -> None:
    """Every series must share one spacing (daily, weekly, ...): a global model reads windows
    of rows, so a window must mean the same span of time in every series."""
    if panel.n_series < 2:
        return
    steps = np.array([series_step(panel.dates[panel.rows(s)]) if panel.lengths[s] >= 3
                      else np.nan for s in range(panel.n_series)])
    ok = np.isfinite(steps)
    if ok.sum() < 2:
        return
    t = int(np.argmax(np.where(ok, panel.lengths, -1)))   # the longest series sets it
    bad = ok & ((steps > 1.8 * steps[t]) | (steps < steps[t] / 1.8))
    if bad.any():
        s = int(np.argmax(bad))
        raise DataError(
            f"{panel.sources[s]}: series '{panel.names[s]}' is spaced "
            f"{describe_spacing(panel.dates[panel.rows(s)])} but series '{panel.names[t]}' is "
            f"spaced {describe_spacing(panel.dates[panel.rows(t)])}; a panel needs one "
            "spacing: resample first or pass --series to choose some")


def _warn_stderr(message: str) -> None:
    warn(message)


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
        _warn_stderr(message)

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

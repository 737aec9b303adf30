"""The Panel (every series' rows, contiguous and date-sorted) and reading files into one:
``read_panel``, ``panel_from_tables``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Sequence

import numpy as np
import pandas as pd

from forecast.config import MISSING_POLICIES
from forecast import console
from forecast.console import progress
from forecast.errors import DataError, UsageError
from forecast.data.sources import quote_cell
from forecast.data.tables import Table, _listed, read_tables
from forecast.data.dates import check_date_format, describe_spacing, series_step
from forecast.data.numbers import check_decimal
from forecast.data.layouts import (
    _Rows, _check_duplicates, _series_date_order, _table_rows, apply_missing, series_name,
)


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
        """The number of series."""
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
    warn = warn or console.warn
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

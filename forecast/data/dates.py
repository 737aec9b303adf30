"""Date columns: finding one, parsing its cells (ISO, numeric day/month orders, a format),
the dates that options give, and the name of a series' spacing.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from forecast.errors import DataError, UsageError, where
from forecast.data.sources import quote_cell
from forecast.data.tables import (
    Table, _by_name_tiers, _in_pandas_range, _listed, _typed_dates, cell_text, first_cell,
    resolve_column,
)


#: Date column names, compared as ``name_key`` gives them (case, accents, <>, dots and
#: underscores aside), in tiers: a column of the first tier with a name found wins; two of
#: one tier are ambiguous.
DATE_NAME_TIERS = (
    ("date", "datetime", "timestamp"),
    ("date time", "date/time", "trade date", "trading date", "local time", "gmt time",
     "utc time", "datum", "fecha", "data", "date heure", "fecha hora", "datum zeit",
     "\u65e5\u4ed8", "\u65e5\u671f"),
    ("time", "day", "dt", "period", "zeit", "tag", "jour", "dia", "giorno", "dzien"),
)

DATE_NAMES = tuple(name for tier in DATE_NAME_TIERS for name in tier)

#: --date-format shorthands for numeric dates such as 02.01.2019 (else a strftime pattern).
DATE_ORDERS = ("day-first", "month-first")

#: A numeric date whose day and month order the cell alone may not tell: two fields of 1-2
#: digits, a 2- or 4-digit year, one separator throughout, then an optional time.
_NUMERIC_DATE = r"([0-9]{1,2})([./-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})((?:[ T].*)?)"

#: A UTC offset or zone letter after a time: stripped, so the file's wall-clock time is kept.
_UTC_OFFSET = r"([0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)\s*(?:Z|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?)$"


def find_date_column(table: Table, date_column: str | None = None) -> str:
    """The date column: ``--date-column`` if given, else the one with a date name (Date,
    Datetime, Datum, Fecha, ...: ``DATE_NAME_TIERS``); two of one tier are ambiguous."""
    if date_column:
        return resolve_column(table, date_column, "--date-column")
    found = _by_name_tiers(table, DATE_NAME_TIERS)
    if len(found) == 1:
        return found[0]
    if found:
        raise DataError(f"{table.source}: which column holds the dates is ambiguous; pass "
                        f"--date-column, one of: {_listed(found)}")
    raise DataError(f"{table.source} has no date column (looked for Date, Datetime, "
                    "Timestamp, Time, Datum, Fecha, Data, ...); pass --date-column NAME; "
                    f"columns are: {_listed(table.cells.columns)}")


def parse_dates(table: Table, column: str, date_format: str | None = None) -> pd.DatetimeIndex:
    """Parse the date column at the file's own wall-clock time; the first unparsable cell is
    named by line.

    The day/month order of numeric dates (02.01.2019) is decided for the whole column
    (``date_order``), never per cell. ``date_format`` is ``day-first``, ``month-first`` or a
    strftime pattern such as ``%d.%m.%Y`` (``--date-format``).
    """
    check_date_format(date_format)
    if _typed_dates(table.cells[column]) and not (date_format and "%" in date_format
                                                  and column in table.inferred):
        index = pd.DatetimeIndex(table.cells[column])
        _refuse_empty_dates(table, column, index.isna())
        return (index.tz_localize(None) if index.tz is not None else index).as_unit("ns")
    text = cell_text(table, column)
    _refuse_empty_dates(table, column, text.eq("").to_numpy())
    # no date is that long: parsing a 1 MB cell took pandas seconds to refuse it
    cells = text.where(text.str.len() <= DATE_CHARS, "?")
    if date_format and "%" in date_format:
        fmt = date_format.replace("%z", "").replace("%Z", "").strip()
        dates = pd.to_datetime(_wall_clock(cells), errors="coerce", format=fmt)
        hint = f" with --date-format {date_format}; fix the cell or the pattern"
    else:
        dates = _parse_iso(cells)
        if dates is None:
            text_iso = _wall_clock(_numeric_dates_in_order(table, column, cells, date_format))
            dates = _parse_iso(text_iso)
            if dates is None:
                dates = _parse_any(text_iso, table.source, column)
        hint = (f" as {date_format} (--date-format); fix the cell" if date_format else
                "; use a format such as 2018-12-31")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{where(table.source, table.lines[i], column)}: cannot parse date "
                        f"{quote_cell(text.iloc[i])}{hint}")
    index = pd.DatetimeIndex(dates)
    if index.tz is not None:  # one offset for the whole column: keep the clock as written
        index = index.tz_localize(None)
    outside = (index < pd.Timestamp.min) | (index > pd.Timestamp.max)
    if outside.any():
        i = int(np.argmax(outside))
        raise DataError(f"{where(table.source, table.lines[i], column)}: date "
                        f"{quote_cell(text.iloc[i])} is outside the dates pandas can represent "
                        f"({pd.Timestamp.min:%Y-%m-%d} to {pd.Timestamp.max:%Y-%m-%d}); "
                        "fix the cell")
    return index.as_unit("ns")


#: Characters of the longest date cell read (2019-01-02T09:30:00.123456789+09:00 is 35).
DATE_CHARS = 64


def _refuse_empty_dates(table: Table, column: str, blank: np.ndarray) -> None:
    """A DataError naming the first row whose date is missing (``blank`` (rows,))."""
    if blank.any():
        line = table.lines[int(np.argmax(blank))]
        raise DataError(f"{where(table.source, line, column)}: empty date; every row needs one")


def option_date(value: str, flag: str, order: str | None = None,
                date_format: str | None = None) -> pd.Timestamp:
    """A date option (``--test-start``, ``--val-start``) read by the rules of the data's
    date cells: ISO 8601 as it is (a UTC offset dropped: the wall-clock time, as in the
    data); a numeric date such as 01.02.2018 in the day/month order of ``--date-format``,
    else ``order`` (the order the file's own dates settled, ``Panel.date_order``), else
    one its fields settle (a field above 12); one that nothing settles is refused, as a
    data cell is, with the ISO spellings to write instead. ``date_format`` may also be a
    strftime pattern. Raises UsageError naming ``flag``."""
    text = str(value).strip()
    cell = pd.Series([text], dtype="str")
    if text and len(text) <= DATE_CHARS:
        iso = _parse_iso(_wall_clock(cell))
        if iso is not None:
            return pd.Timestamp(iso.iloc[0]).tz_localize(None)
    fields = re.fullmatch(_NUMERIC_DATE, text) if len(text) <= DATE_CHARS else None
    if date_format and "%" in date_format:
        fmt = date_format.replace("%z", "").replace("%Z", "").strip()
        found = pd.to_datetime(_wall_clock(cell), errors="coerce", format=fmt).iloc[0]
        how = f"with --date-format {date_format}"
    elif fields:
        first, second = int(fields.group(1)), int(fields.group(3))
        chosen = date_format if date_format in DATE_ORDERS else order
        if chosen is None and first > 12 >= second:
            chosen = "day-first"
        elif chosen is None and second > 12 >= first:
            chosen = "month-first"
        elif chosen is None and first != second:
            day_first, month_first = (_iso_day(fields, o) for o in DATE_ORDERS)
            raise UsageError(f"{flag} {quote_cell(text)} could be day-first or month-first, "
                             "and neither the data's dates nor --date-format settle it; write "
                             f"it as ISO {day_first} (day-first) or {month_first} "
                             "(month-first)")
        found = pd.to_datetime(_wall_clock(pd.Series([_iso_day(fields, chosen or DATE_ORDERS[0])
                                                       + fields.group(5)])),
                               errors="coerce", format="mixed").iloc[0]
        how = f"as {chosen}" + (" (--date-format)" if date_format in DATE_ORDERS else
                                " (the order of the data's dates)" if order else "")
    else:
        try:
            found = pd.to_datetime(_wall_clock(cell), errors="coerce", format="mixed").iloc[0]
        except (ValueError, TypeError, OverflowError):
            found = pd.NaT
        how = ""
    if pd.isna(found):
        raise UsageError(f"{flag} {quote_cell(text)} is not a date{' ' + how if how else ''}; "
                         "write it as ISO, such as 2018-02-01")
    return pd.Timestamp(found).tz_localize(None) if pd.Timestamp(found).tz else \
        pd.Timestamp(found)


def check_option_date(value: str, flag: str, date_format: str | None = None) -> None:
    """Refuse a date option that is no date in either day/month order, before any data is
    read (``option_date`` reads it once the data's order is known)."""
    for order in DATE_ORDERS:
        try:
            option_date(value, flag, order, date_format)
            return
        except UsageError:
            pass
    raise UsageError(f"{flag} must be a date such as 2016-01-01, got {quote_cell(value)}")


def _iso_day(fields: re.Match, order: str) -> str:
    """The ISO day (2018-02-01) of a numeric date's fields (``_NUMERIC_DATE``) in ``order``."""
    day, month = (fields.group(1), fields.group(3)) if order == "day-first" else \
        (fields.group(3), fields.group(1))
    year = fields.group(4)
    if len(year) == 2:   # as strptime's %y
        year = ("20" if int(year) < 69 else "19") + year
    return f"{year}-{month.zfill(2)}-{day.zfill(2)}"


def check_date_format(date_format: str | None) -> None:
    """Refuse (UsageError) a ``--date-format`` that is no date order and no strftime pattern."""
    if date_format is not None and date_format not in DATE_ORDERS and "%" not in date_format:
        raise UsageError(f"--date-format must be day-first, month-first or a strftime pattern "
                         f"such as %d.%m.%Y; got '{date_format}'")


def _wall_clock(text: pd.Series) -> pd.Series:
    """Drop UTC offsets after times (09:30+09:00 -> 09:30): the clock as the file shows it."""
    return text.str.replace(_UTC_OFFSET, r"\1", regex=True)


def _parse_iso(text: pd.Series) -> pd.Series | None:
    """Every cell as ISO 8601 (the fast path), or None if any cell is not."""
    days = plain_iso_days(text)
    if days is not None:
        return days
    try:
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
    except (ValueError, TypeError, OverflowError):  # e.g. offsets that differ between rows
        return None
    return None if dates.isna().any() else dates


def plain_iso_days(text: pd.Series) -> pd.Series | None:
    """The daily file's dates: every cell a plain YYYY-MM-DD within pandas' range, read
    by pyarrow in one pass as ``pd.to_datetime(text, format="ISO8601")`` reads them (a
    property test checks it); None for anything else."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = pa.array(text, type=pa.large_string())
    if not pc.all(pc.equal(pc.utf8_length(cells), 10)).as_py():
        return None
    try:
        days = pc.cast(cells, pa.date32()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not _in_pandas_range(days):
        return None
    return pd.Series(days.astype("datetime64[ns]"), index=text.index)


def _parse_any(text: pd.Series, source: str, column: str) -> pd.Series:
    try:
        return pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{source}, column '{column}': cannot parse dates ({exc}); "
                        "use one format such as 2018-12-31") from None


def _numeric_dates_in_order(table: Table, column: str, text: pd.Series,
                            order: str | None) -> pd.Series:
    """Rewrite numeric dates (02.01.2019 09:30) as ISO (2019-01-02 09:30) in the column's
    one day/month order; other cells are returned unchanged."""
    parts = text.str.extract(f"^{_NUMERIC_DATE}$")
    matched = parts[0].notna().to_numpy()
    if not matched.any():
        return text
    first, second = parts[0].astype(float).to_numpy(), parts[2].astype(float).to_numpy()
    order = order or date_order(table, column, text, first, second, matched)
    table.parsed[("order", column, "")] = order   # --test-start reads by it (option_date)
    day, month = (parts[0], parts[2]) if order == "day-first" else (parts[2], parts[0])
    century = pd.Series(np.where(parts[3].astype(float) < 69, "20", "19"), index=text.index)
    year = parts[3].where(parts[3].str.len() == 4, century + parts[3])  # as strptime's %y
    iso = year + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + parts[4]
    return text.where(~matched, iso)


def date_order(table: Table, column: str, text: pd.Series, first: np.ndarray,
               second: np.ndarray, matched: np.ndarray) -> str:
    """``day-first`` or ``month-first`` for the numeric dates of a whole column.

    A first field above 12 can only be a day, a second field above 12 only a day: either
    settles the column. Both kinds in one column, or a column that no cell settles (and
    whose order matters), is a DataError naming the lines and the --date-format to pass.
    """
    day_first = matched & (first > 12) & (second <= 12)
    month_first = matched & (second > 12) & (first <= 12)

    if day_first.any() and month_first.any():
        (d_line, d_cell) = first_cell(table, text, day_first)
        (m_line, m_cell) = first_cell(table, text, month_first)
        raise DataError(f"{where(table.source, d_line, column)}: {quote_cell(d_cell)} is "
                        f"day-first but line {m_line} {quote_cell(m_cell)} is month-first; use "
                        "one order in the column, or pass --date-format day-first or "
                        "month-first")
    if day_first.any():
        return "day-first"
    if month_first.any():
        return "month-first"
    differ = matched & (first != second)
    if not differ.any():  # 01.01.2019, 02.02.2019: either order reads the same
        return "day-first"
    line, example = first_cell(table, text, differ)
    fields = re.fullmatch(_NUMERIC_DATE, example)
    sep, year = fields.group(2), "%Y" if len(fields.group(4)) == 4 else "%y"
    raise DataError(f"{where(table.source, line, column)}: {quote_cell(example)} could be "
                    "day-first or month-first, and no date in the column has a day above 12 "
                    "to settle it; "
                    f"pass --date-format day-first (%d{sep}%m{sep}{year}) or --date-format "
                    f"month-first (%m{sep}%d{sep}{year})")


def series_step(dates: pd.DatetimeIndex) -> float:
    """Median seconds between consecutive rows (NaN for fewer than two rows)."""
    if len(dates) < 2:
        return float("nan")
    return float(np.median(np.diff(dates.asi8))) / 1e9


def describe_spacing(index: pd.DatetimeIndex) -> str:
    """A name for the rows' spacing: business days, daily, weekly, hourly, or the median step."""
    if len(index) < 2:
        return "single row"
    steps = np.diff(index.to_numpy()).astype("timedelta64[s]").astype(np.int64)
    median = float(np.median(steps))
    day = 86400.0
    if median == day or (day <= median <= 3 * day and np.all(index.day_of_week < 5)):
        if np.all(index.day_of_week < 5) and np.any(steps > day):
            return "business days"
        return "daily"
    names = {7 * day: "weekly", 3600.0: "hourly", 60.0: "minutely"}
    if median in names:
        return names[median]
    if 28 * day <= median <= 31 * day:
        return "monthly"
    return f"every {pd.Timedelta(seconds=median)}"

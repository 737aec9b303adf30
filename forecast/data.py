"""Read a price CSV (a path or ``-`` for stdin) into a date-sorted, validated DataFrame.

Pure pandas/NumPy. Every problem is a ``DataError`` that names the file, the 1-based line
in the file and the column, and says how to fix it.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

import numpy as np
import pandas as pd

from forecast.config import MISSING_POLICIES
from forecast.errors import DataError, UsageError, warn, where

DATE_NAMES = ("date", "datetime", "timestamp", "time", "day", "dt", "period")
DEFAULT_TARGETS = ("close", "adj close")
#: Cells read as missing values (compared lower-case, after stripping spaces).
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-", "."})
#: --date-format shorthands for numeric dates such as 02.01.2019 (else a strftime pattern).
DATE_ORDERS = ("day-first", "month-first")
#: --decimal: the decimal separator of every numeric column (default: decided per column).
DECIMALS = (".", ",")
#: A number with a decimal point, commas optionally grouping thousands: 1234.5, 1,234.5.
_POINT_NUMBER = r"[+-]?(?:[0-9]+|[1-9][0-9]{0,2}(?:,[0-9]{3})+)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"
#: A number with a decimal comma, dots optionally grouping thousands: 1234,5, 1.234,5.
_COMMA_NUMBER = r"[+-]?(?:[0-9]+|[1-9][0-9]{0,2}(?:\.[0-9]{3})+)?(?:,[0-9]*)?(?:[eE][+-]?[0-9]+)?"
#: A numeric date whose day and month order the cell alone may not tell: two fields of 1-2
#: digits, a 2- or 4-digit year, one separator throughout, then an optional time.
_NUMERIC_DATE = r"([0-9]{1,2})([./-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})((?:[ T].*)?)"
#: A UTC offset or zone letter after a time: stripped, so the file's wall-clock time is kept.
_UTC_OFFSET = r"([0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)\s*(?:Z|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?)$"


@dataclass
class Table:
    """A CSV as read: every cell a string, with the file line of each row.

    Attributes:
        source: the name used in messages (the path, or ``<stdin>``).
        cells: DataFrame of str, one column per header field, in file order.
        lines: 1-based line number in the file of each row of ``cells``.
        delimiter: the field separator found.
        raw: the bytes read, for hashing.
    """

    source: str
    cells: pd.DataFrame
    lines: np.ndarray
    delimiter: str
    raw: bytes = b""


@dataclass
class Prices:
    """The columns a model uses, as floats, indexed by date in ascending order.

    Attributes:
        frame: DataFrame (rows, 1 + len(features)); the target column first.
        target: the target column name as spelled in the file.
        features: extra input columns, as spelled in the file.
        source: the name used in messages.
        lines: 1-based file line of each row of ``frame`` (after sorting).
        filled: how many cells the missing-value policy filled or dropped.
        raw: the bytes read, for hashing.
    """

    frame: pd.DataFrame
    target: str
    features: list[str]
    source: str
    lines: np.ndarray
    filled: int = 0
    raw: bytes = field(default=b"", repr=False)

    @property
    def columns(self) -> list[str]:
        return [self.target, *self.features]


def source_name(source: str | Path) -> str:
    return "<stdin>" if str(source) == "-" else str(source)


def read_bytes(source: str | Path, stdin: IO[bytes] | None = None) -> bytes:
    """Read all of a file, or stdin for ``-``; a missing or unreadable file is a DataError."""
    if str(source) == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        if hasattr(stream, "isatty") and stream.isatty():
            print("forecast: reading prices from stdin (end with Ctrl-D)", file=sys.stderr)
        return stream.read()
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a CSV file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; check the path (use - to read stdin)") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def decode(raw: bytes, name: str) -> str:
    """Bytes to text: UTF-8 (a BOM is fine); binary content is refused with its offset."""
    nul = raw.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise DataError(f"{name} looks like a binary file (NUL byte at offset {nul}), "
                        "not a CSV; pass a text CSV with a header row")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{where(name, line)}: not UTF-8 text (byte {exc.start}); "
                        "re-save the file as UTF-8") from None


def sniff_delimiter(header: str) -> str:
    """The header line's separator: comma unless semicolons or tabs clearly take its place."""
    counts = {sep: header.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def read_table(source: str | Path, stdin: IO[bytes] | None = None) -> Table:
    """Read a CSV into strings, keeping the file line of each row. Raises DataError."""
    name = source_name(source)
    raw = read_bytes(source, stdin)
    text = decode(raw, name)
    if not text.strip():
        raise DataError(f"{name} is empty; expected a CSV with a header row and price rows")
    rows = text.splitlines()
    first = next(i for i, row in enumerate(rows) if row.strip())
    delimiter = sniff_delimiter(rows[first])
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                                  skipinitialspace=True))
    except csv.Error as exc:
        raise DataError(f"{name}: not a valid CSV ({exc}); check quoting") from None
    # csv.reader yields one record per logical row; quoted newlines are rare in price files,
    # so line numbers count physical lines and are exact without them.
    numbered = [(i + 1, rec) for i, rec in enumerate(records) if any(c.strip() for c in rec)]
    if not numbered:
        raise DataError(f"{name} has no header row, only separators; expected a CSV with a "
                        "header row and price rows")
    header_line, header = numbered[0]
    header = [h.strip() for h in header]
    _check_header(header, name, header_line)
    body = numbered[1:]
    if not body:
        raise DataError(f"{name} has a header but no data rows; add price rows below line "
                        f"{header_line}")
    width = len(header)
    for line, rec in body:
        if len(rec) != width:
            raise DataError(f"{where(name, line)}: {len(rec)} fields, but the header on line "
                            f"{header_line} has {width}; fix that row")
    cells = pd.DataFrame([rec for _, rec in body], columns=header, dtype=object)
    return Table(name, cells, np.array([line for line, _ in body]), delimiter, raw)


def _check_header(header: list[str], name: str, line: int) -> None:
    if len(header) < 2:
        raise DataError(f"{where(name, line)}: found {len(header)} column, need a date column "
                        "and at least one numeric column (is the separator a comma?)")
    seen: dict[str, str] = {}
    for col in header:
        if not col:
            raise DataError(f"{where(name, line)}: a column has an empty name; name every column")
        if col.lower() in seen:
            raise DataError(f"{where(name, line)}: column '{col}' appears twice "
                            "(names are case-insensitive); rename one")
        seen[col.lower()] = col


def resolve_column(table: Table, name: str, flag: str) -> str:
    """The header's spelling of ``name`` (case-insensitive); unknown names list what exists."""
    for col in table.cells.columns:
        if col.lower() == name.strip().lower():
            return col
    raise DataError(f"{table.source} has no column '{name}' ({flag}); columns are: "
                    f"{', '.join(table.cells.columns)}")


def find_date_column(table: Table, date_column: str | None = None) -> str:
    """The date column: ``--date-column`` if given, else the first with a date-like name."""
    if date_column:
        return resolve_column(table, date_column, "--date-column")
    for col in table.cells.columns:
        if col.lower() in DATE_NAMES:
            return col
    raise DataError(f"{table.source} has no date column (looked for "
                    f"{', '.join(DATE_NAMES)}); pass --date-column NAME; columns are: "
                    f"{', '.join(table.cells.columns)}")


def parse_dates(table: Table, column: str, date_format: str | None = None) -> pd.DatetimeIndex:
    """Parse the date column at the file's own wall-clock time; the first unparsable cell is
    named by line.

    The day/month order of numeric dates (02.01.2019) is decided for the whole column
    (``date_order``), never per cell. ``date_format`` is ``day-first``, ``month-first`` or a
    strftime pattern such as ``%d.%m.%Y`` (``--date-format``).
    """
    check_date_format(date_format)
    text = table.cells[column].astype(str).str.strip()
    blank = text.eq("")
    if blank.any():
        line = table.lines[int(np.argmax(blank.to_numpy()))]
        raise DataError(f"{where(table.source, line, column)}: empty date; every row needs one")
    if date_format and "%" in date_format:
        fmt = date_format.replace("%z", "").replace("%Z", "").strip()
        dates = pd.to_datetime(_wall_clock(text), errors="coerce", format=fmt)
        hint = f" with --date-format {date_format}; fix the cell or the pattern"
    else:
        dates = _parse_iso(text)
        if dates is None:
            text_iso = _wall_clock(_numeric_dates_in_order(table, column, text, date_format))
            dates = _parse_iso(text_iso)
            if dates is None:
                dates = _parse_any(text_iso, table.source, column)
        hint = (f" as {date_format} (--date-format); fix the cell" if date_format else
                "; use a format such as 2018-12-31")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{where(table.source, table.lines[i], column)}: cannot parse date "
                        f"'{text.iloc[i]}'{hint}")
    index = pd.DatetimeIndex(dates)
    if index.tz is not None:  # one offset for the whole column: keep the clock as written
        index = index.tz_localize(None)
    return index.as_unit("ns")


def check_date_format(date_format: str | None) -> None:
    if date_format is not None and date_format not in DATE_ORDERS and "%" not in date_format:
        raise UsageError(f"--date-format must be day-first, month-first or a strftime pattern "
                         f"such as %d.%m.%Y; got '{date_format}'")


def _wall_clock(text: pd.Series) -> pd.Series:
    """Drop UTC offsets after times (09:30+09:00 -> 09:30): the clock as the file shows it."""
    return text.str.replace(_UTC_OFFSET, r"\1", regex=True)


def _parse_iso(text: pd.Series) -> pd.Series | None:
    """Every cell as ISO 8601 (the fast path), or None if any cell is not."""
    try:
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
    except (ValueError, TypeError, OverflowError):  # e.g. offsets that differ between rows
        return None
    return None if dates.isna().any() else dates


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

    def cell(mask: np.ndarray) -> tuple[int, str]:
        i = int(np.argmax(mask))
        return int(table.lines[i]), text.iloc[i]

    if day_first.any() and month_first.any():
        (d_line, d_cell), (m_line, m_cell) = cell(day_first), cell(month_first)
        raise DataError(f"{where(table.source, d_line, column)}: '{d_cell}' is day-first but "
                        f"line {m_line} '{m_cell}' is month-first; use one order in the "
                        "column, or pass --date-format day-first or month-first")
    if day_first.any():
        return "day-first"
    if month_first.any():
        return "month-first"
    differ = matched & (first != second)
    if not differ.any():  # 01.01.2019, 02.02.2019: either order reads the same
        return "day-first"
    line, example = cell(differ)
    fields = re.fullmatch(_NUMERIC_DATE, example)
    sep, year = fields.group(2), "%Y" if len(fields.group(4)) == 4 else "%y"
    raise DataError(f"{where(table.source, line, column)}: '{example}' could be day-first or "
                    "month-first, and no date in the column has a day above 12 to settle it; "
                    f"pass --date-format day-first (%d{sep}%m{sep}{year}) or --date-format "
                    f"month-first (%m{sep}%d{sep}{year})")


def number_format(table: Table, column: str, text: pd.Series) -> str:
    """The decimal separator (``.`` or ``,``) of a whole column, from its cells.

    A cell such as 1.5, 1,234.5 or 1,234,567 can only be read with a decimal point; 1,5,
    1.234,5 or 1.234.567 only with a decimal comma; 1,134 and 1.134 either way (with
    different values). One kind settles the column; both kinds are a DataError naming
    both lines. A column that only such cells as 1,134 leave open is read with the decimal
    point in a comma-separated file (a decimal comma there would have to be quoted: the
    file's own separator settles it), and is refused with --decimal elsewhere.
    """
    point, comma = _read_as(text, "."), _read_as(text, ",")
    only_point = ~np.isnan(point) & np.isnan(comma)
    only_comma = np.isnan(point) & ~np.isnan(comma)

    def cell(mask: np.ndarray) -> tuple[int, str]:
        i = int(np.argmax(mask))
        return int(table.lines[i]), text.iloc[i]

    if only_point.any() and only_comma.any():
        (c_line, c_cell), (p_line, p_cell) = cell(only_comma), cell(only_point)
        raise DataError(f"{where(table.source, c_line, column)}: '{c_cell}' has a decimal "
                        f"comma but line {p_line} '{p_cell}' a decimal point; use one in the "
                        "column, or pass --decimal . or --decimal , to choose")
    if only_comma.any():
        return ","
    either = ~np.isnan(point) & (point != comma)
    if only_point.any() or not either.any() or table.delimiter == ",":
        return "."
    line, example = cell(either)
    raise DataError(f"{where(table.source, line, column)}: '{example}' could be "
                    f"{_plain(point[either][0])} or {_plain(comma[either][0])}, and no cell in "
                    "the column settles the decimal separator; pass --decimal , (decimal "
                    "comma) or --decimal . (decimal point)")


def _read_as(text: pd.Series, decimal: str) -> np.ndarray:
    """Each cell as a number with ``decimal`` as its separator (NaN where it is not one)."""
    if decimal == ".":
        fits = text.str.fullmatch(_POINT_NUMBER) & text.str.contains("[0-9]", regex=True)
        cleaned = text.str.replace(",", "", regex=False)
    else:
        fits = text.str.fullmatch(_COMMA_NUMBER) & text.str.contains("[0-9]", regex=True)
        cleaned = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(cleaned.where(fits, None), errors="coerce").to_numpy(float)


def _plain(value: float) -> str:
    return f"{value:.10g}"


def check_decimal(decimal: str | None) -> None:
    if decimal is not None and decimal not in DECIMALS:
        raise UsageError(f"--decimal must be . or , (the decimal separator); got '{decimal}'")


def parse_numbers(table: Table, column: str,
                  decimal: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parse one column into floats, with one number format for the whole column.

    Args:
        decimal: ``.`` or ``,`` (``--decimal``); default: decided by ``number_format``.
    Returns:
        values (rows,) float64 with NaN for missing cells, and the bool mask (rows,) of
        cells that are present but not a number.
    Raises:
        DataError: the column's number format is mixed or ambiguous (see ``number_format``).
    """
    check_decimal(decimal)
    text = table.cells[column].astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_MARKERS).to_numpy()
    present = text.where(~missing, "")
    values = None
    if decimal is None and table.delimiter == "," and \
            not present.str.contains(",", regex=False).any():
        # The usual CSV: no comma in any cell, so only a cell that is no point-decimal
        # number (1.234.567) could change the decision; skip it when there is none.
        values = _read_as(present, ".")
        if np.isnan(values[~missing]).any():
            values = None
    if values is None:
        values = _read_as(present, decimal or number_format(table, column, present))
    with np.errstate(invalid="ignore"):
        invalid = ~missing & ~np.isfinite(values)
    return np.where(missing, np.nan, values), invalid


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


def choose_target(table: Table, date_column: str, target: str | None) -> str:
    """``--target`` if given; else Close, else Adj Close, else the only numeric column."""
    if target:
        return resolve_column(table, target, "--target")
    lower = {c.lower(): c for c in table.cells.columns}
    for name in DEFAULT_TARGETS:
        if name in lower:
            return lower[name]
    candidates = numeric_columns(table, date_column)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(f"{table.source} has no numeric column to forecast; columns are: "
                        f"{', '.join(table.cells.columns)}")
    raise DataError(f"{table.source}: which column to forecast is ambiguous; pass --target, "
                    f"one of: {', '.join(candidates)}")


def read_prices(source: str | Path, *, target: str | None = None,
                features: list[str] | tuple[str, ...] = (), date_column: str | None = None,
                missing: str = "ffill", stdin: IO[bytes] | None = None,
                warn: Callable[[str], None] | None = None, date_format: str | None = None,
                decimal: str | None = None) -> Prices:
    """Read ``source`` into the columns a model uses, sorted by date.

    Args:
        source: a path, or ``-`` for stdin.
        target: the column to forecast (default rule in ``choose_target``).
        features: extra input columns.
        date_column: the date column (default: detected by name).
        missing: ``ffill`` (warns how many cells), ``drop`` or ``error``.
        stdin: a byte stream to read for ``-`` (default ``sys.stdin.buffer``).
        warn: where warnings go (default: stderr, prefixed ``forecast: warning:``); only
            a successful read warns: a failure folds its explanation into the error.
        date_format: ``day-first``, ``month-first`` or a strftime pattern (``parse_dates``).
        decimal: ``.`` or ``,`` for every numeric column (default: decided per column).

    Returns:
        Prices with ``frame`` of shape (rows, 1 + len(features)).
    """
    if missing not in MISSING_POLICIES:
        raise UsageError(f"--missing must be one of {', '.join(MISSING_POLICIES)}; got '{missing}'")
    table = read_table(source, stdin)
    return prices_from_table(table, target=target, features=features, date_column=date_column,
                             missing=missing, warn=warn, date_format=date_format,
                             decimal=decimal)


def prices_from_table(table: Table, *, target: str | None = None,
                      features: list[str] | tuple[str, ...] = (), date_column: str | None = None,
                      missing: str = "ffill",
                      warn: Callable[[str], None] | None = None,
                      date_format: str | None = None, decimal: str | None = None) -> Prices:
    """The validated, sorted price frame of an already-read table (see ``read_prices``)."""
    warn = warn or _warn_stderr
    date_col = find_date_column(table, date_column)
    target_col = choose_target(table, date_col, target)
    feature_cols = [resolve_column(table, f, "--features") for f in features if f.strip()]
    columns = list(dict.fromkeys([target_col, *feature_cols]))
    if date_col in columns:
        raise UsageError(f"'{date_col}' is the date column; it cannot be a target or feature")

    dates = parse_dates(table, date_col, date_format)
    values = {}
    for col in columns:
        numbers, invalid = parse_numbers(table, col, decimal)
        if invalid.any():
            i = int(np.argmax(invalid))
            cell = str(table.cells[col].iloc[i]).strip()
            raise DataError(f"{where(table.source, table.lines[i], col)}: '{cell}' is not a "
                            "finite number; fix or blank the cell (blanks follow --missing)")
        values[col] = numbers
    frame = pd.DataFrame(values, index=dates)
    frame.index.name = date_col
    order = np.argsort(frame.index.to_numpy(), kind="stable")
    frame, lines = frame.iloc[order], table.lines[order]
    _check_duplicates(frame.index, lines, table.source, date_col)
    frame, lines, filled, note = apply_missing(frame, lines, missing, table.source)
    if not len(frame):  # the commands that use the rows say how many they need
        raise DataError(f"{table.source} has no usable rows: {note}")
    if note:
        warn(note)
    return Prices(frame, target_col, [c for c in columns if c != target_col], table.source,
                  lines, filled, table.raw)


def _check_duplicates(index: pd.DatetimeIndex, lines: np.ndarray, source: str, col: str) -> None:
    dup = index.duplicated(keep="first")
    if dup.any():
        i = int(np.argmax(dup))
        first = lines[np.flatnonzero(index == index[i])[0]]
        raise DataError(f"{where(source, lines[i], col)}: duplicate date {index[i].date()} "
                        f"(also on line {first}); keep one row per date")


def apply_missing(frame: pd.DataFrame, lines: np.ndarray, policy: str, source: str
                  ) -> tuple[pd.DataFrame, np.ndarray, int, str]:
    """Apply ``--missing`` to the used columns.

    Returns:
        the frame with no NaN left, its file lines, how many cells were filled (ffill) or
        rows dropped (drop), and the note that says so ("" when nothing was missing).
    """
    mask = frame.isna().to_numpy()
    if not mask.any():
        return frame, lines, 0, ""
    if policy == "error":
        row, col = np.argwhere(mask)[0]
        raise DataError(f"{where(source, lines[row], frame.columns[col])}: empty cell; fill it, "
                        "or pass --missing ffill or --missing drop")
    if policy == "drop":
        keep = ~mask.any(axis=1)
        dropped = int((~keep).sum())
        return frame[keep], lines[keep], dropped, \
            f"dropped {dropped} row(s) with empty cells in {source} (--missing drop)"
    filled = frame.ffill()
    leading = filled.isna().any(axis=1).to_numpy()
    count = int(mask[~leading].sum())
    parts = []
    if count:
        parts.append(f"filled {count} empty cell(s) in {source} with the previous row's value")
    if leading.any():
        parts.append(f"dropped {int(leading.sum())} leading row(s) of {source} with empty "
                     "cells and no row before them to fill from")
    return filled[~leading], lines[~leading], count, "; ".join(parts) + " (--missing ffill)"


def _warn_stderr(message: str) -> None:
    warn(message)


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


def describe_file(source: str | Path, *, target: str | None = None,
                  features: list[str] | tuple[str, ...] = (), date_column: str | None = None,
                  missing: str = "ffill", stdin: IO[bytes] | None = None,
                  date_format: str | None = None, decimal: str | None = None) -> dict:
    """What ``train`` would read from ``source``: rows, dates, spacing, columns, choices."""
    table = read_table(source, stdin)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        _warn_stderr(message)

    prices = prices_from_table(table, target=target, features=features,
                               date_column=date_column, missing=missing, warn=note,
                               date_format=date_format, decimal=decimal)
    date_col = prices.frame.index.name
    columns = []
    for col in table.cells.columns:
        if col == date_col:
            kind, n_missing = "date", 0
        else:
            try:
                values, invalid = parse_numbers(table, col, decimal)
                kind = "text" if invalid.any() else "number"
            except DataError:  # mixed or ambiguous decimal separators (see number_format)
                values, invalid, kind = np.zeros(len(table.cells)), np.zeros(1, bool), \
                    "number (decimal separator unclear)"
            n_missing = int(np.isnan(values).sum() - invalid.sum())
        role = ("date" if col == date_col else "target" if col == prices.target
                else "feature" if col in prices.features else "")
        columns.append({"name": col, "role": role, "type": kind, "missing": n_missing})
    index = prices.frame.index
    return {
        "source": table.source,
        "rows": int(len(prices.frame)),
        "rows_in_file": int(len(table.cells)),
        "first_date": format_date(index[0], index),
        "last_date": format_date(index[-1], index),
        "spacing": describe_spacing(index),
        "delimiter": table.delimiter,
        "date_column": date_col,
        "target": prices.target,
        "features": prices.features,
        "missing_policy": missing,
        "notes": notes,
        "columns": columns,
    }


def format_description(info: dict) -> str:
    """The human form of ``describe_file``: a short summary, then the columns as CSV."""
    lines = [
        f"source: {info['source']}",
        f"rows: {info['rows']} used of {info['rows_in_file']}",
        f"dates: {info['first_date']} to {info['last_date']} ({info['spacing']})",
        f"target: {info['target']}",
        f"features: {', '.join(info['features']) or '(none besides the target)'}",
        *(f"note: {n}" for n in info["notes"]),
        "",
        "column,role,type,missing",
        *(f"{_csv_cell(c['name'])},{c['role']},{c['type']},{c['missing']}"
          for c in info["columns"]),
    ]
    return "\n".join(lines)


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(ch in text for ch in ',"\n') else text


def format_date(stamp: pd.Timestamp, index: pd.DatetimeIndex) -> str:
    """ISO date for data at midnight (daily and slower), ISO date and time otherwise."""
    if (index.normalize() == index).all():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat()

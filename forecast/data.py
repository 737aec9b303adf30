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
from forecast.errors import DataError, UsageError, where

DATE_NAMES = ("date", "datetime", "timestamp", "time", "day", "dt", "period")
DEFAULT_TARGETS = ("close", "adj close")
#: Cells read as missing values (compared lower-case, after stripping spaces).
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-", "."})
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")


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


def parse_dates(table: Table, column: str) -> pd.DatetimeIndex:
    """Parse the date column; the first unparsable cell is named by line."""
    text = table.cells[column].astype(str).str.strip()
    blank = text.eq("")
    if blank.any():
        line = table.lines[int(np.argmax(blank.to_numpy()))]
        raise DataError(f"{where(table.source, line, column)}: empty date; every row needs one")
    try:
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601")
        if dates.isna().any():
            dates = pd.to_datetime(text, errors="coerce", format="mixed")
    except (ValueError, TypeError, OverflowError):
        try:
            dates = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError) as exc:
            raise DataError(f"{table.source}, column '{column}': cannot parse dates ({exc}); "
                            "use one format such as 2018-12-31") from None
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{where(table.source, table.lines[i], column)}: cannot parse date "
                        f"'{text.iloc[i]}'; use a format such as 2018-12-31")
    index = pd.DatetimeIndex(dates)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("ns")


def parse_numbers(table: Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse one column into floats.

    Returns:
        values (rows,) float64 with NaN for missing cells, and the bool mask (rows,) of
        cells that are present but not a number.
    """
    text = table.cells[column].astype(str).str.strip()
    missing = text.str.lower().isin(MISSING_MARKERS)
    thousands = text.str.fullmatch(_THOUSANDS)
    cleaned = text.where(~thousands, text.str.replace(",", "", regex=False))
    if table.delimiter == ";":
        comma = text.str.fullmatch(_DECIMAL_COMMA) & ~thousands
        cleaned = cleaned.where(~comma, text.str.replace(",", ".", regex=False))
    values = pd.to_numeric(cleaned.where(~missing, None), errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        invalid = (~missing.to_numpy()) & ~np.isfinite(values)
    return np.where(missing.to_numpy(), np.nan, values), invalid


def numeric_columns(table: Table, date_column: str) -> list[str]:
    """Columns (besides the date) whose every present cell is a finite number."""
    out = []
    for col in table.cells.columns:
        if col == date_column:
            continue
        values, invalid = parse_numbers(table, col)
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
                warn: Callable[[str], None] | None = None) -> Prices:
    """Read ``source`` into the columns a model uses, sorted by date.

    Args:
        source: a path, or ``-`` for stdin.
        target: the column to forecast (default rule in ``choose_target``).
        features: extra input columns.
        date_column: the date column (default: detected by name).
        missing: ``ffill`` (warns how many cells), ``drop`` or ``error``.
        stdin: a byte stream to read for ``-`` (default ``sys.stdin.buffer``).
        warn: where warnings go (default: stderr, prefixed ``forecast: warning:``).

    Returns:
        Prices with ``frame`` of shape (rows, 1 + len(features)).
    """
    if missing not in MISSING_POLICIES:
        raise UsageError(f"--missing must be one of {', '.join(MISSING_POLICIES)}; got '{missing}'")
    table = read_table(source, stdin)
    return prices_from_table(table, target=target, features=features, date_column=date_column,
                             missing=missing, warn=warn)


def prices_from_table(table: Table, *, target: str | None = None,
                      features: list[str] | tuple[str, ...] = (), date_column: str | None = None,
                      missing: str = "ffill",
                      warn: Callable[[str], None] | None = None) -> Prices:
    """The validated, sorted price frame of an already-read table (see ``read_prices``)."""
    warn = warn or _warn_stderr
    date_col = find_date_column(table, date_column)
    target_col = choose_target(table, date_col, target)
    feature_cols = [resolve_column(table, f, "--features") for f in features if f.strip()]
    columns = list(dict.fromkeys([target_col, *feature_cols]))
    if date_col in columns:
        raise UsageError(f"'{date_col}' is the date column; it cannot be a target or feature")

    dates = parse_dates(table, date_col)
    values = {}
    for col in columns:
        numbers, invalid = parse_numbers(table, col)
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
    frame, lines, filled = apply_missing(frame, lines, missing, table.source, warn)
    if len(frame) < 2:
        raise DataError(f"{table.source} has {len(frame)} usable row(s); need at least 2")
    return Prices(frame, target_col, [c for c in columns if c != target_col], table.source,
                  lines, filled, table.raw)


def _check_duplicates(index: pd.DatetimeIndex, lines: np.ndarray, source: str, col: str) -> None:
    dup = index.duplicated(keep="first")
    if dup.any():
        i = int(np.argmax(dup))
        first = lines[np.flatnonzero(index == index[i])[0]]
        raise DataError(f"{where(source, lines[i], col)}: duplicate date {index[i].date()} "
                        f"(also on line {first}); keep one row per date")


def apply_missing(frame: pd.DataFrame, lines: np.ndarray, policy: str, source: str,
                  warn: Callable[[str], None]) -> tuple[pd.DataFrame, np.ndarray, int]:
    """Apply ``--missing`` to the used columns.

    Returns:
        the frame with no NaN left, its file lines, and how many cells were filled or
        (for ``drop``) how many rows were dropped.
    """
    mask = frame.isna().to_numpy()
    count = int(mask.sum())
    if count == 0:
        return frame, lines, 0
    if policy == "error":
        row, col = np.argwhere(mask)[0]
        raise DataError(f"{where(source, lines[row], frame.columns[col])}: empty cell; fill it, "
                        "or pass --missing ffill or --missing drop")
    if policy == "drop":
        keep = ~mask.any(axis=1)
        warn(f"dropped {int((~keep).sum())} row(s) with empty cells in {source} (--missing drop)")
        return frame[keep], lines[keep], int((~keep).sum())
    filled = frame.ffill()
    leading = filled.isna().any(axis=1).to_numpy()
    message = f"filled {count - int(filled.isna().to_numpy().sum())} empty cell(s) in {source} " \
              "with the previous row's value (--missing ffill)"
    if leading.any():
        message += f"; dropped {int(leading.sum())} leading row(s) with nothing to fill from"
    warn(message)
    return filled[~leading], lines[~leading], count


def _warn_stderr(message: str) -> None:
    print(f"forecast: warning: {message}", file=sys.stderr)


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
                  missing: str = "ffill", stdin: IO[bytes] | None = None) -> dict:
    """What ``train`` would read from ``source``: rows, dates, spacing, columns, choices."""
    table = read_table(source, stdin)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        _warn_stderr(message)

    prices = prices_from_table(table, target=target, features=features,
                               date_column=date_column, missing=missing, warn=note)
    date_col = prices.frame.index.name
    columns = []
    for col in table.cells.columns:
        if col == date_col:
            kind, n_missing = "date", 0
        else:
            values, invalid = parse_numbers(table, col)
            kind = "text" if invalid.any() else "number"
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

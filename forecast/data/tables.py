"""Files to Tables: the fast pyarrow CSV reader, the careful reader that names the bad cell,
Parquet, and header layouts (yfinance's three header rows); naming columns.

Every problem is a ``DataError`` that names the file, the 1-based line and the column.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Sequence

import numpy as np
import pandas as pd

from forecast.console import progress
from forecast.errors import DataError, where
from forecast.data.sources import (
    PARQUET_MAGIC, _Scan, _bom_codec, _judge_start, _refuse_nul, _regular, check_encoding, decode,
    is_utf8, open_source, read_bytes, sniff_delimiter, source_name,
)


#: Cells read as missing values (compared lower-case, after stripping spaces).
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-", "."})


@dataclass
class Table:
    """A file as read: its cells, with the file line of each row.

    Attributes:
        source: the name used in messages (the path, or ``<stdin>``).
        cells: DataFrame, one column per header field, in file order: text (str), except
            columns that hold numbers or plain YYYY-MM-DD dates in every cell, which a
            comma-separated file read by the fast reader and a Parquet file give typed
            (float64 with NaN for blanks; datetime64). ``cell_text`` gives any column as
            text.
        lines: 1-based line number in the file of each row of ``cells``.
        delimiter: the field separator found.
        sha256: the hex digest of the bytes read.
        inferred: typed columns of a CSV, whose cells ``cell_text`` re-reads as written.
        reread: (columns) -> {column: text cells}, for ``inferred`` columns.
    """

    source: str
    cells: pd.DataFrame
    lines: np.ndarray
    delimiter: str
    sha256: str = ""
    inferred: frozenset = frozenset()
    reread: Callable[[list[str]], dict[str, pd.Series]] | None = field(default=None,
                                                                        repr=False)
    #: parse_numbers' results by (column, decimal): several decisions read one column.
    parsed: dict = field(default_factory=dict, repr=False, compare=False)
    #: the written text of ``inferred`` columns, once re-read.
    texts: dict = field(default_factory=dict, repr=False, compare=False)
    #: the one ticker the file's header names (a yfinance download), else "": the name of
    #: its series when the file is one series.
    ticker: str = ""
    #: the header layout the file was written in (``header_layout``): "" or "yfinance".
    layout: str = ""


def read_tables(sources: Sequence[str | Path], stdin: IO[bytes] | None = None,
                encoding: str | None = None) -> list[Table]:
    """``read_table`` of each source, saying how many rows each had when reading is slow."""
    check_encoding(encoding)
    started, tables = time.perf_counter(), []
    for source in sources:
        tables.append(read_table(source, stdin, encoding))
        progress(f"read {tables[-1].source}: {len(tables[-1].cells):,} rows", started)
    return tables


def read_table(source: str | Path, stdin: IO[bytes] | None = None,
               encoding: str | None = None) -> Table:
    """Read a CSV (or a Parquet file, known by its first bytes) into a Table, keeping the
    file line of each row. A file is read once, hashed as it goes; only the careful
    reader (a file the fast one leaves to it, or one in an ``encoding`` besides UTF-8)
    and Parquet hold all its bytes. Raises DataError.

    The first bytes are judged before the rest is read: binary ones (a NUL byte, bytes
    that are no text in the encoding) are refused at once, so a 300 MB random file or an
    endless ``/dev/urandom`` costs one read. A stream that is no regular file (stdin, a
    pipe, a device) is read to its end here, in the main thread, where SIGINT and SIGTERM
    stop it (a read inside pyarrow's parser cannot be), and a NUL byte in UTF-8 text ends
    the read at once."""
    name = source_name(source)
    codec = check_encoding(encoding)
    _share_allocator()
    stream = open_source(source, stdin)
    spool = str(source) == "-" or not _regular(stream)   # a stream that cannot be read twice
    try:
        scan = _Scan(stream, keep=spool)
        if scan.first[:4] == PARQUET_MAGIC:
            raw = scan.rest()
            return parquet_table(raw, name, scan.sha256)
        _judge_start(scan.start, name, encoding)
        if spool:
            scan.spool(name, is_utf8(codec or _bom_codec(scan.start)))
        fast = _fast_table(scan, name, None if spool else Path(source)) \
            if is_utf8(codec) else None
        if fast is not None:
            return fast
        raw = scan.rest() if spool else None
    except OSError as exc:
        raise DataError(f"{name}: cannot read ({exc.strerror or exc})") from None
    finally:
        if str(source) != "-":
            stream.close()
    if raw is None:
        raw = read_bytes(source)
    text = decode(raw, name, encoding)
    _refuse_nul(text, text.find("\x00"), name)
    if not text.strip():
        raise DataError(f"{name} is empty; expected a CSV with a header row and price rows")
    return _careful_table(text, name, hashlib.sha256(raw).hexdigest())


def _share_allocator() -> None:
    """Let pyarrow allocate from the system allocator, as NumPy and pandas do, so that
    what a big read frees serves the arrays built from it. pyarrow's default (mimalloc)
    keeps freed memory for itself: a 1M-row file peaked about 50 MB higher."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def parquet_table(raw: bytes, name: str, sha256: str = "") -> Table:
    """A Parquet file (long or wide) as a Table that goes through the same column decisions
    and messages as a CSV. Text columns become text cells; date-time and number columns
    keep their types (no text round trip: ``parse_dates`` and ``parse_numbers`` take them
    as they are). "Lines" are rows counted as a CSV of it would count them (the header is
    line 1)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # text as Arrow-backed str (no Python object per cell: 12.6 M tickers were 1 GB)
        frame = pq.read_table(pa.BufferReader(raw)).to_pandas(
            types_mapper=lambda kind: pd.StringDtype("pyarrow", na_value=np.nan)
            if pa.types.is_string(kind) or pa.types.is_large_string(kind) else None)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{name} cannot be read as Parquet ({' '.join(str(exc).split())[:160]})"
                        "; check the file") from None
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name:
        frame = frame.reset_index()
    header = [str(c).strip() for c in frame.columns]
    _check_header(header, name, 1)
    if not len(frame):
        raise DataError(f"{name} has a header but no data rows; add price rows")
    cells = {}
    for col, values in zip(header, frame.columns):
        column = frame[values].reset_index(drop=True)
        if _typed_dates(column) or _typed_numbers(column):
            cells[col] = column
        else:
            cells[col] = column.astype(str).where(column.notna(), "").astype("str")
    return Table(name, pd.DataFrame(cells), np.arange(2, len(frame) + 2), ",", sha256)


def cell_text(table: Table, column: str) -> pd.Series:
    """(rows,) a column as the stripped text of its cells, as a CSV of it would hold them:
    a Parquet file's typed columns written out (integral numbers without a decimal point,
    20200102.0 as 20200102; date-times in ISO; a missing value as a blank cell)."""
    if column in table.inferred and table.reread is not None:
        if column not in table.texts:
            table.texts.update(table.reread([column]))
        return table.texts[column].str.strip()
    cells = table.cells[column]
    if _typed_dates(cells):
        text = cells.dt.strftime("%Y-%m-%dT%H:%M:%S").str.replace("T00:00:00", "")
    elif _typed_numbers(cells):
        values = cells.to_numpy(float, na_value=np.nan)
        text = pd.Series(np.char.mod("%.17g", values), index=cells.index, dtype="str")
    else:
        return cells.astype(str).str.strip()
    return text.where(cells.notna(), "").astype("str")


def _typed_dates(column: pd.Series) -> bool:
    """Whether a column holds date-times as such (Parquet), not as text."""
    return pd.api.types.is_datetime64_any_dtype(column)


def _typed_numbers(column: pd.Series) -> bool:
    """Whether a column holds numbers as such (Parquet), not as text."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _fast_table(scan: _Scan, name: str, path: Path | None) -> Table | None:
    """The usual file through pyarrow's CSV parser: None (read it with ``_careful_table``)
    unless there is nothing the careful path would treat differently (valid UTF-8 with no
    NUL, a header on the first line, no quotes, no odd line breaks, no blank or
    separator-only lines but at the end, every row as wide as the header). Both paths
    give the same Table, read as the rules read it (a property test checks it).

    In a comma-separated file, a column whose every cell pyarrow reads as a finite number
    (or a blank) is kept as float64, and one of plain YYYY-MM-DD dates as datetime64, with
    no text held; ``cell_text`` reads their text from the file again when it is wanted
    (``path``; None: stdin, whose bytes ``scan`` keeps). Other columns are text, and so
    are columns named like a series column (``SERIES_NAMES``: codes 0005 keep their zeros)."""
    import pyarrow as pa

    if scan.odd or scan.lone_cr:   # seen in the first bytes already (the rest: below)
        return None
    try:
        head = scan.first[:scan.first.find(b"\n") + 1 or len(scan.first)].decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = head.strip("\r\n")
    if not head.strip():
        return None   # blank lines before the header: the careful path finds it
    delimiter = sniff_delimiter(head)
    header = [h.strip() for h in head.split(delimiter)]
    if not any(header):
        return None   # a separator-only first line is not the header
    layout = _Layout(1, header)
    if header[0].lower() in LAYOUT_LABELS:   # perhaps yfinance's header rows
        heads = scan.first.split(b"\n", 3)
        if len(heads) < 4:
            return None   # the header rows may go on past the first bytes: careful
        try:
            records = [line.decode("utf-8").strip("\r").split(delimiter) for line in heads[:3]]
        except UnicodeDecodeError:
            return None
        layout = header_layout(records)
    header = layout.header
    check_header_row(header, name, layout.rows)
    typed = delimiter == ","   # elsewhere a decimal comma is possible: the rules decide
    # a column named like a series column is text: ticker codes 0005 keep their zeros
    named = [i for i, h in enumerate(header) if h.lower() in SERIES_NAMES]
    try:
        read = _arrow_csv(scan, len(header), delimiter,
                          text=named if typed else range(len(header)), skip=layout.rows)
    except (pa.ArrowException, OverflowError):
        return None   # a short or long row, not UTF-8, ...: the careful path names it
    if scan.odd or scan.lone_cr or not read.num_rows:
        return None

    def reread(columns: list[str]) -> dict[str, pd.Series]:
        source = pa.BufferReader(b"".join(scan.kept)) if path is None else str(path)
        picked = [header.index(c) for c in columns]
        again = _arrow_csv(source, len(header), delimiter, text=picked, only=picked,
                           skip=layout.rows)
        return {c: _text_cells(again.column(j)).iloc[:rows] for j, c in enumerate(columns)}

    rows, cells, inferred, redo = read.num_rows, {}, set(), []
    arrays = read.columns[::-1]   # popped: each column's Arrow memory goes once converted
    del read                      # (Table.remove_column copies the table: 10,000 columns
    for h in header:              # took 14 s)
        column = arrays.pop()
        if typed and (found := _typed_cells(column)) is not None:
            cells[h] = found
            inferred.add(h)
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            cells[h] = _text_cells(column)
        else:   # true, 2020-01-02 09:30, ...: typed as the rules would not; as written
            cells[h] = None
            redo.append(h)
    del column
    pa.default_memory_pool().release_unused()   # the parse's buffers, back to the system
    if redo:
        try:
            cells.update(reread(redo))
        except (pa.ArrowException, OverflowError):
            return None   # bytes that are not UTF-8 (pyarrow typed them binary), ...
    blank = np.ones(rows, bool)
    for h in header:
        blank &= _blank(cells[h])
        if not blank.any():
            break
    if blank.any():   # blank lines: fine at the end only (the careful path skips them)
        rows = len(blank) - int(np.argmin(blank[::-1])) if not blank.all() else 0
        if not rows or blank[:rows].any():
            return None
        cells = {h: c.iloc[:rows] for h, c in cells.items()}

    frame = pd.DataFrame(cells, copy=False)
    return laid_out(Table(name, frame, np.arange(layout.rows + 1, len(frame) + layout.rows + 1),
                          delimiter, scan.sha256, frozenset(inferred), reread), layout)


def _arrow_csv(source, width: int, delimiter: str, text: Sequence[int] | None = None,
               only: Sequence[int] | None = None, skip: int = 1):
    """pyarrow's read of a headed CSV of ``width`` columns (the ``skip`` header lines skipped):
    the columns ``text`` (indices; None: none) as strings, the others as pyarrow infers
    them, a blank cell missing (strings are never missing); ``only``: just those columns."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"c{i}" for i in range(width)]
    return pacsv.read_csv(
        source,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={names[i]: pa.large_string() for i in text or ()},
            null_values=[""], strings_can_be_null=False,
            include_columns=[names[i] for i in only] if only is not None else None))


def _typed_cells(column) -> pd.Series | None:
    """(rows,) an Arrow column pyarrow typed on reading, as the rules would read its text:
    float64 (NaN for a blank) if every present cell is a finite number; datetime64 if it
    holds plain dates, none missing, in pandas' range; else None (read it as text)."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind):
        values = column.to_numpy().astype(np.float64, copy=False) if not pa.types.is_null(
            kind) else np.full(len(column), np.nan)
        if int((~np.isfinite(values)).sum()) != column.null_count:
            return None   # nan, inf, 1e400 written out: the rules say what they are
        return pd.Series(values)
    if pa.types.is_date32(kind) and not column.null_count:
        days = column.to_numpy()
        if _in_pandas_range(days):
            return pd.Series(days.astype("datetime64[ns]"))
    return None


def _in_pandas_range(days: np.ndarray) -> bool:
    """Whether every day (datetime64[D]) lies within the whole days pandas represents."""
    return days.min() >= np.datetime64("1678-01-01") and days.max() <= np.datetime64(
        "2261-12-31")


def _text_cells(column) -> pd.Series:
    """(rows,) an Arrow string column as text cells; spaces after a separator are not in a
    cell (as the csv module's skipinitialspace)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_large_string(column.type):
        column = column.cast(pa.large_string())
    if pc.any(pc.starts_with(column, " ")).as_py():
        column = pc.utf8_ltrim(column, " ")
    return pd.Series(column.to_pandas(), dtype="str")


def _blank(cells: pd.Series) -> np.ndarray:
    """(rows,) whether each cell is empty or spaces only."""
    if _typed_numbers(cells) or _typed_dates(cells):
        return cells.isna().to_numpy()
    return cells.str.strip().eq("").to_numpy()


def _careful_table(text: str, name: str, sha256: str = "") -> Table:
    """Read a CSV with Python's csv module, record by record, naming the first bad line."""
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
    layout = header_layout([rec for _, rec in numbered[:3]])
    header_line, header = numbered[layout.rows - 1][0], layout.header
    check_header_row(layout.header, name, header_line)
    body = numbered[layout.rows:]
    if not body:
        raise DataError(f"{name} has a header but no data rows; add price rows below line "
                        f"{header_line}")
    width = len(header)
    for line, rec in body:
        if len(rec) != width:
            raise DataError(f"{where(name, line)}: {len(rec)} fields, but the header on line "
                            f"{header_line} has {width}; fix that row")
    cells = pd.DataFrame([rec for _, rec in body], columns=header, dtype=object)
    return laid_out(Table(name, cells, np.array([line for line, _ in body]), delimiter, sha256),
                    layout)


#: The labels yfinance's header rows start with (its column levels' names; blank before
#: version 0.2.51 named them).
LAYOUT_LABELS = ("price", "ticker", "")

#: The fields yfinance writes for each ticker (how its unnamed header rows are told apart).
YFINANCE_FIELDS = frozenset({"open", "high", "low", "close", "adj close", "volume",
                             "dividends", "stock splits", "capital gains", "repaired?"})

#: The series column of a yfinance download of several tickers, once read in long form.
TICKER_COLUMN = "Ticker"


@dataclass
class _Layout:
    """How a file's header is laid out: ``rows`` header lines (1: the usual one) and the
    table's column names; for yfinance's layout, each column's field and ticker."""

    rows: int
    header: list[str]
    fields: list[str] = field(default_factory=list)    # (columns - 1,) Close, High, ...
    tickers: list[str] = field(default_factory=list)   # (columns - 1,) AAPL, MSFT, ...


def header_layout(records: Sequence[Sequence[str]]) -> _Layout:
    """The header of a file from its first (non-blank) records: one row of names, or
    yfinance's (``yf.download(...).to_csv()``) three: a row of fields and a row of tickers
    in either order (group_by "column": ``Price,Close,Close,...`` then ``Ticker,AAPL,MSFT,
    ...``; group_by "ticker": the ticker row first), labelled Price and Ticker (blank
    before version 0.2.51), then the date column's name alone (``Date,,,`` or
    ``Datetime,,,``). One ticker gives the usual columns (Date, Close, High, ...) and the
    ticker as the series' name; several give one column per field and ticker, which
    ``laid_out`` turns into a long table."""
    first = [c.strip() for c in records[0]]
    plain = _Layout(1, first)
    if len(records) < 3 or len(first) < 2 or first[0].lower() not in LAYOUT_LABELS:
        return plain
    second, third = ([c.strip() for c in rec] for rec in records[1:3])
    if not (len(second) == len(third) == len(first)) or not third[0] or any(third[1:]):
        return plain
    labels = (first[0].lower(), second[0].lower())
    if labels == ("price", "ticker"):
        fields, tickers = first[1:], second[1:]
    elif labels == ("ticker", "price"):
        fields, tickers = second[1:], first[1:]
    elif labels == ("", "") and {f.lower() for f in first[1:]} <= YFINANCE_FIELDS:
        fields, tickers = first[1:], second[1:]
    elif labels == ("", "") and {f.lower() for f in second[1:]} <= YFINANCE_FIELDS:
        fields, tickers = second[1:], first[1:]
    else:
        return plain
    if not all(fields) or not all(tickers):
        return plain
    date = third[0]
    if len(set(tickers)) == 1:
        return _Layout(3, [date, *fields], fields, tickers)
    return _Layout(3, [date, *(f"{t} {f}" for f, t in zip(fields, tickers))], fields, tickers)


def laid_out(table: Table, layout: _Layout) -> Table:
    """The table of a file read with ``layout``'s header: as it is for the usual header;
    named by its ticker for a yfinance download of one; for several, in long form (the
    date, a Ticker column, then each field) with each ticker's rows from its first price
    to its last (blanks before: not listed yet; after: delisted), in the file's order."""
    if layout.rows == 1:
        return table
    tickers = list(dict.fromkeys(layout.tickers))
    if len(tickers) == 1:
        return dataclasses.replace(table, ticker=tickers[0], layout="yfinance")
    fields = list(dict.fromkeys(layout.fields))
    groups: dict[str, dict[str, str]] = {t: {} for t in tickers}
    for col, f, t in zip(layout.header[1:], layout.fields, layout.tickers):
        groups[t][f] = col
    spans = {}
    for t, columns in groups.items():
        blank = np.logical_and.reduce([_blank(table.cells[c]) for c in columns.values()])
        present = np.flatnonzero(~blank)
        if present.size:
            spans[t] = np.arange(present[0], present[-1] + 1)
    if not spans:   # no price at all: the rows as they are, for the usual messages
        spans = {t: np.arange(len(table.cells)) for t in tickers}
    index = np.concatenate(list(spans.values()))
    date = layout.header[0]
    sources = {f: [groups[t].get(f) for t in spans] for f in fields}

    def stacked(columns: list[str | None], text: bool) -> pd.Series:
        """One field of every ticker, end to end: typed if every part is, else text."""
        parts = []
        for col, rows in zip(columns, spans.values()):
            if col is None:
                parts.append(pd.Series(np.full(len(rows), "" if text else np.nan)))
            elif text:
                parts.append(cell_text(table, col).iloc[rows])
            else:
                parts.append(table.cells[col].iloc[rows])
        out = pd.concat(parts, ignore_index=True)
        return out.astype("str") if text else out

    def typed(columns: list[str | None]) -> bool:
        return all(c is None or _typed_numbers(table.cells[c]) for c in columns)

    cells = {date: table.cells[date].iloc[index].reset_index(drop=True),
             TICKER_COLUMN: pd.Series(np.repeat(list(spans), [len(r) for r in spans.values()]),
                                      dtype="str")}
    inferred = {date} & set(table.inferred)
    for f in fields:
        cells[f] = stacked(sources[f], not typed(sources[f]))
        if typed(sources[f]) and all(c is None or c in table.inferred for c in sources[f]):
            inferred.add(f)

    def reread(columns: list[str]) -> dict[str, pd.Series]:
        return {c: cell_text(table, date).iloc[index].reset_index(drop=True) if c == date
                else stacked(sources[c], True) for c in columns}

    frame = pd.DataFrame(cells)
    return Table(table.source, frame, table.lines[index], table.delimiter, table.sha256,
                 frozenset(inferred), reread if inferred else None,
                 ticker=list(spans)[0] if len(spans) == 1 else "", layout="yfinance")


def check_header_row(header: list[str], name: str, line: int) -> None:
    """The header's names as ``_check_header`` checks them; a first line of values (a
    MetaTrader or Binance export has no header) says what a header needs."""
    values = [h for h in header if h]
    if values and all(re.fullmatch(r"[-+]?[0-9][0-9.,:/ T+-]*", h) for h in values):
        shown = ",".join(header)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise DataError(f"{where(name, line)}: the first line holds values ({shown}), not "
                        "column names; add a header row naming a date column and the close, "
                        "such as Date,Open,High,Low,Close,Volume")
    _check_header(header, name, line)


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


def name_key(name: str) -> str:
    """A column name as names are compared: case-folded, accents dropped (Clôture is
    cloture), stooq's <> and dots dropped, underscores and runs of spaces one space."""
    import unicodedata

    plain = "".join(ch for ch in unicodedata.normalize("NFKD", name)
                    if not unicodedata.combining(ch))
    plain = plain.casefold().replace("\u0142", "l")   # ł has no decomposition
    return " ".join(re.sub(r"[<>.]", "", plain).replace("_", " ").split())


def resolve_column(table: Table, name: str, flag: str) -> str:
    """The header's spelling of ``name`` (case-insensitive, else as ``name_key`` compares
    names: ``close`` finds stooq's <CLOSE>); unknown names list what exists."""
    found = _named(table, name)
    if found is not None:
        return found
    raise DataError(f"{table.source} has no column '{name[:40]}' ({flag}); columns are: "
                    f"{_listed(table.cells.columns)}")


def _named(table: Table, name: str) -> str | None:
    """The column called ``name`` (see ``resolve_column``), or None."""
    for col in table.cells.columns:
        if col.lower() == name.strip().lower():
            return col
    keyed = [col for col in table.cells.columns if name_key(col) == name_key(name)]
    return keyed[0] if len(keyed) == 1 else None


def _by_name_tiers(table: Table, tiers: Sequence[Sequence[str]],
                   exclude: Sequence[str | None] = ()) -> list[str]:
    """The columns of the first tier that names any (none: [])."""
    columns = [c for c in table.cells.columns if c not in exclude]
    for tier in tiers:
        found = [c for c in columns if name_key(c) in tier]
        if found:
            return found
    return []


def _listed(names: Sequence[str], room: int = 120) -> str:
    """Names joined by commas in about ``room`` characters (each cut to 40): as many as
    fit, then how many there are in all."""
    names = [n if len(n) <= 40 else n[:37] + "..." for n in names]
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > room:
            return ", ".join(shown) + f", ... ({len(names)} in all)"
        shown.append(name)
    return ", ".join(shown)


def first_cell(table: Table, text: pd.Series, mask: np.ndarray) -> tuple[int, str]:
    """(file line, text) of the first cell of a column where ``mask`` (rows,) is true."""
    i = int(np.argmax(mask))
    return int(table.lines[i]), text.iloc[i]


SERIES_NAMES = ("symbol", "ticker", "name", "series", "id", "unique_id", "code", "asset",
                "instrument", "stock", "security")

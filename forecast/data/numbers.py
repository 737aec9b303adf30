"""Number columns: decimal marks, thousands separators, currency and suffix marks, and the
missing-value markers, read into float64.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.errors import DataError, UsageError, where
from forecast.data.tables import (
    MISSING_MARKERS, Table, _typed_dates, _typed_numbers, cell_text, first_cell,
)


#: --decimal: the decimal separator of every numeric column (default: decided per column).
DECIMALS = (".", ",")

#: A number with a decimal point, commas optionally grouping thousands: 1234.5, 1,234.5.
_POINT_NUMBER = r"[+-]?(?:[0-9]+|[1-9][0-9]{0,2}(?:,[0-9]{3})+)?(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?"

#: A number with a decimal comma, dots optionally grouping thousands: 1234,5, 1.234,5.
_COMMA_NUMBER = r"[+-]?(?:[0-9]+|[1-9][0-9]{0,2}(?:\.[0-9]{3})+)?(?:,[0-9]*)?(?:[eE][+-]?[0-9]+)?"

#: A currency around a number: a sign (with its country's letters) or an ISO code.
_CURRENCY = (r"US\$|C\$|CA\$|A\$|AU\$|NZ\$|HK\$|S\$|R\$|[$€£¥₹₩₽₺₪]|zł|kr|Fr\.|"
             r"USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|HKD|SGD|CNY|INR|KRW|SEK|NOK|DKK|PLN|CZK|HUF|"
             r"BRL|MXN|ZAR|TRY|RUB|ILS|USDT")

#: A number with its marks: a currency before or after it (``$2,506.85``, ``USD 12.5``,
#: ``12,50 €``), a trailing % or a thousands (K), millions (M), billions (B) or trillions
#: (T) suffix (Investing.com's ``3.46B``).
_MARKED = (rf"(?P<sign>[-+]?)\s*(?P<pre>{_CURRENCY})?\s*"
           r"(?P<num>[-+]?[0-9.,]*[0-9][0-9.,]*(?:[eE][-+]?[0-9]+)?)\s*(?P<suffix>[KkMmBbTt%])?"
           rf"\s*(?P<post>{_CURRENCY})?")

#: What each suffix multiplies by, as the exponent written after the number.
_SUFFIXES = {"k": "e3", "m": "e6", "b": "e9", "t": "e12", "%": ""}


def number_format(table: Table, column: str, text: pd.Series,
                  shown: pd.Series | None = None) -> str:
    """The decimal separator (``.`` or ``,``) of a whole column, from its cells.

    A cell such as 1.5, 1,234.5 or 1,234,567 can only be read with a decimal point; 1,5,
    1.234,5 or 1.234.567 only with a decimal comma; 1,134 and 1.134 either way (with
    different values). One kind settles the column; both kinds are a DataError naming
    both lines. A column that only such cells as 1,134 leave open is read with the decimal
    point in a comma-separated file (a decimal comma there would have to be quoted: the
    file's own separator settles it), and is refused with --decimal elsewhere. Messages
    show the cells as ``shown`` (default: ``text``) holds them.
    """
    point, comma = _read_as(text, "."), _read_as(text, ",")
    written = text if shown is None else shown
    only_point = ~np.isnan(point) & np.isnan(comma)
    only_comma = np.isnan(point) & ~np.isnan(comma)

    if only_point.any() and only_comma.any():
        (c_line, c_cell) = first_cell(table, written, only_comma)
        (p_line, p_cell) = first_cell(table, written, only_point)
        raise DataError(f"{where(table.source, c_line, column)}: '{c_cell}' has a decimal "
                        f"comma but line {p_line} '{p_cell}' a decimal point; use one in the "
                        "column, or pass --decimal . or --decimal , to choose")
    if only_comma.any():
        return ","
    either = ~np.isnan(point) & (point != comma)
    if only_point.any() or not either.any() or table.delimiter == ",":
        return "."
    line, example = first_cell(table, written, either)
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


def _plain_numbers(text: pd.Series) -> np.ndarray | None:
    """(rows,) floats if every cell is a plain finite number with a decimal point (1.5,
    -2, 1e5: what ``_read_as(text, ".")`` reads, without its regular expressions), else
    None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        values = pc.cast(pa.array(text, type=pa.large_string()), pa.float64()).to_numpy(
            zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return values if np.isfinite(values).all() else None


def _plain(value: float) -> str:
    return f"{value:.10g}"


def check_decimal(decimal: str | None) -> None:
    """Refuse (UsageError) a ``--decimal`` other than ``.`` or ``,``."""
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
    key = (column, decimal)
    if _read_typed(table, column, decimal):
        return _parse_numbers(table, column, decimal)   # as cheap as a copy: not kept
    if key not in table.parsed:
        table.parsed[key] = _parse_numbers(table, column, decimal)
    values, invalid = table.parsed[key]
    return values.copy(), invalid.copy()


def _read_typed(table: Table, column: str, decimal: str | None) -> bool:
    """Whether ``column`` is read as its typed numbers: a number column of a Parquet file,
    or of a CSV unless ``--decimal ,`` asks for its text to be read with a decimal comma."""
    return _typed_numbers(table.cells[column]) and not (decimal == "," and
                                                       column in table.inferred)


def _parse_numbers(table: Table, column: str, decimal: str | None) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """``parse_numbers`` uncached: two shortcuts for the usual columns, then the rules
    (``numbers_by_rules``). A property test checks the shortcuts give what the rules give."""
    if _read_typed(table, column, decimal):
        values = table.cells[column].to_numpy(float, na_value=np.nan)
        invalid = np.isinf(values)
        return np.where(invalid, np.nan, values), invalid
    repeated = text_codes(table, column)
    if repeated is not None:   # a column of few distinct cells (tickers): each read once
        codes, uniques, first = repeated
        values, invalid = _parse_numbers(Table(table.source, pd.DataFrame({column: uniques}),
                                               table.lines[first], table.delimiter),
                                         column, decimal)
        return values[codes], invalid[codes]
    text = cell_text(table, column)
    if decimal == "." or (decimal is None and table.delimiter == ","):
        # Every cell a plain finite number (1.5, -2, 1e5): no cell holds a comma, so the
        # rules decide the decimal point (a cell such as 1.134 is ambiguous only outside
        # comma-separated files, where only --decimal . takes this path).
        plain = _plain_numbers(text)
        if plain is not None:
            return plain, np.zeros(len(plain), bool)
    shown, text = text, unmarked_numbers(table, column, text)
    missing = text.str.lower().isin(MISSING_MARKERS).to_numpy()
    if not (text.str.match(r"[-+.,0-9]").to_numpy(bool) & ~missing).any():
        # no present cell starts as a number does (a column of names): nothing to decide
        return np.full(len(text), np.nan), ~missing
    return numbers_by_rules(table, column, text, missing, decimal,
                            None if text is shown else shown)


def unmarked_numbers(table: Table, column: str, text: pd.Series) -> pd.Series:
    """The column's cells with the marks around their numbers taken off (``_MARKED``): a
    currency ($2,506.85 is 2,506.85), a trailing % (1.25% is 1.25) and a K, M, B or T
    suffix written as an exponent (3.46B is 3.46e9), so that the decimal separator of
    what is left is decided for the whole column as for any other. Cells without marks
    are as they were (the same Series when no cell has one). A column in two currencies
    is a DataError naming both."""
    candidates = (text.str.contains(r"[^-+.,0-9eE ]", regex=True) &
                  text.str.contains(r"[0-9]", regex=True)).to_numpy(bool)
    if not candidates.any():
        return text
    parts = text[candidates].str.extract(f"^{_MARKED}$")
    marked = parts["num"].notna() & (parts["pre"].notna() | parts["post"].notna() |
                                     parts["suffix"].notna())
    if not marked.any():
        return text
    at = np.flatnonzero(candidates)[marked.to_numpy()]   # (marked,) row of each
    parts = parts[marked.to_numpy()]
    currency = parts["pre"].fillna(parts["post"]).to_numpy(object)
    kinds = pd.unique(currency[pd.notna(currency)])
    if len(kinds) > 1:
        (a_line, a_cell), (b_line, b_cell) = (
            (int(table.lines[i]), text.iloc[i][:40])
            for i in (at[np.flatnonzero(currency == kind)[0]] for kind in kinds[:2]))
        raise DataError(f"{where(table.source, a_line, column)}: '{a_cell}' is in "
                        f"{kinds[0]} but line {b_line} '{b_cell}' in {kinds[1]}; a column "
                        "holds one currency: convert its prices to one")
    exponent = parts["suffix"].str.lower().map(_SUFFIXES).fillna("")
    out = text.copy()
    out.iloc[at] = (parts["sign"] + parts["num"] + exponent).to_numpy()
    return out


def text_codes(table: Table, column: str) -> tuple[np.ndarray, pd.Series, np.ndarray] | None:
    """A text column whose cells repeat (a long file's tickers) as codes: (rows,) the code
    of each cell, (distinct,) the distinct stripped cells in order of first appearance,
    and (distinct,) the row where each first appears; None for a column of mostly
    distinct cells (judged on its first rows), or a typed one. Every decision about a
    cell's text depends on the text alone, so it can be made once per distinct cell; the
    first row of a distinct cell is the row that messages name."""
    key = ("codes", column, "")   # beside parse_numbers' (column, decimal) keys
    if key not in table.parsed:
        cells = table.cells[column]
        head = cells.iloc[:10_000]
        if _typed_numbers(cells) or _typed_dates(cells) or column in table.inferred or \
                len(cells) < 64 or head.nunique() * 4 > len(head):
            table.parsed[key] = None
        else:
            codes, _ = pd.factorize(cells)
            first = np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())
            stripped = cells.iloc[first].str.strip().reset_index(drop=True)
            merged, uniques = pd.factorize(stripped)   # "AAPL" and "AAPL " are one cell
            codes = merged[codes]
            if len(uniques) < len(first):
                first = first[~pd.Series(merged).duplicated().to_numpy()]
            table.parsed[key] = (codes.astype(np.intp), pd.Series(uniques, dtype="str")
                                 if len(uniques) else stripped.iloc[:0], first)
    found = table.parsed[key]
    if found is None or len(found[1]) * 4 > len(found[0]):
        return None
    return found


def numbers_by_rules(table: Table, column: str, text: pd.Series, missing: np.ndarray,
                     decimal: str | None, shown: pd.Series | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The column's stripped ``text`` (rows,) read by the rules: one decimal separator for
    the whole column (``decimal``, else ``number_format``); ``missing`` (rows,) marks the
    missing-value cells; ``shown``: the cells as written, for messages (default ``text``)."""
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
        values = _read_as(present, decimal or number_format(table, column, present, shown))
    with np.errstate(invalid="ignore"):
        invalid = ~missing & ~np.isfinite(values)
    return np.where(missing, np.nan, values), invalid

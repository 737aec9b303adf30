"""Reading price files into a Panel: the data package.

sources (paths, stdin, bytes, encodings) -> tables (the fast pyarrow reader, the careful
reader that names the bad cell, header layouts) -> dates, numbers -> layouts (one series,
wide, long: rows) -> panel (Panel, read_panel) -> describe (inspect). Pure
pandas/NumPy/pyarrow. The public names are re-exported here.
"""

from forecast.data.sources import (
    source_name, QUOTE_CHARS, shorten, quote_cell, open_source, read_bytes, BOMS,
    check_encoding, is_utf8, decode, sniff_delimiter, PROBE, PARQUET_MAGIC, CHUNK,
)
from forecast.data.tables import (
    MISSING_MARKERS, Table, read_tables, read_table, parquet_table, cell_text, LAYOUT_LABELS,
    YFINANCE_FIELDS, TICKER_COLUMN, header_layout, laid_out, check_header_row, name_key,
    resolve_column, first_cell, SERIES_NAMES,
)
from forecast.data.dates import (
    DATE_NAME_TIERS, DATE_NAMES, DATE_ORDERS, find_date_column, parse_dates, DATE_CHARS,
    option_date, check_option_date, check_date_format, plain_iso_days, date_order, series_step,
    describe_spacing,
)
from forecast.data.numbers import (
    DECIMALS, number_format, check_decimal, parse_numbers, unmarked_numbers, text_codes,
    numbers_by_rules,
)
from forecast.data.layouts import (
    TARGET_NAME_TIERS, DEFAULT_TARGETS, numeric_columns, choose_target, source_stem,
    series_name, find_series_column, SeriesChoice, SHARED_DATES, choose_series, series_codes,
    apply_missing,
)
from forecast.data.panel import (
    Panel, unique_sorted, read_panel, read_prices, prices_from_table, panel_from_tables,
)
from forecast.data.describe import (
    describe_file, format_description, format_date,
)

__all__ = [
    "source_name", "QUOTE_CHARS", "shorten", "quote_cell", "open_source", "read_bytes", "BOMS",
    "check_encoding", "is_utf8", "decode", "sniff_delimiter", "PROBE", "PARQUET_MAGIC",
    "CHUNK", "MISSING_MARKERS", "Table", "read_tables", "read_table", "parquet_table",
    "cell_text", "LAYOUT_LABELS", "YFINANCE_FIELDS", "TICKER_COLUMN", "header_layout",
    "laid_out", "check_header_row", "name_key", "resolve_column", "first_cell", "SERIES_NAMES",
    "DATE_NAME_TIERS", "DATE_NAMES", "DATE_ORDERS", "find_date_column", "parse_dates",
    "DATE_CHARS", "option_date", "check_option_date", "check_date_format", "plain_iso_days",
    "date_order", "series_step", "describe_spacing", "DECIMALS", "number_format",
    "check_decimal", "parse_numbers", "unmarked_numbers", "text_codes", "numbers_by_rules",
    "TARGET_NAME_TIERS", "DEFAULT_TARGETS", "numeric_columns", "choose_target", "source_stem",
    "series_name", "find_series_column", "SeriesChoice", "SHARED_DATES", "choose_series",
    "series_codes", "apply_missing", "Panel", "unique_sorted", "read_panel", "read_prices",
    "prices_from_table", "panel_from_tables", "describe_file", "format_description",
    "format_date",
]

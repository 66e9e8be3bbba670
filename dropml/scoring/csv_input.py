"""A scoring CSV's bytes as the raw frame :func:`dropml.scoring.validate.validate_frame` checks.

Two readers, one result. When the header names exactly the schema's columns
and the body is 1 MiB or more (a programmatic batch), pyarrow's multithreaded reader parses
it with each column's type fixed by the schema: about twice as fast as pandas'
reader on a 100k-row batch. Anything that reader refuses or that could parse
differently (extra or duplicate columns, a bad number, a ragged row, a quoted
newline, text that is not UTF-8) is read by pandas' reader instead, in the
encoding, delimiter and decimal mark detected for the file
(:mod:`dropml.storage.csv_format`, the rules training reads with), whose
result the row-by-row checks and messages were written for. So the fast reader
makes a good file faster and changes no answer, nor which fields and rows a bad
one is refused for (a property test holds the two readers to that).

``serving.fast_csv_read`` false (the Lambda package, which leaves pyarrow out:
156 MB unpacked) never takes the fast path, so pyarrow is never imported there.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from dropml.config import settings
from dropml.scoring.validate import check_csv_rows, check_csv_width, scored_as_number
from dropml.storage.csv_reader import checked_format, read_csv_bytes

if TYPE_CHECKING:
    import pandas as pd

    from dropml.manifest import InputSchema

FAST_READ_MIN_BYTES = 1 << 20  # below ~1 MiB pandas' reader is as fast (pyarrow's threads cost ~1 ms to start)
# pandas' own missing-value markers (pandas._libs.parsers.STR_NA_VALUES), so both readers agree on blanks
NA_VALUES = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
             "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")  # fmt: skip


def read_scoring_csv(body: bytes, schema: InputSchema, source: str) -> pd.DataFrame:
    """Parse a CSV to score against ``schema``: every row as the header says, unchecked values.

    ``source`` names the file in messages ("the CSV body", an upload's name).

    Raises:
        BadInput: empty, binary, not CSV, far too many columns, or a row with
            more or fewer values than the header (422, by row).
    """
    check_csv_width(body, schema, source)
    fast = _read_with_schema_types(body, schema)
    if fast is not None:
        return fast
    csv_format = checked_format(body, source)
    raw = read_csv_bytes(body, source, csv_format)
    check_csv_rows(body, raw, source, csv_format=csv_format)
    return raw


def plain_csv_bytes(body: bytes, schema: InputSchema, source: str) -> bytes:
    """``body`` as UTF-8, comma-delimited CSV with decimal points: itself when it is already, else rewritten.

    For readers that work on plain CSV bytes (file scoring, in chunks). The
    schema's number columns get their decimal mark normalised; every other
    cell is kept as the text it was.

    Raises:
        BadInput: empty, binary or malformed.
    """
    if not body or body.isspace():
        return body
    csv_format = checked_format(body, source)
    if csv_format.is_plain:
        return body
    frame = read_csv_bytes(body, source, csv_format, dtype=str, keep_default_na=False)
    check_csv_rows(body, frame, source, csv_format=csv_format)
    if csv_format.decimal != ".":
        for column in schema.columns:
            if scored_as_number(column) and column.name in frame.columns:
                text = frame[column.name]
                if csv_format.thousands:
                    text = text.str.replace(csv_format.thousands, "", regex=False)
                frame[column.name] = text.str.replace(csv_format.decimal, ".", regex=False)
    return frame.to_csv(index=False).encode()


def _header(body: bytes) -> list[str] | None:
    end = body.find(b"\n")
    line = body if end < 0 else body[:end]
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return next(csv.reader([text.rstrip("\r")]), None)


def _read_with_schema_types(body: bytes, schema: InputSchema) -> pd.DataFrame | None:
    """The frame pyarrow reads with the schema's types; None when small or not exactly the schema's columns."""
    if len(body) < FAST_READ_MIN_BYTES or not settings().serving.fast_csv_read:
        return None
    header = _header(body)
    if header is None or len(set(header)) != len(header) or set(header) != set(schema.names):
        return None
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    types = {column.name: pa.float64() if scored_as_number(column) else pa.string() for column in schema.columns}
    options = pa_csv.ConvertOptions(
        column_types=types,
        include_columns=schema.names,  # in the schema's order: an all-number frame is then one block, as is
        null_values=list(NA_VALUES),
        strings_can_be_null=True,
    )
    try:
        table = pa_csv.read_csv(io.BytesIO(body), convert_options=options)
    except pa.ArrowException:
        return None  # pandas' reader and the row-by-row checks explain what is wrong
    return table.to_pandas()

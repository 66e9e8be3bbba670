"""A scoring CSV's bytes as the raw frame :func:`dropml.scoring.validate.validate_frame` checks.

Two readers, one result. When the header names exactly the schema's columns
and the body is 1 MiB or more (a programmatic batch), pyarrow's multithreaded reader parses
it with each column's type fixed by the schema: about twice as fast as pandas'
reader on a 100k-row batch. Anything that reader refuses or that could parse
differently (extra or duplicate columns, a bad number, a ragged row, a quoted
newline, text that is not UTF-8) is read by pandas' reader instead, whose
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

from dropml import storage
from dropml.config import settings
from dropml.scoring.validate import check_csv_rows, check_csv_width, scored_as_number

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
        BadInput: empty, not UTF-8, not CSV, far too many columns, or a row with
            more or fewer values than the header (422, by row).
    """
    check_csv_width(body, schema, source)
    fast = _read_with_schema_types(body, schema)
    if fast is not None:
        return fast
    raw = storage.read_csv_bytes(body, source)
    check_csv_rows(body, raw, source)
    return raw


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

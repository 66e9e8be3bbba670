"""The one CSV reader: bytes in whatever encoding, delimiter and decimal mark they were written, to a data frame.

Training's ingest, every scoring input (a request body, an upload, a file
under ``test/``), a labelled file evaluated or given at registration, and a
predictions file charted all read through :func:`read_csv_bytes`, so one file
is read the same way everywhere and refused with the same message, naming it.
How a file is written is detected by :mod:`dropml.storage.csv_format`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from dropml.errors import BadInput
from dropml.storage.csv_format import UTF16_BOMS, CsvFormat, detect_csv_format

if TYPE_CHECKING:
    import pandas as pd

BINARY_SNIFF_BYTES = 8192


def read_csv_bytes(body: bytes, source: str, csv_format: CsvFormat | None = None, **kwargs: Any) -> pd.DataFrame:
    """Parse CSV bytes into a data frame, in ``csv_format`` (detected when None); ``source`` names the file in errors.

    ``kwargs`` go to ``pandas.read_csv`` (a header, names, dtypes).

    Raises:
        BadInput: empty, binary, undecodable or malformed CSV.
    """
    import pandas as pd

    csv_format = csv_format or checked_format(body, source)
    if not body or body.isspace():  # not strip(): that copies a big body
        raise BadInput("file", source, f"{source} is empty")
    try:
        return pd.read_csv(io.BytesIO(body), **csv_format.read_csv_options(), **kwargs)
    except UnicodeError as err:
        raise BadInput("file", source, f"{source} is not {csv_format.encoding} text ({err})") from None
    except pd.errors.EmptyDataError:
        raise BadInput("file", source, f"{source} has no columns") from None
    except pd.errors.ParserError as err:
        raise BadInput("file", source, f"{source} is not valid CSV: {str(err).strip()}") from None


def checked_format(body: bytes, source: str) -> CsvFormat:
    """How the text CSV ``body`` is written (encoding, delimiter, decimal mark), after refusing an empty or binary one.

    Raises:
        BadInput: empty, or binary (names the file).
    """
    if not body or body.isspace():
        raise BadInput("file", source, f"{source} is empty")
    check_text(body, source)
    return detect_csv_format(body)


def check_text(body: bytes, source: str) -> None:
    """Refuse a binary file (NUL bytes in its first 8 KiB, unless it is UTF-16 with a byte order mark).

    Raises:
        BadInput: names the file and says it is not text.
    """
    if b"\x00" in body[:BINARY_SNIFF_BYTES] and not body.startswith(UTF16_BOMS):
        raise BadInput(
            "file", source, f"{source} is not a text CSV file (it contains binary NUL bytes); save it as CSV text"
        )

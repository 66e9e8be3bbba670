"""Step 1: read a training CSV from S3 into pandas, refusing oversized or unreadable files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dropml import storage
from dropml.errors import BadInput
from dropml.storage.csv_format import PLAIN, CsvFormat
from dropml.storage.csv_reader import checked_format, read_csv_bytes
from dropml.storage.limits import check_data_size

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainingData:
    """A training CSV as a data frame, with what proves which file it was."""

    key: str
    etag: str
    sha256: str
    size: int
    frame: pd.DataFrame
    csv_format: CsvFormat = PLAIN  # encoding, delimiter and decimal mark found (the data-quality report shows them)


def parse_training_csv(body: bytes, source: str) -> tuple[pd.DataFrame, CsvFormat]:
    """Parse CSV bytes in whatever encoding, delimiter and decimal mark they use into a frame with data rows.

    Returns the frame and the detected :class:`~dropml.storage.csv_format.CsvFormat`.

    Raises:
        BadInput: empty, binary, malformed, or a header without rows.
    """
    csv_format = checked_format(body, source)
    frame = read_csv_bytes(body, source, csv_format, skipinitialspace=True)
    if len(frame.columns) < 2:
        raise BadInput(
            "file",
            source,
            f"{source} has {len(frame.columns)} column ({', '.join(map(str, frame.columns))}); "
            "a training file needs at least one feature column and a target column",
        )
    if frame.empty:
        raise BadInput("file", source, f"{source} has a header ({len(frame.columns)} columns) but no data rows")
    unnamed = [str(c) for c in frame.columns if str(c).startswith("Unnamed: ")]
    if len(unnamed) == len(frame.columns):
        raise BadInput("file", source, f"{source} has no header row with column names")
    return frame, csv_format


def load_training_data(key: str) -> TrainingData:
    """Read the training CSV at ``key`` with its ETag and sha256, checking its size with HEAD first.

    Raises:
        NotFound: no object at ``key``.
        TooLarge: over ``storage.max_training_bytes``.
        BadInput: unreadable as CSV (see :func:`parse_training_csv`).
    """
    info = storage.head(key)
    check_data_size(key, info.size)
    found = storage.get_bytes(key)
    frame, csv_format = parse_training_csv(found.body, key)
    return TrainingData(
        key=key, etag=found.etag, sha256=found.sha256, size=len(found.body), frame=frame, csv_format=csv_format
    )

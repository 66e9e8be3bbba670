"""Step 1: read a training CSV from S3 into pandas, refusing oversized or unreadable files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dropml import storage
from dropml.config import settings
from dropml.errors import BadInput, TooLarge

if TYPE_CHECKING:
    import pandas as pd

BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class TrainingData:
    """A training CSV as a data frame, with what proves which file it was."""

    key: str
    etag: str
    sha256: str
    size: int
    frame: pd.DataFrame


def check_size(key: str, size: int, limit: int) -> None:
    """Refuse a file over the training size limit, before a byte of it is read.

    Raises:
        TooLarge: ``size`` exceeds ``limit`` (names both).
    """
    if size > limit:
        raise TooLarge(
            "file",
            key,
            f"{key} is {size:,} bytes, over the training limit of {limit:,} bytes (storage.max_training_bytes)",
        )


def parse_training_csv(body: bytes, source: str) -> pd.DataFrame:
    """Parse CSV bytes into a frame with at least one data row.

    Raises:
        BadInput: empty, binary, not UTF-8, malformed, or a header without rows.
    """
    head = body[:BINARY_SNIFF_BYTES]
    if b"\x00" in head:
        raise BadInput("file", source, f"{source} is not a text CSV file (it contains binary NUL bytes)")
    if head.startswith(b"\xef\xbb\xbf"):
        body = body[3:]  # a UTF-8 byte order mark from spreadsheet exports
    frame = storage.read_csv_bytes(body, source, skipinitialspace=True)
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
    return frame


def load_training_data(key: str) -> TrainingData:
    """Read the training CSV at ``key`` with its ETag and sha256, checking its size with HEAD first.

    Raises:
        NotFound: no object at ``key``.
        TooLarge: over ``storage.max_training_bytes``.
        BadInput: unreadable as CSV (see :func:`parse_training_csv`).
    """
    info = storage.head(key)
    check_size(key, info.size, settings().storage.max_training_bytes)
    found = storage.get_bytes(key)
    frame = parse_training_csv(found.body, key)
    return TrainingData(key=key, etag=found.etag, sha256=found.sha256, size=len(found.body), frame=frame)

"""The largest data file dropml reads: one limit per data prefix, checked from the object's size before a byte is read.

The trigger that starts a job, the training job's ingest and file scoring
all ask here, so a file is refused the same way, with the same message,
wherever it is first seen.
"""

from __future__ import annotations

from typing import Literal

from dropml.config import settings
from dropml.errors import TooLarge
from dropml.storage import keys

DataKind = Literal["train", "test"]
# per prefix: the setting, what reads the file, and what a user can do about a file over it
_LIMITS: dict[DataKind, tuple[str, str, str]] = {
    "train": ("max_training_bytes", "training", "sample the file"),
    "test": ("max_scoring_bytes", "scoring", "split the file"),
}


def data_size_limit(kind: DataKind) -> int:
    """The largest file accepted under ``train/`` or ``test/``, in bytes (config: storage.max_*_bytes)."""
    setting, _, _ = _LIMITS[kind]
    return int(getattr(settings().storage, setting))


def check_data_size(key: str, size: int) -> None:
    """Refuse the data file at ``key`` when its ``size`` is over its prefix's limit.

    A dataset (``datasets/<p>/``) is training data: ``size`` is its Parquet bytes.

    Raises:
        BadInput: ``key`` is neither a data key nor a dataset key.
        TooLarge: ``size`` is over the limit (names the file, both sizes, the setting and what to do).
    """
    kind: DataKind = "train" if keys.is_dataset_key(key) else keys.parse_data_key(key).kind
    limit = data_size_limit(kind)
    if size <= limit:
        return
    setting, reader, action = _LIMITS[kind]
    raise TooLarge(
        "file",
        key,
        f"{key} is {size:,} bytes, over the {reader} limit of {limit:,} bytes (storage.{setting}): {action}, "
        f"or raise the limit (DROPML__STORAGE__{setting.upper()}) with the stack's TrainingMemory to match",
    )

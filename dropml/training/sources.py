"""Where a training run's data comes from: a CSV file under ``train/`` or a project's dataset (``datasets/<p>/``).

The training run asks here how big its data is (to choose in process or Dask)
and, in process, for the data as one frame; it never needs to know which kind it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dropml import storage
from dropml.storage import keys
from dropml.storage.limits import check_data_size
from dropml.training import dataset
from dropml.training.ingest import TrainingData, load_training_data

if TYPE_CHECKING:
    from dropml.config import TrainingSettings

FRAME_BYTES_PER_VALUE = 8  # a float64 (a dataset's value as a process holds it)


def training_bytes(key: str, project: str, conf: TrainingSettings) -> int:
    """How big a run on ``key`` is, in bytes, for choosing in process or Dask (``dask.train_above_bytes``).

    A file: its size. A dataset (its window): the larger of its Parquet bytes
    and its rows x columns x 8, the frame as float64, since Parquet of
    repetitive columns is many times smaller than the frame a process holds
    (the threshold is set from CSVs, whose bytes per value are about 8).

    Raises:
        NotFound: no such file or dataset.
    """
    if keys.is_dataset_key(key):
        found = dataset.describe(project, conf)
        return max(found.size, found.rows * dataset.stored_columns(project) * FRAME_BYTES_PER_VALUE)
    return storage.head(key).size


def load(key: str, conf: TrainingSettings) -> TrainingData:
    """The run's data as one frame: the CSV at ``key``, or the dataset (its window), the latest row per record key.

    Raises:
        NotFound: no such file or dataset.
        TooLarge: over ``storage.max_training_bytes``.
        BadInput: unreadable as CSV.
    """
    if not keys.is_dataset_key(key):
        return load_training_data(key)
    found = dataset.describe(keys.parse_dataset_key(key), conf)
    check_data_size(key, found.size)
    frame = dataset.read_frame(found, conf)
    return TrainingData(key=key, etag=found.etag, sha256=found.sha256, size=found.size, frame=frame)

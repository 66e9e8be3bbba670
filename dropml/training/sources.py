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


def training_bytes(key: str, project: str, conf: TrainingSettings) -> int:
    """How many bytes a run on ``key`` reads: the file's size, or the dataset's (window's) Parquet bytes.

    Raises:
        NotFound: no such file or dataset.
    """
    if keys.is_dataset_key(key):
        return dataset.describe(project, conf).size
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

"""What monitoring takes from a scored batch, block by block: the drift observation, labels, a time-ordered key.

:class:`BlockWatcher` is the observer file scoring calls for each block
(:data:`dropml.scoring.files.BlockObserver`), on a Dask worker or in process;
it keeps nothing of the rows but what :class:`BlockFindings` holds: the
block's :class:`~dropml.monitoring.batch.BatchObservation`, the target column
as read beside the champion's predictions when the file is labelled, and for a
time-ordered project the time, group and target of each row (the keys later
rows answer). :func:`combine` puts a file's blocks back together in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.monitoring.batch import BatchObservation, merge, observe
from dropml.scoring.rows import as_frame

if TYPE_CHECKING:
    import pandas as pd

    from dropml.manifest import InputSchema
    from dropml.scoring.predict import Prediction
    from dropml.scoring.rows import CheckedRows


@dataclass(frozen=True)
class BlockFindings:
    """One scored block as monitoring keeps it."""

    observed: BatchObservation
    predicted: np.ndarray  # the champion's predictions, one per row
    labels: np.ndarray | None = (
        None  # the target column as read (a labelled file of a project that is not time-ordered)
    )
    keyed: pd.DataFrame | None = None  # a time-ordered project's time, group and target columns, as checked


@dataclass(frozen=True)
class BlockWatcher:
    """The observer of a file's blocks: picklable (it travels to Dask workers with each block)."""

    schema: InputSchema
    target: str
    sample_share: float = 1.0

    def __call__(self, raw: pd.DataFrame, checked: CheckedRows, prediction: Prediction) -> BlockFindings:
        """What monitoring keeps of one scored block."""
        observed = observe(self.schema, checked, sample_share=self.sample_share)
        predicted = np.asarray(prediction.champion_predictions)
        if self.schema.time_column:
            wanted = [c for c in (self.schema.time_column, self.schema.group_column, self.target) if c]
            frame = as_frame(checked)
            keyed = frame[[c for c in wanted if c in frame.columns]].reset_index(drop=True)
            return BlockFindings(observed, predicted, keyed=keyed)
        labels = raw[self.target].to_numpy(dtype=object) if self.target in raw.columns else None
        return BlockFindings(observed, predicted, labels=labels)


def combine(blocks: list[BlockFindings]) -> BlockFindings | None:
    """A file's blocks as one (None when there were none)."""
    if not blocks:
        return None
    labelled = all(b.labels is not None for b in blocks)
    keyed = [b.keyed for b in blocks if b.keyed is not None]
    frame = None
    if keyed:
        import pandas as pd

        frame = pd.concat(keyed, ignore_index=True)
    return BlockFindings(
        observed=merge([b.observed for b in blocks]),
        predicted=np.concatenate([b.predicted for b in blocks]),
        labels=np.concatenate([b.labels for b in blocks]) if labelled else None,  # type: ignore[misc]
        keyed=frame,
    )


def sample_share(rows: int, max_rows: int) -> float:
    """The share of ``rows`` whose numbers a drift report compares: all up to ``max_rows``, then a uniform sample."""
    return 1.0 if rows <= max_rows else max_rows / rows


def file_watcher(schema: InputSchema, target: str, estimated_rows: int, max_rows: int) -> BlockWatcher:
    """The watcher of a file of about ``estimated_rows`` rows."""
    return BlockWatcher(schema, target, sample_share(estimated_rows, max_rows))


def observe_rows(schema: InputSchema, rows: CheckedRows, max_rows: int, seed: Any = None) -> BatchObservation:
    """The observation of checked rows scored at once (an upload), numbers sampled beyond ``max_rows``."""
    return observe(schema, rows, sample_share=sample_share(len(rows), max_rows), seed=seed)

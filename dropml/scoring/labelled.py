"""Labelled evaluation: a CSV whose answers are known, scored by a version's models, one set of metrics per model.

Evaluating a file against a project's live version and registering a model
with labelled rows both come here, so a labelled file is read, labelled,
checked against the schema and scored one way, with the metrics training
ranks its models by (:mod:`dropml.scoring.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dropml.errors import BadInput
from dropml.scoring.metrics import compute_metrics
from dropml.scoring.validate import validate_frame
from dropml.storage.csv_reader import read_csv_bytes

if TYPE_CHECKING:
    import pandas as pd

    from dropml.manifest import InputSchema

# checked rows → model name → one prediction per row
Predictor = Callable[["pd.DataFrame"], Mapping[str, Any]]


@dataclass(frozen=True)
class LabelledScores:
    """How many rows had a label, and each model's metrics on them (None where a metric is undefined)."""

    rows: int
    metrics: dict[str, dict[str, float | None]]


def labelled_scores(
    body: bytes,
    source: str,
    *,
    schema: InputSchema,
    target: str,
    task: str,
    config: Mapping[str, Any],
    predict: Predictor,
) -> LabelledScores:
    """Score the labelled CSV ``body`` with ``predict`` and compute every model's metrics on its labelled rows.

    ``config`` is the version's: for a time-ordered project (``time_column``) the label of a row is the
    target ``horizon`` rows later in its group, as training made it. Rows without a label are scored but
    not counted.

    Raises:
        BadInput: unreadable CSV, no target column, no labelled row, rows that fail the schema, or a model
            that refuses them.
    """
    frame = read_csv_bytes(body, source)
    labels = true_labels(frame, target, config, source)
    keep = labels.notna().to_numpy()
    if not keep.any():
        raise BadInput("target", target, f"{source} has no rows with a label in {target!r}")
    checked = validate_frame(schema, frame)
    y_true = labels.to_numpy()[keep]
    metrics = {
        model: compute_metrics(task, y_true, np.asarray(predicted)[keep])
        for model, predicted in predict(checked).items()
    }
    return LabelledScores(int(keep.sum()), metrics)


def true_labels(frame: pd.DataFrame, target: str, config: Mapping[str, Any], source: str) -> pd.Series:
    """The true labels: the target column, or for forecasts the value ``horizon`` steps ahead per group.

    Raises:
        BadInput: the target column is missing (names the columns there are).
    """
    if target not in frame.columns:
        raise BadInput("target", target, f"{source} has no target column {target!r} (columns: {list(frame.columns)})")
    time_column, group_column = config.get("time_column"), config.get("group_column")
    if not time_column:
        return frame[target]
    horizon = int(config.get("horizon", 1))
    ordered = frame.sort_values([c for c in (group_column, time_column) if c], kind="stable")
    future = ordered.groupby(group_column)[target].shift(-horizon) if group_column else ordered[target].shift(-horizon)
    return future.reindex(frame.index)

"""Predict with every model of a loaded version, in this thread or partitioned on Dask, and shape the answer."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from dropml.config import settings as global_settings
from dropml.scoring import dask_executor
from dropml.scoring.load import LoadedVersion, ModelChoice, predict_in_process
from dropml.scoring.rows import as_frame
from dropml.scoring.validate import neutralise_formulas

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import Settings
    from dropml.scoring.ranges import OutsideRange
    from dropml.scoring.rows import CheckedRows

logger = logging.getLogger(__name__)

Engine = Literal["in-process", "dask"]
OUTSIDE_COLUMN = "outside_training_range"  # a results file's column: the row's columns past the training range


@dataclass(frozen=True)
class Prediction:
    """The answer to one scoring request: every asked model's predictions, named by one version."""

    project: str
    version: int
    champion: str
    engine: Engine
    request_id: str | None
    rows: int
    by_model: dict[str, np.ndarray]
    seconds: float
    outside_range: OutsideRange | None = None  # rows with a value past what training saw (None: not checked)

    @property
    def champion_predictions(self) -> np.ndarray:
        """The champion's predictions (the answer to use)."""
        return self.by_model[self.champion]

    def to_json(self) -> dict[str, Any]:
        """The JSON body of an API answer (``predictions`` is the champion's list, as in MLflow)."""
        return {
            "request_id": self.request_id,
            "project": self.project,
            "model_version": self.version,
            "champion": self.champion,
            "engine": self.engine,
            "rows": self.rows,
            "predictions": self.champion_predictions.tolist(),
            "models": {name: values.tolist() for name, values in self.by_model.items()},
            "outside_training_range": (
                self.outside_range.to_json() if self.outside_range is not None else {"rows": [], "columns": {}}
            ),
        }


def choose_engine(rows: int, conf: Settings | None = None, loaded: LoadedVersion | None = None) -> Engine:
    """In process for small batches, Dask above ``dask.batch_threshold`` rows.

    A sequence model's version is always scored in one pass: partitions would
    cut the windows of earlier rows each row is scored with.
    """
    conf = conf or global_settings()
    if loaded is not None and loaded.scores_whole_batches:
        return "in-process"
    return "dask" if rows > conf.dask.batch_threshold else "in-process"


def predict_on_dask(
    loaded: LoadedVersion, frame: pd.DataFrame, names: list[str], conf: Settings | None = None
) -> dict[str, np.ndarray]:
    """Each named model's predictions for a checked frame, partition by partition on Dask, in row order.

    Raises:
        BadInput: a model refused the input.
        DaskUnavailable: no client, or Dask lost the batch (the caller scores it in process).
    """
    parts = dask_executor.map_partitions(predict_in_process, loaded, frame, names, conf=conf)
    return {name: np.concatenate([part[name] for part in parts]) for name in names}


def predict(
    loaded: LoadedVersion,
    frame: CheckedRows,
    models: ModelChoice = "all",
    request_id: str | None = None,
    engine: Engine | None = None,
    conf: Settings | None = None,
) -> Prediction:
    """Score checked rows (a frame or NumberRows, from :mod:`dropml.scoring.validate`) with the version's models.

    ``engine`` None picks by size (:func:`choose_engine`); Dask gives the same
    predictions as in-process, partitioned by ``dask.partition_rows``. When no
    Dask client can be made, the batch is scored in process (``engine`` says so).

    Raises:
        BadInput: bad ``models`` choice, or a model refused the input.
    """
    conf = conf or global_settings()
    names = loaded.names_for(models)
    chosen: Engine = engine or choose_engine(len(frame), conf, loaded)
    started = time.perf_counter()
    by_model = None
    if chosen == "dask":
        try:
            by_model = predict_on_dask(loaded, as_frame(frame), names, conf)
        except dask_executor.DaskUnavailable as err:  # a batch is still answered, just slower
            logger.warning("dask unavailable, scoring in process", extra={"rows": len(frame), "reason": str(err)})
            chosen = "in-process"
    if by_model is None:
        by_model = predict_in_process(loaded, frame, names)
    return Prediction(
        project=loaded.project,
        version=loaded.version,
        champion=loaded.champion,
        engine=chosen,
        request_id=request_id,
        rows=len(frame),
        by_model=by_model,
        seconds=time.perf_counter() - started,
        outside_range=loaded.training_ranges.outside(frame),
    )


def prediction_column(name: str) -> str:
    """The output column holding model ``name``'s predictions."""
    return f"pred_{name}"


def results_frame(
    inputs: pd.DataFrame, prediction: Prediction, explanation: dict[str, list[Any]] | None = None
) -> pd.DataFrame:
    """The inputs plus one column per model, the champion's prediction, the version and the request id.

    Then ``outside_training_range``: the row's columns past the range training saw (``;``-joined, '' when none);
    last, when asked, the champion's explanation columns (:func:`dropml.scoring.reasons.explanation_columns`).
    """
    import pandas as pd

    out = inputs.reset_index(drop=True).copy()
    taken = set(out.columns)
    extra: dict[str, Any] = {}
    for name, values in prediction.by_model.items():
        column = prediction_column(name)
        while column in taken:
            column = "_" + column
        taken.add(column)
        extra[column] = values
    extra["prediction"] = prediction.champion_predictions
    extra["champion"] = prediction.champion
    extra["model_version"] = prediction.version
    extra["request_id"] = prediction.request_id or ""
    extra[OUTSIDE_COLUMN] = prediction.outside_range.labels() if prediction.outside_range is not None else ""
    extra.update(explanation or {})
    for column in ("prediction", "champion", "model_version", "request_id", OUTSIDE_COLUMN, *(explanation or {})):
        if column in out.columns:
            out = out.rename(columns={column: "input_" + column})
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)


def results_csv(results: pd.DataFrame) -> str:
    """A :func:`results_frame` as CSV for a spreadsheet: text cells (and names) that look like formulas neutralised."""
    return neutralise_formulas(results).to_csv(index=False)

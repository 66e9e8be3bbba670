"""Scoring: load a version (checksums first), validate rows against its schema, predict with every model.

Public API:

- :func:`load_version` → :class:`LoadedVersion` (manifest + a fitted pipeline per model)
- :class:`ModelCache` / :class:`ModelCaches`: the live version per project, hot-swapped
- :func:`validate_frame`, :func:`frame_from_records`: rows → the one frame the pipelines get,
  or ``BadInput`` listing every problem by row and column
- :func:`predict` → :class:`Prediction` (engine ``in-process`` or ``dask``)
- :func:`score_file`: ``test/[<p>/]<name>.csv`` → ``predictions/[<p>/]<name>.csv``

Only ``pandas``/``numpy`` are imported with this package; scikit-learn, joblib
and Dask load when a model is loaded or a big batch arrives (cold start).
"""

from dropml.scoring.cache import ModelCache, ModelCaches
from dropml.scoring.files import score_file
from dropml.scoring.load import (
    LoadedVersion,
    Prediction,
    choose_engine,
    load_version,
    predict,
    prediction_column,
    results_frame,
)
from dropml.scoring.validate import frame_from_records, neutralise_formulas, records_from_split, validate_frame

__all__ = [
    "LoadedVersion",
    "ModelCache",
    "ModelCaches",
    "Prediction",
    "choose_engine",
    "frame_from_records",
    "load_version",
    "neutralise_formulas",
    "predict",
    "prediction_column",
    "records_from_split",
    "results_frame",
    "score_file",
    "validate_frame",
]

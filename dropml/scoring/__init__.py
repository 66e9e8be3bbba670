"""Scoring: load a version (checksums first), validate rows against its schema, predict with every model.

Modules, leaf first:

- :mod:`~dropml.scoring.rows`: checked rows as a DataFrame, or all-number JSON records as one matrix
  (``NumberRows``) that compiled models read without pandas
- :mod:`~dropml.scoring.ranges`: which rows lie outside the training range (where answers extrapolate)
- :mod:`~dropml.scoring.onnx_runtime`, :mod:`~dropml.scoring.keras_models`: the ONNX and Keras runtimes
- :mod:`~dropml.scoring.external_model`: a Keras/ONNX model as a pipeline's ``model`` step
- :mod:`~dropml.scoring.load`: :func:`load_version` → :class:`LoadedVersion` (read, checked, unpickled);
  predict in this thread
- :mod:`~dropml.scoring.version_cache`: :func:`cached_version`, the process's one cache of loaded versions
- :mod:`~dropml.scoring.live_model`: :class:`LiveModel` / :class:`LiveModels`, each project's live version,
  hot-swapped
- :mod:`~dropml.scoring.dask_executor`: Dask as an executor (client, partitions, map, gather); no scoring in it
- :mod:`~dropml.scoring.predict`: :func:`predict` → :class:`Prediction` (engine ``in-process`` or ``dask``),
  the results table
- :mod:`~dropml.scoring.validate`, :mod:`~dropml.scoring.csv_input`: rows → the one frame the pipelines get,
  or ``BadInput`` listing every problem by row and column
- :mod:`~dropml.scoring.request_shapes`: a request's JSON (one record, a batch, MLflow's shapes) or CSV → a
  ScoringInput, within the one row limit
- :mod:`~dropml.scoring.files`: a ``test/[<p>/]<name>.csv`` → ``predictions/[<p>/]<name>.csv``, on Dask when big
- :mod:`~dropml.scoring.metrics`: every metric of a task (training ranks by the same ones)
- :mod:`~dropml.scoring.labelled`: a labelled CSV scored by a version's models, metrics per model
- :mod:`~dropml.scoring.registered`: a registered model's serving pipeline, proven on a sample row

Public names: :func:`load_version`, :func:`cached_version`, :class:`LoadedVersion`,
:class:`LiveModel`, :class:`LiveModels`, :func:`validate_frame`, :func:`frame_from_records`,
:func:`records_from_split`, :func:`input_from_json`, :class:`ScoringInput`, :func:`ignored_columns`,
:func:`neutralise_formulas`, :func:`predict`,
:class:`Prediction`, :func:`choose_engine`, :func:`prediction_column`, :func:`results_frame`.

Only ``numpy`` is imported with this package; pandas loads when something needs
a DataFrame (a CSV, a page, a scikit-learn pipeline: a JSON record of numbers
scored by compiled models never does), scikit-learn, joblib and Dask when a
pipeline is unpickled or a big batch arrives (cold start).
"""

from dropml.scoring.live_model import LiveModel, LiveModels
from dropml.scoring.load import LoadedVersion, load_version
from dropml.scoring.predict import Prediction, choose_engine, predict, prediction_column, results_frame
from dropml.scoring.request_shapes import input_from_json
from dropml.scoring.validate import (
    ScoringInput,
    frame_from_records,
    ignored_columns,
    neutralise_formulas,
    records_from_split,
    validate_frame,
)
from dropml.scoring.version_cache import cached_version

__all__ = [
    "LiveModel",
    "LiveModels",
    "LoadedVersion",
    "Prediction",
    "ScoringInput",
    "cached_version",
    "choose_engine",
    "frame_from_records",
    "ignored_columns",
    "input_from_json",
    "load_version",
    "neutralise_formulas",
    "predict",
    "prediction_column",
    "records_from_split",
    "results_frame",
    "validate_frame",
]

"""Load a version's pipelines (checksums first) and predict with every model, in process or on Dask."""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dropml import registry
from dropml.config import settings as global_settings
from dropml.errors import BadInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dropml.config import Settings
    from dropml.manifest import InputSchema, Manifest

logger = logging.getLogger(__name__)

Engine = Literal["in-process", "dask"]
ModelChoice = Literal["all", "champion"]


@dataclass(frozen=True)
class LoadedVersion:
    """One version ready to predict: its manifest and a fitted pipeline per model (immutable once built)."""

    manifest: Manifest
    pipelines: dict[str, Any]
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0

    @property
    def project(self) -> str:
        """The project this version belongs to."""
        return self.manifest.project

    @property
    def version(self) -> int:
        """The version number."""
        return self.manifest.version

    @property
    def champion(self) -> str:
        """The name of the best-ranked model."""
        return self.manifest.champion

    @property
    def schema(self) -> InputSchema:
        """The input columns every request must match."""
        return self.manifest.input_schema

    @property
    def model_names(self) -> list[str]:
        """Model names in leaderboard order (champion first)."""
        return self.manifest.model_names

    def names_for(self, models: ModelChoice) -> list[str]:
        """The models a request asked for: every model, or just the champion.

        Raises:
            BadInput: ``models`` is neither ``all`` nor ``champion``.
        """
        if models == "all":
            return self.model_names
        if models == "champion":
            return [self.champion]
        raise BadInput("models", models, f"models must be 'all' or 'champion' (got {models!r})")


def load_version(project: str, version: int) -> LoadedVersion:
    """Read a version's manifest and unpickle every model, each only after its sha256 matched.

    All artifacts are read and checked before any is unpickled, so a tampered
    version loads nothing (pickles run code on load).

    Raises:
        NotFound: no such version, or an artifact is missing.
        ChecksumMismatch: an artifact differs from the manifest.
        BadInput: the manifest is malformed.
    """
    import joblib

    started = time.perf_counter()
    manifest = registry.read_manifest(project, version)
    blobs = {entry.name: registry.read_artifact(manifest.artifacts[entry.artifact]) for entry in manifest.models}
    pipelines = {name: joblib.load(io.BytesIO(blob)) for name, blob in blobs.items()}
    seconds = time.perf_counter() - started
    logger.info("model version loaded", extra={"project": project, "model_version": version, "seconds": seconds})
    return LoadedVersion(manifest=manifest, pipelines=pipelines, load_seconds=seconds)


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
        }


def choose_engine(rows: int, conf: Settings | None = None) -> Engine:
    """In process for small batches, Dask above ``dask.batch_threshold`` rows."""
    conf = conf or global_settings()
    return "dask" if rows > conf.dask.batch_threshold else "in-process"


def predict_in_process(loaded: LoadedVersion, frame: pd.DataFrame, names: list[str]) -> dict[str, np.ndarray]:
    """Each named model's ``predict`` on the checked frame, in this thread.

    Raises:
        BadInput: (422) a model refused the input (e.g. a value it cannot transform).
    """
    out = {}
    for name in names:
        try:
            out[name] = loaded.pipelines[name].predict(frame)
        except (ValueError, TypeError) as err:
            logger.warning("model refused input", extra={"model": name, "error": str(err)[:300]})
            raise BadInput("body", None, f"model {name!r} could not score this input: {err}", http_status=422) from None
    return out


def predict(
    loaded: LoadedVersion,
    frame: pd.DataFrame,
    models: ModelChoice = "all",
    request_id: str | None = None,
    engine: Engine | None = None,
    conf: Settings | None = None,
) -> Prediction:
    """Score a checked frame (from :mod:`dropml.scoring.validate`) with the version's models.

    ``engine`` None picks by size (:func:`choose_engine`); Dask gives the same
    predictions as in-process, partitioned by ``dask.partition_rows``. When no
    Dask client can be made, the batch is scored in process (``engine`` says so).

    Raises:
        BadInput: bad ``models`` choice, or a model refused the input.
    """
    conf = conf or global_settings()
    names = loaded.names_for(models)
    chosen: Engine = engine or choose_engine(len(frame), conf)
    started = time.perf_counter()
    by_model = None
    if chosen == "dask":
        from dropml.scoring import dask_executor as dask_engine

        try:
            by_model = dask_engine.predict_frame(loaded, names, frame, conf)
        except dask_engine.DaskUnavailable as err:  # a batch is still answered, just slower
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
    )


def prediction_column(name: str) -> str:
    """The output column holding model ``name``'s predictions."""
    return f"pred_{name}"


def results_frame(inputs: pd.DataFrame, prediction: Prediction) -> pd.DataFrame:
    """The inputs plus one column per model, the champion's prediction, the version and the request id."""
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
    for column in ("prediction", "champion", "model_version", "request_id"):
        if column in out.columns:
            out = out.rename(columns={column: "input_" + column})
    return pd.concat([out, pd.DataFrame(extra, index=out.index)], axis=1)

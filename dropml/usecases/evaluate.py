"""Evaluate a labelled file: every model of a project's live version scored on rows whose answer is known."""

from __future__ import annotations

from typing import Any

from dropml import registry, scoring
from dropml.errors import BadInput, NoLiveModel
from dropml.scoring.metrics import compute_metrics
from dropml.storage.csv_reader import read_csv_bytes


def evaluate(name: str, csv_body: bytes, source: str = "upload.csv") -> dict[str, Any]:
    """Score a labelled CSV with the live version of ``name``; every model's metrics on it.

    Raises:
        NoLiveModel: nothing is live yet.
        BadInput: unreadable CSV, the target column is missing, or rows fail the schema.
    """
    live = registry.live_version(name)
    if live is None:
        raise NoLiveModel(f"experiment {name!r} has no live version to evaluate")
    loaded = scoring.loaded_version(name, live.version)  # the one cache: never unpickled per request
    manifest = loaded.manifest
    frame = read_csv_bytes(csv_body, source)
    labels = _labels(frame, manifest.target, manifest.config, source)
    keep = labels.notna().to_numpy()
    if keep.sum() == 0:
        raise BadInput("target", manifest.target, f"{source} has no rows with a label in {manifest.target!r}")
    checked = scoring.validate_frame(manifest.input_schema, frame)
    prediction = scoring.predict(loaded, checked, "all")
    y_true = labels.to_numpy()[keep]
    metrics = {
        model: compute_metrics(manifest.task, y_true, predicted[keep])
        for model, predicted in prediction.by_model.items()
    }
    return {
        "name": name,
        "model_version": live.version,
        "champion": manifest.champion,
        "rows": int(keep.sum()),
        "metrics": metrics,
    }


def _labels(frame: Any, target: str, config: dict[str, Any], source: str) -> Any:
    """The true labels: the target column, or for forecasts the value ``horizon`` steps ahead per group."""
    if target not in frame.columns:
        raise BadInput("target", target, f"{source} has no target column {target!r} (columns: {list(frame.columns)})")
    time_column, group_column = config.get("time_column"), config.get("group_column")
    if not time_column:
        return frame[target]
    horizon = int(config.get("horizon", 1))
    ordered = frame.sort_values([c for c in (group_column, time_column) if c], kind="stable")
    future = ordered.groupby(group_column)[target].shift(-horizon) if group_column else ordered[target].shift(-horizon)
    return future.reindex(frame.index)

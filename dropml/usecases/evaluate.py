"""Evaluate a labelled file: every model of a project's live version scored on rows whose answer is known."""

from __future__ import annotations

from typing import Any

from dropml import registry, scoring
from dropml.errors import NoLiveModel
from dropml.scoring.labelled import labelled_scores


def evaluate(name: str, csv_body: bytes, source: str = "upload.csv") -> dict[str, Any]:
    """Score a labelled CSV with the live version of project ``name``; every model's metrics on it.

    Raises:
        NoLiveModel: nothing is live yet.
        BadInput: unreadable CSV, the target column is missing, or rows fail the schema.
    """
    live = registry.live_version(name)
    if live is None:
        raise NoLiveModel(f"experiment {name!r} has no live version to evaluate")
    loaded = scoring.cached_version(name, live.version)  # the one cache: never unpickled per request
    manifest = loaded.manifest
    scores = labelled_scores(
        csv_body,
        source,
        schema=manifest.input_schema,
        target=manifest.target,
        task=manifest.task,
        config=manifest.config,
        predict=lambda checked: scoring.predict(loaded, checked, "all").by_model,
    )
    return {
        "name": name,
        "model_version": live.version,
        "champion": manifest.champion,
        "rows": scores.rows,
        "metrics": scores.metrics,
    }

"""Trace a prediction: from its request id back to the model version, training data, code and config."""

from __future__ import annotations

from typing import Any

from dropml import audit, registry


def trace_prediction(request_id: str) -> dict[str, Any]:
    """Walk a prediction back to its model version, training data, code version and config.

    Raises:
        NotFound: unknown request id, or its version's manifest is gone.
    """
    record = audit.find_prediction(request_id)
    manifest = registry.read_manifest(record["project"], int(record["model_version"]))
    return {
        "prediction": record,
        "model_version": {
            "project": manifest.project,
            "version": manifest.version,
            "created_at": manifest.created_at,
            "run_id": manifest.run_id,
            "champion": manifest.champion,
            "source": manifest.source,
        },
        "training_data": manifest.data.model_dump() if manifest.data else None,
        "code": manifest.code.model_dump(),
        "config": manifest.config,
    }

"""Training settings stored per project: what every later run of the project uses, whoever starts it.

One small document per project (``experiments/<p>/config.json``) holds the
training overrides it was created or last changed with. The launching side
(triggers, retrain) reads it and hands it to the training job as that run's
settings, so the job itself never reads it (its role cannot).
"""

from __future__ import annotations

from typing import Any

from dropml import storage
from dropml.clock import utc_now
from dropml.errors import NotFound
from dropml.storage import keys


def stored_overrides(project: str) -> dict[str, Any]:
    """The training overrides stored for ``project`` ({} when none)."""
    try:
        document = storage.get_json(keys.experiment_config_key(project))
    except NotFound:
        return {}
    return dict(document.get("overrides") or {})


def stored_document(project: str) -> dict[str, Any]:
    """The whole stored document of ``project`` (overrides, data key, when) or {} when none."""
    try:
        return dict(storage.get_json(keys.experiment_config_key(project)))
    except NotFound:
        return {}


def store_overrides(project: str, overrides: dict[str, Any], data_key: str) -> None:
    """Replace ``project``'s stored overrides (already validated by the caller)."""
    document = {"project": project, "overrides": overrides, "data_key": data_key, "updated_at": utc_now()}
    storage.put_json(keys.experiment_config_key(project), document)


def settings_token(project: str) -> str:
    """A short digest of ``project``'s stored settings: the same file trained under new settings is a new run."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(stored_overrides(project), sort_keys=True).encode()).hexdigest()[:16]


def run_overrides(project: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings one run of ``project`` trains with: the stored ones, then this run's ``overrides`` on top."""
    return {**stored_overrides(project), **(overrides or {})}

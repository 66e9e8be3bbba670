"""Training settings stored per project: what every later run of the project uses, whoever starts it.

One small document per project (``experiments/<p>/config.json``) holds the
training overrides it was created or last changed with. The launching side
(triggers, retrain) reads it and hands it to the training job as that run's
settings, so the job itself never reads it (its role cannot). Overrides are
checked against the project's settings before they are stored or used.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dropml import storage
from dropml.clock import utc_now
from dropml.config import settings
from dropml.errors import BadInput, ConfigError, NotFound
from dropml.storage import keys


def checked_overrides(project: str, overrides: Any) -> dict[str, Any]:
    """Training setting overrides for ``project``, validated against the project's settings ({} for None).

    Raises:
        BadInput: not an object (400), or settings that do not validate (422, naming key and value).
    """
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise BadInput("overrides", overrides, f"overrides must be an object of training settings (got {overrides!r})")
    try:
        settings().training_for(project, overrides)
    except ConfigError as err:
        raise BadInput(
            "overrides", overrides, f"overrides are not valid training settings: {err}", http_status=422
        ) from None
    return overrides


def stored_overrides(project: str) -> dict[str, Any]:
    """The training overrides stored for ``project`` ({} when none)."""
    return dict(stored_document(project).get("overrides") or {})


def stored_document(project: str) -> dict[str, Any]:
    """The whole stored document of ``project`` (overrides, data key, when) or {} when none."""
    try:
        return dict(storage.get_json(keys.project_settings_key(project)))
    except NotFound:
        return {}


def store_overrides(project: str, overrides: dict[str, Any], data_key: str) -> None:
    """Replace ``project``'s stored overrides (already validated by the caller)."""
    document = {"project": project, "overrides": overrides, "data_key": data_key, "updated_at": utc_now()}
    storage.put_json(keys.project_settings_key(project), document)


def update_overrides(project: str, overrides: Any, data_key: str | None = None) -> dict[str, Any]:
    """Merge ``overrides`` into ``project``'s stored ones, check the result and store it; returns the merged ones.

    ``data_key`` (the file the settings were made for) defaults to the stored one, else the project's
    training prefix.

    Raises:
        BadInput: overrides that do not validate for the project, alone or merged (422, naming key and value).
    """
    stored = stored_document(project)
    merged = {**(stored.get("overrides") or {}), **checked_overrides(project, overrides)}
    checked_overrides(project, merged)
    store_overrides(project, merged, data_key or stored.get("data_key") or keys.data_prefix("train", project))
    return merged


def settings_token(project: str) -> str:
    """A short digest of ``project``'s stored settings: the same file trained under new settings is a new run."""
    return hashlib.sha256(json.dumps(stored_overrides(project), sort_keys=True).encode()).hexdigest()[:16]


def run_overrides(project: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings one run of ``project`` trains with: the stored ones, then this run's ``overrides`` on top."""
    return {**stored_overrides(project), **(overrides or {})}

"""Experiments: projects created, retrained, archived and evaluated through the API.

An experiment *is* a project. Its store is S3 itself: the versions' manifests
(metrics, config, data), the archive markers beside them, and one small
document with the training overrides it was created or last patched with
(``experiments/<p>/config.json``), which every training run of the project
applies. Training goes through the same path as an upload: the data lands
under ``train/<p>/`` and its S3 event starts the job; a patch starts it the
way the retrain schedule does.
"""

from __future__ import annotations

import logging
from typing import Any

from dropml import registry, storage
from dropml.clock import utc_now
from dropml.errors import BadInput, Conflict, NotFound
from dropml.ops.operations import checked_overrides
from dropml.registry import project_settings
from dropml.storage import keys

logger = logging.getLogger(__name__)


def exists(project: str) -> bool:
    """Whether ``project`` has versions, claims or stored overrides."""
    return bool(
        registry.list_versions(project)
        or registry.claimed_versions(project)
        or storage.exists(keys.experiment_config_key(project))
    )


def create(name: str, data_key: str, overrides: Any = None) -> dict[str, Any]:
    """Create experiment ``name`` from an uploaded training CSV and start its first training.

    The CSV is copied (server-side) to ``train/<name>/<file>``; its S3 event
    starts the training through the usual queue and handler.

    Raises:
        BadInput: a bad name, a data key outside ``train/``, or invalid overrides (422).
        NotFound: the data file does not exist.
        Conflict: an experiment or project of that name exists already.
    """
    keys.validate_project(name)
    source = keys.parse_data_key(data_key, kind="train")
    checked = checked_overrides(name, overrides)
    storage.head(source.key)
    if exists(name):
        raise Conflict(f"experiment {name!r} exists already; PATCH it to change its config and retrain")
    target = keys.data_key("train", name, source.name)
    project_settings.store_overrides(name, checked, target)
    if target != source.key:
        storage.copy(source.key, target)  # its put event starts the training
    else:
        _retrain(name, "create")
    return {"name": name, "data_key": target, "overrides": checked, "status": "training"}


def _retrain(project: str, reason: str) -> dict[str, Any]:
    from dropml.pipeline import triggers

    newest = triggers.newest_data_file("train", project)
    token = project_settings.settings_token(project)
    return triggers.start_job("train", newest.key, newest.etag, newest.size, reason, token).to_dict()


def update(name: str, overrides: Any) -> dict[str, Any]:
    """Change experiment ``name``'s training overrides (merged into the stored ones) and retrain it.

    Raises:
        NotFound: no such experiment.
        BadInput: invalid overrides (422).
    """
    keys.validate_project(name)
    if not exists(name):
        raise NotFound(f"no experiment named {name!r}")
    merged = {**project_settings.stored_overrides(name), **checked_overrides(name, overrides)}
    checked_overrides(name, merged)
    previous = project_settings.stored_document(name)
    project_settings.store_overrides(name, merged, previous.get("data_key") or keys.data_prefix("train", name))
    started = _retrain(name, "patch")
    return {"name": name, "overrides": merged, "status": "training", "started": started}


def is_archived(project: str, version: int) -> bool:
    """Whether a version has been archived."""
    return storage.exists(keys.archive_marker_key(project, version))


def archive(name: str, version: int, by: str = "admin") -> dict[str, Any]:
    """Mark a version archived: its artifacts are kept, it is never made live again.

    Raises:
        NotFound: no such version.
        Conflict: it is the live version (roll back or promote another first).
    """
    manifest = registry.read_manifest(name, version)
    live = registry.live_version(name)
    if live is not None and live.version == version:
        raise Conflict(f"v{version} of {name!r} is live; promote or roll back to another version before archiving it")
    storage.put_json(
        keys.archive_marker_key(name, version),
        {"project": name, "version": version, "archived_at": utc_now(), "by": by},
    )
    return {"name": name, "version": manifest.version, "archived": True}


def _version_summary(project: str, version: int, live: int | None) -> dict[str, Any]:
    manifest = registry.read_manifest(project, version)
    champion = manifest.model(manifest.champion)
    return {
        "version": version,
        "created_at": manifest.created_at,
        "live": version == live,
        "archived": is_archived(project, version),
        "champion": manifest.champion,
        "rank_metric": manifest.rank_metric,
        "metrics": champion.metrics,
        "models": {m.name: m.metrics for m in manifest.models},
        "data_key": manifest.data.key if manifest.data else None,
        "source": manifest.source,
    }


def describe(name: str) -> dict[str, Any]:
    """One experiment: its overrides, live version and every version with its metrics.

    Raises:
        NotFound: no such experiment.
    """
    keys.validate_project(name)
    if not exists(name):
        raise NotFound(f"no experiment named {name!r}")
    live = registry.live_version(name)
    live_number = live.version if live else None
    return {
        "name": name,
        "overrides": project_settings.stored_overrides(name),
        "live_version": live_number,
        "versions": [_version_summary(name, v, live_number) for v in registry.list_versions(name)],
    }


def list_all() -> list[dict[str, Any]]:
    """Every experiment (project) with its live version and version count."""
    names = set(registry.list_projects()) | set(storage.list_folders("experiments/"))
    found = []
    for name in sorted(n for n in names if keys.PROJECT_NAME_PATTERN.match(n)):
        live = registry.live_version(name)
        found.append(
            {
                "name": name,
                "live_version": live.version if live else None,
                "versions": len(registry.list_versions(name)),
            }
        )
    return found


def evaluate(name: str, csv_body: bytes, source: str = "upload.csv") -> dict[str, Any]:
    """Score a labelled CSV with the live version of ``name``; every model's metrics on it.

    Raises:
        NoLiveModel: nothing is live yet.
        BadInput: unreadable CSV, the target column is missing, or rows fail the schema.
    """
    from dropml import scoring
    from dropml.errors import NoLiveModel
    from dropml.training.evaluation import compute_metrics

    live = registry.live_version(name)
    if live is None:
        raise NoLiveModel(f"experiment {name!r} has no live version to evaluate")
    loaded = scoring.loaded_version(name, live.version)  # the one cache: never unpickled per request
    manifest = loaded.manifest
    frame = storage.read_csv_bytes(csv_body, source)
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

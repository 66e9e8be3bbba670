"""Projects managed over the API (``/api/v1/experiments``) and the CLI: created, configured, retrained, archived.

The API calls a project an *experiment*; they are the same thing. Its store is
S3 itself: the versions' manifests (metrics, config, data), the archive
markers beside them, and one small document with its training settings
(:mod:`dropml.registry.project_settings`), which every training run of the
project applies. Training goes through the same path as an upload: the data
lands under ``train/<p>/`` and its S3 event starts the job; a patch starts it
the way the retrain schedule does. Every change is announced.
"""

from __future__ import annotations

import logging
from typing import Any

from dropml import notify, registry, storage
from dropml.clock import utc_now
from dropml.errors import Conflict, NotFound
from dropml.registry import project_settings
from dropml.storage import keys
from dropml.usecases import triggers

logger = logging.getLogger(__name__)


def exists(project: str) -> bool:
    """Whether ``project`` has versions, claims or stored overrides."""
    return bool(
        registry.list_versions(project)
        or registry.claimed_versions(project)
        or storage.exists(keys.project_settings_key(project))
    )


def create(name: str, data_key: str, overrides: Any = None, by: str = "admin") -> dict[str, Any]:
    """Create project ``name`` from an uploaded training CSV, start its first training, and announce it.

    The CSV is copied (server-side) to ``train/<name>/<file>``; its S3 event
    starts the training through the usual queue and handler.

    Raises:
        BadInput: a bad name, a data key outside ``train/``, or invalid overrides (422).
        NotFound: the data file does not exist.
        Conflict: a project of that name exists already.
    """
    keys.validate_project(name)
    source = keys.parse_data_key(data_key, kind="train")
    checked = project_settings.checked_overrides(name, overrides)
    storage.head(source.key)
    if exists(name):
        raise Conflict(f"experiment {name!r} exists already; PATCH it to change its config and retrain")
    target = keys.data_key("train", name, source.name)
    project_settings.store_overrides(name, checked, target)
    if target != source.key:
        storage.copy(source.key, target)  # its put event starts the training
    else:
        _retrain(name, "create")
    notify.announce("experiment", "succeeded", f"experiment {name} created", name, data_key=target, by=by)
    return {"name": name, "data_key": target, "overrides": checked, "status": "training"}


def _retrain(project: str, reason: str) -> dict[str, Any]:
    newest = triggers.training_source(project)
    token = project_settings.settings_token(project)
    return triggers.start_job("train", newest.key, newest.etag, newest.size, reason, token).to_dict()


def update(name: str, overrides: Any, by: str = "admin") -> dict[str, Any]:
    """Change project ``name``'s training overrides (merged into the stored ones), retrain it, and announce it.

    Raises:
        NotFound: no such project.
        BadInput: invalid overrides (422).
    """
    keys.validate_project(name)
    if not exists(name):
        raise NotFound(f"no experiment named {name!r}")
    merged = project_settings.update_overrides(name, overrides)
    started = _retrain(name, "patch")
    notify.announce("experiment", "succeeded", f"experiment {name} patched, retraining", name, by=by)
    return {"name": name, "overrides": merged, "status": "training", "started": started}


def configure(project: str, overrides: Any, data_key: str | None = None) -> dict[str, Any]:
    """Store training settings for every later run of ``project`` (merged into its stored ones); returns them.

    This is what an S3 upload of the project trains with: its trigger reads them.

    Raises:
        BadInput: settings that do not validate for the project (422, naming key and value).
    """
    return project_settings.update_overrides(keys.validate_project(project), overrides, data_key)


def is_archived(project: str, version: int) -> bool:
    """Whether a version has been archived."""
    return storage.exists(keys.archive_marker_key(project, version))


def archive(name: str, version: int, by: str = "admin") -> dict[str, Any]:
    """Mark a version archived (its artifacts are kept, it is never made live again), and announce it.

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
    notify.announce("archive", "succeeded", f"{name} v{version} archived", name, version, by=by)
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
    """One project: its overrides, live version and every version with its metrics.

    Raises:
        NotFound: no such project.
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
    """Every project with its live version and version count."""
    names = set(registry.list_projects()) | set(storage.list_folders(keys.PROJECT_SETTINGS_PREFIX))
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

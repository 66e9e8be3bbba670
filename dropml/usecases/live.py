"""A project's live version: publish a written version, promote one, roll back, and the history of it all.

Each change is the registry's (:mod:`dropml.registry.live`), announced here, so
the publish function, the CLI and the admin API say the same thing on SNS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from dropml import notify, registry
from dropml.events import S3Object
from dropml.manifest import Manifest
from dropml.storage import keys

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveChange:
    """A change of a project's live version: what it is now and what it was."""

    project: str
    version: int
    was: int | None
    champion: str


def publish(obj: S3Object) -> bool:
    """A manifest was written: verify it and make its version live if newer; returns whether it changed.

    Raises:
        BadInput: not a manifest key or a malformed manifest; the live version stays.
        ChecksumMismatch: an artifact differs from the manifest; the live version stays.
    """
    manifest, changed = registry.publish(obj.key)
    if changed:
        notify.announce(
            "publish",
            "succeeded",
            f"{manifest.project} v{manifest.version} is live",
            project=manifest.project,
            version=manifest.version,
            champion=manifest.champion,
            key=obj.key,
        )
    else:
        logger.info("publish skipped: not newer", extra={"key": obj.key})
    return changed


def promote(project: str, version: int, by: str = "cli") -> LiveChange:
    """Make a published version live (the same checks as publishing) and announce it.

    Raises:
        NotFound: no such version.
        Conflict: the version is archived.
        ChecksumMismatch: its artifacts differ from its manifest.
    """
    return _change_live(
        "promote",
        project,
        lambda: registry.promote(project, version),
        lambda manifest, was: f"{project} v{manifest.version} promoted (was {f'v{was}' if was else 'nothing'})",
        by,
    )


def rollback(project: str, by: str = "cli") -> LiveChange:
    """Make the newest earlier version that was once live, live again, and announce it.

    Raises:
        NotFound: nothing live, or nothing earlier to roll back to.
    """
    return _change_live(
        "rollback",
        project,
        lambda: registry.rollback(project),
        lambda manifest, _was: f"{project} rolled back to v{manifest.version}",
        by,
    )


def _change_live(
    action: str,
    project: str,
    change: Callable[[], Manifest],
    summary: Callable[[Manifest, int | None], str],
    by: str,
) -> LiveChange:
    """Run a registry change of the live version and announce it with what was live before."""
    before = registry.live_version(keys.validate_project(project))
    manifest = change()
    was = before.version if before else None
    notify.announce(action, "succeeded", summary(manifest, was), project, manifest.version, by=by, was=was)
    return LiveChange(project, manifest.version, was, manifest.champion)


def history(project: str) -> list[registry.HistoryEntry]:
    """Every change of ``project``'s live version, oldest first (its record under audit/promotions/)."""
    return registry.history(project)

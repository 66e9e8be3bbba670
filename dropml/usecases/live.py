"""A project's live version and its challenger: publish, promote, roll back, shadow, and the history of it all.

Each change is the registry's (:mod:`dropml.registry.live`), announced here, so
the publish function, the CLI, the admin API and monitoring say the same thing
on SNS. A challenger is scored in the shadow of the live version
(:mod:`dropml.usecases.shadow`); promoting it makes it the champion and ends its shadow.
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
    change = _change_live(
        "promote",
        project,
        lambda: registry.promote(project, version),
        lambda manifest, was: f"{project} v{manifest.version} promoted (was {f'v{was}' if was else 'nothing'})",
        by,
    )
    challenger = registry.challenger_version(project)
    if challenger is not None and challenger.version == version:  # the challenger won: it answers now
        clear_challenger(project, by)
    return change


@dataclass(frozen=True)
class ChallengerChange:
    """A change of a project's challenger: which version it is now (None: none) and which it was."""

    project: str
    challenger: int | None
    was: int | None
    live: int | None


def challenge(project: str, version: int, by: str = "cli") -> ChallengerChange:
    """Make a published version the challenger: scored in the shadow of every request and file, never answering.

    Raises:
        NotFound: no such version.
        Conflict: the version is archived or live.
        ChecksumMismatch: its artifacts differ from its manifest.
    """
    before = registry.challenger_version(keys.validate_project(project))
    registry.set_challenger(project, version)
    was = before.version if before else None
    live_now = registry.live_version(project)
    shadowed = f"v{live_now.version}" if live_now else "nothing"
    subject = f"{project} v{version} is the challenger (scored in the shadow of {shadowed})"
    notify.announce("challenger", "succeeded", subject, project, version, by=by, was=was)
    return ChallengerChange(project, version, was, live_now.version if live_now else None)


def clear_challenger(project: str, by: str = "cli") -> ChallengerChange:
    """Stop scoring the project's challenger in the shadow (nothing changes when there is none)."""
    was = registry.clear_challenger(keys.validate_project(project))
    live_now = registry.live_version(project)
    if was is not None:
        subject = f"{project}: v{was} is no longer the challenger"
        notify.announce("challenger", "succeeded", subject, project, was, by=by, was=was, cleared=True)
    return ChallengerChange(project, None, was, live_now.version if live_now else None)


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


def history(project: str, pointer: registry.Pointer = "live") -> list[registry.HistoryEntry]:
    """Every change of ``project``'s live (or challenger) version, oldest first (its record under audit/promotions/)."""
    return registry.history(project, pointer)

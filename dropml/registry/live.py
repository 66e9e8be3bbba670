"""The live version of each project and its challenger: the SSM pointers, publishing, promotion, rollback, history.

The project's SSM parameter ``/<stack>/<project>/model-version`` holds its live
version, ``/<stack>/<project>/challenger-version`` the version scored in the
shadow (``none`` when there is none). Both are written by :func:`_set_pointer`
alone, and every change is also appended to the project's record under
``audit/promotions/`` (:mod:`dropml.registry.promotions`), which does not expire as
SSM's last-100 parameter history does; the history reads both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from dropml import aws, storage
from dropml.config import settings
from dropml.errors import Conflict, NotFound
from dropml.manifest import Manifest
from dropml.registry import promotions
from dropml.registry.versions import read_manifest, verify_artifacts
from dropml.storage import keys

logger = logging.getLogger(__name__)

Pointer = Literal["live", "challenger"]
NO_VERSION = "none"  # SSM holds no empty value: a cleared pointer (and the template's placeholder) says this


@dataclass(frozen=True)
class LiveVersion:
    """A project's live version and when it was set."""

    project: str
    version: int
    parameter_version: int
    changed_at: str


def _parameter(project: str, pointer: Pointer) -> str:
    conf = settings()
    project = keys.validate_project(project)
    return conf.model_version_parameter(project) if pointer == "live" else conf.challenger_version_parameter(project)


def live_version(project: str) -> LiveVersion | None:
    """The live version of ``project``, or None before anything is published."""
    return _read_pointer(project, "live")


def challenger_version(project: str) -> LiveVersion | None:
    """The version of ``project`` scored in the shadow of the live one, or None."""
    return _read_pointer(project, "challenger")


def _read_pointer(project: str, pointer: Pointer) -> LiveVersion | None:
    from botocore.exceptions import ClientError

    name = _parameter(project, pointer)
    try:
        param = aws.client("ssm").get_parameter(Name=name)["Parameter"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    value = str(param["Value"]).strip()
    if not value.isdigit() or int(value) < 1:
        return None  # placeholder ("none") written by the template before the first publish
    changed = param.get("LastModifiedDate")
    return LiveVersion(project, int(value), int(param["Version"]), str(changed) if changed else "")


def _set_live(project: str, version: int, action: promotions.Action = "publish") -> None:
    _set_pointer(project, "live", version, action)


def _set_pointer(project: str, pointer: Pointer, version: int | None, action: promotions.Action) -> int:
    """The one writer of a project's version pointers (live and challenger); returns SSM's parameter version.

    Every publish, promotion, rollback and challenger change passes here, and is appended to the project's
    record of changes (:mod:`dropml.registry.promotions`) once SSM holds it.
    """
    written = aws.client("ssm").put_parameter(
        Name=_parameter(project, pointer),
        Value=str(version) if version is not None else NO_VERSION,
        Type="String",
        Overwrite=True,
        Description=f"{pointer} model version of dropml project {project}",
    )
    parameter_version = int(written["Version"])
    promotions.record(project, version, action, parameter_version, pointer)
    return parameter_version


def publish(manifest_key: str) -> tuple[Manifest, bool]:
    """Check a newly written manifest and make it live if it is newer than the live version.

    Idempotent: a duplicate or out-of-order event never moves the live version
    backwards. Returns the manifest and whether the live version changed.

    Raises:
        BadInput: not a manifest key, or a malformed manifest.
        ChecksumMismatch: an artifact differs from the manifest; nothing changes.
        NotFound: the manifest or an artifact is missing; nothing changes.
    """
    project, version = keys.parse_manifest_key(manifest_key)
    manifest = read_manifest(project, version)
    verify_artifacts(manifest)
    current = live_version(project)
    if current is not None and current.version >= version:
        logger.info("publish skipped: not newer", extra={"project": project, "version": version})
        return manifest, False
    _set_live(project, version)
    _settle_newest(project, version)
    return manifest, True


PUBLISH_SETTLE_SECONDS = 0.5
PUBLISH_SETTLE_ROUNDS = 5


def _settle_newest(project: str, version: int) -> None:
    """Make concurrent publishes converge on the newest version.

    SSM has no compare-and-set, so two publishers (the publish queue allows
    two at once) may both read v2, and v3's write may land after v4's. Each
    publisher re-reads after a pause and writes its version again while the
    live one is older, so the parameter ends at the newest of them.
    """
    for _ in range(PUBLISH_SETTLE_ROUNDS):
        time.sleep(PUBLISH_SETTLE_SECONDS)
        current = live_version(project)
        if current is not None and current.version >= version:
            return
        logger.warning(
            "publish overtaken by an older version; writing again", extra={"project": project, "version": version}
        )
        _set_live(project, version)


def promote(project: str, version: int) -> Manifest:
    """Make any published version live, after the same checks as publishing.

    Raises:
        NotFound: no such version.
        Conflict: the version is archived.
        ChecksumMismatch: its artifacts do not match its manifest.
    """
    return _make_live(project, version, "promote")


def _make_live(project: str, version: int, action: promotions.Action) -> Manifest:
    manifest = _checked(project, version, "made live")
    _set_live(project, version, action)
    return manifest


def _checked(project: str, version: int, purpose: str) -> Manifest:
    """A version's manifest after the checks any pointer to it needs: it exists, is not archived, is intact."""
    keys.validate_project(project)
    manifest = read_manifest(project, version)
    if storage.exists(keys.archive_marker_key(project, version)):
        raise Conflict(f"v{version} of {project!r} is archived and cannot be {purpose}")
    verify_artifacts(manifest)
    return manifest


def set_challenger(project: str, version: int) -> Manifest:
    """Make a published version the project's challenger (scored in the shadow), after the checks of promotion.

    Raises:
        NotFound: no such version.
        Conflict: the version is archived, or it is the live version.
        ChecksumMismatch: its artifacts do not match its manifest.
    """
    manifest = _checked(project, version, "a challenger")
    current = live_version(project)
    if current is not None and current.version == version:
        raise Conflict(f"v{version} of {project!r} is live: a challenger must be another version")
    _set_pointer(project, "challenger", version, "challenge")
    return manifest


def clear_challenger(project: str) -> int | None:
    """Stop scoring a challenger in the shadow; returns the version that was the challenger (None: there was none)."""
    current = challenger_version(project)
    if current is None:
        return None
    _set_pointer(project, "challenger", None, "clear")
    return current.version


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a project's live version."""

    parameter_version: int
    model_version: int | None
    changed_at: str
    changed_by: str
    action: str = ""  # publish, promote or rollback (empty: known only from SSM's history)


def history(project: str, pointer: Pointer = "live") -> list[HistoryEntry]:
    """Every change of the project's live (or challenger) version, oldest first: its record, and SSM's history for
    the rest.

    SSM's history (its last 100 versions) adds what the record lacks: changes made before the record
    existed, or by hand in the console.
    """
    recorded = [
        HistoryEntry(p.parameter_version, p.model_version, p.changed_at, "", p.action)
        for p in promotions.read(project)
        if p.pointer == pointer
    ]
    seen = {entry.parameter_version for entry in recorded}
    older = [entry for entry in _parameter_history(project, pointer) if entry.parameter_version not in seen]
    return sorted(older + recorded, key=_when)


def _when(entry: HistoryEntry) -> tuple[datetime, int]:
    """When a change was made (SSM's and the record's timestamps alike), then SSM's version."""
    try:
        changed = datetime.fromisoformat(entry.changed_at)
    except ValueError:
        changed = datetime.min.replace(tzinfo=UTC)
    return (changed if changed.tzinfo else changed.replace(tzinfo=UTC)), entry.parameter_version


def _parameter_history(project: str, pointer: Pointer) -> list[HistoryEntry]:
    """Every value the project's live (or challenger) parameter has had that SSM still keeps, oldest first."""
    from botocore.exceptions import ClientError

    name = _parameter(project, pointer)
    entries: list[HistoryEntry] = []
    try:
        for page in aws.client("ssm").get_paginator("get_parameter_history").paginate(Name=name):
            for item in page["Parameters"]:
                value = str(item["Value"]).strip()
                entries.append(
                    HistoryEntry(
                        parameter_version=int(item["Version"]),
                        model_version=int(value) if value.isdigit() else None,
                        changed_at=str(item.get("LastModifiedDate", "")),
                        changed_by=str(item.get("LastModifiedUser", "")),
                    )
                )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return []
        raise
    return sorted(entries, key=lambda e: e.parameter_version)


def rollback(project: str) -> Manifest:
    """Make the newest earlier version that was once live, live again.

    Raises:
        NotFound: nothing earlier to roll back to.
    """
    current = live_version(project)
    if current is None:
        raise NotFound(f"project {project!r} has no live version to roll back from")
    # the newest version older than the live one that was ever live: repeated
    # rollbacks walk further back instead of toggling between two versions
    earlier = [e.model_version for e in history(project) if e.model_version and e.model_version < current.version]
    if not earlier:
        raise NotFound(f"project {project!r} has no earlier live version than v{current.version}")
    return _make_live(project, max(earlier), "rollback")

"""Model versions: claim a number, write a version manifest-last, verify, publish, promote, roll back.

The project's SSM parameter ``/<stack>/<project>/model-version`` holds its live
version; its parameter history is the log of every promotion and rollback.
Only versions whose manifest exists are versions: a run that died half-way
leaves no manifest and is invisible to everything that lists versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from dropml import storage
from dropml.config import settings
from dropml.errors import BadInput, ChecksumMismatch, Conflict, NotFound
from dropml.manifest import Artifact, Manifest
from dropml.storage import keys

logger = logging.getLogger(__name__)

MAX_CLAIM_ATTEMPTS = 1000


def utc_now() -> str:
    """The current UTC time as an ISO 8601 string (how every record is stamped)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ── versions ──────────────────────────────────────────────────────────────────


def claimed_versions(project: str) -> list[int]:
    """Every version number ever claimed by a run of ``project`` (published or not)."""
    prefix = keys.claims_prefix(project)
    found = []
    for key in storage.list_keys(prefix):
        version = keys.parse_version_dir(key[len(prefix) :].removesuffix(".json"))
        if version is not None:
            found.append(version)
    return sorted(found)


def claim_version(project: str, run_id: str) -> int:
    """Atomically take the next version number of ``project``.

    S3's conditional put (If-None-Match) makes the first writer win, so two
    concurrent runs never take the same number. The claim itself reveals
    nothing: only a manifest makes a version visible.
    """
    taken = claimed_versions(project)
    candidate = (max(taken) + 1) if taken else 1
    for _ in range(MAX_CLAIM_ATTEMPTS):
        body = {"project": project, "version": candidate, "run_id": run_id, "claimed_at": utc_now()}
        if storage.put_json(keys.claim_key(project, candidate), body, if_absent=True):
            return candidate
        candidate += 1
    raise RuntimeError(f"could not claim a version of project {project!r} after {MAX_CLAIM_ATTEMPTS} attempts")


def list_versions(project: str) -> list[int]:
    """The published versions of ``project`` (those with a manifest), oldest first."""
    prefix = keys.models_prefix(project)
    versions = []
    for folder in storage.list_folders(prefix):
        version = keys.parse_version_dir(folder)
        if version is not None and storage.exists(keys.manifest_key(project, version)):
            versions.append(version)
    return sorted(versions)


def list_projects() -> list[str]:
    """Every project that has at least one folder under ``models/``."""
    return sorted(p for p in storage.list_folders("models/") if keys.PROJECT_NAME_PATTERN.match(p))


def read_manifest(project: str, version: int) -> Manifest:
    """Load and validate the manifest of one version.

    Raises:
        NotFound: the version has no manifest.
        BadInput: the manifest is not a valid manifest document.
    """
    key = keys.manifest_key(project, version)
    try:
        document = storage.get_json(key)
    except json.JSONDecodeError as err:
        raise BadInput("manifest", key, f"{key} is not valid JSON: {err.msg}") from None
    except NotFound:
        raise NotFound(f"project {project!r} has no version {version} (no {key})") from None
    return parse_manifest(document, key)


def parse_manifest(document: Any, key: str) -> Manifest:
    """Validate a manifest document read from ``key``.

    Raises:
        BadInput: missing or malformed fields, or internal inconsistencies (named).
    """
    try:
        manifest = Manifest.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BadInput("manifest", key, f"{key}: {field}: {first['msg']}") from None
    problems = _consistency_problems(manifest, key)
    if problems:
        raise BadInput("manifest", key, f"{key}: " + "; ".join(problems))
    return manifest


def _consistency_problems(manifest: Manifest, key: str) -> list[str]:
    problems = []
    try:
        project, version = keys.parse_manifest_key(key)
        if (project, version) != (manifest.project, manifest.version):
            problems.append(f"says project {manifest.project!r} v{manifest.version} but lies at {key}")
    except BadInput:
        pass
    names = [m.name for m in manifest.models]
    if manifest.champion not in names:
        problems.append(f"champion {manifest.champion!r} is not one of the models {names}")
    for entry in manifest.models:
        if entry.artifact not in manifest.artifacts:
            problems.append(f"model {entry.name!r} names artifact {entry.artifact!r}, which is not listed")
    prefix = keys.version_prefix(manifest.project, manifest.version)
    report_prefix = keys.report_prefix(manifest.project, manifest.version)
    for name, artifact in manifest.artifacts.items():
        if not (artifact.key.startswith(prefix) or artifact.key.startswith(report_prefix)):
            problems.append(f"artifact {name!r} lies outside its version: {artifact.key}")
    if not manifest.input_schema.columns:
        problems.append("input_schema has no columns")
    return problems


def read_artifact(artifact: Artifact) -> bytes:
    """Read one artifact and prove it is the one the manifest recorded.

    Raises:
        ChecksumMismatch: its sha256 differs (tampered, truncated or replaced).
        NotFound: it is missing.
    """
    found = storage.get_bytes(artifact.key)
    if found.sha256 != artifact.sha256:
        raise ChecksumMismatch(
            f"{artifact.key}: sha256 {found.sha256[:12]}… does not match the manifest's {artifact.sha256[:12]}…"
        )
    return found.body


def verify_artifacts(manifest: Manifest) -> None:
    """Check every artifact's sha256 by streaming it (no whole pickle held in memory).

    Raises:
        ChecksumMismatch: an artifact differs from the manifest.
        NotFound: an artifact is missing.
    """
    from botocore.exceptions import ClientError

    s3 = storage.client("s3")
    for name, artifact in manifest.artifacts.items():
        digest = hashlib.sha256()
        try:
            body = s3.get_object(Bucket=storage.bucket(), Key=artifact.key)["Body"]
        except ClientError:
            raise NotFound(f"artifact {name!r} is missing: {artifact.key}") from None
        for chunk in body.iter_chunks(1024 * 1024):
            digest.update(chunk)
        if digest.hexdigest() != artifact.sha256:
            raise ChecksumMismatch(
                f"artifact {name!r} ({artifact.key}): sha256 {digest.hexdigest()[:12]}… "
                f"does not match the manifest's {artifact.sha256[:12]}…"
            )


def write_artifact(
    project: str, version: int, file_name: str, body: bytes, content_type: str, report: bool = False
) -> Artifact:
    """Upload one file of a version and describe it for the manifest."""
    key = keys.report_key(project, version, file_name) if report else keys.artifact_key(project, version, file_name)
    digest = storage.put_bytes(key, body, content_type)
    return Artifact(key=key, sha256=digest, bytes=len(body), content_type=content_type)


def write_manifest(manifest: Manifest) -> str:
    """Write the manifest, the last file of a version: its put event publishes the version.

    The write is conditional so a version's manifest is never replaced.

    Raises:
        BadInput: a manifest already exists for this version.
    """
    key = keys.manifest_key(manifest.project, manifest.version)
    parse_manifest(manifest.model_dump(mode="json"), key)  # never write one we would reject
    if not storage.put_json(key, manifest.model_dump(mode="json"), if_absent=True):
        raise BadInput("version", manifest.version, f"{key} already exists; versions are immutable")
    return key


# ── the live version (SSM) ────────────────────────────────────────────────────


@dataclass(frozen=True)
class LiveVersion:
    """A project's live version and when it was set."""

    project: str
    version: int
    parameter_version: int
    changed_at: str


def live_version(project: str) -> LiveVersion | None:
    """The live version of ``project``, or None before anything is published."""
    from botocore.exceptions import ClientError

    name = settings().model_version_parameter(keys.validate_project(project))
    try:
        param = storage.client("ssm").get_parameter(Name=name)["Parameter"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise
    value = str(param["Value"]).strip()
    if not value.isdigit() or int(value) < 1:
        return None  # placeholder ("none") written by the template before the first publish
    changed = param.get("LastModifiedDate")
    return LiveVersion(project, int(value), int(param["Version"]), str(changed) if changed else "")


def _set_live(project: str, version: int) -> None:
    storage.client("ssm").put_parameter(
        Name=settings().model_version_parameter(project),
        Value=str(version),
        Type="String",
        Overwrite=True,
        Description=f"live model version of dropml project {project}",
    )


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
    import time

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
    keys.validate_project(project)
    manifest = read_manifest(project, version)
    if storage.exists(keys.archive_marker_key(project, version)):
        raise Conflict(f"v{version} of {project!r} is archived and cannot be made live")
    verify_artifacts(manifest)
    _set_live(project, version)
    return manifest


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a project's live version."""

    parameter_version: int
    model_version: int | None
    changed_at: str
    changed_by: str


def history(project: str) -> list[HistoryEntry]:
    """Every value the live-version parameter has had, oldest first."""
    from botocore.exceptions import ClientError

    name = settings().model_version_parameter(keys.validate_project(project))
    entries: list[HistoryEntry] = []
    try:
        for page in storage.client("ssm").get_paginator("get_parameter_history").paginate(Name=name):
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
    return promote(project, max(earlier))

"""Model versions: the one writer of a version (claim a number, upload, manifest last), and their readers.

:func:`write_version` is the only code that writes under ``models/``: the
training job and bring-your-own-model both hand it their files and a manifest.
Only versions whose manifest exists are versions: a run that died half-way
leaves no manifest and is invisible to everything that lists versions.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from dropml import aws, storage
from dropml.clock import utc_now
from dropml.errors import BadInput, ChecksumMismatch, NotFound
from dropml.faults import failpoint
from dropml.manifest import Artifact, Manifest
from dropml.storage import keys

logger = logging.getLogger(__name__)

MAX_CLAIM_ATTEMPTS = 1000
Key = TypeVar("Key")


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
    return sorted(p for p in storage.list_folders(keys.MODELS_PREFIX) if keys.PROJECT_NAME_PATTERN.match(p))


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
    if manifest.profile is not None and manifest.profile not in manifest.artifacts:
        problems.append(f"profile names artifact {manifest.profile!r}, which is not listed")
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


def read_artifacts(artifacts: Mapping[Key, Artifact]) -> dict[Key, bytes]:
    """:func:`read_artifact` for several artifacts at once, by name: concurrent reads, each checked.

    A version's first load then waits about as long as its largest object,
    not the sum of all. Each read runs in a copy of the caller's context, so
    it uses the caller's credentials (:func:`dropml.aws.using_credentials`).

    Raises:
        ChecksumMismatch: an artifact differs from the manifest.
        NotFound: an artifact is missing.
    """
    if len(artifacts) <= 1:
        return {name: read_artifact(artifact) for name, artifact in artifacts.items()}

    aws.client("s3")  # made once here, not raced for by the readers
    with ThreadPoolExecutor(max_workers=min(8, len(artifacts)), thread_name_prefix="dropml-artifacts") as pool:
        futures = {
            name: pool.submit(contextvars.copy_context().run, read_artifact, artifact)
            for name, artifact in artifacts.items()
        }
        return {name: future.result() for name, future in futures.items()}


def verify_artifacts(manifest: Manifest) -> None:
    """Check every artifact's sha256 by streaming it (no whole pickle held in memory).

    Raises:
        ChecksumMismatch: an artifact differs from the manifest.
        NotFound: an artifact is missing.
    """
    for name, artifact in manifest.artifacts.items():
        try:
            digest = storage.streamed_sha256(artifact.key)
        except NotFound:
            raise NotFound(f"artifact {name!r} is missing: {artifact.key}") from None
        if digest != artifact.sha256:
            raise ChecksumMismatch(
                f"artifact {name!r} ({artifact.key}): sha256 {digest[:12]}… "
                f"does not match the manifest's {artifact.sha256[:12]}…"
            )


@dataclass(frozen=True)
class VersionFile:
    """One file of a version before upload: its artifact name in the manifest, file name, bytes and type.

    ``body`` is the bytes themselves or the path of a spooled file (a fitted
    forest can be hundreds of MB; it is read only when uploaded). ``report``
    files go under ``reports/<p>/v<N>/`` instead of ``models/<p>/v<N>/``.
    """

    artifact: str
    file_name: str
    body: bytes | Path
    content_type: str
    report: bool = False

    def read(self) -> bytes:
        """The file's bytes."""
        return self.body if isinstance(self.body, bytes) else Path(self.body).read_bytes()


ManifestBuilder = Callable[[int, str, dict[str, Artifact]], Manifest]
FilesFor = Callable[[int, str], Iterable[VersionFile]]


def write_version(project: str, run_id: str, files: FilesFor, manifest_for: ManifestBuilder) -> Manifest:
    """Write a new version of ``project``: claim its number, upload its files, then its manifest LAST.

    ``files(version, created_at)`` yields the version's files (a report may
    name its own version); ``manifest_for(version, created_at, artifacts)``
    builds the manifest from what was uploaded. The manifest's put event
    publishes the version, so a writer that dies half-way leaves a claimed
    number and orphan files but never a half version.

    Raises:
        BadInput: the manifest is inconsistent (it is checked before it is written) or already exists.
    """
    version = claim_version(project, run_id)
    created_at = utc_now()
    artifacts: dict[str, Artifact] = {}
    for file in files(version, created_at):
        artifacts[file.artifact] = _upload(project, version, file)
        failpoint("after_first_pickle")
    manifest = manifest_for(version, created_at, artifacts)
    failpoint("before_manifest")
    _write_manifest(manifest)  # last: its put event publishes the version
    return manifest


def _upload(project: str, version: int, file: VersionFile) -> Artifact:
    folder_key = keys.report_key if file.report else keys.artifact_key
    key = folder_key(project, version, file.file_name)
    body = file.read()
    digest = storage.put_bytes(key, body, file.content_type)
    return Artifact(key=key, sha256=digest, bytes=len(body), content_type=file.content_type)


def _write_manifest(manifest: Manifest) -> str:
    """Write a version's manifest, conditionally, so it is never replaced.

    Raises:
        BadInput: the manifest is inconsistent, or one already exists for this version.
    """
    key = keys.manifest_key(manifest.project, manifest.version)
    parse_manifest(manifest.model_dump(mode="json"), key)  # never write one we would reject
    if not storage.put_json(key, manifest.model_dump(mode="json"), if_absent=True):
        raise BadInput("version", manifest.version, f"{key} already exists; versions are immutable")
    return key

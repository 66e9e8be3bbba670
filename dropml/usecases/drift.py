"""Drift reports: a scored batch against its version's training profile, kept and, past a threshold, announced.

Each scored ``test/`` file (:mod:`dropml.usecases.score_file`), each CSV
upload (:mod:`dropml.usecases.uploads`) and each day of API traffic
(:mod:`dropml.usecases.daily_monitoring`) comes here with what it observed
(:mod:`dropml.monitoring.batch`). The report is compared with the version's
profile (:mod:`dropml.monitoring.drift`), written under
``reports/<p>/monitoring/drift/<day>/`` and announced on SNS (step ``drift``,
outcome ``alert``) when a share crosses its ``monitoring.thresholds`` entry. A
version written before profiles existed gets a report that says so, with what
can be counted without one. A report is never allowed to fail the scoring it
describes: :func:`record_drift_safely` logs instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from dropml import notify, registry, storage
from dropml.config import settings
from dropml.monitoring.drift import compare, uncompared
from dropml.monitoring.profile import Profile, parse_profile
from dropml.monitoring.scored import observe_rows
from dropml.storage import keys

if TYPE_CHECKING:
    from dropml.manifest import Manifest
    from dropml.monitoring.batch import BatchObservation
    from dropml.scoring.rows import CheckedRows

logger = logging.getLogger(__name__)

SourceKind = Literal["file", "upload", "traffic"]


@dataclass(frozen=True)
class DriftSource:
    """What a report is about: a scored file (its key), an upload (its file name) or a day of API traffic."""

    kind: SourceKind
    name: str
    request_id: str
    counted: dict[str, int] = field(default_factory=dict)  # e.g. a day's rows seen and kept by the input sample


PROFILES_KEPT = 32
_profiles: dict[str, Profile] = {}  # by sha256: a version's profile never changes, and is read once per process


def profile_of(manifest: Manifest) -> Profile | None:
    """The version's training profile, checksum-checked (None for a version written without one).

    Raises:
        ChecksumMismatch: the profile differs from what the manifest recorded.
        NotFound: the manifest names a profile that is missing.
        BadInput: the stored profile is not a profile document.
    """
    if manifest.profile is None:
        return None
    artifact = manifest.artifacts[manifest.profile]
    found = _profiles.get(artifact.sha256)
    if found is None:
        found = parse_profile(registry.read_artifact(artifact), artifact.key)
        if len(_profiles) >= PROFILES_KEPT:
            _profiles.clear()
        _profiles[artifact.sha256] = found
    return found


def drift_document(
    manifest: Manifest, source: DriftSource, observed: BatchObservation, filed_at: datetime
) -> dict[str, Any]:
    """The stored (and served) report of one batch of ``manifest``'s version, placed in time at ``filed_at``."""
    conf = settings().monitoring.for_project(manifest.project)
    profile = profile_of(manifest)
    if profile is None:
        report = uncompared(observed, conf.thresholds)
        note = f"v{manifest.version} has no training profile (written before profiles existed): nothing to compare with"
    else:
        report, note = compare(profile, observed, conf.drift, conf.thresholds), None
    return {
        "project": manifest.project,
        "version": manifest.version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "time": filed_at.isoformat(timespec="seconds"),  # the batch's: when it was scored, or its day's end
        "source": {"kind": source.kind, "name": source.name, "request_id": source.request_id, **source.counted},
        "reference": manifest.artifacts[manifest.profile].key if manifest.profile else None,
        "note": note,
        **report.to_json(),
    }


def record_drift(
    manifest: Manifest, source: DriftSource, observed: BatchObservation, filed_at: datetime | None = None
) -> dict[str, Any]:
    """Compare a batch with its version's profile, keep the report, announce it if it crosses a threshold.

    Returns the report with its ``key``. ``filed_at`` (default now) places it
    in the project's list of reports (a day of traffic is filed at its end).

    Raises:
        ChecksumMismatch, NotFound, BadInput: the version's profile could not be read (see :func:`profile_of`).
    """
    filed_at = filed_at or datetime.now(UTC)
    document = drift_document(manifest, source, observed, filed_at)
    key = keys.drift_report_key(manifest.project, filed_at, source.kind, source.request_id)
    storage.put_json(key, document)
    if document["alerts"]:
        _announce(document, key)
    return {**document, "key": key}


def record_drift_safely(
    manifest: Manifest, source: DriftSource, observed: BatchObservation | None, filed_at: datetime | None = None
) -> dict[str, Any] | None:
    """:func:`record_drift`, or None (logged) when it fails: a report must never fail the scoring it describes."""
    if observed is None or observed.rows <= 0:
        return None
    try:
        return record_drift(manifest, source, observed, filed_at)
    except Exception:
        logger.exception("drift report failed", extra={"project": manifest.project, "source": source.name})
        return None


def record_rows_drift(manifest: Manifest, source: DriftSource, rows: CheckedRows) -> dict[str, Any] | None:
    """Observe checked rows scored at once (an upload) and record their drift report; None (logged) on failure."""
    try:
        max_rows = settings().monitoring.for_project(manifest.project).drift.max_rows
        observed = observe_rows(manifest.input_schema, rows, max_rows)
    except Exception:
        logger.exception("drift observation failed", extra={"project": manifest.project, "source": source.name})
        return None
    return record_drift_safely(manifest, source, observed)


def _announce(document: dict[str, Any], key: str) -> None:
    crossed = ", ".join(f"{a['threshold']} {a['value']:.0%} (limit {a['limit']:.0%})" for a in document["alerts"])
    source = document["source"]
    notify.announce(
        "drift",
        "alert",
        f"drift in {document['project']} v{document['version']} ({source['kind']} {source['name']}): {crossed}",
        document["project"],
        document["version"],
        source=source,
        report_key=key,
        alerts=document["alerts"],
        drifted_columns=[c["column"] for c in document["columns"] if c["drifted"]],
    )

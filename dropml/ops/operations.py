"""Operator actions shared by the `dropml` CLI and the admin API: promote, roll back, retrain.

Each does the registry change and announces it, so both entry points stay a
parse-call-shape shell and say the same thing on SNS.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from dropml import notify, registry
from dropml.errors import BadInput, ConfigError, DropmlError
from dropml.storage import keys

if TYPE_CHECKING:
    from dropml.manifest import Manifest


@dataclass(frozen=True)
class LiveChange:
    """A change of a project's live version: what it is now and what it was."""

    project: str
    version: int
    was: int | None
    champion: str


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


def checked_overrides(project: str, overrides: Any) -> dict[str, Any]:
    """Training setting overrides for ``project``, validated against the project's settings ({} for None).

    Raises:
        BadInput: not an object (400), or settings that do not validate (422, naming key and value).
    """
    from dropml.config import settings

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


@dataclass(frozen=True)
class StartedRun:
    """A job started on request: its data file, task (ARN or ``local:<pid>``) and run id."""

    key: str
    task: str
    run_id: str
    started_at: datetime

    def watch(self) -> RunWatch:
        """A watch on this run."""
        return RunWatch(self.run_id, self.key, None, self.started_at)


def retrain(project: str, key: str | None = None, overrides: Any = None, by: str = "cli") -> StartedRun:
    """Start a training run of ``project`` now, on ``key`` or its newest training file, with its stored settings.

    Raises:
        BadInput: bad overrides, or a key that is not training data of the project.
        NotFound: no such key, or the project has no training file.
        LaunchFailed: the job did not start.
    """
    from dropml import storage
    from dropml.jobs import launcher
    from dropml.pipeline import triggers
    from dropml.registry import project_settings

    checked = checked_overrides(keys.validate_project(project), overrides)
    found = storage.head(key) if key else triggers.newest_data_file("train", project)
    if keys.parse_data_key(found.key, kind="train").project != project:
        raise BadInput("key", found.key, f"{found.key} is not training data of project {project!r}")
    run_id = f"train-{uuid.uuid4().hex[:16]}"
    started_at = datetime.now(UTC)
    task = launcher.launch("train", found.key, project_settings.run_overrides(project, checked) or None, run_id)
    notify.announce(
        "train", "succeeded", f"retrain of {project} started", project, key=found.key, task=task, by=by, run_id=run_id
    )
    return StartedRun(found.key, task, run_id, started_at)


def configure(project: str, overrides: Any, data_key: str | None = None) -> dict[str, Any]:
    """Store training settings for every later run of ``project`` (merged into its stored ones); returns them.

    This is what an S3 upload of the project trains with: its trigger reads them.

    Raises:
        BadInput: settings that do not validate for the project (422, naming key and value).
    """
    from dropml.registry import project_settings

    keys.validate_project(project)
    stored = project_settings.stored_document(project)
    merged = {**(stored.get("overrides") or {}), **checked_overrides(project, overrides)}
    checked_overrides(project, merged)
    project_settings.store_overrides(project, merged, data_key or stored.get("data_key") or "")
    return merged


class RunFailed(DropmlError):
    """A run this caller started was announced as failed; the message is the announced error."""

    code = "run_failed"


CLOCK_SKEW = timedelta(minutes=2)  # announcements are named by the announcing host's clock


class RunWatch:
    """Follows one started run's announcements, so a waiting command stops as soon as the run fails."""

    def __init__(self, run_id: str, key: str, etag: str | None, since: datetime) -> None:
        self.run_id, self.key, self.etag = run_id, key, etag
        self.since = since - CLOCK_SKEW
        self._last_key: str | None = None

    def raise_if_failed(self) -> None:
        """Raise :class:`RunFailed` when the run was announced as failed (reads only announcements not seen yet).

        Matches the job's own announcements (its run or correlation id) and the
        trigger's final refusal of that very upload (its key and ETag, not retried).

        Raises:
            RunFailed: with the announced subject and error.
        """
        for key, note in notify.announcements_after(self.since, self._last_key):
            self._last_key = key
            if note.get("outcome") != "failed":
                continue
            ours = self.run_id in (note.get("run_id"), note.get("correlation_id"))
            refused = note.get("key") == self.key and note.get("retried") is False and note.get("etag") == self.etag
            if ours or refused:
                raise RunFailed(f"{note.get('subject', note.get('step'))}: {note.get('error', 'no error given')}")


@dataclass(frozen=True)
class Upload:
    """A data file put under ``train/`` or ``test/`` on request, and the run its S3 event starts."""

    key: str
    etag: str
    run_id: str
    started_at: datetime

    def watch(self) -> RunWatch:
        """A watch on the run this upload starts."""
        return RunWatch(self.run_id, self.key, self.etag, self.started_at)


def upload_data(job: Literal["train", "score"], project: str, file_name: str, body: bytes) -> Upload:
    """Put a CSV where ``job`` picks it up: ``train/<project>/`` trains it, ``test/<project>/`` scores it.

    Its S3 event starts the run (with the project's stored settings, for
    training); the returned upload names that run, so a caller can follow it.

    Raises:
        BadInput: a bad project or file name.
    """
    from dropml import storage
    from dropml.pipeline import triggers

    kind: Literal["train", "test"] = "train" if job == "train" else "test"
    key = keys.data_key(kind, keys.validate_project(project), file_name)
    keys.parse_data_key(key, kind=kind)
    started_at = datetime.now(UTC)
    storage.put_bytes(key, body, "text/csv")
    etag = storage.head(key).etag
    run_id = triggers.training_run_id(key, etag) if job == "train" else triggers.run_id_for("score", key, etag)
    return Upload(key, etag, run_id, started_at)

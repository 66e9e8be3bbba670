"""Runs started on request: retrain a project now, or upload a file whose S3 event starts its run; and follow one.

The CLI's ``dropml train`` and ``dropml predict`` and the admin API's retrain
start runs here. A run is followed through its announcements
(:class:`RunWatch`), so a waiting caller stops as soon as the run fails, and
through what it leaves behind: a newer live version, or predictions written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dropml import notify, registry, storage
from dropml.errors import BadInput, DropmlError, NotFound
from dropml.registry import project_settings
from dropml.scoring.files import predictions_written
from dropml.storage import keys
from dropml.usecases import triggers


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
class TrainingRun:
    """A training run started on request or by an upload: its data file, run id, and the version live before it."""

    project: str
    key: str
    run_id: str
    started_at: datetime
    live_before: int | None
    task: str | None = None  # the task ARN (or local:<pid>) when started here; an upload's trigger starts it
    etag: str | None = None  # the upload's ETag: the trigger's refusal of it names it
    watch: RunWatch = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "watch", RunWatch(self.run_id, self.key, self.etag, self.started_at))

    def new_live_version(self) -> registry.LiveVersion | None:
        """The project's live version once it is newer than before the run (None until then).

        Raises:
            RunFailed: the run was announced as failed.
        """
        self.watch.raise_if_failed()
        live = registry.live_version(self.project)
        return live if live and (self.live_before is None or live.version > self.live_before) else None


@dataclass(frozen=True)
class ScoringRun:
    """A file uploaded under ``test/`` on request, the run its S3 event starts, and where its predictions land."""

    key: str
    etag: str
    run_id: str
    started_at: datetime
    predictions_key: str
    previous_predictions_etag: str | None  # what was at predictions_key before the upload (None: nothing)
    watch: RunWatch = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "watch", RunWatch(self.run_id, self.key, self.etag, self.started_at))

    def predictions_ready(self) -> bool:
        """Whether this upload's predictions are written.

        Raises:
            RunFailed: the run was announced as failed.
        """
        self.watch.raise_if_failed()
        return predictions_written(self.key, self.etag, self.previous_predictions_etag)

    def predictions(self) -> bytes:
        """The predictions CSV.

        Raises:
            NotFound: not written (yet).
        """
        return storage.get_bytes(self.predictions_key).body

    @property
    def predictions_url(self) -> str:
        """Where the predictions lie, as an ``s3://`` URL."""
        return f"s3://{storage.bucket()}/{self.predictions_key}"


def _live_number(project: str) -> int | None:
    live = registry.live_version(project)
    return live.version if live else None


def retrain(project: str, key: str | None = None, overrides: Any = None, by: str = "cli") -> TrainingRun:
    """Start a training run of ``project`` now, on ``key`` or what it trains on, with its stored settings.

    With no ``key``: its dataset when drops made one, else its newest training
    file (:func:`~dropml.usecases.triggers.training_source`).

    Raises:
        BadInput: bad overrides, or a key that is not training data of the project.
        TooLarge: the file is over the training limit.
        NotFound: no such key, or the project has no training file.
        LaunchFailed: the job did not start.
    """
    checked = project_settings.checked_overrides(keys.validate_project(project), overrides)
    found = storage.head(key) if key else triggers.training_source(project)
    if keys.project_of(found.key, kind="train") != project:
        raise BadInput("key", found.key, f"{found.key} is not training data of project {project!r}")
    run_id = f"train-{uuid.uuid4().hex[:16]}"
    started_at = datetime.now(UTC)
    live_before = _live_number(project)
    overrides_now = project_settings.run_overrides(project, checked) or None
    task = triggers.launch_checked("train", found.key, found.size, overrides_now, run_id)
    notify.announce(
        "train", "succeeded", f"retrain of {project} started", project, key=found.key, task=task, by=by, run_id=run_id
    )
    return TrainingRun(project, found.key, run_id, started_at, live_before, task=task)


def upload_training_data(project: str, file_name: str, body: bytes) -> TrainingRun:
    """Put a CSV under ``train/<project>/``: its S3 event trains it with the project's stored settings.

    The returned run names the run that event starts, so a caller can follow it.

    Raises:
        BadInput: a bad project or file name.
    """
    key = keys.data_key("train", keys.validate_project(project), file_name)
    keys.parse_data_key(key, kind="train")
    live_before = _live_number(project)
    started_at = datetime.now(UTC)
    etag = _put(key, body)
    return TrainingRun(project, key, triggers.training_run_id(key, etag), started_at, live_before, etag=etag)


def upload_scoring_data(project: str, file_name: str, body: bytes) -> ScoringRun:
    """Put a CSV under ``test/<project>/``: its S3 event scores it with the live version into ``predictions/``.

    Raises:
        BadInput: a bad project or file name.
    """
    key = keys.data_key("test", keys.validate_project(project), file_name)
    parsed = keys.parse_data_key(key, kind="test")
    predictions_key = keys.predictions_key(parsed.project, parsed.name)
    try:
        previous: str | None = storage.head(predictions_key).etag
    except NotFound:
        previous = None
    started_at = datetime.now(UTC)
    etag = _put(key, body)
    run_id = triggers.run_id_for("score", key, etag)
    return ScoringRun(key, etag, run_id, started_at, predictions_key, previous)


def _put(key: str, body: bytes) -> str:
    """Write a data file; returns its ETag (what its S3 event carries)."""
    storage.put_bytes(key, body, "text/csv")
    return storage.head(key).etag

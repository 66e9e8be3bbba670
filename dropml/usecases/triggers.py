"""Start a job: for a data file on its upload under ``train/`` or ``test/``, on a schedule, on request; monitoring.

Every job dropml starts is launched here: the two trigger functions and the
schedules (:func:`start_job`: valid, not too big, not seen before, then start
it and say so), a project's creation or patch, and an operator's retrain
(:func:`launch_checked`, by :mod:`dropml.usecases.runs`, which says so
itself), and the monitoring job of a day (:func:`start_monitoring`, on the
daily schedule or an operator's request). The handlers in ``functions/`` parse their event
(:mod:`dropml.events`) and make one call in here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dropml import notify, storage
from dropml.config import settings
from dropml.errors import BadInput, DropmlError, NotFound
from dropml.events import MonitoringRequest, S3Object, ScheduleRequest
from dropml.jobs import idempotency, launcher
from dropml.jobs.job import DATA_KIND, NOUN, Job
from dropml.logs import correlation
from dropml.registry import project_settings
from dropml.storage import keys
from dropml.storage.limits import check_data_size
from dropml.training import dataset

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """The outcome of a trigger: the job started (``task``), or why nothing was started."""

    job: str
    key: str
    task: str | None
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON a scheduled invocation returns."""
        return {"job": self.job, "key": self.key, "task": self.task, "duplicate": self.duplicate}


def launch_checked(job: Job, key: str, size: int, overrides: dict[str, Any] | None, run_id: str) -> str:
    """Check a data file (its key's layout, its size) and launch ``job`` on it; returns the task (ARN or local:<pid>).

    Raises:
        BadInput: the key is outside the layout (field ``key``).
        TooLarge: the file is over its prefix's limit (field ``file``).
        LaunchFailed: the job did not start.
    """
    _check(job, key, size)
    return launcher.launch(job, key, overrides, correlation_id=run_id)


def _check(job: Job, key: str, size: int) -> str:
    """The project of a job's data key (a file, or for training a dataset) once its size is checked."""
    project = keys.project_of(key, kind=DATA_KIND[job])
    check_data_size(key, size)
    return project


def run_id_for(job: Job, key: str, etag: str, *token_parts: str) -> str:
    """The run (or request) id of ``job`` started for an upload: the same for every delivery of its event.

    A caller that uploaded a file can therefore follow its run (``dropml train --wait``).
    """
    return f"{job}-{idempotency.token(key, etag, *token_parts)[:20]}"


def start_job(job: Job, key: str, etag: str, size: int, *token_parts: str) -> Started:
    """Validate a data file and start ``job`` on it, once per (key, ETag[, token_parts]).

    Raises:
        BadInput: the key is outside the layout (field ``key``).
        TooLarge: the file is over its prefix's limit (field ``file``).
        LaunchFailed: the job did not start; the claim is released so a retry can.
    """
    project = _check(job, key, size)
    event_token = idempotency.token(key, etag, *token_parts)
    run_id = run_id_for(job, key, etag, *token_parts)
    if not idempotency.claim(job, event_token, key=key, etag=etag):
        logger.info("duplicate ignored", extra={"job": job, "key": key, "etag": etag})
        return Started(job=job, key=key, task=None, duplicate=True)
    try:
        overrides = project_settings.run_overrides(project) if job == "train" else None
        task = launcher.launch(job, key, overrides, correlation_id=run_id)
    except Exception:
        idempotency.release(job, event_token)
        raise
    idempotency.complete(job, event_token, key=key, etag=etag, task=task, run_id=run_id)
    notify.announce(job, "succeeded", f"{NOUN[job]} started for {key}", project=project, key=key, task=task)
    return Started(job=job, key=key, task=task)


def start_training(obj: S3Object) -> Started:
    """An upload under ``train/``: start training on it with its project's stored settings (see :func:`start_job`).

    The settings are part of the run's identity, so the same file uploaded
    again after its project's settings changed (a target chosen) trains again.
    """
    return start_job("train", obj.key, obj.etag, obj.size, *_training_token(obj.key))


def training_run_id(key: str, etag: str) -> str:
    """The run id an upload of ``key`` with ``etag`` trains under, with its project's settings as they are now."""
    return run_id_for("train", key, etag, *_training_token(key))


def _training_token(key: str) -> tuple[str, ...]:
    try:
        project = keys.project_of(key, kind="train")
    except BadInput:
        return ()  # start_job refuses the key and names it
    return (project_settings.settings_token(project),)


def training_source(project: str) -> storage.ObjectInfo:
    """What a scheduled or requested training run of ``project`` reads, when no file is named.

    The project's dataset (``datasets/<p>/``, its configured window) when drops
    made one, else its most recently written file under ``train/``.

    Raises:
        NotFound: the project has neither.
        ConfigError: the project's stored settings are invalid.
    """
    conf = settings().training_for(project, project_settings.stored_overrides(project))
    try:
        found = dataset.describe(project, conf)
    except NotFound:
        return storage.newest_data_file("train", project)
    return storage.ObjectInfo(found.key, found.size, found.etag, {})


def start_scoring(obj: S3Object) -> Started:
    """An upload under ``test/``: score it with the live version (see :func:`start_job`)."""
    return start_job("score", obj.key, obj.etag, obj.size)


def start_monitoring(day: str, project: str | None = None, by: str = "schedule") -> Started:
    """Start the monitoring job on ``day`` for ``project`` (None: every project with traffic that day).

    Raises:
        BadInput: not a day, or not a project name.
        LaunchFailed: the job did not start.
    """
    key = keys.monitoring_day_key(day, project)
    run_id = f"monitor-{day}-{project or 'all'}-{uuid.uuid4().hex[:8]}"
    task = launcher.launch("monitor", key, None, correlation_id=run_id)
    notify.announce("monitor", "succeeded", f"monitoring started for {day}", project=project, key=key, task=task, by=by)
    return Started(job="monitor", key=key, task=task)


def start_scheduled_monitoring(request: MonitoringRequest) -> dict[str, Any]:
    """The daily monitoring schedule fired: monitor the day before (UTC), or the day it names.

    Raises:
        DropmlError: the job did not start (announced; the scheduler retries the invocation).
    """
    day = request.day or (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    with correlation(f"{request.schedule}-{day}"):
        try:
            return start_monitoring(day, request.project).to_dict()
        except DropmlError as err:
            notify.announce("monitor", "failed", f"{request.schedule} failed", request.project, error=str(err))
            raise


def start_scheduled(request: ScheduleRequest) -> dict[str, Any]:
    """A schedule fired: run its job on the project's newest file, once per schedule and day.

    Failures are announced; a project with no file yet is announced and not retried.

    Raises:
        DropmlError: anything but a missing file (the scheduler retries the invocation).
    """
    with correlation(f"{request.schedule}-{request.project}"):
        try:
            if request.job == "train":
                newest = training_source(request.project)
            else:
                newest = storage.newest_data_file(DATA_KIND[request.job], request.project)
            day = datetime.now(UTC).strftime("%Y-%m-%d")
            started = start_job(request.job, newest.key, newest.etag, newest.size, request.schedule, day)
        except NotFound as err:
            notify.announce(
                request.job, "failed", f"{request.schedule}: nothing to do", request.project, error=str(err)
            )
            return {"job": request.job, "key": None, "task": None, "duplicate": False, "error": str(err)}
        except DropmlError as err:
            notify.announce(request.job, "failed", f"{request.schedule} failed", request.project, error=str(err))
            raise
    return started.to_dict()

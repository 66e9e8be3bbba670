"""What each function does with one event: start a job for a data file, or publish a version.

The handlers in ``functions/`` parse their event (``dropml.events``) and make
one call in here; this is the only place that decides "valid, not too big,
not seen before, then start it", so no logic is repeated between handlers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dropml import aws, notify, registry, storage
from dropml.config import settings
from dropml.errors import BadInput, DropmlError, NotFound, TooLarge
from dropml.jobs import idempotency, launcher
from dropml.jobs.job import DATA_KIND, NOUN, Job
from dropml.logs import correlation
from dropml.registry import project_settings
from dropml.storage import keys

if TYPE_CHECKING:
    from dropml.events import S3Object, ScheduleRequest

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


def size_limit(job: Job) -> int:
    """The largest input file ``job`` accepts, in bytes (config: storage.max_*_bytes)."""
    conf = settings().storage
    return conf.max_training_bytes if job == "train" else conf.max_scoring_bytes


def _check(job: Job, key: str, size: int) -> keys.DataKey:
    data = keys.parse_data_key(key, kind=DATA_KIND[job])
    limit = size_limit(job)
    if size > limit:
        setting = "max_training_bytes" if job == "train" else "max_scoring_bytes"
        raise TooLarge(
            "size",
            size,
            f"{key} is {size:,} bytes; {NOUN[job]} accepts at most {limit:,} (storage.{setting}): split or sample "
            f"the file, or raise the limit (DROPML__STORAGE__{setting.upper()}) with the task's memory to match",
        )
    return data


def run_id_for(job: Job, key: str, etag: str, *token_parts: str) -> str:
    """The run (or request) id of ``job`` started for an upload: the same for every delivery of its event.

    A caller that uploaded a file can therefore follow its run (``dropml train --wait``).
    """
    return f"{job}-{idempotency.token(key, etag, *token_parts)[:20]}"


def start_job(job: Job, key: str, etag: str, size: int, *token_parts: str) -> Started:
    """Validate a data file and start ``job`` on it, once per (key, ETag[, token_parts]).

    Raises:
        BadInput: the key is outside the layout (field ``key``).
        TooLarge: the file is over the configured limit (field ``size``).
        LaunchFailed: the job did not start; the claim is released so a retry can.
    """
    data = _check(job, key, size)
    event_token = idempotency.token(key, etag, *token_parts)
    run_id = run_id_for(job, key, etag, *token_parts)
    if not idempotency.claim(job, event_token, key=key, etag=etag):
        logger.info("duplicate ignored", extra={"job": job, "key": key, "etag": etag})
        return Started(job=job, key=key, task=None, duplicate=True)
    try:
        overrides = project_settings.run_overrides(data.project) if job == "train" else None
        task = launcher.launch(job, key, overrides, correlation_id=run_id)
    except Exception:
        idempotency.release(job, event_token)
        raise
    idempotency.complete(job, event_token, key=key, etag=etag, task=task, run_id=run_id)
    notify.announce(job, "succeeded", f"{NOUN[job]} started for {key}", project=data.project, key=key, task=task)
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
        project = keys.parse_data_key(key, kind="train").project
    except BadInput:
        return ()  # start_job refuses the key and names it
    return (project_settings.settings_token(project),)


def start_scoring(obj: S3Object) -> Started:
    """An upload under ``test/``: score it with the live version (see :func:`start_job`)."""
    return start_job("score", obj.key, obj.etag, obj.size)


def newest_data_file(job: Job, project: str) -> storage.ObjectInfo:
    """The most recently written data file of ``project`` for ``job`` (train/ or test/).

    Raises:
        NotFound: the project has no such file.
    """
    kind = DATA_KIND[job]
    prefix = keys.data_prefix(kind, project)
    newest: dict[str, Any] | None = None
    for page in aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=storage.bucket(), Prefix=prefix):
        for item in page.get("Contents", []):
            try:
                if keys.parse_data_key(item["Key"], kind=kind).project != project:
                    continue  # train/<other project>/x.csv under the default project's prefix
            except BadInput:
                continue
            if newest is None or (item["LastModified"], item["Key"]) > (newest["LastModified"], newest["Key"]):
                newest = item
    if newest is None:
        raise NotFound(f"project {project!r} has no {kind} file under s3://{storage.bucket()}/{prefix}")
    return storage.ObjectInfo(newest["Key"], int(newest["Size"]), str(newest["ETag"]).strip('"'), {})


def start_scheduled(request: ScheduleRequest) -> dict[str, Any]:
    """A schedule fired: run its job on the project's newest file, once per schedule and day.

    Failures are announced; a project with no file yet is announced and not retried.

    Raises:
        DropmlError: anything but a missing file (the scheduler retries the invocation).
    """
    with correlation(f"{request.schedule}-{request.project}"):
        try:
            newest = newest_data_file(request.job, request.project)
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

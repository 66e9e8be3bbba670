"""Reading the events the functions receive, and answering SQS batches with partial failures.

Three shapes arrive: an SQS batch whose message bodies are S3 notifications
(keys URL-encoded, plus the ``s3:TestEvent`` S3 sends when notifications are
configured), an EventBridge Scheduler input ``{"schedule": ..., "job": ...,
"project": ...}`` (the monitoring job's may name a ``day``), and garbage.
Every handler goes through :func:`process_s3_batch`, so the failure policy
lives in one place:

* a message that is not an S3 notification at all → reported as a batch item
  failure and announced: SQS retries it and then parks it in the DLQ, where a
  human can look at it (nothing is lost);
* permanent bad input about a real object (a key outside the layout, a file
  over the size limit, a manifest that fails its checks: ``BadInput`` or
  ``ChecksumMismatch``) → announced and dropped: retrying cannot change the
  answer, the object itself is still in S3 and the SNS message names why;
* anything else (ECS refused the task, a throttled API, a missing object) →
  announced and reported as a batch item failure, so it is retried and ends in
  the DLQ if it keeps failing.

Nothing here imports pandas or scikit-learn: the functions' layer has neither.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from dropml import notify
from dropml.errors import BadInput, ChecksumMismatch, DropmlError
from dropml.jobs.job import Job
from dropml.logs import correlation
from dropml.storage import keys

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

logger = logging.getLogger(__name__)

TEST_EVENT = "s3:TestEvent"
PERMANENT_ERRORS: tuple[type[DropmlError], ...] = (BadInput, ChecksumMismatch)
BODY_PREVIEW_CHARS = 200


@dataclass(frozen=True)
class S3Object:
    """One object an S3 notification is about, with its key already decoded."""

    bucket: str
    key: str
    size: int
    etag: str
    event_name: str
    event_time: str


@dataclass(frozen=True)
class ScheduleRequest:
    """An EventBridge Scheduler input: run ``job`` on the newest file of ``project``."""

    schedule: str
    job: Job
    project: str


def _malformed(body: str, why: str) -> BadInput:
    preview = body[:BODY_PREVIEW_CHARS]
    return BadInput("message", preview, f"SQS message is not an S3 notification: {why} (body starts {preview!r})")


def s3_objects(body: str) -> list[S3Object]:
    """The objects an S3 notification (an SQS message body) is about; ``[]`` for ``s3:TestEvent``.

    Keys are URL-decoded once here (S3 sends ``train%2Fmy+file.csv``).

    Raises:
        BadInput: the body is not JSON or not an S3 notification (field ``message``).
    """
    try:
        document = json.loads(body)
    except (TypeError, json.JSONDecodeError) as err:
        raise _malformed(str(body), f"not JSON ({err})") from None
    if not isinstance(document, dict):
        raise _malformed(body, "not a JSON object")
    if document.get("Event") == TEST_EVENT:
        return []
    records = document.get("Records")
    if not isinstance(records, list) or not records:
        raise _malformed(body, "no Records")
    found = []
    for record in records:
        try:
            s3 = record["s3"]
            found.append(
                S3Object(
                    bucket=str(s3["bucket"]["name"]),
                    key=unquote_plus(str(s3["object"]["key"])),
                    size=int(s3["object"].get("size", 0)),
                    etag=str(s3["object"].get("eTag", "")).strip('"'),
                    event_name=str(record.get("eventName", "")),
                    event_time=str(record.get("eventTime", "")),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _malformed(body, "a record lacks s3.bucket.name or s3.object.key") from None
    return found


def is_schedule(event: Any) -> bool:
    """Whether ``event`` is a scheduler input rather than an SQS batch."""
    return isinstance(event, dict) and "schedule" in event and "Records" not in event


@dataclass(frozen=True)
class MonitoringRequest:
    """A scheduler input for the monitoring job: a day (default: the one before), of one project or of every one."""

    schedule: str
    project: str | None
    day: str | None


def schedule_job(event: dict[str, Any]) -> str:
    """The job a scheduler input asks for (``job``; empty when it names none)."""
    return str(event.get("job", ""))


def monitoring_request(event: dict[str, Any]) -> MonitoringRequest:
    """Validate a scheduler input for the monitoring job.

    Raises:
        BadInput: the project or the day is invalid.
    """
    project = event.get("project")
    day = event.get("day")
    if day is not None:
        keys.monitoring_day_key(str(day))  # checks the day
    return MonitoringRequest(
        schedule=str(event.get("schedule", "")),
        project=keys.validate_project(project) if project else None,
        day=str(day) if day is not None else None,
    )


def schedule_request(event: dict[str, Any], job: Job) -> ScheduleRequest:
    """Validate a scheduler input for a function that runs ``job``.

    Raises:
        BadInput: the project is invalid, or the input asks for another job.
    """
    asked = event.get("job", job)
    if asked != job:
        raise BadInput("job", asked, f"this function runs {job!r} jobs, the schedule asked for {asked!r}")
    project = keys.validate_project(event.get("project", keys.DEFAULT_PROJECT))
    return ScheduleRequest(schedule=str(event.get("schedule", "")), job=job, project=project)


def _announce_failure(step: str, subject: str, error: Exception, **details: Any) -> None:
    notify.announce(step, "failed", subject, error=str(error), error_type=type(error).__name__, **details)


def _handle_record(record: SQSRecord, step: str, handle: Callable[[S3Object], Any]) -> None:
    attempt = int(record.attributes.approximate_receive_count or 1)
    with correlation(record.message_id):
        try:
            objects = s3_objects(record.body)
        except BadInput as err:
            logger.warning("malformed message", extra={"step": step, "message_id": record.message_id})
            _announce_failure(
                step, f"{step}: unreadable message {record.message_id}", err, message_id=record.message_id
            )
            raise  # retried, then parked in the DLQ for a human
        if not objects:
            logger.info("s3 test event ignored", extra={"step": step})
    for obj in objects:
        with correlation(obj.key):
            try:
                handle(obj)
            except PERMANENT_ERRORS as err:
                logger.warning("rejected", extra={"step": step, "key": obj.key, "error": str(err)})
                _announce_failure(step, f"{step} rejected {obj.key}", err, key=obj.key, etag=obj.etag, retried=False)
            except Exception as err:
                logger.exception("failed, will retry", extra={"step": step, "key": obj.key, "attempt": attempt})
                _announce_failure(step, f"{step} failed for {obj.key}", err, key=obj.key, attempt=attempt)
                raise


def process_s3_batch(
    event: dict[str, Any], context: Any, step: str, handle: Callable[[S3Object], Any]
) -> dict[str, list[dict[str, str]]]:
    """Run ``handle`` on every object of an SQS batch of S3 notifications.

    Returns the ``{"batchItemFailures": [...]}`` answer of ReportBatchItemFailures
    (see the module docstring for which failures are retried). Never raises for
    a failed record, even when the whole batch fails.
    """
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return process_partial_response(
        event=event,
        record_handler=lambda record: _handle_record(record, step, handle),
        processor=processor,
        context=context,
    )


def failed_message_ids(response: dict[str, Any]) -> set[str]:
    """The message ids a batch answer reports as failed."""
    return {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}

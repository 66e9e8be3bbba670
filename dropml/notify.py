"""Announce the success or failure of every step on the SNS topic, and what monitoring finds.

Each message has a short human-readable subject and a JSON body (step,
outcome, project, version, details, correlation id); the outcome is
``succeeded``, ``failed`` or ``alert`` (drift, realized accuracy below the holdout). A notification that
cannot be sent is logged, never allowed to fail the step it reports on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from dropml import aws, storage
from dropml.clock import utc_now
from dropml.config import settings
from dropml.errors import ConfigError
from dropml.logs import current_correlation_id
from dropml.storage import keys

logger = logging.getLogger(__name__)
SUBJECT_LIMIT = 100  # SNS refuses longer subjects
TOPIC_ARN_ENV = "DROPML__NOTIFICATIONS__TOPIC_ARN"


def topic_arn() -> str:
    """The ARN of the topic every step announces on: the stack's, from config (the local world sets it to its own).

    Raises:
        ConfigError: ``notifications.topic_arn`` is not set.
    """
    arn = settings().notifications.topic_arn
    if not arn:
        raise ConfigError(
            f"notifications.topic_arn is not set (config.json, or {TOPIC_ARN_ENV}): "
            "set it to the stack's EventsTopicArn output"
        )
    return arn


Outcome = Literal["succeeded", "failed", "alert"]  # alert: a step went fine but found something to act on (drift)
PREFIXES: dict[str, str] = {"succeeded": "[dropml] ", "failed": "[dropml FAILED] ", "alert": "[dropml ALERT] "}


def announce(
    step: str,
    outcome: Outcome,
    subject: str,
    project: str | None = None,
    version: int | None = None,
    **details: Any,
) -> dict[str, Any]:
    """Publish one step's outcome; returns the message body that was (or would have been) sent."""
    body = {
        "step": step,
        "outcome": outcome,
        "project": project,
        "version": version,
        "time": utc_now(),
        "correlation_id": current_correlation_id(),
        "stack": settings().stack_name,
        **details,
    }
    title = (PREFIXES[outcome] + subject).replace("\n", " ")
    title = title if len(title) <= SUBJECT_LIMIT else title[: SUBJECT_LIMIT - 1] + "…"
    try:
        aws.client("sns").publish(
            TopicArn=topic_arn(),
            Subject=title,
            Message=json.dumps(body, default=str),
            MessageAttributes={
                "step": {"DataType": "String", "StringValue": step},
                "outcome": {"DataType": "String", "StringValue": outcome},
            },
        )
    except ConfigError as err:  # a lost notification must not fail the step it reports on
        logger.error("notification not sent", extra={"step": step, "outcome": outcome, "error": str(err)})
    except Exception:
        logger.exception("notification not sent", extra={"step": step, "outcome": outcome})
    _keep(title, body)
    return body


def _keep(subject: str, body: dict[str, Any]) -> None:
    """Keep a copy under audit/announcements/, so `dropml status` shows the last messages in either world."""
    now = datetime.now(UTC)
    name = f"{now:%H%M%S%f}-{body['step']}-{body['outcome']}.json"
    try:
        storage.put_json(keys.audit_key("announcements", now, name), {"subject": subject, **body})
    except Exception:
        logger.exception("notification copy not kept", extra={"step": body["step"]})


def recent(limit: int = 10, days: int = 7) -> list[dict[str, Any]]:
    """The last ``limit`` notifications, newest first (from the copies under audit/announcements/)."""
    found: list[dict[str, Any]] = []
    today = datetime.now(UTC).date()
    for back in range(days + 1):
        day = (today - timedelta(days=back)).isoformat()
        for key in sorted(storage.list_keys(keys.audit_prefix("announcements", day)), reverse=True):
            found.append(storage.get_json(key))
            if len(found) >= limit:
                return found
    return found


def announcements_after(since: datetime, after_key: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every kept announcement from ``since`` (UTC) on, oldest first, as (key, body); after ``after_key`` if given.

    A caller polling for news passes the last key it saw, so each poll reads only what is new.
    """
    since = since.astimezone(UTC)
    day = since.date()
    while day <= datetime.now(UTC).date():
        prefix = keys.audit_prefix("announcements", day.isoformat())
        first = prefix + f"{since:%H%M%S%f}" if day == since.date() else None
        if after_key and after_key.startswith(prefix):
            first = max(first or "", after_key)
        elif after_key and after_key > prefix:
            day += timedelta(days=1)
            continue  # a day already read
        for key in storage.list_keys(prefix, start_after=first):
            yield key, storage.get_json(key)
        day += timedelta(days=1)

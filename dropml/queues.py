"""The stack's SQS queues in either world: depths for `dropml status`, and re-driving dead letters.

Queues are found by name, without the template: CloudFormation names a queue
``<stack>-<LogicalId>-<SUFFIX>`` (a random upper-case suffix), the local world
names it ``<stack>-<LogicalId>``. Which queue is whose dead-letter queue comes
from each queue's ``RedrivePolicy`` attribute, as SQS itself knows it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from dropml import aws
from dropml.config import settings
from dropml.errors import NotFound

logger = logging.getLogger(__name__)
MAX_BATCH = 10
# a logical id is alphanumeric; CloudFormation's suffix is upper-case letters and digits (12 or 13 of them)
_NAME_AFTER_STACK = re.compile(r"(?P<logical_id>[A-Za-z][A-Za-z0-9]*)(?:-[A-Z0-9]{8,})?")


@dataclass(frozen=True)
class QueueInfo:
    """One queue of the stack: its URL, its DLQ (if any) and how many messages it holds."""

    logical_id: str
    url: str
    arn: str
    waiting: int
    in_flight: int
    dead_letter_of: str | None = None  # logical id of the queue whose dead letters land here


def logical_id_of(queue_name: str, stack: str) -> str | None:
    """The logical id of a queue of ``stack`` named ``queue_name`` (None: not one of the stack's queues)."""
    prefix = f"{stack}-"
    if not queue_name.startswith(prefix):
        return None
    found = _NAME_AFTER_STACK.fullmatch(queue_name[len(prefix) :])
    return found["logical_id"] if found else None


def _stack_queue_urls() -> dict[str, str]:
    """Logical id → URL of every queue named after the configured stack."""
    stack = settings().stack_name
    urls: dict[str, str] = {}
    for page in aws.client("sqs").get_paginator("list_queues").paginate(QueueNamePrefix=f"{stack}-"):
        for url in page.get("QueueUrls", []):
            logical_id = logical_id_of(url.rsplit("/", 1)[-1], stack)
            if logical_id:
                urls[logical_id] = url
    return urls


def stack_queues() -> list[QueueInfo]:
    """Every queue of the stack with its depth, DLQs marked (from the sources' redrive policies)."""
    sqs = aws.client("sqs")
    found: dict[str, tuple[str, dict[str, str]]] = {}  # logical id → (URL, attributes)
    for logical_id, url in sorted(_stack_queue_urls().items()):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "QueueArn",
                "RedrivePolicy",
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        found[logical_id] = (url, attributes)
    sources: dict[str, str] = {}  # DLQ ARN → logical id of the queue that sends its dead letters there
    for logical_id, (_, attributes) in found.items():
        if "RedrivePolicy" in attributes:
            sources.setdefault(json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"], logical_id)
    return [
        QueueInfo(
            logical_id=logical_id,
            url=url,
            arn=attributes["QueueArn"],
            waiting=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            dead_letter_of=sources.get(attributes["QueueArn"]),
        )
        for logical_id, (url, attributes) in found.items()
    ]


def redrive(dead_letter_queue: str | None = None, limit: int = 1000) -> dict[str, int]:
    """Move dead letters back to the queue they came from (after a fix); returns how many per DLQ.

    Raises:
        NotFound: ``dead_letter_queue`` names no dead-letter queue of the stack.
    """
    sqs = aws.client("sqs")
    found = stack_queues()
    urls = {q.logical_id: q.url for q in found}
    dlqs = [q for q in found if q.dead_letter_of]
    if dead_letter_queue:
        dlqs = [q for q in dlqs if q.logical_id == dead_letter_queue]
        if not dlqs:
            raise NotFound(f"{dead_letter_queue!r} is not a dead-letter queue of the stack")
    moved: dict[str, int] = {}
    for dlq in dlqs:
        target = urls[dlq.dead_letter_of or ""]
        count = 0
        while count < limit:
            messages = sqs.receive_message(QueueUrl=dlq.url, MaxNumberOfMessages=MAX_BATCH, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not messages:
                break
            for message in messages:
                sqs.send_message(QueueUrl=target, MessageBody=message["Body"])  # send first: never lose one
                sqs.delete_message(QueueUrl=dlq.url, ReceiptHandle=message["ReceiptHandle"])
                count += 1
        moved[dlq.logical_id] = count
        logger.info("dead letters re-driven", extra={"queue": dlq.logical_id, "messages": count})
    return moved

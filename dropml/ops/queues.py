"""The stack's SQS queues in either world: depths for `dropml status`, and re-driving dead letters.

Queues are found from template.yaml's logical ids: locally the queue is named
after its logical id; CloudFormation names it ``<stack>-<LogicalId>-<suffix>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dropml import aws
from dropml.config import settings
from dropml.errors import NotFound

logger = logging.getLogger(__name__)
MAX_BATCH = 10


@dataclass(frozen=True)
class QueueInfo:
    """One queue of the stack: its URL, its DLQ (if any) and how many messages it holds."""

    logical_id: str
    url: str
    waiting: int
    in_flight: int
    dead_letter_of: str | None = None  # logical id of the queue whose dead letters land here


def _physical_urls() -> dict[str, str]:
    """Logical id → queue URL, for every queue of the template that exists."""
    from dropml.local import world

    sqs = aws.client("sqs")
    urls = sqs.list_queues().get("QueueUrls", [])
    stack = settings().stack_name
    found: dict[str, str] = {}
    for spec in world.queue_specs(world.load_template()):
        for url in urls:
            name = url.rsplit("/", 1)[-1]
            if name == spec.logical_id or name.startswith(f"{stack}-{spec.logical_id}-"):
                found[spec.logical_id] = url
    return found


def stack_queues() -> list[QueueInfo]:
    """Every queue of the stack with its depth, DLQs marked."""
    from dropml.local import world

    sqs = aws.client("sqs")
    urls = _physical_urls()
    sources = {
        s.dead_letter_queue: s.logical_id for s in world.queue_specs(world.load_template()) if s.dead_letter_queue
    }
    found = []
    for logical_id, url in sorted(urls.items()):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        found.append(
            QueueInfo(
                logical_id=logical_id,
                url=url,
                waiting=int(attributes.get("ApproximateNumberOfMessages", 0)),
                in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
                dead_letter_of=sources.get(logical_id),
            )
        )
    return found


def redrive(dead_letter_queue: str | None = None, limit: int = 1000) -> dict[str, int]:
    """Move dead letters back to the queue they came from (after a fix); returns how many per DLQ.

    Raises:
        NotFound: ``dead_letter_queue`` names no dead-letter queue of the stack.
    """
    sqs = aws.client("sqs")
    dlqs = [q for q in stack_queues() if q.dead_letter_of]
    if dead_letter_queue:
        dlqs = [q for q in dlqs if q.logical_id == dead_letter_queue]
        if not dlqs:
            raise NotFound(f"{dead_letter_queue!r} is not a dead-letter queue of the stack")
    urls = _physical_urls()
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

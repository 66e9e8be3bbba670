"""Handle an event once: a conditional S3 put of a marker is the claim, the first writer wins.

S3 and SQS deliver at least once, so the same upload can arrive twice (or be
retried after a crash). A marker ``idempotency/<scope>/<token>`` created with
``If-None-Match: *`` decides which delivery does the work; the others see the
marker and do nothing. A claim whose work then fails is released, so the
retry can claim it again. (DynamoDB is not available locally; S3 is, and the
bucket's lifecycle rule expires old markers.)
"""

from __future__ import annotations

import hashlib
from typing import Any

from dropml import storage
from dropml.registry import utc_now
from dropml.storage import keys


def token(*parts: str) -> str:
    """A stable, key-safe token for the event identified by ``parts`` (e.g. key and ETag)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


def claim(scope: str, event_token: str, **details: Any) -> bool:
    """Claim the event; True for the first caller, False for every later (duplicate) one."""
    body = {"scope": scope, "token": event_token, "state": "claimed", "claimed_at": utc_now(), **details}
    return bool(storage.put_json(keys.idempotency_key(scope, event_token), body, if_absent=True))


def complete(scope: str, event_token: str, **details: Any) -> None:
    """Record what the claimed work produced (e.g. the task ARN), for whoever investigates later."""
    body = {"scope": scope, "token": event_token, "state": "done", "done_at": utc_now(), **details}
    storage.put_json(keys.idempotency_key(scope, event_token), body)


def release(scope: str, event_token: str) -> None:
    """Give up a claim whose work failed, so the retried delivery can do it."""
    storage.delete(keys.idempotency_key(scope, event_token))

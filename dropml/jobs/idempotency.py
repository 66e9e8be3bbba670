"""Handle an event once: a conditional S3 put of a marker is the claim, the first writer wins.

S3 and SQS deliver at least once, so the same upload can arrive twice (or be
retried after a crash). A marker ``idempotency/<scope>/<token>`` created with
``If-None-Match: *`` decides which delivery does the work; the others see the
marker and do nothing. A claim whose work then fails is released, so the
retry can claim it again; so is one that stayed "claimed" for longer than
``STALE_CLAIM_SECONDS`` (its worker died between claiming and finishing).
(DynamoDB is not available locally; S3 is, and the
bucket's lifecycle rule expires old markers.)
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from dropml import storage
from dropml.clock import utc_now
from dropml.errors import NotFound
from dropml.storage import keys


def token(*parts: str) -> str:
    """A stable, key-safe token for the event identified by ``parts`` (e.g. key and ETag)."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


STALE_CLAIM_SECONDS = 900  # far longer than a function's timeout: such a claim's worker is gone


def _age_seconds(stamp: Any) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return 0.0


def claim(scope: str, event_token: str, **details: Any) -> bool:
    """Claim the event; True for the first caller, False for every later (duplicate) one."""
    key = keys.idempotency_key(scope, event_token)
    body = {"scope": scope, "token": event_token, "state": "claimed", "claimed_at": utc_now(), **details}
    if storage.put_json(key, body, if_absent=True):
        return True
    try:
        existing = storage.get_json(key)
    except NotFound:  # released in between
        return bool(storage.put_json(key, body, if_absent=True))
    if existing.get("state") == "claimed" and _age_seconds(existing.get("claimed_at")) > STALE_CLAIM_SECONDS:
        storage.put_json(key, {**body, "took_over": existing.get("claimed_at")})
        return True
    return False


def complete(scope: str, event_token: str, **details: Any) -> None:
    """Record what the claimed work produced (e.g. the task ARN), for whoever investigates later."""
    body = {"scope": scope, "token": event_token, "state": "done", "done_at": utc_now(), **details}
    storage.put_json(keys.idempotency_key(scope, event_token), body)


def release(scope: str, event_token: str) -> None:
    """Give up a claim whose work failed, so the retried delivery can do it."""
    storage.delete(keys.idempotency_key(scope, event_token))

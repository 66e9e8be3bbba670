"""The admin API key: who may promote, roll back, retrain and archive through the API.

In the cloud the key is an SSM SecureString (``/<stack>/admin-api-key``);
locally it may come from configuration (``admin_api_key``). It is compared in
constant time and never logged: records name a key by a short hash (its id).
With no key anywhere, the admin API is switched off (403), never open.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time

from dropml import aws
from dropml.config import settings
from dropml.errors import Forbidden, Unauthorized

logger = logging.getLogger(__name__)
KEY_CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, str | None]] = {}
_cache_lock = threading.Lock()


def admin_key_parameter() -> str:
    """The SSM SecureString that holds the admin API key."""
    return f"/{settings().stack_name}/admin-api-key"


def key_id(key: str) -> str:
    """A short, non-reversible name for a key, safe to log and audit."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def admin_key(configured: str | None = None) -> str | None:
    """The admin key: ``configured`` or configuration first, else the SSM SecureString (cached a minute)."""
    configured = configured or settings().admin_api_key
    if configured:
        return configured
    name = admin_key_parameter()
    now = time.monotonic()
    with _cache_lock:
        cached = _cache.get(name)
        if cached and now - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
    from botocore.exceptions import ClientError

    try:
        value: str | None = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ParameterNotFound":
            raise
        value = None
    with _cache_lock:
        _cache[name] = (now, value or None)
    return value or None


def check_admin(presented: str | None, action: str, source: str = "", configured: str | None = None) -> str:
    """Allow an admin ``action`` only with the right key; returns the key id for audit records.

    Every refusal is logged with the action and the caller's address, never the key.

    Raises:
        Unauthorized: no key presented (401).
        Forbidden: a wrong key, or the admin API is switched off (403).
    """
    expected = admin_key(configured)
    if expected is None:
        logger.warning("admin refused: no admin key configured", extra={"action": action, "source": source})
        raise Forbidden(f"the admin API is switched off: set the SSM SecureString {admin_key_parameter()}")
    if not presented:
        logger.warning("admin refused: no key", extra={"action": action, "source": source})
        raise Unauthorized("this action needs an admin API key in the X-API-Key header")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        logger.warning("admin refused: wrong key", extra={"action": action, "source": source})
        raise Forbidden("the admin API key is not valid")
    return key_id(presented)


def reset_key_cache() -> None:
    """Forget the cached key (after it is rotated; tests)."""
    with _cache_lock:
        _cache.clear()

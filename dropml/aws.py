"""AWS clients: the only place dropml makes boto3 clients (S3, SQS, SSM, SNS, ECS, ...).

Clients are made lazily (never at import, so endpoint overrides and test
stand-ins apply) and cached per process. Retries use botocore's ``standard``
mode, configured once here, so a blip of the AWS API (or the local stand-in
restarting) is retried with backoff.
"""

from __future__ import annotations

import threading
from typing import Any

from dropml.config import settings

_clients: dict[tuple[str, str | None, str], Any] = {}
_clients_lock = threading.Lock()


def client(service: str) -> Any:
    """A cached boto3 client for ``service`` with dropml's region, endpoint and retry policy."""
    conf = settings().storage
    cache_key = (service, conf.endpoint_url, conf.region)
    found = _clients.get(cache_key)
    if found is not None:
        return found
    with _clients_lock:
        if cache_key not in _clients:
            import boto3
            from botocore.config import Config

            botocore_config = Config(
                retries={"mode": "standard", "max_attempts": conf.retry_max_attempts},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=32,
            )
            _clients[cache_key] = boto3.session.Session().client(
                service, region_name=conf.region, endpoint_url=conf.endpoint_url, config=botocore_config
            )
        return _clients[cache_key]


def boto3_session() -> Any:
    """A boto3 session in the configured region (for awswrangler, which takes sessions, not clients)."""
    import boto3

    return boto3.session.Session(region_name=settings().storage.region)


def reset_clients() -> None:
    """Drop cached clients (after the endpoint or credentials change)."""
    with _clients_lock:
        _clients.clear()

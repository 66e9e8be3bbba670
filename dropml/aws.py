"""AWS clients (S3, SQS, SSM, SNS, ECS, ...) for every dropml module outside the local world, made here.

awswrangler gets its session from here too (:func:`boto3_session`); only the
local world's IAM setup (:mod:`dropml.local.roles`, acting as the account's
deployer) makes sessions of its own. Clients are made lazily (never at import,
so endpoint overrides and test stand-ins apply) and cached per process.
Retries use botocore's ``standard`` mode, configured once here, so a blip of
the AWS API (or the local stand-in restarting) is retried with backoff.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from dropml.config import settings


@dataclass(frozen=True)
class Credentials:
    """Explicit AWS credentials (e.g. from sts:AssumeRole) for the calls of one context."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, ...)"  # never the secret in logs


# None: boto3's own chain (environment, the Lambda/ECS role); set: this context's calls use these
_credentials: ContextVar[Credentials | None] = ContextVar("dropml_aws_credentials", default=None)
_clients: dict[tuple[str, str | None, str, Credentials | None], Any] = {}
_client_sessions: dict[Credentials | None, Any] = {}  # the boto3 session the clients of each principal come from
_clients_lock = threading.Lock()


@contextmanager
def using_credentials(credentials: Credentials | None) -> Iterator[None]:
    """Make this context's (thread's) AWS calls with ``credentials`` (None: boto3's default chain).

    Why: one process may act for several principals (each with its own role); clients are cached per
    credentials, so a client made for one is never used for another.
    """
    token = _credentials.set(credentials)
    try:
        yield
    finally:
        _credentials.reset(token)


def client(service: str) -> Any:
    """A cached boto3 client for ``service`` with dropml's region, endpoint, retry policy and credentials."""
    conf = settings().storage
    credentials = _credentials.get()
    cache_key = (service, conf.endpoint_url, conf.region, credentials)
    found = _clients.get(cache_key)
    if found is not None:
        return found
    with _clients_lock:
        if cache_key not in _clients:
            from botocore.config import Config

            botocore_config = Config(
                retries={"mode": "standard", "max_attempts": conf.retry_max_attempts},
                connect_timeout=5,
                read_timeout=60,
                max_pool_connections=32,
            )
            session = _client_sessions.get(credentials)
            if session is None:  # one per principal: a session loads botocore's endpoint and retry data once
                session = _client_sessions[credentials] = _session(credentials)
            _clients[cache_key] = session.client(
                service, region_name=conf.region, endpoint_url=conf.endpoint_url, config=botocore_config
            )
        return _clients[cache_key]


def _session(credentials: Credentials | None, region: str | None = None) -> Any:
    import boto3

    if credentials is None:
        return boto3.session.Session(region_name=region)
    return boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=region,
    )


def load_service_models(services: tuple[str, ...]) -> None:
    """Load botocore's models of ``services`` into the default session, without making a client.

    Why: under Lambda SnapStart, work done at Init is in the snapshot (web/snapstart.py); the session's loader
    keeps what it read, so the first request's clients skip reading those JSON files. No credential is resolved
    and no connection opened here (a client would resolve credentials, which must not be in a snapshot).
    """
    with _clients_lock:
        session = _client_sessions.get(None)
        if session is None:
            session = _client_sessions[None] = _session(None)
    for service in services:
        session._session.get_service_model(service)


def boto3_session() -> Any:
    """A boto3 session in the configured region with this context's credentials (for awswrangler)."""
    return _session(_credentials.get(), settings().storage.region)


def reset_clients() -> None:
    """Drop cached clients (after the endpoint or credentials change)."""
    with _clients_lock:
        _clients.clear()
        _client_sessions.clear()

"""The AWS endpoint unreachable for a few seconds mid-flow: calls retry with backoff, or fail loudly."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError
from fakes import write_opaque_version
from faults import CuttableProxy

from dropml import local, registry, storage


@pytest.fixture
def proxied(aws, monkeypatch):
    target = urlparse(aws.endpoint)
    proxy = CuttableProxy(target.hostname, target.port)
    local.use_endpoint(proxy.endpoint)
    yield proxy
    proxy.close()
    local.use_endpoint(aws.endpoint)


def test_a_three_second_outage_is_retried_and_the_write_lands(proxied):
    proxied.sever()
    threading.Timer(3.0, proxied.heal).start()
    started = time.monotonic()
    write_opaque_version("default")  # claim, artifact, manifest: every call crosses the outage
    waited = time.monotonic() - started
    assert proxied.refused >= 1
    assert waited >= 2.5
    assert registry.list_versions("default") == [1]


def test_a_long_outage_fails_loudly_not_silently(proxied, monkeypatch):
    monkeypatch.setenv("DROPML__STORAGE__RETRY_MAX_ATTEMPTS", "2")
    local.use_endpoint(proxied.endpoint)
    proxied.sever()
    with pytest.raises((EndpointConnectionError, ConnectionClosedError)):
        storage.put_bytes("train/x.csv", b"a,b\n1,2\n")
    proxied.heal()
    assert not storage.exists("train/x.csv")

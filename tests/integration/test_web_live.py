"""The app served over real HTTP (werkzeug on 127.0.0.1:0 in a thread) against moto: hot swap under load."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pandas as pd
import pytest
from support.live_server import serving
from support.versions import BREAST_CANCER

RECORD = pd.read_csv(BREAST_CANCER).drop(columns=["target"]).iloc[0].to_dict()
TTL = 0.5


@pytest.fixture
def live_url(aws) -> Iterator[str]:
    with serving(model_ttl_seconds=TTL) as url:
        yield url


def _post(url: str, body: dict, timeout: float = 10) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def test_predict_over_http_names_the_version_and_request_id(live_url, trained_versions):
    status, _, body = _post(f"{live_url}/api/v1/predict", RECORD)
    assert (status, body["error"]) == (503, "no_live_model")
    trained_versions.write()
    time.sleep(TTL)
    status, headers, body = _post(f"{live_url}/api/v1/predict?models=champion", RECORD)
    assert status == 200
    assert body["predictions"] == ["malignant"]
    assert headers["X-Model-Version"] == "1"
    assert headers["X-Request-ID"] == body["request_id"]


def test_content_length_over_the_limit_is_refused_before_the_body_is_read(live_url, trained_versions):
    trained_versions.write()
    host, port = live_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            b"POST /api/v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 500000000\r\n\r\n{"
        )
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413")
    assert '"error":"too_large"' in answer.replace(" ", "")


def test_hot_swap_under_load_never_fails_and_never_mixes_versions(live_url, trained_versions):
    trained_versions.write()
    url = f"{live_url}/api/v1/predict"
    results: list[dict] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(name: str) -> None:
        while not stop.is_set():
            started = time.monotonic()
            status, headers, body = _post(url, RECORD)
            row = {
                "client": name, "started": started, "ended": time.monotonic(), "status": status,
                "header": headers.get("X-Model-Version"), "version": body.get("model_version"),
                "message": body.get("message"),
            }  # fmt: skip
            with lock:
                results.append(row)

    threads = [threading.Thread(target=client, args=(f"c{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    trained_versions.write()  # v2 written, then promoted in SSM while requests keep coming
    promoted_at = time.monotonic()
    time.sleep(TTL + 3.0)  # TTL + load time, with room to spare
    stop.set()
    for thread in threads:
        thread.join(10)

    assert len(results) > 100
    assert [(r["status"], r["message"]) for r in results if r["status"] != 200][:3] == []  # zero failed requests
    assert all(r["header"] == str(r["version"]) and r["version"] in (1, 2) for r in results)  # one version each
    assert any(r["version"] == 1 and r["started"] > promoted_at for r in results)  # old one served during the load
    first_new = min(r["ended"] for r in results if r["version"] == 2)
    assert first_new - promoted_at < TTL + 2.0
    late = [r for r in results if r["started"] > first_new]
    assert late
    assert {r["version"] for r in late} == {2}  # once swapped, every new request gets the new version
    for name in {r["client"] for r in results}:  # and no client ever goes back
        versions = [r["version"] for r in sorted(results, key=lambda r: r["started"]) if r["client"] == name]
        assert versions == sorted(versions)


def test_chunked_body_without_content_length_is_read_and_answered(live_url, trained_versions):
    import http.client

    trained_versions.write()
    host, port = live_url.removeprefix("http://").split(":")
    payload = json.dumps(RECORD).encode()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(
        "POST", "/api/v1/predict", body=iter([payload[:100], payload[100:]]), encode_chunked=True,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )  # fmt: skip
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 200, body
    assert body["predictions"] == ["malignant"]

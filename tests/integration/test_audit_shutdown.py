"""No audit record is lost when the server stops: gunicorn is sent SIGTERM with records still buffered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
from support.versions import BREAST_CANCER

from dropml import local, storage


@pytest.mark.slow
def test_buffered_records_are_written_when_gunicorn_stops(aws, trained_versions, tmp_path):
    trained_versions.write()
    port = local.free_port()
    env = {
        **os.environ,
        **local.local_environment(aws.endpoint),
        "DROPML__AUDIT__FLUSH_INTERVAL_SECONDS": "3600",  # nothing is flushed by the timer during the test
    }
    command = [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "2", "--bind", f"127.0.0.1:{port}"]
    with (tmp_path / "gunicorn.log").open("wb") as log:
        server = subprocess.Popen(
            [*command, "--graceful-timeout", "20", "web.app:app"], env=env, stdout=log, stderr=log
        )
        try:
            sent = _send_requests(port, tmp_path)
            assert list(storage.list_keys("audit/predictions/")) == []  # still buffered in the workers
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    written = set()
    for key in storage.list_keys("audit/predictions/"):
        written |= {json.loads(line)["request_id"] for line in storage.get_bytes(key).body.splitlines()}
    assert written == set(sent)


def _send_requests(port: int, tmp_path) -> list[str]:
    record = pd.read_csv(BREAST_CANCER).drop(columns=["target"]).iloc[0].to_dict()
    sent = []
    deadline = time.monotonic() + 60
    for n in range(6):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/predict",
            data=json.dumps(record).encode(),
            headers={"Content-Type": "application/json", "X-Request-ID": f"stop-{n}"},
        )
        while True:
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    assert answer.status == 200
                break
            except OSError:  # gunicorn still starting
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.3)
        sent.append(f"stop-{n}")
    return sent

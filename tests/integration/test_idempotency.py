"""The same event delivered concurrently (Lambda may run duplicates side by side) starts one job, once."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from dropml.jobs import launcher
from dropml.local.poller import load_handler
from tests.conftest import load_event

CONTEXT = SimpleNamespace(function_name="test", aws_request_id="req-1", get_remaining_time_in_millis=lambda: 60000)


def test_eight_concurrent_deliveries_of_one_upload_launch_one_training(aws, monkeypatch):
    launched: list[str] = []
    lock = threading.Lock()

    def count_launch(job, key, overrides=None, correlation_id=None):
        with lock:
            launched.append(key)
        return f"local:{len(launched)}"

    monkeypatch.setattr(launcher, "launch", count_launch)
    handler = load_handler("functions/train_trigger/")
    event = load_event("sqs_s3_put_train.json")  # train/breast cancer.csv, one ETag
    answers: list[dict] = []
    start = threading.Barrier(8)

    def deliver() -> None:
        start.wait()
        answers.append(handler(event, CONTEXT))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert launched == ["train/breast cancer.csv"]
    assert answers == [{"batchItemFailures": []}] * 8

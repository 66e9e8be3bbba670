"""The prediction audit buffer against the moto server: batched, date-partitioned, nothing lost."""

from __future__ import annotations

import json

import pytest

from dropml import audit, storage
from dropml.errors import NotFound
from dropml.storage import keys


def _record(request_id: str, rows: int = 1) -> dict:
    return audit.prediction_record(
        request_id=request_id,
        project="default",
        model_version=3,
        champion="random_forest",
        models=["random_forest", "linear"],
        engine="in-process",
        rows=rows,
        inputs_sha256=audit.hash_inputs(b"x"),
        latency_ms=1.23456,
        channel="json",
        inputs=[{"x": 1}] * rows,
        outputs={"random_forest": ["a"] * rows},
    )


def test_buffered_records_are_written_as_one_jsonl_object_per_flush(aws):
    buffer = audit.AuditBuffer()
    for n in range(5):
        buffer.add(_record(f"req-{n}"))
    assert buffer.pending() == 5
    key = buffer.flush()
    buffer.close()
    assert key.startswith(keys.audit_prefix("predictions"))
    assert "/date=" in key
    lines = storage.get_bytes(key).body.decode().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [f"req-{n}" for n in range(5)]
    assert buffer.pending() == 0


def test_large_requests_keep_a_hash_not_the_inputs(aws):
    record = _record("big", rows=500)
    assert record["inputs"] is None
    assert record["outputs"] is None
    assert len(record["inputs_sha256"]) == 64


def test_close_flushes_what_is_left(aws):
    buffer = audit.AuditBuffer()
    buffer.add(_record("last-one"))
    buffer.close()
    assert buffer.written == 1


def test_find_prediction_and_unknown_id(aws):
    audit.record_prediction(_record("find-me"))
    assert audit.find_prediction("find-me")["model_version"] == 3
    with pytest.raises(NotFound, match="no prediction with request id 'nope'"):
        audit.find_prediction("nope")

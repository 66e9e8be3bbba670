"""The audit trail: one record per prediction request and per training run, in S3 under ``audit/``.

Prediction records are buffered in memory and written as JSON lines, one
object per flush, partitioned by date (``audit/predictions/date=YYYY-MM-DD/``),
so the request path never waits for S3. The buffer is flushed by a background
thread every ``audit.flush_interval_seconds``, when it holds
``audit.flush_max_records``, at interpreter exit, and explicitly at the end of
every Lambda invocation (a frozen container must not hold unwritten records).
The readers find one request's record and summarise a day.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from dropml import aws, storage
from dropml.config import settings
from dropml.errors import BadInput, NotFound
from dropml.storage import keys

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

Channel = Literal["form", "upload", "json", "csv", "file", "experiment"]


class JsonRecords(Protocol):
    """Rows that write themselves as JSON-ready objects (scoring's all-number rows do, without pandas)."""

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready objects."""
        ...


def hash_inputs(payload: bytes) -> str:
    """The sha256 of a request's input bytes: proves which inputs were scored without keeping them."""
    return hashlib.sha256(payload).hexdigest()


def prediction_record(
    *,
    request_id: str,
    project: str,
    model_version: int,
    champion: str,
    models: list[str],
    engine: str,
    rows: int,
    inputs_sha256: str,
    latency_ms: float,
    channel: Channel,
    caller: str = "anonymous",
    inputs: list[dict[str, Any]] | pd.DataFrame | JsonRecords | None = None,
    outputs: dict[str, list[Any] | np.ndarray] | None = None,
    predictions_key: str | None = None,
    outside_training_range: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One prediction request as an audit record (inputs and outputs only for small requests).

    ``inputs`` may be the checked rows (a frame, or rows with ``records()``) and ``outputs`` arrays: they become JSON
    when the buffer is written (:func:`json_line`), off the request's path.
    ``outside_training_range``: rows per column whose value lay past the training range (the models extrapolated).
    """
    keep = settings().audit.store_inputs_max_rows
    small = rows <= keep
    return {
        "kind": "prediction",
        "request_id": request_id,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "project": project,
        "model_version": model_version,
        "champion": champion,
        "models": models,
        "engine": engine,
        "rows": rows,
        "inputs_sha256": inputs_sha256,
        "inputs": inputs if small else None,
        "outputs": outputs if small else None,
        "predictions_key": predictions_key,
        "caller": caller,
        "channel": channel,
        "latency_ms": round(latency_ms, 3),
        "outside_training_range": outside_training_range or {},
    }


def json_line(record: dict[str, Any]) -> str:
    """One record as a JSON line: a frame of inputs as row objects (NaN as null, dates ISO), arrays as lists."""
    return json.dumps(record, default=_json_value)


def _json_value(value: Any) -> Any:
    records = getattr(value, "records", None)
    if callable(records):  # before pandas: a Lambda that flushes per request never imports it for this
        return records()

    if isinstance(value, np.ndarray):
        return value.tolist()
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        return _frame_rows(value)
    return str(value)


def number_records(matrix: np.ndarray, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of a float matrix as JSON-ready objects, a gap (NaN) as None: how the trail writes all-number rows."""
    return [
        {name: (None if math.isnan(value) else value) for name, value in zip(columns, row, strict=True)}
        for row in matrix.tolist()
    ]


def _frame_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready records; an all-float frame (the usual one) without pandas' JSON writer."""
    if all(dtype.kind == "f" for dtype in frame.dtypes):
        return number_records(frame.to_numpy(), [str(name) for name in frame.columns])
    return json.loads(frame.to_json(orient="records", date_format="iso"))


class AuditBuffer:
    """Collects records in memory and writes them to S3 in batches, off the request path."""

    def __init__(self, kind: Literal["predictions", "announcements"] = "predictions") -> None:
        self.kind = kind
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self.written = 0

    def add(self, record: dict[str, Any]) -> None:
        """Queue one record; starts the background flusher on first use."""
        with self._lock:
            self._records.append(record)
            full = len(self._records) >= settings().audit.flush_max_records
        self._ensure_flusher()
        if full:
            threading.Thread(target=self.flush, name="dropml-audit-flush", daemon=True).start()

    def pending(self) -> int:
        """How many records wait to be written."""
        with self._lock:
            return len(self._records)

    def flush(self) -> str | None:
        """Write every queued record as one JSON-lines object; returns its key (None when empty).

        On a failed write the records go back to the buffer, so nothing is lost
        while the process lives.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._records = self._records, []
            if not batch:
                return None
            now = datetime.now(UTC)
            key = keys.audit_key(self.kind, now, f"{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}.jsonl")
            body = "\n".join(json_line(r) for r in batch).encode() + b"\n"
            try:
                storage.put_bytes(key, body, "application/x-ndjson")
            except Exception:
                logger.exception("audit flush failed; records kept for the next flush", extra={"records": len(batch)})
                with self._lock:
                    self._records[:0] = batch
                return None
            self.written += len(batch)
            return key

    def _ensure_flusher(self) -> None:
        if self._timer is not None and self._timer.is_alive():
            return
        self._stop.clear()
        self._timer = threading.Thread(target=self._run, name="dropml-audit-flusher", daemon=True)
        self._timer.start()

    def _run(self) -> None:
        interval = settings().audit.flush_interval_seconds
        while not self._stop.wait(interval):
            self.flush()

    def close(self) -> None:
        """Stop the background flusher and write what is left (at shutdown)."""
        self._stop.set()
        self.flush()


_buffer: AuditBuffer | None = None
_buffer_lock = threading.Lock()


def prediction_buffer() -> AuditBuffer:
    """The process-wide prediction audit buffer (flushed at exit)."""
    global _buffer  # noqa: PLW0603 - one buffer per process, made on first use
    if _buffer is None:
        with _buffer_lock:
            if _buffer is None:
                _buffer = AuditBuffer("predictions")
                atexit.register(_buffer.close)
    return _buffer


def record_prediction(record: dict[str, Any]) -> None:
    """Queue a prediction record built by :func:`prediction_record`."""
    prediction_buffer().add(record)


def flush() -> str | None:
    """Write queued prediction records now (end of a Lambda invocation, shutdown, tests)."""
    return prediction_buffer().flush()


def write_training_record(run_id: str, started_at: datetime, record: dict[str, Any]) -> str:
    """Write one training run's record, filed under the day it started (one object per run, never buffered)."""
    key = keys.audit_key("training", started_at, f"{run_id}.json")
    storage.put_json(key, {"run_id": run_id, **record})
    return key


def _days_back(days: int) -> Iterator[str]:
    today = datetime.now(UTC).date()
    for back in range(days + 1):
        yield (today - timedelta(days=back)).isoformat()


def find_prediction(request_id: str, days: int = 31) -> dict[str, Any]:
    """The audit record of one prediction request, searching the newest days first.

    Raises:
        NotFound: no record with that id in the last ``days`` days.
    """
    prediction_buffer().flush()
    needle = f'"request_id": "{request_id}"'.encode()
    for day in _days_back(days):
        for key in sorted(storage.list_keys(keys.audit_prefix("predictions", day)), reverse=True):
            body = storage.get_bytes(key).body
            if needle not in body:
                continue
            for line in body.splitlines():
                record = json.loads(line)
                if record.get("request_id") == request_id:
                    return record
    raise NotFound(f"no prediction with request id {request_id!r} in the last {days} days of audit/predictions/")


def predictions_frame(day: str) -> Any:
    """Every prediction record of one day (``YYYY-MM-DD``) as a data frame, read with awswrangler.

    Raises:
        BadInput: ``day`` is not a date.
        NotFound: no records that day.
    """
    import awswrangler as wr

    try:
        datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        raise BadInput("day", day, f"day must be YYYY-MM-DD (got {day!r})") from None
    prediction_buffer().flush()
    if settings().storage.endpoint_url:  # awswrangler keeps its own endpoint setting
        wr.config.s3_endpoint_url = settings().storage.endpoint_url
    prefix = keys.audit_prefix("predictions", day)
    if not any(True for _ in storage.list_keys(prefix)):
        raise NotFound(f"no prediction records on {day} under audit/predictions/")
    return wr.s3.read_json(
        f"s3://{storage.bucket()}/{prefix}", lines=True, boto3_session=aws.boto3_session(), dtype=False
    )


def summarize_day(day: str) -> Any:
    """One day of predictions per project, version, channel and engine: requests, rows, latency p50/p99."""
    frame = predictions_frame(day)
    grouped = frame.groupby(["project", "model_version", "channel", "engine"], dropna=False)
    summary = grouped.agg(
        requests=("request_id", "count"),
        rows=("rows", "sum"),
        p50_ms=("latency_ms", lambda v: v.quantile(0.5)),
        p99_ms=("latency_ms", lambda v: v.quantile(0.99)),
    )
    return summary.round(2).reset_index()

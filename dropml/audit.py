"""The audit trail: one record per prediction request and per training run, in S3 under ``audit/``.

Prediction records are buffered in memory and written as JSON lines, one
object per flush, partitioned by date (``audit/predictions/date=YYYY-MM-DD/``),
so the request path never waits for S3. The buffer is flushed by a background
thread every ``audit.flush_interval_seconds``, when it holds
``audit.flush_max_records``, at interpreter exit, and explicitly at the end of
every Lambda invocation (a frozen container must not hold unwritten records).
The readers find one request's record and summarise a day.

Two more kinds are written with the records, for monitoring:

- ``audit/samples/date=.../<p>/``: a bounded sample of the rows API traffic
  scored (:class:`InputSample`): per process, a reservoir of at most
  ``monitoring.traffic_sample.rows`` rows per project and version, written once
  per ``window_seconds`` and at most ``max_bytes_per_day`` per process and day.
  The daily drift report of each project is built from them.
- ``audit/keys/date=.../<p>/``: for a time-ordered project, each request's row
  keys (time, group), its target as sent and the champion's predictions
  (:class:`RowKeys`), which later rows answer (realized accuracy).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import random
import threading
import time
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
Role = Literal["live", "challenger"]  # what the version that scored was to its project: answering, or in the shadow


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
    role: Role = "live",
    row_keys: RowKeys | None = None,
) -> dict[str, Any]:
    """One prediction request as an audit record (inputs and outputs only for small requests).

    ``inputs`` may be the checked rows (a frame, or rows with ``records()``) and ``outputs`` arrays: they become JSON
    when the buffer is written (:func:`json_line`), off the request's path.
    ``outside_training_range``: rows per column whose value lay past the training range (the models extrapolated).
    ``role``: what the version was to the project: ``live`` answered; a ``challenger`` scored the same request in the
    shadow, under the same request id, after the answer was built.
    ``row_keys``: a time-ordered project's keys and predictions, written to ``audit/keys/`` with the record.
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
        "role": role,
        "row_keys": row_keys,
    }


def json_line(record: dict[str, Any]) -> str:
    """One record as a JSON line: a frame of inputs as row objects (NaN as null, dates ISO), arrays as lists."""
    return json.dumps(record, default=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, RowKeys):
        return value.to_json()
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


class RowKeys:
    """A time-ordered request's rows as realized accuracy needs them: time, group, target as sent, the prediction.

    Built on the request path from references only; :meth:`to_json` reads the
    columns when the trail is written, off that path. ``rows`` is a DataFrame, or
    a function that makes one then (checked rows become a DataFrame only there).
    """

    def __init__(
        self, rows: Any, time_column: str, group_column: str | None, target: str | None, predicted: Any
    ) -> None:
        self.rows = rows
        self.time_column = time_column
        self.group_column = group_column
        self.target = target
        self.predicted = predicted

    def __len__(self) -> int:
        return len(self.predicted)

    def to_json(self) -> dict[str, Any]:
        """``{"time": [ISO], "group": [...] | None, "target": [...], "predicted": [...]}``, a list per column."""
        import pandas as pd

        if callable(self.rows):
            self.rows = self.rows()
        columns = set(self.rows.columns)
        times = pd.to_datetime(pd.Series(self.rows[self.time_column]), errors="coerce", format="mixed")
        target = self.rows[self.target].tolist() if self.target and self.target in columns else [None] * len(self)
        return {
            "time": [t.isoformat() if not pd.isna(t) else None for t in times],
            "group": [str(g) for g in self.rows[self.group_column].tolist()] if self.group_column else None,
            "target": [_plain(v) for v in target],
            "predicted": [_plain(v) for v in np.asarray(self.predicted).tolist()],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


_PENDING = object()  # a reservoir slot taken by a row of the batch being offered


class _Reservoir:
    """A uniform sample of at most ``capacity`` rows of everything offered, by reference (algorithm R per row)."""

    __slots__ = ("capacity", "items", "seen")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.seen = 0
        self.items: list[tuple[Any, int]] = []  # (rows object, position in it)

    def offer(self, rows: Any, count: int) -> None:
        if count <= 8:  # the usual request: a few rows, plain Python
            for position in range(count):
                self._offer_one(rows, position)
            return
        # a batch: the reservoir afterwards must be a uniform sample of everything seen, which is drawn directly:
        # first fill it, then take a hypergeometric number of the batch's other rows into as many random slots
        fill = min(self.capacity - len(self.items), count)
        for position in range(fill):
            self.items.append((_PENDING, position))
        self.seen += fill
        rest = count - fill
        if rest > 0:
            draw = np.random.default_rng(random.getrandbits(64))  # seeded from random: reseeded in each fork
            taken = int(draw.hypergeometric(rest, self.seen, self.capacity))
            for slot, position in zip(
                draw.choice(self.capacity, taken, replace=False).tolist(),
                (fill + draw.choice(rest, taken, replace=False)).tolist(),
                strict=True,
            ):
                self.items[slot] = (_PENDING, position)
            self.seen += rest
        kept = [(slot, position) for slot, (source, position) in enumerate(self.items) if source is _PENDING]
        if kept:  # copy the few rows that stayed, never keep a reference to the whole batch
            subset = rows.take(np.asarray([position for _, position in kept]))
            for index, (slot, _) in enumerate(kept):
                self.items[slot] = (subset, index)

    def _offer_one(self, rows: Any, position: int) -> None:
        self.seen += 1
        if len(self.items) < self.capacity:
            self.items.append((rows, position))
        elif (slot := random.randrange(self.seen)) < self.capacity:  # noqa: S311 - a sample, not security
            self.items[slot] = (rows, position)

    def rows(self) -> list[dict[str, Any]]:
        """The sampled rows as JSON-ready objects."""
        by_source: dict[int, tuple[Any, list[int]]] = {}
        for source, position in self.items:
            by_source.setdefault(id(source), (source, []))[1].append(position)
        out: list[dict[str, Any]] = []
        for source, positions in by_source.values():
            out.extend(_json_value(source.take(np.asarray(positions))))
        return out


class InputSample:
    """The rows API traffic scored, sampled per project and version: the daily drift report's input.

    :meth:`offer` runs on the request path (a counter and, now and then, a
    reference kept: about a microsecond for one row); the rows are copied out
    and turned into JSON when the window's sample is written, by the buffer's
    flusher. See the module docstring for the bounds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reservoirs: dict[tuple[str, int], _Reservoir] = {}
        self._window_started = time.time()
        self._day = datetime.now(UTC).date()
        self._bytes_today = 0

    def offer(self, project: str, version: int, rows: Any, count: int) -> None:
        """Offer ``count`` scored rows (an object with ``take(positions)``) to the project's version's reservoir."""
        capacity = settings().monitoring.traffic_sample.rows
        if capacity <= 0 or count <= 0:
            return
        with self._lock:
            reservoir = self._reservoirs.get((project, version))
            if reservoir is None:
                reservoir = self._reservoirs[(project, version)] = _Reservoir(capacity)
            reservoir.offer(rows, count)

    def due(self, now: float | None = None) -> bool:
        """Whether the window has ended (or the UTC day changed) and there is something to write."""
        now = time.time() if now is None else now
        window = settings().monitoring.traffic_sample.window_seconds
        changed_day = (
            datetime.fromtimestamp(now, UTC).date() != datetime.fromtimestamp(self._window_started, UTC).date()
        )
        return bool(self._reservoirs) and (now - self._window_started >= window or changed_day)

    def drain(self, now: float | None = None) -> list[dict[str, Any]]:
        """The window's sample lines, one per project and version, and a new window; rows beyond the day's bytes
        are left out (the line then only counts what was seen)."""
        now = time.time() if now is None else now
        with self._lock:
            reservoirs, self._reservoirs = self._reservoirs, {}
            started, self._window_started = self._window_started, now
        day = datetime.fromtimestamp(started, UTC)
        lines = []
        for (project, version), reservoir in reservoirs.items():
            line: dict[str, Any] = {
                "kind": "input_sample",
                "project": project,
                "model_version": version,
                "window_started": day.isoformat(timespec="seconds"),
                "window_ended": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                "rows_seen": reservoir.seen,
                "rows": reservoir.rows(),
            }
            size = len(json_line(line))
            if day.date() != self._day:
                self._day, self._bytes_today = day.date(), 0
            if self._bytes_today + size > settings().monitoring.traffic_sample.max_bytes_per_day:
                line["rows"], line["skipped"] = [], "max_bytes_per_day"
            else:
                self._bytes_today += size
            lines.append(line)
        return lines


def keyed_predictions(record: dict[str, Any]) -> dict[str, Any]:
    """The ``audit/keys/`` line of a record with row keys: which request, version and role, and its rows' keys."""
    return {
        "request_id": record["request_id"],
        "project": record["project"],
        "model_version": record["model_version"],
        "role": record.get("role", "live"),
        "time": record["time"],
        "channel": record["channel"],
        "keys": record["row_keys"],
    }


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

        Records with row keys also write them under ``audit/keys/``, and a
        prediction buffer writes the input sample when its window is due. On a
        failed write the records go back to the buffer, so nothing is lost
        while the process lives (a sample that fails to be written is dropped: it
        is a sample).
        """
        with self._flush_lock:
            with self._lock:
                batch, self._records = self._records, []
            if self.kind == "predictions" and input_sample().due():
                _write_lines("samples", input_sample().drain())
            if not batch:
                return None
            now = datetime.now(UTC)
            key = keys.audit_key(self.kind, now, _object_name(now))
            keyed = [keyed_predictions(r) for r in batch if r.get("row_keys") is not None]
            body = "\n".join(json_line(_without_row_keys(r)) for r in batch).encode() + b"\n"
            try:
                _write_lines("keys", keyed, raise_errors=True)
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
        if self.kind == "predictions":
            flush_samples()


def _object_name(now: datetime) -> str:
    return f"{now:%H%M%S%f}-{uuid.uuid4().hex[:8]}.jsonl"


def _without_row_keys(record: dict[str, Any]) -> dict[str, Any]:
    """The record as written under ``audit/predictions/``: its row keys go to ``audit/keys/``, counted here."""
    row_keys = record.get("row_keys")
    if row_keys is None:
        return {k: v for k, v in record.items() if k != "row_keys"}
    return {**{k: v for k, v in record.items() if k != "row_keys"}, "keyed_rows": len(row_keys)}


def _write_lines(kind: Literal["samples", "keys"], lines: list[dict[str, Any]], raise_errors: bool = False) -> None:
    """Write ``lines`` as one JSON-lines object per project under ``audit/<kind>/``, filed under the day each
    line's window started (a sample) or now (row keys)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for line in lines:
        day = str(line.get("window_started") or datetime.now(UTC).isoformat())[:10]
        groups.setdefault((line["project"], day), []).append(line)
    for (project, day), group in groups.items():
        when = datetime.fromisoformat(day).replace(tzinfo=UTC)
        key = keys.audit_project_key(kind, when, project, _object_name(datetime.now(UTC)))
        try:
            storage.put_bytes(
                key, "\n".join(json_line(line) for line in group).encode() + b"\n", "application/x-ndjson"
            )
        except Exception:
            if raise_errors:
                raise
            logger.exception("audit sample not written", extra={"project": project, "lines": len(group)})


_sample: InputSample | None = None
_buffer: AuditBuffer | None = None
_buffer_lock = threading.Lock()


def input_sample() -> InputSample:
    """The process-wide sample of API inputs (written by the prediction buffer's flushes)."""
    global _sample  # noqa: PLW0603 - one sample per process, made on first use
    if _sample is None:
        with _buffer_lock:
            if _sample is None:
                _sample = InputSample()
    return _sample


def sample_inputs(project: str, version: int, rows: Any, count: int) -> None:
    """Offer a request's checked rows to the daily drift report's sample (see :class:`InputSample`)."""
    input_sample().offer(project, version, rows, count)


def flush_samples() -> None:
    """Write the input sample now, due or not (shutdown, tests, the daily report of a process that serves)."""
    _write_lines("samples", input_sample().drain())


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
                if record.get("request_id") == request_id and record.get("role", "live") == "live":
                    return record  # the answer's record, not a challenger's shadow of it
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

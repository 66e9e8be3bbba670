"""A project's data as a partitioned Parquet dataset in S3, grown by drops and read whole or as a window.

A drop (``data/<project>/<name>.csv`` or ``.parquet``) is read, checked against
the dataset's schema (the columns and kinds its first drop had, kept in
``datasets/<p>/_schema.json``), reduced to the latest row per record key
(:mod:`~dropml.training.dedup`) and written as one Parquet part per day:
``datasets/<p>/day=<YYYY-MM-DD>/<token>-<rows>.parquet``. The day is the
row's time-column day (a time-ordered project) or the day it arrived. Every
check runs before the first write, so a refused drop appends nothing.

A part's name is a digest of the drop's key and ETag: a redelivered event
writes the same objects again instead of adding rows twice. Parts are only
ever added, never rewritten, so concurrent drops cannot lose each other's
rows; a reader takes the latest row of each record key across parts. Each row
carries :data:`DROPPED_AT`, the drop's time, which orders "latest".

Readers: :func:`read_frame` (the in-process path: one pandas frame),
:func:`read_parts` (the Dask path reads groups of parts on its workers and
applies the same rule across them), :func:`describe` (size and a token of the
contents, for the trigger's size check and idempotency).
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from dropml import storage
from dropml.errors import BadInput, NotFound
from dropml.storage import keys
from dropml.training.dedup import latest_by_keys
from dropml.training.ingest import parse_training_csv

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import TrainingSettings

logger = logging.getLogger(__name__)

DROPPED_AT = "_dropped_at"  # when the row's drop arrived: orders "latest" between parts (not a feature)
Kind = Literal["number", "boolean", "text", "datetime"]
EXAMPLES_SHOWN = 3


@dataclass(frozen=True)
class DatasetSchema:
    """The columns every drop of a project must have, each with its kind (fixed by the first drop)."""

    columns: dict[str, Kind]

    def to_json(self) -> dict[str, Any]:
        """The stored document."""
        return {"columns": self.columns}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> DatasetSchema:
        """Read the stored document."""
        return cls(columns=dict(document["columns"]))


@dataclass(frozen=True)
class Appended:
    """What one drop added: rows written (after its own repeated keys), rows it replaced, and the parts."""

    project: str
    rows: int
    replaced_in_drop: int
    parts: list[str]


@dataclass(frozen=True)
class DatasetPart:
    """One Parquet part of a dataset, from a listing."""

    key: str
    day: str
    rows: int
    size: int
    etag: str


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset (or its window) as a training source: its data key, parts, size and a digest of its contents."""

    project: str
    parts: list[DatasetPart]

    @property
    def key(self) -> str:
        """The data key runs of this dataset train on (``datasets/<p>/``)."""
        return keys.dataset_prefix(self.project)

    @property
    def size(self) -> int:
        """Bytes of Parquet in the parts."""
        return sum(part.size for part in self.parts)

    @property
    def rows(self) -> int:
        """Rows written to the parts (before the latest-per-key rule across parts)."""
        return sum(part.rows for part in self.parts)

    @property
    def sha256(self) -> str:
        """A digest of which parts (key and ETag) make the data: the same parts, the same digest."""
        listing = "\n".join(f"{part.key} {part.etag}" for part in self.parts)
        return hashlib.sha256(listing.encode()).hexdigest()

    @property
    def etag(self) -> str:
        """A short form of :attr:`sha256`, standing in for a file's ETag (idempotency tokens, the manifest)."""
        return self.sha256[:32]


# ── drops in ────────────────────────────────────────────────────────────────────


def read_drop(body: bytes, key: str) -> pd.DataFrame:
    """A drop's rows: CSV in any encoding and delimiter (as training files), or Parquet.

    Raises:
        BadInput: empty, unreadable, or not a table with columns and rows.
    """
    if key.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(io.BytesIO(body)).to_pandas()
        except (pa.ArrowException, OSError) as err:
            raise BadInput("file", key, f"{key} is not a readable Parquet file: {err}") from None
        if frame.empty:
            raise BadInput("file", key, f"{key} has no rows")
        return frame
    return parse_training_csv(body, key)[0]


def _kind_of(series: pd.Series) -> Kind:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "text"


def schema_of(frame: pd.DataFrame) -> DatasetSchema:
    """The schema a first drop sets: each column's kind as read."""
    return DatasetSchema(columns={str(name): _kind_of(frame[name]) for name in frame.columns})


def _bad_rows(original: pd.Series, converted: pd.Series) -> list[int]:
    """Positions where a present value did not convert (1-based data rows, as a spreadsheet shows them)."""
    lost = original.notna().to_numpy() & converted.isna().to_numpy()
    return [int(i) + 1 for i in lost.nonzero()[0][:EXAMPLES_SHOWN]]


def conform(frame: pd.DataFrame, schema: DatasetSchema, key: str, conf: TrainingSettings) -> pd.DataFrame:
    """The drop's columns in the schema's order and kinds, every record key column present and filled.

    Raises:
        BadInput: missing or unexpected columns, a value of the wrong kind, or a
            missing key value; each names the column and the first rows.
    """
    import pandas as pd

    names = [str(c) for c in frame.columns]
    missing = [c for c in schema.columns if c not in names]
    extra = [c for c in names if c not in schema.columns]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unexpected {', '.join(extra)}"] if extra else []
        )
        raise BadInput(
            "columns",
            names,
            f"{key} does not match the dataset's columns ({'; '.join(parts)}); "
            f"every drop needs exactly: {', '.join(schema.columns)}",
        )
    out = {}
    for name, kind in schema.columns.items():
        column = frame[name]
        converted = _converted(column, kind)
        bad = _bad_rows(column, converted)
        if bad:
            shown = ", ".join(repr(str(column.iloc[row - 1])) for row in bad)
            raise BadInput(
                name, shown, f"{key}: column {name!r} must hold {kind} values; rows {bad} hold {shown}", http_status=422
            )
        out[name] = converted
    conformed = pd.DataFrame(out)
    for name in conf.record_key():
        if name not in conformed.columns:
            raise BadInput("columns", name, f"{key}: the project's key column {name!r} is not in the dataset")
        blank = conformed[name].isna().to_numpy().nonzero()[0][:EXAMPLES_SHOWN]
        if len(blank):
            raise BadInput(name, None, f"{key}: key column {name!r} is empty in rows {[int(i) + 1 for i in blank]}")
    return conformed


def _converted(column: pd.Series, kind: Kind) -> pd.Series:
    import pandas as pd

    if kind == "number":
        return pd.to_numeric(column, errors="coerce").astype("float64")
    if kind == "boolean":
        words = column.map(lambda v: v if isinstance(v, bool) else str(v).strip().lower() if pd.notna(v) else None)
        mapped = words.map({True: True, False: False, "true": True, "false": False, "1": True, "0": False})
        return mapped.astype("boolean")
    if kind == "datetime":
        return pd.to_datetime(column, errors="coerce", utc=True)
    return column.astype("string")


def _stored_schema(project: str, drop: pd.DataFrame) -> DatasetSchema:
    """The dataset's schema; a project's first drop sets it (the first writer wins a race)."""
    schema_key = keys.dataset_schema_key(project)
    try:
        return DatasetSchema.from_json(storage.get_json(schema_key))
    except NotFound:
        pass
    proposed = schema_of(drop)
    if storage.put_json(schema_key, proposed.to_json(), if_absent=True):
        logger.info("dataset schema set", extra={"project": project, "columns": len(proposed.columns)})
        return proposed
    return DatasetSchema.from_json(storage.get_json(schema_key))


def stored_columns(project: str) -> int:
    """How many columns every row of ``project``'s dataset has (its schema, fixed by its first drop).

    Raises:
        NotFound: the project has no dataset.
    """
    return len(DatasetSchema.from_json(storage.get_json(keys.dataset_schema_key(project))).columns)


def _days(frame: pd.DataFrame, conf: TrainingSettings, arrived: datetime) -> pd.Series:
    import pandas as pd

    if conf.time_column and conf.time_column in frame.columns:
        times = frame[conf.time_column]
        if not pd.api.types.is_datetime64_any_dtype(times):
            times = pd.to_datetime(times, errors="coerce", utc=True)
        if times.notna().all():
            return times.dt.strftime("%Y-%m-%d")
    return pd.Series(arrived.strftime("%Y-%m-%d"), index=frame.index)


def append_drop(
    project: str, key: str, etag: str, body: bytes, conf: TrainingSettings, arrived: datetime | None = None
) -> Appended:
    """Check a drop and append its rows to the project's dataset, one Parquet part per day (see the module).

    Raises:
        BadInput: the drop is unreadable or does not fit the dataset (nothing is appended).
    """
    arrived = arrived or datetime.now(UTC)
    drop = read_drop(body, key)
    if DROPPED_AT in drop.columns:
        raise BadInput("columns", DROPPED_AT, f"{key}: the column name {DROPPED_AT!r} is reserved")
    schema = _stored_schema(project, drop)
    rows = conform(drop, schema, key, conf)
    rows, replaced = latest_by_keys(rows, conf.record_key())
    days = _days(rows, conf, arrived)
    rows[DROPPED_AT] = arrived
    token = hashlib.sha256(f"{key}\n{etag}".encode()).hexdigest()[:32]
    written = []
    for day, part in rows.groupby(days, sort=True):
        part_key = keys.dataset_file_key(project, str(day), token, len(part))
        storage.put_bytes(part_key, _parquet_bytes(part.reset_index(drop=True)), "application/vnd.apache.parquet")
        written.append(part_key)
    return Appended(project=project, rows=len(rows), replaced_in_drop=replaced, parts=written)


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()


# ── the dataset out ────────────────────────────────────────────────────────────


def list_parts(project: str) -> list[DatasetPart]:
    """Every part of ``project``'s dataset, oldest day first."""
    parts = []
    for info in storage.list_objects(keys.dataset_prefix(project)):
        parsed = keys.parse_dataset_file_key(info.key)
        if parsed is not None and parsed[0] == project:
            parts.append(DatasetPart(info.key, parsed[1], parsed[2], info.size, info.etag))
    return sorted(parts, key=lambda part: (part.day, part.key))


def select_parts(parts: list[DatasetPart], window_days: int | None, window_rows: int | None) -> list[DatasetPart]:
    """The parts of the newest ``window_days`` days present, then of as few newest days as hold ``window_rows`` rows."""
    days = sorted({part.day for part in parts})
    if window_days is not None:
        days = days[-window_days:]
    if window_rows is not None:
        kept: list[str] = []
        rows = 0
        for day in reversed(days):
            kept.append(day)
            rows += sum(part.rows for part in parts if part.day == day)
            if rows >= window_rows:
                break
        days = sorted(kept)
    wanted = set(days)
    return [part for part in parts if part.day in wanted]


def describe(project: str, conf: TrainingSettings | None = None) -> DatasetInfo:
    """The dataset of ``project`` (its window, with ``conf``) as a training source.

    Raises:
        NotFound: the project has no dataset (no drop was appended yet).
    """
    parts = list_parts(project)
    if conf is not None:
        parts = select_parts(parts, conf.dataset_window_days, conf.dataset_window_rows)
    if not parts:
        raise NotFound(f"project {project!r} has no dataset: no drop under data/{project}/ was appended yet")
    return DatasetInfo(project=project, parts=parts)


def read_parts(part_keys: list[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Every row of some parts, in their order, with :data:`DROPPED_AT` (``columns``: only those, and it)."""
    import pandas as pd
    import pyarrow.parquet as pq

    wanted = [*columns, DROPPED_AT] if columns is not None else None
    frames = [pq.read_table(io.BytesIO(storage.get_bytes(key).body), columns=wanted).to_pandas() for key in part_keys]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def read_frame(info: DatasetInfo, conf: TrainingSettings) -> pd.DataFrame:
    """The whole dataset (or window) as one frame, the latest row per record key, in time order when time-ordered."""
    frame = read_parts([part.key for part in info.parts])
    frame, _ = latest_by_keys(frame, conf.record_key(), [DROPPED_AT])
    frame = frame.drop(columns=[DROPPED_AT]).reset_index(drop=True)
    if conf.time_column and conf.time_column in frame.columns:
        frame = frame.sort_values(conf.time_column, kind="stable").reset_index(drop=True)
    if conf.dataset_window_rows is not None and len(frame) > conf.dataset_window_rows:
        frame = frame.iloc[-conf.dataset_window_rows :].reset_index(drop=True)
    return frame

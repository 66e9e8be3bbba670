"""Score a CSV under ``test/`` with its project's live version and write ``predictions/`` (idempotent).

Small files are scored in this process; big ones on Dask, block by block,
each task reading its own byte range of the file from S3
(:func:`dropml.storage.lines_starting_in`) and returning its rows' results as
CSV text, so no data passes through the task graph. A caller may watch the
blocks as they are scored (:data:`BlockObserver`: monitoring observes drift and
labels there): what it returns for each block comes back in file order.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dropml import registry, storage
from dropml.errors import BadInput, NoLiveModel, NotFound
from dropml.scoring import dask_executor
from dropml.scoring.csv_input import plain_csv_bytes
from dropml.scoring.load import LoadedVersion, predict_in_process
from dropml.scoring.predict import Prediction, choose_engine, results_frame
from dropml.scoring.reasons import explanation_columns
from dropml.scoring.validate import (
    MAX_PROBLEMS,
    check_csv_rows,
    ignored_columns,
    neutralise_formulas,
    validate_frame,
)
from dropml.scoring.version_cache import cached_version
from dropml.storage import keys
from dropml.storage.csv_format import PLAIN
from dropml.storage.csv_reader import read_csv_bytes
from dropml.storage.limits import check_data_size

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import Settings
    from dropml.manifest import InputSchema
    from dropml.scoring.rows import CheckedRows

logger = logging.getLogger(__name__)

# a scored block's rows as read (every column), as checked, and its prediction → anything picklable, per block
BlockObserver = Callable[["pd.DataFrame", "CheckedRows", Prediction], Any]
# the version and the file's estimated rows → the observer of its blocks (None: nothing to observe)
ObserverFor = Callable[[LoadedVersion, int], BlockObserver | None]

SAMPLE_BYTES = 64 * 1024
MIN_BLOCK_BYTES = 64 * 1024
META_SOURCE_ETAG = "source-etag"
META_MODEL_VERSION = "model-version"


def score_csv_lines(
    loaded: LoadedVersion,
    body: bytes,
    header: list[str],
    names: list[str],
    request_id: str | None,
    with_header: bool,
    explain_with: Settings | None = None,
    observer: BlockObserver | None = None,
) -> dict[str, Any]:
    """Score CSV data lines (no header line) whose columns are ``header``.

    ``explain_with``: the settings to add the champion's explanation columns with (None: no explanations).
    Returns ``{"rows", "columns", "csv"}`` (and ``"observed"``, what ``observer``
    made of the block), or ``{"rows", "problems"}`` with 1-based rows of this
    chunk when a value or column is wrong. The inputs are written back as read
    (an integer stays an integer; columns the models do not use, as text).
    """
    schema_names = set(loaded.schema.names)
    if not body.strip():
        return {"rows": 0, "columns": [], "csv": ""}
    extra_text = {name: str for name in header if name not in schema_names}
    raw = None
    try:
        raw = read_csv_bytes(body, "the file", PLAIN, header=None, names=header, dtype=extra_text, index_col=False)
        check_csv_rows(body, raw, "the file", header_lines=0)
        checked = validate_frame(loaded.schema, raw)
    except BadInput as err:  # returned, not raised: this may run on a Dask worker
        return {"rows": 0 if raw is None else len(raw), "problems": err.problems}
    except ValueError as err:  # a value pandas cannot hold as read
        return _file_problem(f"not valid CSV: {str(err).strip()}")
    by_model = predict_in_process(loaded, checked, names)
    prediction = Prediction(
        project=loaded.project,
        version=loaded.version,
        champion=loaded.champion,
        engine="in-process",
        request_id=request_id,
        rows=len(checked),
        by_model=by_model,
        seconds=0.0,
        outside_range=loaded.training_ranges.outside(checked),
    )
    explanation = None
    if explain_with is not None:
        explanation = explanation_columns(loaded, checked, by_model[loaded.champion], explain_with)
    out = neutralise_formulas(results_frame(raw, prediction, explanation))  # spreadsheets run =, +, -, @ cells
    return {
        "rows": len(out),
        "columns": list(out.columns),
        "csv": out.to_csv(index=False, header=with_header),
        "outside_training_range": prediction.outside_range.counts() if prediction.outside_range is not None else {},
        "observed": observer(raw, checked, prediction) if observer is not None else None,
    }


def _file_problem(message: str) -> dict[str, Any]:
    return {"rows": 0, "problems": [{"field": "file", "message": message}]}


def score_s3_block(
    loaded: LoadedVersion,
    key: str,
    start: int,
    end: int,
    size: int,
    header: list[str],
    names: list[str],
    request_id: str | None,
    explain_with: Settings | None = None,
    observer: BlockObserver | None = None,
) -> dict[str, Any]:
    """Score the lines of the CSV at ``key`` that start in bytes ``[start, end)`` (one Dask task's block).

    Returns what :func:`score_csv_lines` returns for those lines.
    """
    body = storage.lines_starting_in(key, start, end, size)
    return score_csv_lines(loaded, body, header, names, request_id, False, explain_with, observer)


@dataclass(frozen=True)
class _Layout:
    header: list[str]
    data_start: int
    estimated_rows: int
    avg_line_bytes: float
    plain: bytes | None = None  # the whole file rewritten as plain CSV, when it was written otherwise


def _is_plain(sample: bytes) -> bool:
    """Whether a file's first bytes are UTF-8 (a cut last character allowed) without a ; tab | delimited header."""
    if b"\x00" in sample:
        return False  # binary, or UTF-16: refused or rewritten by plain_csv_bytes
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample)
    except UnicodeDecodeError:
        return False
    header = sample.split(b"\n", 1)[0]
    return b"," in header or not any(mark in header for mark in (b";", b"\t", b"|"))


def _layout(key: str, size: int, schema: InputSchema) -> _Layout:
    sample = storage.read_range(key, 0, min(size, SAMPLE_BYTES))
    rewritten = None
    if not _is_plain(sample):  # another encoding or delimiter: the whole file, rewritten, is scored in process
        sample = rewritten = plain_csv_bytes(storage.get_bytes(key).body, schema, key)
        size = len(sample)
    newline = sample.find(b"\n")
    if newline < 0 and size > len(sample):
        raise BadInput("file", key, f"{key}: the header line is longer than {SAMPLE_BYTES} bytes")
    header_line = sample if newline < 0 else sample[: newline + 1]
    try:
        header = next(csv.reader([header_line.decode("utf-8-sig").rstrip("\r\n")]))
    except (UnicodeDecodeError, StopIteration):
        raise BadInput("file", key, f"{key}: the first line is not a UTF-8 CSV header") from None
    if not any(h.strip() for h in header):
        raise BadInput("file", key, f"{key} has no header line")
    rest = sample[len(header_line) :]
    lines = [line for line in rest.split(b"\n") if line.strip()]
    avg = (len(rest) / max(len(lines), 1)) if lines else 1.0
    whole = size <= len(sample)
    estimated = len(lines) if whole else int((size - len(header_line)) / max(avg, 1.0))
    return _Layout(
        header=header, data_start=len(header_line), estimated_rows=estimated, avg_line_bytes=avg, plain=rewritten
    )


def _merge(results: list[dict[str, Any]], key: str) -> tuple[list[str], str, int, dict[str, int]]:
    """The chunks' results as one file: columns, CSV body, rows, and rows outside the training range per column.

    Raises:
        BadInput: a chunk found bad values (their rows renumbered for the whole file), or no rows at all.
    """
    problems: list[dict[str, Any]] = []
    outside: dict[str, int] = {}
    offset = 0
    columns: list[str] = []
    parts = []
    for result in results:
        for found in result.get("problems", []):
            shifted = {**found, "row": found["row"] + offset} if "row" in found else found
            if len(problems) < MAX_PROBLEMS and shifted.get("field") != "*":
                problems.append(shifted)
        offset += result["rows"]
        columns = columns or result.get("columns", [])
        parts.append(result.get("csv", ""))
        for column, count in result.get("outside_training_range", {}).items():
            outside[column] = outside.get(column, 0) + count
    if problems:
        first = problems[0]
        where = f" row {first['row']}" if "row" in first else ""
        message = f"{key}:{where} {first['field']}: {first['message']} ({len(problems)} problems listed)"
        raise BadInput(first["field"], first.get("value"), message, problems=problems, http_status=422)
    if offset == 0:
        raise BadInput("file", key, f"{key} has a header but no rows")
    return columns, "".join(parts), offset, outside


def predictions_written(test_key: str, test_etag: str, previous_predictions_etag: str | None) -> bool:
    """Whether the predictions for the upload of ``test_key`` (whose ETag is ``test_etag``) are written.

    They are when ``predictions/`` holds an object that records that source
    ETag, or one that differs from what was there before the upload
    (``previous_predictions_etag``, None when nothing was): what someone who
    uploaded a file waits for.

    Raises:
        BadInput: ``test_key`` is not a ``test/`` key.
    """
    parsed = keys.parse_data_key(test_key, kind="test")
    try:
        found = storage.head(keys.predictions_key(parsed.project, parsed.name))
    except NotFound:
        return False
    return found.metadata.get(META_SOURCE_ETAG) == test_etag or found.etag != previous_predictions_etag


def _already_scored(out_key: str, etag: str, version: int) -> bool:
    try:
        meta = storage.head(out_key).metadata
    except Exception:  # NotFound, or anything odd: score again
        return False
    return meta.get(META_SOURCE_ETAG) == etag and meta.get(META_MODEL_VERSION) == str(version)


def _score_on_dask(
    loaded: LoadedVersion,
    key: str,
    size: int,
    layout: _Layout,
    request_id: str,
    conf: Settings,
    observer: BlockObserver | None,
) -> list[dict[str, Any]]:
    """Score the file block by block on the workers; each block's result, in file order.

    Raises:
        DaskUnavailable: no client, or Dask lost the work (the caller scores the file in process).
    """
    rows_per_block = dask_executor.rows_per_partition(layout.estimated_rows, conf)
    block_bytes = max(int(layout.avg_line_bytes * rows_per_block), MIN_BLOCK_BYTES)
    starts = list(range(layout.data_start, size, block_bytes)) or [layout.data_start]
    names = loaded.model_names
    explain_with = conf if conf.serving.explain_files else None
    blocks = [
        (key, start, min(start + block_bytes, size), size, layout.header, names, request_id, explain_with, observer)
        for start in starts
    ]
    return dask_executor.map_blocks(score_s3_block, loaded, blocks, key, conf)


def _score_blocks(
    loaded: LoadedVersion, key: str, size: int, request_id: str, conf: Settings, observer_for: ObserverFor | None
) -> tuple[list[dict[str, Any]], _Layout, str]:
    """Score every block of the file at ``key`` with ``loaded``: each block's result in file order, the file's
    layout, and the engine that scored it (Dask for big files, falling back to this process)."""
    layout = _layout(key, size, loaded.schema)
    # a file not in plain UTF-8 comma CSV was rewritten in memory: its blocks cannot be read from S3 by the workers
    engine = "in-process" if layout.plain is not None else choose_engine(layout.estimated_rows, conf, loaded)
    observer = observer_for(loaded, layout.estimated_rows) if observer_for is not None else None
    if engine == "dask":
        try:
            return _score_on_dask(loaded, key, size, layout, request_id, conf, observer), layout, engine
        except dask_executor.DaskUnavailable as err:  # the file is still scored, just in this process
            logger.warning("dask unavailable, scoring the file in process", extra={"key": key, "reason": str(err)})
    body = (layout.plain or storage.get_bytes(key).body)[layout.data_start :]
    explain_with = conf if conf.serving.explain_files else None
    names = loaded.model_names
    return (
        [score_csv_lines(loaded, body, layout.header, names, request_id, False, explain_with, observer)],
        layout,
        "in-process",
    )


@dataclass(frozen=True)
class ScoredFile:
    """A scored file: where its predictions are, the version that made them, and what the audit records.

    ``skipped``: those predictions were already written for this upload and version (nothing rewritten).
    """

    predictions_key: str
    version: int
    details: dict[str, Any]
    observed: list[Any] = field(default_factory=list)  # what the observer made of each block, in file order

    @property
    def skipped(self) -> bool:
        """Whether the predictions were already there (a duplicate event)."""
        return bool(self.details.get("skipped"))


def score_to_predictions(
    parsed: keys.DataKey, request_id: str, conf: Settings, observer_for: ObserverFor | None = None
) -> ScoredFile:
    """Score ``test/[<p>/]<name>.csv`` with every model of p's live version into ``predictions/[<p>/]<name>.csv``.

    The output holds the file's columns, ``pred_<model>`` per model, ``prediction``
    (the champion's), ``champion``, ``model_version`` and ``request_id``, and with
    ``serving.explain_files`` the champion's explanation columns. Idempotent:
    when that object already records the same source ETag and model version,
    nothing is rewritten. Files of more than ``dask.batch_threshold`` rows
    (estimated from the first 64 KiB) are scored on Dask, each worker reading
    its own byte range from S3. ``observer_for`` makes the observer of the
    file's blocks (:data:`ObserverFor`).

    Raises:
        BadInput: bad rows/columns (422, every problem listed with its row).
        TooLarge: the file is over ``storage.max_scoring_bytes``.
        NotFound: no such file.
        NoLiveModel: the project has no live version.
        ChecksumMismatch: the live version's artifacts were tampered with.
    """
    out_key = keys.predictions_key(parsed.project, parsed.name)
    live = registry.live_version(parsed.project)
    if live is None:
        raise NoLiveModel(f"project {parsed.project!r} has no live model to score {parsed.key} with")
    info = storage.head(parsed.key)
    check_data_size(parsed.key, info.size)
    if _already_scored(out_key, info.etag, live.version):
        logger.info("already scored", extra={"key": parsed.key, "model_version": live.version})
        return ScoredFile(out_key, live.version, {"skipped": True})
    loaded = cached_version(parsed.project, live.version)
    results, layout, engine = _score_blocks(loaded, parsed.key, info.size, request_id, conf, observer_for)
    names = loaded.model_names
    columns, body_text, rows, outside = _merge(results, parsed.key)
    header_text = io.StringIO()
    csv.writer(header_text, lineterminator="\n").writerow(columns)
    metadata = {
        META_SOURCE_ETAG: info.etag,
        META_MODEL_VERSION: str(live.version),
        "project": parsed.project,
        "request-id": request_id,
        "engine": engine,
        "rows": str(rows),
    }
    ignored = ignored_columns(loaded.schema, layout.header)
    metadata["ignored-columns"] = quote(",".join(ignored), safe=" ,_-.")[:1000]  # S3 metadata: 2 KB in all
    storage.put_bytes(out_key, (header_text.getvalue() + body_text).encode(), "text/csv", metadata=metadata)
    details = {
        "rows": rows,
        "engine": engine,
        "champion": loaded.champion,
        "models": names,
        "source_etag": info.etag,
        "ignored_columns": ignored,
        "outside_training_range": outside,
    }
    return ScoredFile(out_key, live.version, details, [r["observed"] for r in results if r.get("observed") is not None])


def score_without_writing(
    parsed: keys.DataKey, version: int, request_id: str, conf: Settings, observer_for: ObserverFor | None = None
) -> ScoredFile:
    """Score ``test/[<p>/]<name>.csv`` with ``version`` as :func:`score_to_predictions` does, and write nothing.

    A challenger's shadow: its predictions go to the audit trail and realized
    accuracy, never to ``predictions/``. The result has no predictions key.

    Raises:
        BadInput: rows or columns that fail ``version``'s schema.
        TooLarge: the file is over ``storage.max_scoring_bytes``.
        NotFound: no such file or version.
        ChecksumMismatch: the version's artifacts were tampered with.
    """
    info = storage.head(parsed.key)
    check_data_size(parsed.key, info.size)
    loaded = cached_version(parsed.project, version)
    results, _, engine = _score_blocks(loaded, parsed.key, info.size, request_id, conf, observer_for)
    _columns, _body, rows, outside = _merge(results, parsed.key)
    details = {
        "rows": rows,
        "engine": engine,
        "champion": loaded.champion,
        "models": loaded.model_names,
        "source_etag": info.etag,
        "outside_training_range": outside,
    }
    return ScoredFile("", version, details, [r["observed"] for r in results if r.get("observed") is not None])

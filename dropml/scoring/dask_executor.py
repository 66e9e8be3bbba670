"""Big batches on Dask: one client per process, started lazily on first need and reused.

Locally (``dask.scheduler_address`` null) the client owns a ``LocalCluster``
(started once, on the first big batch, never at import), whose workers are
threads of this process unless ``dask.local_processes``: rows and models are
then shared instead of pickled, and scikit-learn's predict runs in parallel
because it releases the GIL. In the cloud it connects to the configured
scheduler, whose workers are Fargate tasks. A version's pipelines are
sent to the workers once (``scatter``, broadcast) and reused by every batch.

Files are read where they lie: each task fetches its own byte range of the
CSV from S3 (lines are cut at newlines, so a quoted field must not contain a
newline) and returns its rows' results as CSV text, so no data passes through
the task graph.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dropml import aws
from dropml.config import settings as global_settings
from dropml.errors import DropmlError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from dropml.config import Settings
    from dropml.scoring.load import LoadedVersion

logger = logging.getLogger(__name__)

LOOKAHEAD_BYTES = 64 * 1024
RETRY_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 5
_lock = threading.Lock()
_state: dict[str, Any] = {"client": None, "cluster": None, "where": None, "failed_at": None, "why": ""}
_scattered: dict[tuple[str, int, str, str], Any] = {}
_shared_batches: dict[str, tuple[LoadedVersion, pd.DataFrame]] = {}  # batches being scored by our own threads


class DaskUnavailable(RuntimeError):
    """No Dask client could be made (scheduler unreachable, or no LocalCluster possible here)."""


def get_client(conf: Settings | None = None) -> Any:
    """The process's Dask client, created on first use (LocalCluster unless a scheduler address is set).

    After a failed start, further calls fail fast for ``RETRY_SECONDS`` instead
    of waiting on an unreachable scheduler for every batch.

    Raises:
        DaskUnavailable: the client could not be made (now, or within the last ``RETRY_SECONDS``).
    """
    conf = conf or global_settings()
    address = conf.dask.scheduler_address
    where = (address, conf.dask.local_processes)
    with _lock:
        client = _state["client"]
        if client is not None and client.status == "running" and _state["where"] == where:
            return client
        failed_at = _state.get("failed_at")
        if failed_at is not None and time.monotonic() - failed_at < RETRY_SECONDS:
            raise DaskUnavailable(f"dask was unavailable {time.monotonic() - failed_at:.0f}s ago: {_state['why']}")
        _close_locked()
        try:
            client = _start(conf, address)
        except Exception as err:
            _state["failed_at"] = time.monotonic()
            _state["why"] = f"{type(err).__name__}: {err}"
            logger.exception("dask client failed to start", extra={"scheduler": address or "LocalCluster"})
            raise DaskUnavailable(_state["why"]) from err
        _state["failed_at"] = None
        _state["client"] = client
        _state["where"] = where
        logger.info("dask client started", extra={"scheduler": address or "LocalCluster"})
        return client


def _start(conf: Settings, address: str | None) -> Any:
    from distributed import Client, LocalCluster

    if address:
        return Client(address, set_as_default=False, timeout=CONNECT_TIMEOUT_SECONDS)
    if not conf.dask.local_processes:  # scheduler and workers log in this process: keep their INFO chatter out
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = LocalCluster(
        n_workers=conf.dask.n_workers,
        threads_per_worker=conf.dask.threads_per_worker,
        processes=conf.dask.local_processes,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )
    _state["cluster"] = cluster
    return Client(cluster, set_as_default=False)


def _close_locked() -> None:
    _scattered.clear()
    scheduler_log = logging.getLogger("distributed.scheduler")
    level = scheduler_log.level
    scheduler_log.setLevel(logging.CRITICAL)  # "lost scattered data" is what closing a cluster means
    try:
        for name in ("client", "cluster"):
            thing = _state[name]
            _state[name] = None
            if thing is not None:
                try:
                    thing.close()
                except Exception:  # closing during interpreter exit must never raise
                    logger.debug("dask close failed", exc_info=True)
    finally:
        scheduler_log.setLevel(level)


def close() -> None:
    """Close the client and any LocalCluster (at exit, or before changing settings)."""
    with _lock:
        _close_locked()


atexit.register(close)


def _models_future(client: Any, loaded: LoadedVersion) -> Any:
    """The version's pipelines on every worker, scattered once per version."""
    version_id = (loaded.project, loaded.version, loaded.manifest.run_id, loaded.manifest.created_at)
    with _lock:
        found = _scattered.get(version_id)
        if found is not None:
            return found
    future = client.scatter([loaded], broadcast=True, hash=False)[0]
    with _lock:
        if len(_scattered) >= 2:  # keep the live version and the one before it
            _scattered.pop(next(iter(_scattered)))
        _scattered[version_id] = future
    return future


def _predict_partition(loaded: LoadedVersion, names: list[str], part: pd.DataFrame) -> dict[str, np.ndarray]:
    from dropml.scoring.load import predict_in_process

    return predict_in_process(loaded, part, names)


def _predict_shared_rows(token: str, names: list[str], start: int, stop: int) -> dict[str, np.ndarray]:
    """Rows ``[start, stop)`` of a batch this process handed to its own worker threads by reference."""
    loaded, frame = _shared_batches[token]
    return _predict_partition(loaded, names, frame.iloc[start:stop])


def _partitions(rows: int, threads: int, most_rows: int) -> tuple[list[int], list[int]]:
    """Start and stop rows of a batch's partitions: one per worker thread at least, ``most_rows`` rows at most.

    Few big partitions beat many small ones: every ``predict`` call costs a few
    milliseconds of input checks that hold the GIL.
    """
    count = max(min(rows, threads), math.ceil(rows / most_rows), 1)
    edges = [round(rows * i / count) for i in range(count + 1)]
    return edges[:-1], edges[1:]


def rows_per_partition(rows: int, conf: Settings | None = None) -> int:
    """How many rows of a ``rows``-row batch one task gets (see :func:`_partitions`).

    Raises:
        DaskUnavailable: no client (it is asked how many threads the cluster has).
    """
    conf = conf or global_settings()
    starts, stops = _partitions(rows, worker_threads(get_client(conf), conf), conf.dask.partition_rows)
    return max(stop - start for start, stop in zip(starts, stops, strict=True)) if starts else 1


def worker_threads(client: Any, conf: Settings) -> int:
    """How many tasks the cluster runs at once (asked of the scheduler when it is not our own)."""
    if conf.dask.scheduler_address is None:
        return conf.dask.n_workers * conf.dask.threads_per_worker
    return max(sum(client.nthreads().values()), 1)


def _workers_share_memory(conf: Settings) -> bool:
    """Whether the workers are threads of this process (our own LocalCluster without ``local_processes``)."""
    return conf.dask.scheduler_address is None and not conf.dask.local_processes


def predict_frame(
    loaded: LoadedVersion, names: list[str], frame: pd.DataFrame, conf: Settings | None = None
) -> dict[str, np.ndarray]:
    """Each named model's predictions for a checked frame, partition by partition on Dask, in row order.

    Workers in other processes get the partitions scattered to them; worker
    threads of this process read them where they are (scattering 1M rows
    would copy 240 MB for nothing).

    Raises:
        BadInput: a model refused the input.
        DaskUnavailable: no client, or Dask lost the batch (the caller scores it in process).
    """
    import numpy as np

    conf = conf or global_settings()
    client = get_client(conf)
    starts, stops = _partitions(len(frame), worker_threads(client, conf), conf.dask.partition_rows)
    count = len(starts)

    if _workers_share_memory(conf):
        token = uuid.uuid4().hex
        _shared_batches[token] = (loaded, frame)

        def run() -> list[Any]:
            return client.map(_predict_shared_rows, [token] * count, [names] * count, starts, stops, pure=False)

        try:
            results = _gathered(client, run, f"{len(frame)} rows")
        finally:
            _shared_batches.pop(token, None)
    else:

        def run() -> list[Any]:
            models = _models_future(client, loaded)
            parts = client.scatter([frame.iloc[start:stop] for start, stop in zip(starts, stops, strict=True)])
            return client.map(_predict_partition, [models] * count, [names] * count, parts)

        results = _gathered(client, run, f"{len(frame)} rows")
    return {name: np.concatenate([r[name] for r in results]) for name in names}


def _gathered(client: Any, submit: Callable[[], list[Any]], what: str) -> list[Any]:
    """Submit work and gather it; a batch Dask loses becomes DaskUnavailable, so the caller scores in process.

    Raises:
        DropmlError: a model refused the input (raised on the worker, re-raised here).
        DaskUnavailable: cancelled, lost dependencies, a worker or the scheduler gone.
    """
    try:
        return client.gather(submit())
    except DropmlError:
        raise  # the input's problem, not Dask's
    except Exception as err:  # the batch is lost, not the request
        forget_scattered()
        logger.warning("dask lost a batch", extra={"work": what, "error": f"{type(err).__name__}: {err}"})
        raise DaskUnavailable(f"dask lost the batch ({what}): {type(err).__name__}: {err}") from err


def forget_scattered() -> None:
    """Drop the cached model futures, so the next batch scatters its version afresh."""
    with _lock:
        _scattered.clear()


# ── files read by the workers themselves ─────────────────────────────────────


def read_range(key: str, start: int, stop: int) -> bytes:
    """Bytes ``[start, stop)`` of an S3 object (empty when the range is empty)."""
    from dropml import storage

    if stop <= start:
        return b""
    resp = aws.client("s3").get_object(Bucket=storage.bucket(), Key=key, Range=f"bytes={start}-{stop - 1}")
    return resp["Body"].read()


def lines_starting_in(key: str, start: int, end: int, size: int) -> bytes:
    """The bytes of every line of the object that starts at an offset in ``[start, end)``.

    Consecutive ranges therefore split a file into whole lines, each exactly once.
    """
    fetch_from = max(start - 1, 0)
    fetched_to = min(end + LOOKAHEAD_BYTES, size)
    data = read_range(key, fetch_from, fetched_to)

    def find_newline(at: int) -> int:
        nonlocal data, fetched_to
        while True:
            found = data.find(b"\n", at)
            if found >= 0 or fetched_to >= size:
                return found
            more_to = min(fetched_to + LOOKAHEAD_BYTES, size)
            data += read_range(key, fetched_to, more_to)
            fetched_to = more_to

    if start == 0:
        first = 0
    else:
        newline = find_newline(0)  # at or after offset start-1: a line starts right after it
        if newline < 0:
            return b""
        first = newline + 1
    if fetch_from + first >= end:
        return b""
    newline = find_newline(max(end - 1 - fetch_from, first))
    last = newline + 1 if newline >= 0 else len(data)
    return data[first:last]


def _score_s3_block(
    loaded: LoadedVersion,
    key: str,
    start: int,
    end: int,
    size: int,
    header: list[str],
    names: list[str],
    request_id: str | None,
) -> dict[str, Any]:
    from dropml.scoring.files import score_csv_lines

    body = lines_starting_in(key, start, end, size)
    return score_csv_lines(loaded, body, header, names, request_id, with_header=False)


def score_s3_csv(
    loaded: LoadedVersion,
    key: str,
    size: int,
    header: list[str],
    data_start: int,
    block_bytes: int,
    names: list[str],
    request_id: str | None,
    conf: Settings | None = None,
) -> list[dict[str, Any]]:
    """Score the CSV at ``key`` block by block on the workers; each block's result dict, in file order."""
    conf = conf or global_settings()
    client = get_client(conf)
    bounds = list(range(data_start, size, max(block_bytes, 1))) or [data_start]

    def run() -> list[Any]:
        models = _models_future(client, loaded)
        return [
            client.submit(
                _score_s3_block,
                models,
                key,
                begin,
                min(begin + block_bytes, size),
                size,
                header,
                names,
                request_id,
                pure=False,
            )
            for begin in bounds
        ]

    return _gathered(client, run, key)

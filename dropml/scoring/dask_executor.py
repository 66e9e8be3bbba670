"""Dask as an executor: one client per process, rows cut into partitions, a function mapped over them, gathered.

It knows nothing about versions, CSV files or scoring: callers hand it a
function, one ``shared`` object every task needs (e.g. a loaded version) and
the work (a frame's row partitions, or a list of argument tuples), and get the
results back in order.

Locally (``dask.scheduler_address`` null) the client owns a ``LocalCluster``
(started once, on first need, never at import), whose workers are threads of
this process unless ``dask.local_processes``: the shared object and the rows
are then read in place instead of pickled, and scikit-learn's predict runs in
parallel because it releases the GIL. In the cloud it connects to the
configured scheduler, whose workers are Fargate tasks: the shared object is
sent to every worker once (``scatter``, broadcast) and reused by every batch
for as long as the object itself lives (the copy is tied to it, never kept
under a key of its own), and each batch's partitions are scattered with it.
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dropml.config import settings as global_settings
from dropml.errors import DropmlError

if TYPE_CHECKING:
    import pandas as pd

    from dropml.config import Settings

logger = logging.getLogger(__name__)

RETRY_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 5
_lock = threading.Lock()
_state: dict[str, Any] = {"client": None, "cluster": None, "where": None, "failed_at": None, "why": ""}
# id(shared object) -> its copy on every worker; the entry goes when the object is collected (see _worker_copy)
_worker_copies: dict[int, Any] = {}
# batches being worked on by this process's own worker threads: token -> (shared object, frame or None)
_in_place: dict[str, tuple[Any, Any]] = {}


class DaskUnavailable(RuntimeError):
    """No Dask client could be made (scheduler unreachable, or no LocalCluster possible here), or it lost the work."""


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
    _worker_copies.clear()  # they live on the cluster being closed
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


# ── how work is cut ──────────────────────────────────────────────────────────


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


# ── the shared object on the workers ─────────────────────────────────────────


def _worker_copy(client: Any, shared: Any) -> Any:
    """``shared`` on every worker (a future), sent once and kept exactly as long as ``shared`` lives.

    The copy is found by the object's identity and dropped by a finalizer when
    the object is collected, so whoever owns the object (e.g. the cache of
    loaded versions) owns its copies on the workers too: no key, no bound and
    no eviction of its own here.
    """
    identity = id(shared)
    with _lock:
        found = _worker_copies.get(identity)
    if found is not None:
        return found
    future = client.scatter([shared], broadcast=True, hash=False)[0]
    with _lock:
        _worker_copies[identity] = future
    # no lock in the finalizer: it may run in any thread, even one holding _lock; dict.pop is atomic
    weakref.finalize(shared, _worker_copies.pop, identity, None)
    return future


def forget_worker_copies() -> None:
    """Drop every shared object's copy on the workers, so the next batch sends it afresh."""
    with _lock:
        _worker_copies.clear()


def _rows_in_place(function: Callable[..., Any], token: str, start: int, stop: int, *extra: Any) -> Any:
    """``function(shared, rows [start, stop), *extra)`` on a batch this process lent its worker threads."""
    shared, frame = _in_place[token]
    return function(shared, frame.iloc[start:stop], *extra)


def _call_in_place(function: Callable[..., Any], token: str, *arguments: Any) -> Any:
    """``function(shared, *arguments)`` with the shared object this process lent its worker threads."""
    shared, _ = _in_place[token]
    return function(shared, *arguments)


# ── mapping and gathering ────────────────────────────────────────────────────


def map_partitions(
    function: Callable[..., Any], shared: Any, frame: pd.DataFrame, *extra: Any, conf: Settings | None = None
) -> list[Any]:
    """``function(shared, partition, *extra)`` for each row partition of ``frame`` on Dask; results in row order.

    Workers in other processes get ``shared`` (once, see :func:`_worker_copy`)
    and the partitions scattered to them; worker threads of this process read
    both where they are (scattering 1M rows would copy 240 MB for nothing).
    ``function`` must be a module-level function (workers import it by name).

    Raises:
        DropmlError: ``function`` raised it (the input's problem, re-raised here as is).
        DaskUnavailable: no client, or Dask lost the work (the caller can run it in process).
    """
    conf = conf or global_settings()
    client = get_client(conf)
    starts, stops = _partitions(len(frame), worker_threads(client, conf), conf.dask.partition_rows)
    count = len(starts)
    extra_columns = [[value] * count for value in extra]  # client.map takes one list per argument
    what = f"{len(frame)} rows"
    if _workers_share_memory(conf):
        token = uuid.uuid4().hex
        _in_place[token] = (shared, frame)
        try:
            return _gathered(
                client,
                lambda: client.map(
                    _rows_in_place, [function] * count, [token] * count, starts, stops, *extra_columns, pure=False
                ),
                what,
            )
        finally:
            _in_place.pop(token, None)

    def submit() -> list[Any]:
        copy = _worker_copy(client, shared)
        parts = client.scatter([frame.iloc[start:stop] for start, stop in zip(starts, stops, strict=True)])
        return client.map(function, [copy] * count, parts, *extra_columns, pure=False)

    return _gathered(client, submit, what)


def map_blocks(
    function: Callable[..., Any],
    shared: Any,
    blocks: Sequence[tuple[Any, ...]],
    what: str,
    conf: Settings | None = None,
) -> list[Any]:
    """``function(shared, *block)`` for each block of arguments on Dask; results in the blocks' order.

    For work each task fetches itself (e.g. a byte range of a file), so only
    the arguments pass through the task graph. ``what`` names the work in logs
    and errors.

    Raises:
        DropmlError: ``function`` raised it (re-raised here as is).
        DaskUnavailable: no client, or Dask lost the work (the caller can run it in process).
    """
    conf = conf or global_settings()
    client = get_client(conf)
    if _workers_share_memory(conf):
        token = uuid.uuid4().hex
        _in_place[token] = (shared, None)
        try:
            return _gathered(
                client,
                lambda: [client.submit(_call_in_place, function, token, *block, pure=False) for block in blocks],
                what,
            )
        finally:
            _in_place.pop(token, None)

    def submit() -> list[Any]:
        copy = _worker_copy(client, shared)
        return [client.submit(function, copy, *block, pure=False) for block in blocks]

    return _gathered(client, submit, what)


def _gathered(client: Any, submit: Callable[[], list[Any]], what: str) -> list[Any]:
    """Submit work and gather it; work Dask loses becomes DaskUnavailable, so the caller runs it in process.

    Raises:
        DropmlError: raised by the task (the input's problem), re-raised here.
        DaskUnavailable: cancelled, lost dependencies, a worker or the scheduler gone.
    """
    try:
        return client.gather(submit())
    except DropmlError:
        raise  # the input's problem, not Dask's
    except Exception as err:  # the work is lost, not the request
        forget_worker_copies()
        logger.warning("dask lost a batch", extra={"work": what, "error": f"{type(err).__name__}: {err}"})
        raise DaskUnavailable(f"dask lost the batch ({what}): {type(err).__name__}: {err}") from err

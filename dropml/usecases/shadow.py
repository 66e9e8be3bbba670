"""A challenger in the shadow: each request the live version answers is scored again by the project's challenger.

The answer is built first, from the live version alone; only then does the
challenger see the request (:func:`score_request_in_shadow`): the request's
input, checked again against the challenger's own schema, scored with every
model of the challenger and audited under the same request id with ``role:
"challenger"``, so its realized accuracy accrues beside the champion's
(:mod:`dropml.usecases.realized`). Nothing the challenger does reaches the
answer: a failure (a schema the input does not fit, a model that raises, S3
down) is logged and returned as the outcome, never raised.

The web app hands a request over once the response is computed, when the
WSGI server closes it (``web.shadow``), through :func:`after_answer`. A
long-running server has then sent the answer, and the challenger runs on one
background thread (a bounded queue: past ``SHADOW_QUEUE`` waiting requests a
request is not shadowed, and that is logged), so neither the request's thread
nor its keep-alive connection waits for it. On Lambda nothing runs after the
handler returns (a thread would be frozen with the container, its audit record
lost): where the audit trail is written at the end of every request
(``audit.flush_every_request``, which zappa_settings.json sets), the challenger
runs in the request, before the invocation returns: the answer's bytes are the
same, its invocation lasts the challenger's time longer. File scoring shadows
a file after its predictions are written (:mod:`dropml.usecases.score_file`).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dropml import audit, registry
from dropml.errors import DropmlError
from dropml.scoring.predict import predict
from dropml.scoring.request_shapes import input_from_csv
from dropml.usecases.predict import checked_csv, checked_json, flush_audit_if_asked, form_rows, form_sha, record_audit

if TYPE_CHECKING:
    from dropml.config import Settings
    from dropml.scoring.load import LoadedVersion
    from dropml.scoring.predict import Prediction
    from dropml.scoring.rows import CheckedRows
    from dropml.usecases.serving import Serving

logger = logging.getLogger(__name__)

# the request's rows checked against a version's schema (the challenger's may differ from the live one's)
RowsFor = Callable[["LoadedVersion"], "CheckedRows"]


@dataclass(frozen=True)
class ShadowRequest:
    """A request the live version answered, as its challenger needs it: the input, to be checked again."""

    project: str
    live_version: int
    request_id: str
    channel: audit.Channel
    body_sha: str
    rows_for: RowsFor


@dataclass(frozen=True)
class ShadowOutcome:
    """What the challenger did with a request or file: its version, rows scored, seconds, or why it failed."""

    version: int
    rows: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields (the scoring announcement's ``challenger``)."""
        return {"version": self.version, "rows": self.rows, "seconds": round(self.seconds, 3), "error": self.error}


def json_request(answered: Prediction, document: Any, body: bytes, conf: Settings) -> ShadowRequest:
    """The shadow of a JSON request (``document``: its parsed body) that ``answered`` answered."""
    return _request(answered, "json", audit.hash_inputs(body), lambda loaded: checked_json(loaded, document, conf).rows)


def csv_request(answered: Prediction, body: bytes, conf: Settings) -> ShadowRequest:
    """The shadow of a CSV request body that ``answered`` answered."""
    return _request(answered, "csv", audit.hash_inputs(body), lambda loaded: checked_csv(loaded, body, conf).rows)


def form_request(answered: Prediction, values: dict[str, str]) -> ShadowRequest:
    """The shadow of one record typed into the form."""
    return _request(answered, "form", form_sha(values), lambda loaded: form_rows(loaded, values))


def upload_request(answered: Prediction, body: bytes, filename: str, conf: Settings) -> ShadowRequest:
    """The shadow of an uploaded CSV."""
    max_rows = conf.serving.max_batch_rows
    return _request(
        answered,
        "upload",
        audit.hash_inputs(body),
        lambda loaded: input_from_csv(loaded.schema, body, max_rows, filename, field="file").rows,
    )


def _request(answered: Prediction, channel: audit.Channel, body_sha: str, rows_for: RowsFor) -> ShadowRequest:
    return ShadowRequest(answered.project, answered.version, answered.request_id or "", channel, body_sha, rows_for)


def challenger_of(project: str, live_version: int) -> int | None:
    """The project's challenger version when it has one other than ``live_version`` (None also when it cannot be
    read: the shadow is skipped, the answer is not touched)."""
    try:
        found = registry.challenger_version(project)
    except Exception:
        logger.exception("challenger version unreadable; no shadow scoring", extra={"project": project})
        return None
    return found.version if found is not None and found.version != live_version else None


SHADOW_QUEUE = 256  # requests waiting for the challenger in a long-running server, at most


class _Shadows:
    """The one background thread of a long-running server that scores answered requests with the challenger."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Serving, ShadowRequest, contextvars.Context]] = queue.Queue(SHADOW_QUEUE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def submit(self, serving: Serving, request: ShadowRequest) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="dropml-shadow", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait((serving, request, contextvars.copy_context()))
        except queue.Full:
            self.dropped += 1
            logger.warning("challenger behind: request not shadowed", extra={"project": request.project,
                           "request_id": request.request_id, "dropped": self.dropped})  # fmt: skip

    def _run(self) -> None:
        while True:
            serving, request, context = self._queue.get()
            try:
                context.run(score_request_in_shadow, serving, request)
            except Exception:  # never: it catches everything; but this thread must not die
                logger.exception("shadow scoring failed", extra={"project": request.project})
            finally:
                self._queue.task_done()

    def join(self) -> None:
        """Wait until every submitted request is scored (tests, benches, shutdown)."""
        self._queue.join()


_shadows = _Shadows()


def after_answer(serving: Serving, request: ShadowRequest) -> None:
    """Score an answered request with the challenger: on the background thread, or now where the process freezes
    after each request (see the module docstring). Never raises."""
    if serving.settings.audit.flush_every_request:
        score_request_in_shadow(serving, request)
    else:
        _shadows.submit(serving, request)


def wait_for_shadows() -> None:
    """Wait until the background thread has scored every request handed to it."""
    _shadows.join()


def score_request_in_shadow(serving: Serving, request: ShadowRequest) -> ShadowOutcome | None:
    """Score an answered request with the project's challenger and audit it; None when there is no challenger.

    Never raises. Runs after the answer is built (see the module docstring).
    """
    conf = serving.settings
    try:
        challenger = serving.challenger(request.project, request.live_version)
    except Exception as err:
        logger.warning("challenger not loaded", extra={"project": request.project, "error": str(err)[:500]})
        return None
    if challenger is None:
        return None
    outcome = _score(challenger, request, conf)
    flush_audit_if_asked(conf)  # on Lambda: before the invocation returns and the container freezes
    return outcome


def _score(challenger: LoadedVersion, request: ShadowRequest, conf: Settings) -> ShadowOutcome:
    started = time.perf_counter()
    try:
        rows = request.rows_for(challenger)
        prediction = predict(challenger, rows, "all", request.request_id, conf=conf)
        record_audit(prediction, request.body_sha, request.channel, started, rows, conf, challenger, role="challenger")
    except Exception as err:  # the answer is out already: say why in the log, never to the caller
        logger.warning(
            "challenger failed in the shadow",
            extra={"project": request.project, "version": challenger.version, "error": str(err)[:1000]},
            exc_info=not isinstance(err, DropmlError),
        )
        return ShadowOutcome(challenger.version, 0, time.perf_counter() - started, f"{type(err).__name__}: {err}")
    return ShadowOutcome(challenger.version, prediction.rows, time.perf_counter() - started)

"""A challenger's shadow scoring, run once an answer is built: when the WSGI server closes the response.

PEP 3333 servers call ``close()`` on the response after its last byte is
written, so a long-running server has sent the answer by then (and hands the
request to the challenger's background thread). Zappa's Lambda handler closes
it (``with Response.from_app(...)``) after reading the body and before
returning it, so on Lambda the challenger runs inside the invocation, after the
answer's bytes are fixed (:func:`dropml.usecases.shadow.after_answer` says why).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from werkzeug.wsgi import ClosingIterator

from dropml import logs
from dropml.usecases import shadow

if TYPE_CHECKING:
    from collections.abc import Iterable

    from flask import Response

    from dropml.usecases.serving import Serving

logger = logging.getLogger(__name__)


def after_response(response: Response, serving: Serving, request: shadow.ShadowRequest) -> Response:
    """``response``, with the challenger's scoring of ``request`` to run when it is closed."""
    response.call_on_close(lambda: run(serving, request))
    return response


def after_body(body: Iterable[bytes], serving: Serving, request: shadow.ShadowRequest) -> Iterable[bytes]:
    """A WSGI body that runs the challenger's scoring of ``request`` when the server closes it (the JSON lane)."""
    return ClosingIterator(body, lambda: run(serving, request))


def run(serving: Serving, request: shadow.ShadowRequest) -> None:
    """Hand ``request`` to the challenger under its request id; nothing escapes to the server."""
    try:
        with logs.correlation(request.request_id):
            shadow.after_answer(serving, request)
    except Exception:  # after_answer never raises; this guards the log and context plumbing too
        logger.exception("shadow scoring failed", extra={"project": request.project})

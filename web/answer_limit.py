"""Answers too large for Lambda become a 413 naming the limit, never API Gateway's 502.

Lambda carries at most 6 MB in a synchronous response. Zappa puts the body into its
JSON answer as text (escaped) or, for binary media types, base64 (4/3 larger); an
answer past the limit fails in Lambda and the caller sees "502 Internal server error"
with no reason. This WSGI middleware (outermost, so the JSON lane's answers pass it
too) measures each answer as Lambda would carry it and, past
``serving.max_answer_bytes``, answers 413 with what to do instead. Unset (gunicorn,
the local world), it is not installed.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from web.state import REQUEST_ID_HEADER

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# what Zappa sends as text (zappa.utilities.DEFAULT_TEXT_MIMETYPES); everything else goes as base64
TEXT_MEDIA_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/ecmascript",
    "application/xml",
    "image/svg+xml",
)


def carried_size(body: bytes, headers: list[tuple[str, str]]) -> int:
    """How many bytes ``body`` takes in Zappa's answer to Lambda: escaped JSON text, or base64."""
    found = {name.lower(): value for name, value in headers}
    media_type = found.get("content-type", "").split(";", 1)[0].strip().lower()
    if "content-encoding" in found or not media_type.startswith(TEXT_MEDIA_TYPES):
        return len(base64.b64encode(body))
    return len(json.dumps(body.decode("utf-8", "replace")))


class AnswerLimit:
    """Wraps a WSGI app: an answer over ``limit`` bytes (as Lambda carries it) becomes a 413."""

    def __init__(self, app: WSGIApplication, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Run the app, hold its answer, and pass it on or replace it (Lambda buffers every answer anyway)."""
        started: dict[str, Any] = {}

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
            started.update(status=status, headers=headers, exc_info=exc_info)
            return lambda _data: None

        chunks = self.app(environ, hold)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        size = carried_size(body, started["headers"])
        if size <= self.limit:
            start_response(started["status"], started["headers"], started["exc_info"])
            return [body]
        return self._refuse(environ, start_response, size, started["headers"])

    def _refuse(
        self, environ: WSGIEnvironment, start_response: StartResponse, size: int, headers: list[tuple[str, str]]
    ) -> Iterable[bytes]:
        request_id = next((v for k, v in headers if k.lower() == REQUEST_ID_HEADER.lower()), "")
        message = (
            f"the answer would be {size} bytes, over serving.max_answer_bytes ({self.limit}: Lambda's 6 MB "
            "response limit): send fewer rows, ask for ?models=champion, or score the file under test/ "
            "(dropml predict), which writes its predictions to S3"
        )
        document = {"error": "answer_too_large", "message": message, "request_id": request_id}
        if environ.get("PATH_INFO", "").startswith("/api/"):
            body, media_type = json.dumps(document).encode(), "application/json"
        else:
            body = (
                "<!doctype html><title>413 Answer too large</title><h1>The answer is too large</h1>"
                f"<p>{html.escape(message)}</p><p>request {html.escape(request_id)}</p>"
            ).encode()
            media_type = "text/html; charset=utf-8"
        start_response(
            "413 Request Entity Too Large",
            [("Content-Type", media_type), ("Content-Length", str(len(body))), (REQUEST_ID_HEADER, request_id)],
        )
        return [body]

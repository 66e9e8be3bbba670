"""The JSON lane: a plain JSON predict request answered without Flask's request machinery.

``POST /api/v1/predict`` with a JSON body and a JSON answer is most of what a
serving endpoint does, and for one record Flask's part of the work (a request
context, URL matching, the request hooks, a ``Response`` with its header
objects) takes longer than the checks and the prediction together. This lane
sits in front of Flask through Flask's own middleware hook (``app.wsgi_app``),
so gunicorn, Zappa's handler and the test client all pass through it, and it
answers such a request with the very functions the Flask route uses:
:func:`dropml.usecases.predict.checked_json` (the JSON reader of :func:`web.api.checked_input`),
:func:`dropml.usecases.predict.score_request` (predict and audit), :func:`web.api.json_answer_body`
and :func:`web.api.answer_headers`. What it skips is HTTP plumbing, not a rule.

It takes a request only when nothing in it needs Flask: the path, ``POST``,
``Content-Type: application/json``, an ``Accept`` that leaves the answer JSON,
a declared length within ``serving.max_body_bytes``, and at most ``project``
and ``models`` once each in the query. Everything else, and any request whose
handling raises (bad JSON, a bad value, no live model...), goes to Flask with
the same body, so every error is still answered, and logged, by the one set
of error handlers. ``serving.json_lane: false`` sends every request to Flask.
A project's challenger scores the request when the server closes the answer
(:mod:`web.shadow`), as on the Flask route.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from dropml import logs
from dropml.storage import keys
from dropml.usecases import predict, shadow
from web import shadow as web_shadow
from web.api import CONTENT_TYPE_JSON, answer_headers, json_answer_body
from web.state import REQUEST_ID_HEADER, checked_models_choice, request_id_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from dropml.usecases.serving import Serving

PREDICT_PATH = "/api/v1/predict"
JSON_ACCEPTS = frozenset({"", "*/*", CONTENT_TYPE_JSON})  # Accept values that leave the answer JSON
QUERY_KEYS = frozenset({"project", "models"})


class JsonLane:
    """WSGI middleware: answers plain JSON predict requests itself and hands every other request to Flask."""

    def __init__(self, flask_wsgi: Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]], web: Serving):
        self.flask_wsgi = flask_wsgi
        self.web = web

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Answer ``environ``'s request here when it is a plain JSON predict, else pass it to Flask unread."""
        length = self.plain_length(environ)
        if length is None:
            return self.flask_wsgi(environ, start_response)
        started = time.perf_counter()
        body = environ["wsgi.input"].read(length)
        rid = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        with logs.correlation(rid):
            try:
                answer = self.answer(environ.get("QUERY_STRING", ""), body, rid, started)
            except Exception:  # Flask answers it again and its error handlers explain it
                answer = None
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)  # Flask reads the same bytes
            return self.flask_wsgi(environ, start_response)
        payload, headers, answered = answer
        start_response("200 OK", headers)
        return web_shadow.after_body([payload], self.web, answered)  # the challenger, once the answer is out

    def plain_length(self, environ: dict[str, Any]) -> int | None:
        """The body's declared length when the request is one this lane answers; None sends it to Flask."""
        if environ.get("PATH_INFO") != PREDICT_PATH or environ.get("REQUEST_METHOD") != "POST":
            return None
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != CONTENT_TYPE_JSON:
            return None
        if environ.get("HTTP_ACCEPT", "").strip() not in JSON_ACCEPTS or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        declared = environ.get("CONTENT_LENGTH", "")
        if not declared.isdigit():
            return None
        length = int(declared)
        return length if 0 < length <= self.web.settings.serving.max_body_bytes else None

    def answer(
        self, query: str, body: bytes, rid: str, started: float
    ) -> tuple[bytes, list[tuple[str, str]], shadow.ShadowRequest] | None:
        """The JSON answer's body and headers, as the Flask route makes them, and the request as its challenger
        sees it; None when the query needs Flask.

        Raises:
            Exception: anything the Flask route would answer as an error (it is asked again, and does).
        """
        args: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True) if query else ():
            if name not in QUERY_KEYS or name in args:
                return None  # another key (?explain=true) or a repeated one: Flask's reading of it decides
            args[name] = value
        conf = self.web.settings
        project = keys.validate_project(args.get("project") or conf.serving.default_project)
        models = checked_models_choice(args.get("models", "all"))
        loaded = self.web.live_model(project).get()  # one reference: the whole answer comes from this version
        document = orjson.loads(body)
        given = predict.checked_json(loaded, document, conf)
        prediction = predict.score_request(
            loaded, given, models, body, "json", request_id=rid, started=started, conf=conf
        )
        payload = json_answer_body(prediction, given.ignored)
        headers = [
            ("Content-Type", CONTENT_TYPE_JSON),
            ("Content-Length", str(len(payload))),
            *answer_headers(prediction).items(),
            (REQUEST_ID_HEADER, rid),
        ]
        predict.flush_audit_if_asked(conf)
        return payload, headers, shadow.json_request(prediction, document, body, conf)

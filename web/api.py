"""JSON (and CSV) REST API under /api/v1: predict, models, health, and its OpenAPI document.

Request bodies accepted by POST /predict (``Content-Type: application/json``):
one record as an object; a batch as a list of objects; MLflow's scoring-server
shapes ``{"dataframe_split": {"columns", "data"}}``, ``{"dataframe_records": [...]}``,
``{"instances": [...]}`` and ``{"inputs": ...}`` (read by
:mod:`dropml.scoring.request_shapes`, through :mod:`dropml.usecases.predict`). A ``text/csv`` body is
answered with CSV. ``predictions`` in the answer is the champion's list (as
MLflow answers), ``models`` holds every asked model's list, ``ignored_columns``
the fields the models do not use (ignored in every shape, as MLflow does; a
CSV answer keeps them and names them in ``X-Ignored-Columns``).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import UnsupportedMediaType

from dropml.errors import BadInput, NotFound, TooLarge
from dropml.usecases import monitoring, predict, shadow
from dropml.usecases.forecast import forecast
from web import shadow as web_shadow
from web.json_provider import OPTIONS
from web.openapi import openapi_document
from web.state import days_asked, explain_choice, models_choice, project_name, request_id, state

if TYPE_CHECKING:
    import pandas as pd

    from dropml.scoring.load import LoadedVersion
    from dropml.scoring.predict import Prediction
    from dropml.scoring.validate import ScoringInput

api = Blueprint("api", __name__, url_prefix="/api/v1")

CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_JSON = "application/json"
JSON_OPTIONS = OPTIONS | orjson.OPT_APPEND_NEWLINE  # as jsonify writes it (web.json_provider)


# ── parsing ──────────────────────────────────────────────────────────────────


def check_body_size() -> None:
    """Refuse a body over ``serving.max_body_bytes`` from its Content-Length, before reading it.

    Raises:
        TooLarge: (413) the declared length is over the limit.
    """
    limit = state().settings.serving.max_body_bytes
    length = request.content_length
    if length is not None and length > limit:
        raise TooLarge("body", length, f"the request body is {length} bytes, over serving.max_body_bytes ({limit})")


def _parse_int(text: str) -> int | float:
    # Python refuses ints over 4300 digits; as a float it is inf, which validation names by field
    return int(text) if len(text) <= 4000 else float(text)


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # the standard library decides and explains (it also takes ints over 64 bits, and NaN)
    try:
        return json.loads(body, parse_int=_parse_int)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        where = f" at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError) else ""
        raise BadInput("body", None, f"the body is not valid JSON{where}") from None
    except RecursionError:
        raise BadInput("body", None, "the JSON body is nested too deeply") from None
    except ValueError as err:
        raise BadInput("body", None, f"the body is not valid JSON: {err}") from None


def _read_body() -> bytes:
    """The whole body, at most ``serving.max_body_bytes`` (a chunked body without a length is counted as read).

    Raises:
        TooLarge: (413) over the limit.
        BadInput: (400) empty.
    """
    check_body_size()
    limit = state().settings.serving.max_body_bytes
    if request.content_length is None:  # chunked: no length to check up front, so count while reading
        raw = request.environ["wsgi.input"] if request.environ.get("wsgi.input_terminated") else None
        body = raw.read(limit + 1) if raw is not None else b""  # werkzeug's own stream stops AT the limit
        if len(body) > limit:
            raise TooLarge("body", None, f"the request body is over serving.max_body_bytes ({limit} bytes)")
    else:
        body = request.get_data(cache=True)
    g.request_body = body
    if not body or body.isspace():  # not strip(): that copies a big body
        raise BadInput("body", None, "the request body is empty; send one record, a list, or a CSV")
    return body


def checked_input(loaded: LoadedVersion) -> tuple[ScoringInput, bool]:
    """The request's rows checked against ``loaded``'s schema (other columns ignored), and whether the body was CSV.

    Raises:
        BadInput: empty body, bad JSON/CSV, schema problems.
        TooLarge: body or row count over the limits.
    """
    mimetype = request.mimetype
    if mimetype in (CONTENT_TYPE_CSV, "application/csv"):
        return predict.checked_csv(loaded, _read_body(), state().settings), True
    if mimetype == CONTENT_TYPE_JSON or mimetype.endswith("+json"):
        g.request_document = _parse_json(_read_body())  # the challenger checks it again, after the answer
        return predict.checked_json(loaded, g.request_document, state().settings), False
    raise UnsupportedMediaType(
        f"send Content-Type: application/json or text/csv (got {mimetype or 'no content type'!r})"
    )


# ── answers ──────────────────────────────────────────────────────────────────


def csv_answer(
    frame: pd.DataFrame,
    prediction: Prediction,
    filename: str = "predictions.csv",
    explanation: dict[str, list[Any]] | None = None,
) -> Response:
    """The inputs (as sent) plus every prediction as CSV (text cells that look like formulas neutralised)."""
    return Response(
        predict.answer_csv(frame, prediction, explanation),
        mimetype=CONTENT_TYPE_CSV,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _wants_csv(body_was_csv: bool) -> bool:
    best = request.accept_mimetypes.best_match([CONTENT_TYPE_CSV, CONTENT_TYPE_JSON])
    if body_was_csv:
        return request.accept_mimetypes[CONTENT_TYPE_JSON] <= request.accept_mimetypes[CONTENT_TYPE_CSV]
    return (
        best == CONTENT_TYPE_CSV
        and request.accept_mimetypes[CONTENT_TYPE_CSV] > request.accept_mimetypes[CONTENT_TYPE_JSON]
    )


def answer_headers(prediction: Prediction) -> dict[str, str]:
    """The headers every predict answer carries besides the request id: the version and the engine that scored."""
    return {"X-Model-Version": str(prediction.version), "X-Scoring-Engine": prediction.engine}


def json_answer_body(prediction: Prediction, ignored: list[str], explanation: dict[str, Any] | None = None) -> bytes:
    """The JSON body of a predict answer: the prediction (``predictions`` is the champion's), what was ignored,
    and the champion's reasons when asked (``?explain=true``)."""
    answer = {**prediction.to_json(), "ignored_columns": ignored, **(explanation or {})}
    return orjson.dumps(answer, option=JSON_OPTIONS)


@api.post("/predict")
def predict_route() -> Response:
    """Score one record or a batch with the live version (every model, or ``?models=champion``; ``?explain=true``
    adds the champion's reasons per row)."""
    return predict_for(project_name())


def predict_for(project: str) -> Response:
    """Answer a predict request for ``project`` (also the experiments API's /predict)."""
    started = time.perf_counter()
    models = models_choice()
    explain = explain_choice()
    check_body_size()
    loaded = state().live_model(project).get()  # one reference: the whole answer comes from this version
    given, body_was_csv = checked_input(loaded)
    channel = "csv" if body_was_csv else "json"
    body = g.get("request_body", b"")
    conf = state().settings
    prediction = predict.score_request(
        loaded, given, models, body, channel, request_id=request_id(), started=started, conf=conf
    )
    headers = answer_headers(prediction)
    if _wants_csv(body_was_csv):
        explanation = predict.explain_columns(loaded, given.rows, prediction, conf) if explain else None
        response = csv_answer(given.as_sent(), prediction, explanation=explanation)
        headers["X-Ignored-Columns"] = ",".join(quote(name, safe=" _-.") for name in given.ignored)
    else:
        reasons = predict.explain_json(loaded, given.rows, prediction, conf) if explain else None
        response = Response(json_answer_body(prediction, given.ignored, reasons), mimetype=CONTENT_TYPE_JSON)
    response.headers.update(headers)
    answered = (
        shadow.csv_request(prediction, body, conf)
        if body_was_csv
        else shadow.json_request(prediction, g.request_document, body, conf)
    )
    return web_shadow.after_response(response, state(), answered)


@api.get("/models")
def models_route() -> Response:
    """The live version's leaderboard and every published version of the project."""
    project = project_name()
    loaded = state().live_model(project).get()
    manifest = loaded.manifest
    return jsonify(
        {
            "project": project,
            "model_version": loaded.version,
            "champion": manifest.champion,
            "task": manifest.task,
            "target": manifest.target,
            "rank_metric": manifest.rank_metric,
            "created_at": manifest.created_at,
            "models": manifest.leaderboard(),
            "input_schema": manifest.input_schema.model_dump(mode="json"),
            "versions": state().versions(project),
        }
    )


@api.get("/models/<int:version>")
def model_version_route(version: int) -> Response:
    """The manifest of one published version."""
    project = project_name()
    try:
        manifest = state().manifest(project, version)
    except NotFound:
        raise NotFound(f"project {project!r} has no version {version}") from None
    return jsonify(manifest.model_dump(mode="json"))


@api.get("/forecast")
def forecast_route() -> Response:
    """Each group's actual and predicted values over time, from a predictions file (default: the newest)."""
    return jsonify(forecast(project_name(), request.args.get("file")).to_json())


@api.get("/projects/<project>/monitoring")
def monitoring_route(project: str) -> Response:
    """The project's drift reports and realized accuracy of the last ``?days=`` days (default 30)."""
    return jsonify(monitoring.overview(project_name(project), days_asked()).to_json())


@api.get("/health")
def health_route() -> tuple[Response, int]:
    """Whether the app can answer for the project, with which version, and why not when degraded."""
    project = project_name()
    live_model = state().live_model(project)
    with contextlib.suppress(Exception):  # the status below says why
        live_model.get()
    status = live_model.status()
    return jsonify(status), (503 if status["status"] == "no_model" else 200)


def blueprint_paths() -> dict[str, Any]:
    """Operations documented by other blueprints of this app (``OPENAPI_PATHS`` in their module)."""
    paths: dict[str, Any] = {}
    for blueprint in current_app.blueprints.values():
        module = sys.modules.get(blueprint.import_name)
        paths.update(getattr(module, "OPENAPI_PATHS", {}) if blueprint is not api else {})
    return paths


@api.get("/openapi.json")
def openapi_route() -> Response:
    """The OpenAPI 3 document of this API (every /api/ route of the app)."""
    return jsonify(openapi_document(request.host_url.rstrip("/"), blueprint_paths()))

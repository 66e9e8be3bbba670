"""The dropml web app: HTML pages for people, JSON/CSV under /api/v1 for programs.

``create_app(settings=None)`` builds a Flask app (flaskr's factory pattern);
``web/app.py`` holds ``app = create_app()`` for Zappa and gunicorn. Nothing
heavy happens at import or in the factory: no S3/SSM call, no model load, no
Dask client; the first request for a project loads its live version. The
views parse the request, call a use case (:mod:`dropml.usecases`) and shape
the answer.

- :mod:`~web.api`: ``/api/v1`` predict (JSON or CSV), models, forecast, health, the OpenAPI document
- :mod:`~web.json_lane`: plain JSON predict requests answered in front of Flask, by the same use case
- :mod:`~web.admin`: ``/api/v1/admin`` promote, roll back, retrain, register (admin key)
- :mod:`~web.experiments`: ``/api/v1/experiments``, projects managed over the API
- :mod:`~web.pages`: the HTML form, CSV upload, models, forecast and report pages
- :mod:`~web.state`: the app's serving state and what a request says about itself (id, project, models)
- :mod:`~web.openapi`, :mod:`~web.json_provider`, :mod:`~web.charts`: the API's document, orjson, SVG charts
- :mod:`~web.app`: the WSGI app for Zappa and gunicorn
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from dropml import logs
from dropml.config import settings as global_settings
from dropml.errors import BadInput, DropmlError, NoLiveModel
from dropml.usecases.predict import flush_audit_if_asked
from dropml.usecases.serving import Serving
from web.admin import admin
from web.answer_limit import AnswerLimit
from web.api import api
from web.experiments import experiments
from web.json_lane import JsonLane
from web.json_provider import OrjsonProvider
from web.pages import pages
from web.state import REQUEST_ID_HEADER, request_id

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from werkzeug.wrappers import Response

    from dropml.config import Settings

logger = logging.getLogger(__name__)
API_PREFIX = "/api/"


def _wants_json() -> bool:
    return request.path.startswith(API_PREFIX)


def _error_response(status: int, body: dict[str, Any], title: str) -> ResponseReturnValue:
    body = {**body, "request_id": request_id()}
    if _wants_json():
        return jsonify(body), status
    try:
        return render_template("error.html", status=status, title=title, **body), status
    except Exception:  # an error page must never fail into a stack trace
        logger.exception("error page failed to render")
        return (
            f"{status} {title}: {body.get('message', '')} (request {body['request_id']})",
            status,
            {"Content-Type": "text/plain; charset=utf-8"},
        )


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BadInput)
    def bad_input(err: BadInput) -> ResponseReturnValue:
        logger.info("bad input", extra={"field": err.field, "status": err.http_status, "path": request.path})
        title = "Too large" if err.http_status == 413 else "Please check the input"
        return _error_response(err.http_status, err.to_dict(), title)

    @app.errorhandler(NoLiveModel)
    def no_live_model(err: NoLiveModel) -> ResponseReturnValue:
        body = {"error": err.code, "message": str(err)}
        return _error_response(503, body, "No model is live yet")

    @app.errorhandler(DropmlError)
    def dropml_error(err: DropmlError) -> ResponseReturnValue:
        if err.http_status >= 500:
            logger.exception("request failed", extra={"path": request.path})
        return _error_response(err.http_status, {"error": err.code, "message": str(err)}, "Something is wrong")

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException) -> ResponseReturnValue:
        code = err.code or 500
        names = {413: "too_large", 415: "unsupported_media_type", 404: "not_found", 405: "method_not_allowed"}
        body = {"error": names.get(code, "http_error"), "message": err.description or err.name}
        if code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            body["message"] = f"the request body is larger than serving.max_body_bytes ({limit} bytes)"
        response = _error_response(code, body, err.name)
        if code == 405 and err.get_headers():
            allowed = dict(err.get_headers()).get("Allow")
            if allowed:
                return response[0], code, {"Allow": allowed}
        return response

    @app.errorhandler(Exception)
    def unexpected(err: Exception) -> ResponseReturnValue:
        logger.exception("unexpected error", extra={"path": request.path, "error_type": type(err).__name__})
        body = {"error": "internal", "message": "something went wrong on our side; quote the request id"}
        return _error_response(500, body, "Something went wrong")


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        correlation = logs.correlation(request_id())
        correlation.__enter__()
        request.environ["dropml.correlation"] = correlation

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id()
        return response

    @app.teardown_request
    def end_request(_exc: BaseException | None) -> None:
        flush_audit_if_asked(app.extensions["dropml"].settings)
        correlation = request.environ.pop("dropml.correlation", None)
        if correlation is not None:
            correlation.__exit__(None, None, None)


def create_app(settings: Settings | None = None, **live_model_options: Any) -> Flask:
    """Build the app; ``settings`` overrides config.json (tests use short TTLs, small limits).

    ``live_model_options`` go to every project's :class:`dropml.scoring.LiveModel`
    (e.g. ``retry_failed_seconds``).
    """
    conf = settings or global_settings()
    logs.configure()
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = conf.serving.max_body_bytes
    app.config["MAX_FORM_MEMORY_SIZE"] = conf.serving.max_body_bytes
    app.extensions["dropml"] = Serving(conf, **live_model_options)
    app.register_blueprint(api)
    app.register_blueprint(admin)
    app.register_blueprint(experiments)
    app.register_blueprint(pages)
    _register_error_handlers(app)
    _register_request_hooks(app)
    if conf.serving.json_lane:
        app.wsgi_app = JsonLane(app.wsgi_app, app.extensions["dropml"])  # type: ignore[method-assign]
    if conf.serving.max_answer_bytes is not None:  # outermost: the JSON lane's answers are measured too
        app.wsgi_app = AnswerLimit(app.wsgi_app, conf.serving.max_answer_bytes)  # type: ignore[method-assign]
    return app

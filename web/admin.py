"""The admin API under /api/v1/admin: promote, roll back, retrain, monitor, register — only with the admin key.

Every request here must carry ``X-API-Key``; a missing key answers 401, a
wrong one 403, and both are logged (never the key itself). Each action is
announced on SNS and names the caller by key id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from dropml import security
from dropml.errors import BadInput
from dropml.storage import keys
from dropml.usecases import live, register, runs, triggers
from web.openapi import error_response
from web.state import state

admin = Blueprint("admin", __name__, url_prefix="/api/v1/admin")
API_KEY_HEADER = "X-API-Key"


@admin.before_request
def require_admin_key() -> None:
    """Refuse the request unless it carries the admin key (401 none, 403 wrong or switched off)."""
    g.admin_key_id = check_admin_key(request.path)


def check_admin_key(action: str) -> str:
    """The caller's admin key id, if its ``X-API-Key`` is the app's admin key (401/403 otherwise)."""
    presented = request.headers.get(API_KEY_HEADER)
    return security.check_admin(presented, action, request.remote_addr or "", state().settings.admin_api_key)


def json_object() -> dict[str, Any]:
    """The request's JSON object body ({} when there is none).

    Raises:
        BadInput: a body that is not a JSON object.
    """
    if not request.get_data(cache=True).strip():
        return {}
    document = request.get_json(silent=True)
    if not isinstance(document, dict):
        raise BadInput("body", None, "the body must be a JSON object")
    return document


def _version_field(document: dict[str, Any]) -> int:
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BadInput("version", version, f"version must be a whole number >= 1 (got {version!r})")
    return version


def _live(change: live.LiveChange) -> Response:
    return jsonify({"project": change.project, "live_version": change.version, "was": change.was})


def _challenger(change: live.ChallengerChange) -> Response:
    return jsonify(
        {"project": change.project, "challenger": change.challenger, "was": change.was, "live_version": change.live}
    )


@admin.post("/projects/<project>/promote")
def promote_route(project: str) -> Response:
    """Make a published version live (the same checksum checks as publishing), or with ``"shadow": true`` the
    challenger scored in the shadow of the live one; ``{"shadow": false}`` stops the challenger."""
    document = json_object()
    shadow = document.get("shadow")
    if shadow is not None and not isinstance(shadow, bool):
        raise BadInput("shadow", shadow, f"shadow must be true or false (got {shadow!r})")
    if shadow is None:
        return _live(live.promote(project, _version_field(document), by=g.admin_key_id))
    if shadow:
        return _challenger(live.challenge(project, _version_field(document), by=g.admin_key_id))
    if document.get("version") is not None:
        raise BadInput("version", document["version"], '"shadow": false stops the challenger and takes no version')
    return _challenger(live.clear_challenger(project, by=g.admin_key_id))


@admin.post("/projects/<project>/rollback")
def rollback_route(project: str) -> Response:
    """Make the newest earlier version that was once live, live again."""
    return _live(live.rollback(project, by=g.admin_key_id))


@admin.post("/projects/<project>/retrain")
def retrain_route(project: str) -> tuple[Response, int]:
    """Start a training run now: on ``key`` or the newest training file, with optional ``overrides``."""
    document = json_object()
    key = document.get("key")
    if key is not None and not isinstance(key, str):
        raise BadInput("key", key, f"key must be an S3 key under train/ (got {key!r})")
    started = runs.retrain(project, key, document.get("overrides") or None, by=g.admin_key_id)
    return jsonify({"project": project, "key": started.key, "task": started.task, "status": "training"}), 202


@admin.post("/projects/<project>/monitor")
def monitor_route(project: str) -> tuple[Response, int]:
    """Start the monitoring job for ``day`` (default today, UTC): the day's traffic drift and realized accuracy."""
    document = json_object()
    day = document.get("day") or datetime.now(UTC).date().isoformat()
    if not isinstance(day, str):
        raise BadInput("day", day, f"day must be YYYY-MM-DD (got {day!r})")
    started = triggers.start_monitoring(day, keys.validate_project(project), by=g.admin_key_id)
    return jsonify(
        {"project": project, "day": day, "key": started.key, "task": started.task, "status": "monitoring"}
    ), 202


@admin.post("/projects/<project>/register")
def register_route(project: str) -> tuple[Response, int]:
    """Wrap an uploaded pre-trained model (+ scaler) and schema.json into the next version."""
    files = request.files
    if "model" not in files or "schema" not in files:
        raise BadInput(
            "model",
            None,
            "send multipart/form-data with files 'model' and 'schema' (and optionally 'scaler' and 'data')",
        )
    scaler = files["scaler"].read() if "scaler" in files else None
    data = files.get("data")
    manifest = register.register_model(
        project,
        files["model"].read(),
        files["schema"].read().decode("utf-8", "replace"),
        scaler,
        model_file_name=files["model"].filename or "model.pkl",
        labelled_csv=data.read() if data else None,
        labelled_source=(data.filename if data else None) or "labelled.csv",
        by=g.admin_key_id,
    )
    return jsonify({"project": project, "version": manifest.version, "champion": manifest.champion}), 201


API_KEY_PARAMETER = {
    "name": API_KEY_HEADER,
    "in": "header",
    "required": True,
    "description": "The admin API key (SSM SecureString /<stack>/admin-api-key; config admin_api_key locally).",
    "schema": {"type": "string"},
}
PROJECT_PATH = {
    "name": "project",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
}
AUTH_ERRORS = {
    "401": error_response("No admin key"),
    "403": error_response("Wrong admin key, or the admin API is switched off"),
}
_LIVE = {
    "description": "The project's live version now",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "project": {"type": "string"},
                    "live_version": {"type": "integer"},
                    "was": {"type": ["integer", "null"]},
                },
            }
        }
    },
}


def _admin_operation(
    operation_id: str, summary: str, ok: str, ok_body: dict[str, Any], body: dict[str, Any] | None
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["admin"],
        "parameters": [PROJECT_PATH, API_KEY_PARAMETER],
        "responses": {
            ok: ok_body,
            "400": error_response("Bad input"),
            **AUTH_ERRORS,
            "404": error_response("No such version or data"),
        },
    }
    if body is not None:
        operation["requestBody"] = body
    return operation


def _json_body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/admin/projects/{project}/promote": {
        "post": _admin_operation(
            "adminPromote",
            "Make a published version live, or (shadow: true) the challenger; shadow: false stops the challenger",
            "200",
            _LIVE,
            _json_body(
                {
                    "version": {"type": "integer", "minimum": 1, "description": "required unless shadow is false"},
                    "shadow": {
                        "type": "boolean",
                        "description": "true: make the version the challenger (scored in the shadow of the live "
                        "one, never answering); false: stop the challenger",
                    },
                },
                [],
            ),
        )
    },
    "/api/v1/admin/projects/{project}/rollback": {
        "post": _admin_operation("adminRollback", "Roll back to the newest earlier live version", "200", _LIVE, None)
    },
    "/api/v1/admin/projects/{project}/retrain": {
        "post": _admin_operation(
            "adminRetrain",
            "Start a training run now",
            "202",
            {"description": "Training started", "content": {"application/json": {"schema": {"type": "object"}}}},
            _json_body({"key": {"type": "string"}, "overrides": {"type": "object"}}, []),
        )
    },
    "/api/v1/admin/projects/{project}/monitor": {
        "post": _admin_operation(
            "adminMonitor",
            "Start the monitoring job of a day: the API traffic's drift report and realized accuracy",
            "202",
            {"description": "Monitoring started", "content": {"application/json": {"schema": {"type": "object"}}}},
            _json_body({"day": {"type": "string", "format": "date", "description": "default: today (UTC)"}}, []),
        )
    },
    "/api/v1/admin/projects/{project}/register": {
        "post": _admin_operation(
            "adminRegister",
            "Register a pre-trained model (+ scaler) as the next version",
            "201",
            {"description": "Registered", "content": {"application/json": {"schema": {"type": "object"}}}},
            {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["model", "schema"],
                            "properties": {
                                "model": {"type": "string", "format": "binary"},
                                "scaler": {"type": "string", "format": "binary"},
                                "schema": {"type": "string", "format": "binary"},
                            },
                        }
                    }
                },
            },
        )
    },
}

"""The experiments API under /api/v1/experiments: create, list, show, patch, archive, predict, evaluate.

An experiment is a project (a named model line); its versions' manifests are
the store. Changing anything needs the admin key; reading, predicting and
evaluating do not.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from dropml.errors import BadInput
from dropml.usecases import evaluate, projects
from web.admin import API_KEY_PARAMETER, AUTH_ERRORS, check_admin_key, json_object
from web.api import check_body_size, predict_for
from web.openapi import error_response

experiments = Blueprint("experiments", __name__, url_prefix="/api/v1/experiments")


@experiments.post("")
def create_route() -> tuple[Response, int]:
    """Create an experiment from a training CSV already in the bucket, and start training it."""
    by = check_admin_key("experiments.create")
    document = json_object()
    name, data_key = document.get("name"), document.get("data_key")
    if not isinstance(name, str) or not isinstance(data_key, str):
        raise BadInput("name", name, "send a JSON object with 'name' and 'data_key' (and optionally 'overrides')")
    return jsonify(projects.create(name, data_key, document.get("overrides"), by=by)), 202


@experiments.get("")
def list_route() -> Response:
    """Every experiment with its live version and number of versions."""
    return jsonify({"experiments": projects.list_all()})


@experiments.get("/<name>")
def show_route(name: str) -> Response:
    """One experiment: its overrides and every version with metrics."""
    return jsonify(projects.describe(name))


@experiments.patch("/<name>")
def patch_route(name: str) -> tuple[Response, int]:
    """Change an experiment's training overrides and retrain it."""
    by = check_admin_key("experiments.patch")
    overrides = json_object().get("overrides")
    if not isinstance(overrides, dict) or not overrides:
        raise BadInput("overrides", overrides, "send a JSON object with a non-empty 'overrides' object")
    return jsonify(projects.update(name, overrides, by=by)), 202


@experiments.delete("/<name>/versions/<int:version>")
def archive_route(name: str, version: int) -> Response:
    """Archive a version that is not live (artifacts kept; it can no longer be made live)."""
    by = check_admin_key("experiments.archive")
    return jsonify(projects.archive(name, version, by=by))


@experiments.post("/<name>/predict")
def predict_route(name: str) -> Response:
    """Score records with the experiment's live version (the same bodies as /api/v1/predict)."""
    return predict_for(name)


@experiments.post("/<name>/evaluate")
def evaluate_route(name: str) -> Response:
    """Score a labelled CSV (text/csv body or a multipart 'file') and return every model's metrics."""
    check_body_size()
    upload = request.files.get("file")
    body = upload.read() if upload is not None else request.get_data(cache=True)
    source = upload.filename if upload is not None and upload.filename else "the CSV body"
    return jsonify(evaluate.evaluate(name, body, source))


_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
}
_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}


def _ok(description: str) -> dict[str, Any]:
    return {"description": description, **_OBJECT}


_CSV_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
    },
}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/experiments": {
        "get": {
            "operationId": "listExperiments",
            "summary": "Every experiment",
            "tags": ["experiments"],
            "responses": {"200": _ok("Experiments")},
        },
        "post": {
            "operationId": "createExperiment",
            "summary": "Create an experiment from a training CSV in the bucket and train it",
            "tags": ["experiments"],
            "parameters": [API_KEY_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["name", "data_key"],
                            "properties": {
                                "name": {"type": "string"},
                                "data_key": {"type": "string"},
                                "overrides": {"type": "object"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "202": _ok("Training started"),
                "400": error_response("Bad input"),
                **AUTH_ERRORS,
                "404": error_response("No such data"),
                "409": error_response("Exists already"),
                "422": error_response("Invalid overrides"),
            },
        },
    },
    "/api/v1/experiments/{name}": {
        "get": {
            "operationId": "showExperiment",
            "summary": "One experiment with its versions and metrics",
            "tags": ["experiments"],
            "parameters": [_NAME],
            "responses": {
                "200": _ok("The experiment"),
                "400": error_response("Bad name"),
                "404": error_response("No such experiment"),
            },
        },
        "patch": {
            "operationId": "patchExperiment",
            "summary": "Change the training overrides and retrain",
            "tags": ["experiments"],
            "parameters": [
                _NAME,
                API_KEY_PARAMETER,
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["overrides"],
                            "properties": {"overrides": {"type": "object"}},
                        }
                    }
                },
            },
            "responses": {
                "202": _ok("Retraining"),
                "400": error_response("Bad input"),
                **AUTH_ERRORS,
                "404": error_response("No such experiment"),
                "422": error_response("Invalid overrides"),
            },
        },
    },
    "/api/v1/experiments/{name}/versions/{version}": {
        "delete": {
            "operationId": "archiveVersion",
            "summary": "Archive a version that is not live (artifacts kept)",
            "tags": ["experiments"],
            "parameters": [
                _NAME,
                {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}},
                API_KEY_PARAMETER,
            ],
            "responses": {
                "200": _ok("Archived"),
                **AUTH_ERRORS,
                "404": error_response("No such version"),
                "409": error_response("The version is live"),
            },
        }
    },
    "/api/v1/experiments/{name}/predict": {
        "post": {
            "operationId": "predictExperiment",
            "summary": "Score records with the experiment's live version (bodies as /api/v1/predict)",
            "tags": ["experiments"],
            "parameters": [_NAME],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {}}, "text/csv": {"schema": {"type": "string"}}},
            },
            "responses": {
                "200": _ok("Predictions"),
                "400": error_response("Bad input"),
                "413": error_response("Too large"),
                "415": error_response("Wrong media type"),
                "422": error_response("Rows fail the schema"),
                "503": error_response("No live version"),
            },
        },
    },
    "/api/v1/experiments/{name}/evaluate": {
        "post": {
            "operationId": "evaluateExperiment",
            "summary": "Every model's metrics on a labelled CSV",
            "tags": ["experiments"],
            "parameters": [_NAME],
            "requestBody": _CSV_BODY,
            "responses": {
                "200": _ok("Metrics per model"),
                "400": error_response("Bad input"),
                "413": error_response("Too large"),
                "422": error_response("Rows fail the schema"),
                "503": error_response("No live version"),
            },
        },
    },
}

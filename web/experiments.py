"""The experiments API under /api/v1/experiments: create, list, show, patch, archive, predict, evaluate.

An experiment is a project (a named model line); its versions' manifests are
the store. Changing anything needs the admin key; reading, predicting and
evaluating do not.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from dropml import experiments as store
from dropml import notify, security
from dropml.errors import BadInput
from web.admin import API_KEY_HEADER, json_object

experiments = Blueprint("experiments", __name__, url_prefix="/api/v1/experiments")


def _admin(action: str) -> str:
    return security.check_admin(request.headers.get(API_KEY_HEADER), action, request.remote_addr or "")


@experiments.post("")
def create_route() -> tuple[Response, int]:
    """Create an experiment from a training CSV already in the bucket, and start training it."""
    by = _admin("experiments.create")
    document = json_object()
    name, data_key = document.get("name"), document.get("data_key")
    if not isinstance(name, str) or not isinstance(data_key, str):
        raise BadInput("name", name, "send a JSON object with 'name' and 'data_key' (and optionally 'overrides')")
    created = store.create(name, data_key, document.get("overrides"))
    notify.announce("experiment", "succeeded", f"experiment {name} created", name, data_key=created["data_key"], by=by)
    return jsonify(created), 202


@experiments.get("")
def list_route() -> Response:
    """Every experiment with its live version and number of versions."""
    return jsonify({"experiments": store.list_all()})


@experiments.get("/<name>")
def show_route(name: str) -> Response:
    """One experiment: its overrides and every version with metrics."""
    return jsonify(store.describe(name))


@experiments.patch("/<name>")
def patch_route(name: str) -> tuple[Response, int]:
    """Change an experiment's training overrides and retrain it."""
    by = _admin("experiments.patch")
    overrides = json_object().get("overrides")
    if not isinstance(overrides, dict) or not overrides:
        raise BadInput("overrides", overrides, "send a JSON object with a non-empty 'overrides' object")
    updated = store.update(name, overrides)
    notify.announce("experiment", "succeeded", f"experiment {name} patched, retraining", name, by=by)
    return jsonify(updated), 202


@experiments.delete("/<name>/versions/<int:version>")
def archive_route(name: str, version: int) -> Response:
    """Archive a version that is not live (artifacts kept; it can no longer be made live)."""
    by = _admin("experiments.archive")
    archived = store.archive(name, version, by=by)
    notify.announce("archive", "succeeded", f"{name} v{version} archived", name, version, by=by)
    return jsonify(archived)


@experiments.post("/<name>/predict")
def predict_route(name: str) -> Response:
    """Score records with the experiment's live version (the same bodies as /api/v1/predict)."""
    from web.api import predict_for

    return predict_for(name)


@experiments.post("/<name>/evaluate")
def evaluate_route(name: str) -> Response:
    """Score a labelled CSV (text/csv body or a multipart 'file') and return every model's metrics."""
    from web.api import check_body_size

    check_body_size()
    upload = request.files.get("file")
    body = upload.read() if upload is not None else request.get_data(cache=True)
    source = upload.filename if upload is not None and upload.filename else "the CSV body"
    result: dict[str, Any] = store.evaluate(name, body, source)
    return jsonify(result)

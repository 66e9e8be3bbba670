"""Server-rendered pages (no JavaScript needed): one-record form, CSV upload, models and reports.

Every route exists as ``/...`` (default project, or ``?project=``) and
``/p/<project>/...``. Uploaded results are kept in S3 under a random result id
(``predictions/[<p>/]web-<id>.csv``) so the download link works from any
server instance (Lambda containers share nothing).
"""

from __future__ import annotations

import mimetypes
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, render_template, request, url_for

from dropml import audit, registry, storage
from dropml.errors import BadInput, NotFound, TooLarge
from dropml.scoring import (
    frame_from_records,
    ignored_columns,
    predict,
    prediction_column,
    results_frame,
    validate_frame,
)
from dropml.scoring.csv_input import read_scoring_csv
from dropml.scoring.validate import neutralise_formulas
from dropml.storage import keys
from web.api import record_audit
from web.state import project_name, request_id, state

if TYPE_CHECKING:
    from dropml.manifest import ColumnSchema, Manifest
    from dropml.scoring import LoadedVersion, Prediction

pages = Blueprint("pages", __name__)

FIELD_PREFIX = "col:"
SHOWN_ROWS = 200
_RESULT_ID = re.compile(r"^[0-9a-f]{32}$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif", ".webp")


def purl(endpoint: str, project: str, **values: Any) -> str:
    """The URL of a page for ``project`` (``/p/<project>/...`` unless it is the default project)."""
    if project == state().settings.serving.default_project:
        return url_for(endpoint, **values)
    return url_for(endpoint, project=project, **values)


@pages.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"purl": purl, "current_request_id": request_id}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def form_field(column: ColumnSchema, value: str, error: str | None) -> dict[str, Any]:
    """How one input column is shown in the form: input type, bounds, hint, choices."""
    field: dict[str, Any] = {
        "name": column.name,
        "input_name": FIELD_PREFIX + column.name,
        "kind": column.kind,
        "value": value,
        "error": error,
        "required": not column.nullable,
        "choices": None,
        "hint": "",
    }
    if column.kind == "numeric":
        field.update(input_type="number", step="any", min=_number(column.minimum), max=_number(column.maximum))
        if column.minimum is not None and column.maximum is not None:
            field["hint"] = f"training range {_number(column.minimum)} – {_number(column.maximum)}"
    elif column.kind == "boolean":
        field.update(input_type="select", choices=["true", "false"], hint="true or false")
    elif column.kind == "datetime":
        field.update(input_type="text", hint="a date or time, e.g. 2024-01-31")
    elif column.categories is not None:
        field.update(input_type="select", choices=column.categories, hint=f"one of {len(column.categories)} values")
    else:
        field.update(input_type="text", hint="text")
    return field


# ── the one-record form ──────────────────────────────────────────────────────


@pages.route("/", methods=["GET", "POST"])
@pages.route("/p/<project>/", methods=["GET", "POST"])
def predict_form(project: str | None = None) -> tuple[str, int] | str:
    """A form generated from the live version's input schema; posting it shows every model's prediction."""
    project = project_name(project)
    loaded = state().cache(project).get()
    schema = loaded.schema
    values = {c.name: "" for c in schema.columns}
    errors: dict[str, str] = {}
    result = None
    status = 200
    if request.method == "POST":
        values = {c.name: request.form.get(FIELD_PREFIX + c.name, "").strip() for c in schema.columns}
        record = {name: (value if value != "" else None) for name, value in values.items()}
        started = time.perf_counter()
        try:
            frame = frame_from_records(schema, [record])
            prediction = predict(loaded, frame, "all", request_id(), engine="in-process", conf=state().settings)
        except BadInput as err:
            errors = {p["field"]: p["message"] for p in err.problems}
            status = 422
        else:
            record_audit(prediction, audit.hash_inputs(repr(sorted(values.items())).encode()), "form", started, frame)
            result = _one_record_result(loaded, prediction, values)
    fields = [form_field(c, values[c.name], errors.get(c.name)) for c in schema.columns]
    page = render_template(
        "predict.html",
        project=project,
        loaded=loaded,
        fields=fields,
        result=result,
        errors=errors,
        projects=state().projects(),
    )
    return page, status


def _one_record_result(loaded: LoadedVersion, prediction: Prediction, values: dict[str, str]) -> dict[str, Any]:
    rows = loaded.manifest.leaderboard()
    for row in rows:
        row["prediction"] = prediction.by_model[row["name"]][0]
    outside = prediction.outside_range.counts() if prediction.outside_range is not None else {}
    return {
        "outside": [
            {"name": c.name, "value": values[c.name], "minimum": c.minimum, "maximum": c.maximum}
            for c in loaded.schema.columns
            if c.name in outside
        ],
        "version": prediction.version,
        "champion": prediction.champion,
        "prediction": prediction.champion_predictions[0],
        "rows": rows,
        "metric": loaded.manifest.rank_metric,
    }


# ── CSV upload ───────────────────────────────────────────────────────────────


def _uploaded_csv() -> tuple[bytes, str]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadInput("file", None, "choose a CSV file to upload")
    body = upload.read()
    if not body.strip():
        raise BadInput("file", upload.filename, f"{upload.filename} is empty")
    return body, upload.filename


def _result_key(project: str, result_id: str) -> str:
    return keys.predictions_key(project, f"web-{result_id}.csv")


@pages.route("/upload", methods=["GET", "POST"])
@pages.route("/p/<project>/upload", methods=["GET", "POST"])
def upload(project: str | None = None) -> tuple[str, int] | str:
    """Score an uploaded CSV: an HTML table (champion marked) and a link to the same results as CSV."""
    project = project_name(project)
    loaded = state().cache(project).get()
    context: dict[str, Any] = {"project": project, "loaded": loaded, "projects": state().projects()}
    if request.method == "GET":
        return render_template("upload.html", **context)
    started = time.perf_counter()
    try:
        body, filename = _uploaded_csv()
        raw = read_scoring_csv(body, loaded.schema, filename)
        if len(raw) > state().settings.serving.max_batch_rows:
            raise TooLarge("file", len(raw), f"{len(raw)} rows is over serving.max_batch_rows")
        checked = validate_frame(loaded.schema, raw)
    except BadInput as err:
        return render_template("upload.html", error=err, **context), err.http_status
    prediction = predict(loaded, checked, "all", request_id(), conf=state().settings)
    inputs = raw  # as uploaded: every column, an integer stays an integer
    table = results_frame(inputs, prediction)
    result_id = uuid.uuid4().hex
    storage.put_bytes(
        _result_key(project, result_id),
        neutralise_formulas(table).to_csv(index=False).encode(),
        "text/csv",
        metadata={"filename": filename[:200], "model-version": str(prediction.version), "request-id": request_id()},
    )
    record_audit(prediction, audit.hash_inputs(body), "upload", started, inputs)
    unused = ignored_columns(loaded.schema, raw.columns)
    prediction_columns = {prediction_column(name): name for name in prediction.by_model}
    return render_template(
        "results.html",
        table=table.head(SHOWN_ROWS),
        total_rows=len(table),
        shown_rows=min(len(table), SHOWN_ROWS),
        prediction_columns=prediction_columns,
        champion_column=prediction_column(prediction.champion),
        prediction=prediction,
        outside_rows=len(prediction.outside_range.rows) if prediction.outside_range is not None else 0,
        outside_columns=prediction.outside_range.counts() if prediction.outside_range is not None else {},
        filename=filename,
        unused=unused,
        download_url=purl("pages.download", project, result_id=result_id),
        **context,
    )


@pages.get("/results/<result_id>.csv")
@pages.get("/p/<project>/results/<result_id>.csv")
def download(result_id: str, project: str | None = None) -> Response:
    """The results of an upload as CSV (formula-looking text cells start with ')."""
    project = project_name(project)
    if not _RESULT_ID.match(result_id):
        raise NotFound(f"no result {result_id!r}")
    try:
        found = storage.get_bytes(_result_key(project, result_id))
    except NotFound:
        raise NotFound(f"no result {result_id!r} in project {project!r} (results are kept in S3)") from None
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", found.metadata.get("filename", "upload")).removesuffix(".csv")
    version = found.metadata.get("model-version", "")
    return Response(
        found.body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{stem}-predictions-v{version}.csv"'},
    )


# ── models, versions, reports ────────────────────────────────────────────────


@pages.get("/models")
@pages.get("/p/<project>/models")
def models(project: str | None = None) -> str:
    """The live version (or ``?version=N``): leaderboard, EDA plots and report, manifest, every version."""
    project = project_name(project)
    live = state().cache(project).get()
    asked = request.args.get("version", "")
    if asked and not asked.isdigit():
        raise BadInput("version", asked, f"version must be a number (got {asked!r})")
    manifest = state().manifest(project, int(asked)) if asked else live.manifest
    versions = []
    for number in reversed(registry.list_versions(project)[-20:]):
        version_manifest = state().manifest(project, number)
        versions.append(
            {
                "number": number,
                "created_at": version_manifest.created_at,
                "champion": version_manifest.champion,
                "live": number == live.version,
                "shown": number == manifest.version,
                **_comparable(version_manifest),
            }
        )
    holdout_names = sorted({name for v in versions for name in v["holdout"]})
    reports = [
        {
            "name": name,
            "url": url_for("pages.report", project=project, version=manifest.version, name=name),
            "image": key.lower().endswith(IMAGE_SUFFIXES),  # the key says what it is; names may have no suffix
        }
        for name, key in manifest.reports.items()
    ]
    return render_template(
        "models.html",
        project=project,
        loaded=live,
        manifest=manifest,
        metric_names=manifest.metric_names,
        rows=manifest.leaderboard(),
        versions=versions,
        holdout_names=holdout_names,
        images=[r for r in reports if r["image"]],
        documents=[r for r in reports if not r["image"]],
        manifest_json=manifest.model_dump_json(indent=2),
        projects=state().projects(),
    )


@pages.get("/forecast")
@pages.get("/p/<project>/forecast")
def forecast_page(project: str | None = None) -> str:
    """Each group's actual and predicted values over time, as inline SVG charts (a time-ordered project)."""
    from dropml.scoring.forecast import forecast
    from web.charts import series_svg

    project = project_name(project)
    found = forecast(project, request.args.get("file"))
    charts = [series_svg(series, found.target) for series in found.series]
    return render_template(
        "forecast.html",
        project=project,
        forecast=found,
        charts=charts,
        json_url=url_for("api.forecast_route", project=project, file=request.args.get("file")),
        projects=state().projects(),
    )


def _comparable(manifest: Manifest) -> dict[str, Any]:
    """What makes trained and registered versions comparable: source, champion estimator, holdout metrics."""
    champion = next((e for e in manifest.models if e.name == manifest.champion), None)
    metrics = champion.metrics if champion else {}
    return {
        "source": manifest.source,
        "estimator": champion.estimator if champion else "",
        "holdout": {k: v for k, v in metrics.items() if k.startswith("holdout_") and k != "holdout_rows"},
    }


def _report_key(manifest: Manifest, name: str) -> str:
    if name in manifest.reports:
        return manifest.reports[name]
    for key in manifest.reports.values():  # a relative link inside the HTML report
        if key.rsplit("/", 1)[-1] == name:
            return key
    raise NotFound(f"version {manifest.version} of {manifest.project!r} has no report {name!r}")


@pages.get("/p/<project>/v<int:version>/reports/<path:name>")
def report(project: str, version: int, name: str) -> Response:
    """An EDA plot or the HTML report of a version, served from S3 (checksum-checked when listed)."""
    project = project_name(project)
    manifest = state().manifest(project, version)
    key = _report_key(manifest, name)
    artifact = next((a for a in manifest.artifacts.values() if a.key == key), None)
    body = registry.read_artifact(artifact) if artifact else storage.get_bytes(key).body
    content_type = (artifact.content_type if artifact else None) or mimetypes.guess_type(name)[0]
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    if content_type in (None, "application/octet-stream"):
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src data:"
        )
    return Response(body, mimetype=content_type, headers=headers)

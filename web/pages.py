"""Server-rendered pages (no JavaScript needed): one-record form, CSV upload, models, reports, forecast, monitoring.

Every route exists as ``/...`` (default project, or ``?project=``) and
``/p/<project>/...``. An upload's results are kept by :mod:`dropml.usecases.uploads`,
so the download link works from any server instance.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, make_response, render_template, request, url_for

from dropml.errors import BadInput
from dropml.usecases import monitoring, predict, shadow, uploads
from dropml.usecases.forecast import forecast
from web import shadow as web_shadow
from web.charts import drift_svg, ranges_svg, realized_svg, series_svg
from web.state import days_asked, project_name, request_id, state

if TYPE_CHECKING:
    from dropml.manifest import ColumnSchema, Manifest
    from dropml.scoring.load import LoadedVersion
    from dropml.scoring.predict import Prediction

pages = Blueprint("pages", __name__)

FIELD_PREFIX = "col:"
SHOWN_ROWS = 200
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
def predict_form(project: str | None = None) -> Response:
    """A form generated from the live version's input schema; posting it shows every model's prediction."""
    project = project_name(project)
    loaded = state().live_model(project).get()
    schema = loaded.schema
    values = {c.name: "" for c in schema.columns}
    errors: dict[str, str] = {}
    result = None
    answered = None
    status = 200
    explain = request.method == "POST" and request.form.get("explain") == "on"  # the checkbox: the champion's reasons
    if request.method == "POST":
        values = {c.name: request.form.get(FIELD_PREFIX + c.name, "").strip() for c in schema.columns}
        try:
            prediction = predict.score_form(loaded, values, request_id(), state().settings)
        except BadInput as err:
            errors = {p["field"]: p["message"] for p in err.problems}
            status = 422
        else:
            result = _one_record_result(loaded, prediction, values)
            if explain:
                rows = predict.form_rows(loaded, values)
                result["reasons"] = predict.explain_json(loaded, rows, prediction, state().settings)
            answered = shadow.form_request(prediction, values)
    fields = [form_field(c, values[c.name], errors.get(c.name)) for c in schema.columns]
    page = render_template(
        "predict.html",
        project=project,
        loaded=loaded,
        fields=fields,
        result=result,
        explain=explain,
        errors=errors,
        projects=state().projects(),
    )
    response = make_response(page, status)
    return web_shadow.after_response(response, state(), answered) if answered is not None else response


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


@pages.route("/upload", methods=["GET", "POST"])
@pages.route("/p/<project>/upload", methods=["GET", "POST"])
def upload(project: str | None = None) -> tuple[str, int] | str | Response:
    """Score an uploaded CSV: an HTML table (champion marked) and a link to the same results as CSV."""
    project = project_name(project)
    loaded = state().live_model(project).get()
    context: dict[str, Any] = {"project": project, "loaded": loaded, "projects": state().projects()}
    if request.method == "GET":
        return render_template("upload.html", **context)
    try:
        body, filename = _uploaded_csv()
        explain = request.form.get("explain") == "on"
        scored = uploads.score_upload(loaded, body, filename, request_id(), state().settings, explain)
    except BadInput as err:
        return render_template("upload.html", error=err, **context), err.http_status
    prediction = scored.prediction
    page = render_template(
        "results.html",
        table=scored.results.head(SHOWN_ROWS),
        total_rows=len(scored.results),
        shown_rows=min(len(scored.results), SHOWN_ROWS),
        prediction_columns=scored.prediction_columns,
        champion_column=scored.champion_column,
        prediction=prediction,
        outside_rows=len(prediction.outside_range.rows) if prediction.outside_range is not None else 0,
        outside_columns=prediction.outside_range.counts() if prediction.outside_range is not None else {},
        filename=filename,
        unused=scored.ignored,
        download_url=purl("pages.download", project, result_id=scored.result_id),
        drift=scored.drift,
        **context,
    )
    answered = shadow.upload_request(prediction, body, filename, state().settings)
    return web_shadow.after_response(make_response(page), state(), answered)


@pages.get("/results/<result_id>.csv")
@pages.get("/p/<project>/results/<result_id>.csv")
def download(result_id: str, project: str | None = None) -> Response:
    """The results of an upload as CSV (formula-looking text cells start with ')."""
    kept = uploads.kept_results(project_name(project), result_id)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", kept.filename).removesuffix(".csv")
    return Response(
        kept.body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{stem}-predictions-v{kept.model_version}.csv"'},
    )


# ── models, versions, reports ────────────────────────────────────────────────


@pages.get("/models")
@pages.get("/p/<project>/models")
def models(project: str | None = None) -> str:
    """The live version (or ``?version=N``): leaderboard, EDA plots and report, manifest, every version."""
    project = project_name(project)
    live = state().live_model(project).get()
    asked = request.args.get("version", "")
    if asked and not asked.isdigit():
        raise BadInput("version", asked, f"version must be a number (got {asked!r})")
    manifest = state().manifest(project, int(asked)) if asked else live.manifest
    versions = []
    for number in reversed(state().versions(project)[-20:]):
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


@pages.get("/monitoring")
@pages.get("/p/<project>/monitoring")
def monitoring_page(project: str | None = None) -> str:
    """Drift reports and realized accuracy over time, as inline SVG charts and tables (``?days=``, default 30)."""
    project = project_name(project)
    view = monitoring.overview(project, days_asked())
    return render_template(
        "monitoring.html",
        project=project,
        view=view,
        latest=view.latest,
        drift_chart=drift_svg(view.drift, view.thresholds["drifted_share"]),
        ranges_chart=ranges_svg(view.drift),
        realized_chart=realized_svg(view.realized),
        json_url=url_for("api.monitoring_route", project=project, days=view.days),
        projects=state().projects(),
    )


def _comparable(manifest: Manifest) -> dict[str, Any]:
    """What makes trained and registered versions comparable: source, champion estimator, holdout metrics, and the
    input column the champion looks at most (its holdout importance)."""
    champion = next((e for e in manifest.models if e.name == manifest.champion), None)
    metrics = champion.metrics if champion else {}
    return {
        "source": manifest.source,
        "estimator": champion.estimator if champion else "",
        "holdout": {k: v for k, v in metrics.items() if k.startswith("holdout_") and k != "holdout_rows"},
        "top_column": next(iter(champion.explainer.importance), None) if champion and champion.explainer else None,
    }


@pages.get("/p/<project>/v<int:version>/reports/<path:name>")
def report(project: str, version: int, name: str) -> Response:
    """An EDA plot or the HTML report of a version, served from S3 (checksum-checked when listed)."""
    found = state().report(project_name(project), version, name)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    if found.content_type.startswith("text/html"):
        headers["Content-Security-Policy"] = (
            "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src data:"
        )
    return Response(found.body, mimetype=found.content_type, headers=headers)

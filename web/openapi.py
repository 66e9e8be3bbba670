"""The OpenAPI 3.1 document of /api/v1 (a test checks it against the routes and their answers)."""

from __future__ import annotations

from typing import Any

API_VERSION = "1.0.0"

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
        "content": {"application/json": {"schema": schema}},
    }


def error_response(description: str) -> dict[str, Any]:
    """An error answer of the document (the shared Error schema); other blueprints use it too."""
    return _json(_ref("Error"), description)


_PROJECT = {
    "name": "project",
    "in": "query",
    "required": False,
    "description": "The project (model line); default: serving.default_project.",
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
}
_REQUEST_ID = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Echoed back (letters, digits, ._:- up to 128); generated when absent or odd.",
    "schema": {"type": "string"},
}

_SCHEMAS: dict[str, Any] = {
    "Record": {
        "type": "object",
        "description": "One row: every input column of the live version (see GET /models input_schema). "
        "Other fields (an id, the target) are ignored and listed in the answer's ignored_columns.",
        "additionalProperties": True,
    },
    "DataframeSplit": {
        "type": "object",
        "required": ["dataframe_split"],
        "properties": {
            "dataframe_split": {
                "type": "object",
                "required": ["columns", "data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array"}},
                    "index": {"type": "array"},
                },
            }
        },
    },
    "DataframeRecords": {
        "type": "object",
        "required": ["dataframe_records"],
        "properties": {"dataframe_records": {"type": "array", "items": _ref("Record")}},
    },
    "Instances": {
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "description": "Records, lists of values in input_schema order, or an object of columns.",
                "oneOf": [{"type": "array"}, {"type": "object"}],
            }
        },
    },
    "Inputs": {
        "type": "object",
        "required": ["inputs"],
        "properties": {"inputs": {"oneOf": [{"type": "array"}, {"type": "object"}]}},
    },
    "PredictionResponse": {
        "type": "object",
        "required": [
            "request_id",
            "project",
            "model_version",
            "champion",
            "engine",
            "rows",
            "predictions",
            "models",
            "ignored_columns",
            "outside_training_range",
        ],
        "properties": {
            "request_id": {"type": "string"},
            "project": {"type": "string"},
            "model_version": {"type": "integer", "minimum": 1},
            "champion": {"type": "string", "description": "The best-ranked model."},
            "engine": {"type": "string", "enum": ["in-process", "dask"]},
            "rows": {"type": "integer", "minimum": 1},
            "predictions": {"type": "array", "description": "The champion's predictions, one per row."},
            "models": {
                "type": "object",
                "description": "Each asked model's predictions (every model, or only the champion).",
                "additionalProperties": {"type": "array"},
            },
            "ignored_columns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Fields or columns sent that the models do not use (not passed to them).",
            },
            "explanations": {
                "type": ["array", "null"],
                "description": "With ?explain=true: per row, the champion's largest contributions per input column "
                "(top), the others' sum, and the base they start from; base + contributions = value, the model's "
                "output on the scale named by output (value, probability, log_odds, raw_score) of class. Null when "
                "the champion has no explanation (not_explained says why).",
                "items": {
                    "type": "object",
                    "required": ["output", "base", "value", "top", "others"],
                    "properties": {
                        "output": {"type": "string", "enum": ["value", "probability", "log_odds", "raw_score"]},
                        "class": {},
                        "base": {"type": "number"},
                        "value": {"type": "number"},
                        "others": {"type": "number"},
                        "top": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["column", "contribution"],
                                "properties": {"column": {"type": "string"}, "contribution": {"type": "number"}},
                            },
                        },
                    },
                },
            },
            "explained_model": {"type": "string", "description": "With ?explain=true: the model explained."},
            "not_explained": {"type": "string", "description": "Why the champion has no explanation."},
            "outside_training_range": {
                "type": "object",
                "description": "Rows with a number past the range the models were trained on, where their answers "
                "extrapolate (a flag, not an error): 1-based rows, and per column how many rows.",
                "required": ["rows", "columns"],
                "properties": {
                    "rows": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                    "columns": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1}},
                },
            },
        },
    },
    "Problem": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "The column (or body part) at fault."},
            "message": {"type": "string"},
            "row": {"type": "integer", "description": "1-based row of the batch (a CSV header is not a row)."},
            "value": {"description": "The offending value, shortened."},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "message", "request_id"],
        "properties": {
            "error": {"type": "string", "examples": ["bad_input", "too_large", "no_live_model", "not_found"]},
            "message": {"type": "string"},
            "field": {"type": ["string", "null"]},
            "problems": {"type": "array", "items": _ref("Problem")},
            "request_id": {"type": "string"},
        },
    },
    "ModelRow": {
        "type": "object",
        "required": ["name", "rank", "metrics", "champion"],
        "properties": {
            "name": {"type": "string"},
            "estimator": {"type": "string"},
            "rank": {"type": "integer"},
            "metrics": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
            "baseline": {"type": "boolean"},
            "champion": {"type": "boolean"},
        },
    },
    "Models": {
        "type": "object",
        "required": ["project", "model_version", "champion", "models", "input_schema", "versions"],
        "properties": {
            "project": {"type": "string"},
            "model_version": {"type": "integer"},
            "champion": {"type": "string"},
            "task": {"type": "string", "enum": ["classification", "regression"]},
            "target": {"type": "string"},
            "rank_metric": {"type": "string"},
            "created_at": {"type": "string"},
            "models": {"type": "array", "items": _ref("ModelRow")},
            "input_schema": {"type": "object", "required": ["columns"]},
            "versions": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "Manifest": {
        "type": "object",
        "description": "A version's manifest: the contract between training and serving (dropml/manifest.py).",
        "required": ["project", "version", "champion", "models", "input_schema", "artifacts"],
    },
    "Forecast": {
        "type": "object",
        "description": "Each group's actual and predicted target over time, from one predictions file.",
        "required": ["project", "source", "time_column", "target", "horizon", "model_versions", "series"],
        "properties": {
            "project": {"type": "string"},
            "source": {"type": "string", "description": "The predictions key charted."},
            "time_column": {"type": "string"},
            "group_column": {"type": ["string", "null"]},
            "target": {"type": "string"},
            "horizon": {"type": "integer", "description": "A row's prediction is for this many rows later."},
            "model_versions": {"type": "array", "items": {"type": "integer"}},
            "series": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["group", "points"],
                    "properties": {
                        "group": {"type": "string"},
                        "points": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["time", "actual", "predicted"],
                                "properties": {
                                    "time": {"type": "string"},
                                    "actual": {"type": ["number", "null"]},
                                    "predicted": {"type": ["number", "null"]},
                                    "ahead": {"type": "integer"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "DriftReport": {
        "type": "object",
        "description": "One batch (a scored file, an upload, a day of API traffic) against its version's training "
        "profile: per column a test and a distance, then the shares over the batch and the alerts they raised.",
        "required": ["version", "time", "created_at", "source", "rows", "drifted_share", "alerts"],
        "properties": {
            "version": {"type": "integer"},
            "time": {"type": "string", "description": "The batch's time: when it was scored, or its day's end."},
            "created_at": {"type": "string"},
            "source": {
                "type": "object",
                "required": ["kind", "name"],
                "properties": {
                    "kind": {"type": "string", "enum": ["file", "upload", "traffic"]},
                    "name": {"type": "string", "description": "The test/ key, the uploaded file's name, or the day."},
                    "request_id": {"type": "string"},
                },
            },
            "reference": {"type": ["string", "null"], "description": "The profile compared with (null: none)."},
            "note": {"type": ["string", "null"]},
            "rows": {"type": "number"},
            "tested_columns": {"type": "integer"},
            "drifted_columns": {"type": "integer"},
            "drifted_share": {"type": "number"},
            "missing_share": {"type": "number"},
            "missing_share_increase": {"type": "number"},
            "unknown_category_share": {"type": "number"},
            "outside_range_share": {"type": "number"},
            "alerts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["threshold", "value", "limit"],
                    "properties": {
                        "threshold": {"type": "string"},
                        "value": {"type": "number"},
                        "limit": {"type": "number"},
                    },
                },
            },
            "columns": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["column", "kind", "tested", "drifted"],
                    "properties": {
                        "column": {"type": "string"},
                        "kind": {"type": "string"},
                        "tested": {"type": "boolean"},
                        "test": {"type": ["string", "null"], "enum": ["ks", "chi_square", None]},
                        "statistic": {"type": ["number", "null"]},
                        "p_value": {"type": ["number", "null"]},
                        "distance_name": {"type": ["string", "null"]},
                        "distance": {"type": ["number", "null"]},
                        "psi": {"type": ["number", "null"]},
                        "drifted": {"type": "boolean"},
                        "decided_by": {"type": ["string", "null"]},
                        "missing_share": {"type": "number"},
                        "reference_missing_share": {"type": "number"},
                        "unknown_share": {"type": ["number", "null"]},
                        "outside_share": {"type": ["number", "null"]},
                        "note": {"type": ["string", "null"]},
                    },
                },
            },
            "key": {"type": "string", "description": "Where the report is kept (reports/<p>/monitoring/drift/...)."},
        },
    },
    "Monitoring": {
        "type": "object",
        "description": "A project's drift reports (oldest first, the newest in full) and realized accuracy per version "
        "and day beside the holdout, over the last `days` days.",
        "required": ["project", "days", "live_version", "thresholds", "drift", "latest", "realized"],
        "properties": {
            "project": {"type": "string"},
            "days": {"type": "integer"},
            "live_version": {"type": ["integer", "null"]},
            "thresholds": {"type": "object", "additionalProperties": {"type": "number"}},
            "auto_rollback": {"type": "boolean"},
            "realized_margin": {"type": "number"},
            "realized_window_rows": {"type": "integer"},
            "drift": {"type": "array", "items": _ref("DriftReport")},
            "latest": {"oneOf": [_ref("DriftReport"), {"type": "null"}]},
            "realized": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["version", "rank_metric", "holdout", "days"],
                    "properties": {
                        "version": {"type": "integer"},
                        "live": {"type": "boolean"},
                        "challenger": {"type": "boolean"},
                        "rank_metric": {"type": "string"},
                        "holdout": {"type": ["number", "null"]},
                        "rows": {"type": "integer"},
                        "days": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["day", "rows", "value"],
                                "properties": {
                                    "day": {"type": "string"},
                                    "rows": {"type": "integer"},
                                    "value": {"type": ["number", "null"]},
                                    "metrics": {"type": "object"},
                                },
                            },
                        },
                    },
                },
            },
            "challenger_version": {"type": ["integer", "null"], "description": "scored in the shadow of the live one"},
            "challenger": {
                "type": ["object", "null"],
                "description": "Champion against challenger: each one's realized and holdout metrics, and both on "
                "the same most recent labelled rows (head_to_head: metric, rows, champion, challenger, gain).",
                "required": [
                    "champion",
                    "challenger",
                    "head_to_head",
                    "margin",
                    "window_rows",
                    "auto_promote",
                    "beats",
                ],
                "properties": {
                    "champion": {"type": "object"},
                    "challenger": {"type": "object"},
                    "head_to_head": {
                        "type": "object",
                        "required": ["metric", "rows", "champion", "challenger", "gain"],
                        "properties": {
                            "metric": {"type": "string"},
                            "rows": {"type": "integer"},
                            "champion": {"type": "object"},
                            "challenger": {"type": "object"},
                            "gain": {"type": ["number", "null"]},
                        },
                    },
                    "margin": {"type": "number"},
                    "window_rows": {"type": "integer"},
                    "auto_promote": {"type": "boolean"},
                    "beats": {"type": "boolean"},
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["project", "status", "model_version"],
        "properties": {
            "project": {"type": "string"},
            "status": {"type": "string", "enum": ["ok", "updating", "degraded", "no_model"]},
            "model_version": {"type": ["integer", "null"]},
            "live_version": {"type": ["integer", "null"]},
            "champion": {"type": ["string", "null"]},
            "loaded_at": {"type": ["number", "null"]},
            "load_seconds": {"type": ["number", "null"]},
            "checked_seconds_ago": {"type": ["number", "null"]},
            "reason": {"type": ["string", "null"]},
        },
    },
}


def openapi_document(server_url: str = "", extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``server_url`` is where this app answers.

    ``extra_paths`` are other blueprints' operations (their module's
    ``OPENAPI_PATHS``, merged by the /api/v1/openapi.json route), so every
    route under /api/ is documented in one place.
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dropml API",
            "version": API_VERSION,
            "description": "Predict with a project's live model version; inspect versions and health. "
            "Every answer carries X-Request-ID. Input problems are 400/413/415/422 with one entry per "
            "field (and row), never a 500.",
        },
        "servers": [{"url": server_url or "/"}],
        "paths": {
            "/api/v1/predict": {
                "post": {
                    "operationId": "predict",
                    "summary": "Score one record or a batch with every model of the live version",
                    "parameters": [
                        _PROJECT,
                        {
                            "name": "models",
                            "in": "query",
                            "required": False,
                            "description": "all (default) or champion (fastest).",
                            "schema": {"type": "string", "enum": ["all", "champion"]},
                        },
                        {
                            "name": "explain",
                            "in": "query",
                            "required": False,
                            "description": "true: each row's reasons from the champion; false (default).",
                            "schema": {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no", "on", "off"]},
                        },
                        _REQUEST_ID,
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        _ref("Record"),
                                        {"type": "array", "items": _ref("Record")},
                                        _ref("DataframeSplit"),
                                        _ref("DataframeRecords"),
                                        _ref("Instances"),
                                        _ref("Inputs"),
                                    ]
                                }
                            },
                            "text/csv": {"schema": {"type": "string", "description": "A header line, then rows."}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Predictions (CSV when the body was CSV or Accept prefers text/csv). "
                            "Batches over dask.batch_threshold rows are scored on Dask (engine says which).",
                            "headers": {
                                "X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"},
                                "X-Model-Version": {"schema": {"type": "integer"}},
                                "X-Scoring-Engine": {"schema": {"type": "string"}},
                                "X-Ignored-Columns": {
                                    "description": "CSV answers: the columns the models did not use, comma-separated "
                                    "and percent-encoded (kept in the CSV).",
                                    "schema": {"type": "string"},
                                },
                            },
                            "content": {
                                "application/json": {"schema": _ref("PredictionResponse")},
                                "text/csv": {
                                    "schema": {
                                        "type": "string",
                                        "description": "Inputs as sent (every column, ignored ones too), "
                                        "pred_<model> per model, prediction, champion, model_version, request_id.",
                                    }
                                },
                            },
                        },
                        "400": error_response("Empty body, not JSON/CSV, unknown body shape, bad query parameter."),
                        "413": error_response("Body over serving.max_body_bytes, or rows over serving.max_batch_rows."),
                        "415": error_response("Content-Type is neither application/json nor text/csv."),
                        "422": error_response(
                            "Rows do not match the input schema (a missing column, a bad value): each problem "
                            "names field and row."
                        ),
                        "503": error_response("No model version is live for the project yet."),
                    },
                }
            },
            "/api/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The live version's leaderboard, input schema and every published version",
                    "parameters": [_PROJECT, _REQUEST_ID],
                    "responses": {
                        "200": _json(_ref("Models"), "The live version."),
                        "400": error_response("Invalid project name."),
                        "503": error_response("No model version is live for the project yet."),
                    },
                }
            },
            "/api/v1/models/{version}": {
                "get": {
                    "operationId": "getVersion",
                    "summary": "The manifest of one published version",
                    "parameters": [
                        {"name": "version", "in": "path", "required": True, "schema": {"type": "integer"}},
                        _PROJECT,
                        _REQUEST_ID,
                    ],
                    "responses": {
                        "200": _json(_ref("Manifest"), "The manifest."),
                        "400": error_response("Invalid project name."),
                        "404": error_response("No such version."),
                    },
                }
            },
            "/api/v1/forecast": {
                "get": {
                    "operationId": "forecast",
                    "summary": "Each group's actual and predicted values over time (time-ordered projects)",
                    "parameters": [
                        _PROJECT,
                        {
                            "name": "file",
                            "in": "query",
                            "required": False,
                            "description": "A predictions CSV of the project (default: the newest).",
                            "schema": {"type": "string"},
                        },
                        _REQUEST_ID,
                    ],
                    "responses": {
                        "200": _json(_ref("Forecast"), "The series."),
                        "400": error_response("Invalid project or file name, or the project is not time-ordered."),
                        "404": error_response("No such predictions file, or none yet."),
                    },
                }
            },
            "/api/v1/projects/{project}/monitoring": {
                "get": {
                    "operationId": "monitoring",
                    "summary": "Drift reports and realized accuracy against the holdout, over time",
                    "parameters": [
                        {
                            "name": "project",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
                        },
                        {
                            "name": "days",
                            "in": "query",
                            "required": False,
                            "description": "How many days back (1 to 366; default 30).",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 366},
                        },
                        _REQUEST_ID,
                    ],
                    "responses": {
                        "200": _json(_ref("Monitoring"), "The project's monitoring."),
                        "400": error_response("Invalid project name or days."),
                    },
                }
            },
            "/api/v1/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Serving status: ok, updating, degraded (old version still serving, with reason) "
                    "or no_model",
                    "parameters": [_PROJECT, _REQUEST_ID],
                    "responses": {
                        "200": _json(_ref("Health"), "A version is serving."),
                        "400": error_response("Invalid project name."),
                        "503": _json(_ref("Health"), "Nothing can serve yet."),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
                }
            },
            **(extra_paths or {}),
        },
        "components": {
            "schemas": _SCHEMAS,
            "headers": {
                "X-Request-ID": {
                    "description": "The request's id (echoed or generated); also in logs and the audit trail.",
                    "schema": {"type": "string"},
                }
            },
        },
    }

"""schemathesis against the app's own /api/v1/openapi.json (in-process WSGI) with a live version from real training.

Every operation gets generated requests (valid and invalid query parameters, headers and bodies: records,
batches, MLflow shapes, CSV). Checks: no 5xx, and each answer's status code, content type and body
conform to the document (so the document is tested as much as the app).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.versions import BREAST_CANCER

from dropml import audit
from dropml.config import load_settings
from web import create_app

EXAMPLES_PER_OPERATION = 100  # the whole module stays well under 60 s
NOT_READY = {"no_live_model", "no_model"}  # a project nothing was published for: 503, as documented


def no_server_error(ctx, response, case):
    """not_a_server_error, except the documented 503 for a (generated) project without a live version."""
    if response.status_code == 503:
        body = response.json()
        if body.get("error") in NOT_READY or body.get("status") in NOT_READY:
            return None
    return not_a_server_error(ctx, response, case)


CHECKS = [no_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# Built at import (schemathesis' lazy from_fixture does not work with this pytest): no S3 call happens here,
# the app loads the live version on its first request, inside the test, once the stand-in is up.
APP = create_app(load_settings())
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@pytest.fixture
def published(aws, trained_versions):
    """A live version of the default project, made by the real training code."""
    trained_versions.write()
    yield
    audit.flush()  # while the stand-in still answers


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_off_the_document(published, case):
    case.call_and_validate(checks=CHECKS)


# ── bodies shaped like the live schema: the generated ones above rarely get past validation ──

COLUMNS = list(pd.read_csv(BREAST_CANCER, nrows=1).drop(columns=["target"]).columns)
CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),  # including integers beyond float64 and float32
    st.text(max_size=8),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
RECORD = st.fixed_dictionaries(
    {name: st.floats(min_value=-1e6, max_value=1e6) for name in COLUMNS},
).flatmap(
    lambda base: st.dictionaries(st.sampled_from([*COLUMNS, "extra"]), CELL, max_size=3).map(
        lambda changes: {**base, **changes}
    )
)
DROPPED = st.sets(st.sampled_from(COLUMNS), max_size=2)
BODY = st.one_of(
    st.tuples(RECORD, DROPPED).map(lambda pair: {k: v for k, v in pair[0].items() if k not in pair[1]}),
    st.lists(RECORD, max_size=10),  # up to dask.batch_threshold rows: scored in process
    st.lists(RECORD, min_size=1, max_size=5).map(lambda rows: {"dataframe_records": rows}),
    st.lists(RECORD, min_size=1, max_size=5).map(
        lambda rows: {"dataframe_split": {"columns": COLUMNS, "data": [[r.get(c) for c in COLUMNS] for r in rows]}}
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODY)
def test_schema_shaped_bodies_get_an_answer_or_a_4xx_naming_a_field(published_app, body):
    response = published_app.post("/api/v1/predict", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 400, 422), response.data[:300]
    if response.status_code == 200:
        assert response.json["rows"] == rows_sent(body)
        assert response.json["model_version"] == 1
    else:
        assert response.json["field"]
        assert response.json["message"]


def rows_sent(body: dict | list) -> int:
    """How many records a BODY carries: a list's length, an MLflow shape's rows, or 1 for a single record."""
    if isinstance(body, list):
        return len(body)
    if "dataframe_records" in body:
        return len(body["dataframe_records"])
    if "dataframe_split" in body:
        return len(body["dataframe_split"]["data"])
    return 1


@pytest.fixture
def published_app(published):
    """A test client of the app, with the default project's version live."""
    return APP.test_client()

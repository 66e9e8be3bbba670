"""One contract on every channel, over real HTTP and through S3 file scoring.

What a user sends from the file they trained on (an id column, the target
itself, integer-valued numbers) is accepted by the form, the upload page, JSON
(an object, a list, MLflow's shapes), a CSV body and S3 file scoring alike:
the extra columns are ignored for prediction, named in the answer and kept in
CSV outputs; integers come back as they went in; every channel gives the same
predictions as the version's pipelines; a missing column is a 422 naming each.
"""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from html import unescape

import pandas as pd
import pytest
from support.live_server import multipart_csv, post
from support.versions import DIABETES as DIABETES_CSV

from dropml import storage
from dropml.errors import BadInput
from dropml.scoring import load_version
from dropml.storage import keys
from dropml.usecases.score_file import score_file
from tests.integration import test_web_live

PROJECT = "diabetes"
PREDICT = f"/api/v1/predict?project={PROJECT}"
EXTRA = ["patient_id", "target"]

live_url = test_web_live.live_url  # the app over HTTP on 127.0.0.1:0 (reused, not copied)


def _training_rows() -> pd.DataFrame:
    """Rows as they are in the training file, plus an id column first; age and bp as integers."""
    rows = pd.read_csv(DIABETES_CSV).head(6)
    rows["age"] = rows["age"].round().astype("int64")
    rows["bp"] = rows["bp"].round().astype("int64")
    rows.insert(0, "patient_id", [f"p{i:03d}" for i in range(len(rows))])
    return rows


ROWS = _training_rows()
RECORDS = json.loads(ROWS.to_json(orient="records"))


@pytest.fixture
def diabetes(aws, trained_versions):
    """A live version of project ``diabetes`` from the real training code; its pipelines loaded for reference."""
    manifest = trained_versions.write(PROJECT, DIABETES_CSV)
    loaded = load_version(PROJECT, manifest.version)
    features = ROWS[loaded.schema.names].astype({"age": "float64", "bp": "float64"})
    expected = {name: pipeline.predict(features).tolist() for name, pipeline in loaded.pipelines.items()}
    return manifest, expected


def _close(actual: list, expected: list) -> None:
    assert actual == pytest.approx(expected, rel=1e-12, abs=1e-12)


JSON_SHAPES = {
    "object": RECORDS[0],
    "list": RECORDS,
    "dataframe_records": {"dataframe_records": RECORDS},
    "dataframe_split": {"dataframe_split": json.loads(ROWS.to_json(orient="split", index=False))},
    "instances": {"instances": RECORDS},
    "inputs columns": {"inputs": {name: [record[name] for record in RECORDS] for name in ROWS.columns}},
}


@pytest.mark.parametrize("shape", list(JSON_SHAPES))
def test_json_shapes_ignore_and_name_the_extra_columns(diabetes, live_url, shape):
    _, expected = diabetes
    status, _, body = post(live_url + PREDICT, json.dumps(JSON_SHAPES[shape]).encode(), "application/json")
    assert status == 200, body[:300]
    answer = json.loads(body)
    assert answer["ignored_columns"] == EXTRA
    rows = 1 if shape == "object" else len(ROWS)
    for name, values in answer["models"].items():
        _close(values, expected[name][:rows])


def test_csv_body_keeps_extra_columns_and_integers_as_sent(diabetes, live_url):
    manifest, expected = diabetes
    status, headers, body = post(live_url + PREDICT, ROWS.to_csv(index=False).encode(), "text/csv")
    assert status == 200, body[:300]
    assert headers["X-Ignored-Columns"] == "patient_id,target"
    out = pd.read_csv(io.BytesIO(body))
    assert out.columns[: len(ROWS.columns)].tolist() == ROWS.columns.tolist()
    assert out["patient_id"].tolist() == ROWS["patient_id"].tolist()
    assert out["target"].tolist() == ROWS["target"].tolist()
    text_rows = body.decode().splitlines()
    assert text_rows[1].startswith(f"p000,{ROWS['age'][0]},")  # 59, not 59.0
    _close(out["prediction"].tolist(), expected[manifest.champion])


def test_json_with_accept_csv_keeps_the_extra_fields(diabetes, live_url):
    status, _, body = post(live_url + PREDICT, json.dumps(RECORDS).encode(), "application/json", "text/csv")
    assert status == 200, body[:300]
    out = pd.read_csv(io.BytesIO(body))
    assert out["patient_id"].tolist() == ROWS["patient_id"].tolist()
    assert out["age"].tolist() == ROWS["age"].tolist()
    assert out["age"].dtype == "int64"


def test_upload_page_names_ignored_columns_and_its_csv_keeps_them_as_sent(diabetes, live_url):
    manifest, expected = diabetes
    form, form_type = multipart_csv("train-like.csv", ROWS.to_csv(index=False).encode())
    status, _, page = post(f"{live_url}/p/{PROJECT}/upload", form, form_type)
    assert status == 200, page[:300]
    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.decode())))
    assert "Columns not used by the models (kept in the results): patient_id, target" in text
    link = unescape(re.search(rb'id="download" href="([^"]+)"', page).group(1).decode())
    with urllib.request.urlopen(urllib.parse.urljoin(live_url + "/", link), timeout=30) as response:
        out = pd.read_csv(io.BytesIO(response.read()))
    assert out["patient_id"].tolist() == ROWS["patient_id"].tolist()
    assert out["age"].dtype == "int64"
    assert out["age"].tolist() == ROWS["age"].tolist()
    _close(out["prediction"].tolist(), expected[manifest.champion])


def test_form_ignores_fields_the_models_do_not_use(diabetes, live_url):
    manifest, expected = diabetes
    fields = {f"col:{name}": str(value) for name, value in RECORDS[0].items() if name not in EXTRA}
    fields.update({"patient_id": "p000", "col:target": str(RECORDS[0]["target"])})
    status, _, page = post(
        f"{live_url}/p/{PROJECT}/", urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
    )
    assert status == 200, page[:300]
    shown = expected[manifest.champion][0]
    assert f"{shown:.4g}"[:4] in page.decode()


def test_s3_file_scoring_keeps_extra_columns_and_integers_and_names_what_was_ignored(diabetes):
    _, expected = diabetes
    key = keys.data_key("test", PROJECT, "train-like.csv")
    storage.put_bytes(key, ROWS.to_csv(index=False).encode(), "text/csv")
    written = storage.get_bytes(score_file(key, request_id="contract"))
    out = pd.read_csv(io.BytesIO(written.body))
    assert out.columns[: len(ROWS.columns)].tolist() == ROWS.columns.tolist()
    assert out["patient_id"].tolist() == ROWS["patient_id"].tolist()
    assert out["age"].dtype == "int64"
    assert written.body.decode().splitlines()[1].startswith(f"p000,{ROWS['age'][0]},")
    assert written.metadata["ignored-columns"] == "patient_id,target"
    for name, values in expected.items():
        _close(out[f"pred_{name}"].tolist(), values)


MISSING = ["bmi", "s1"]


def test_missing_columns_are_422_naming_each_on_every_channel(diabetes, live_url):
    rows = ROWS.drop(columns=MISSING)
    status, _, body = post(live_url + PREDICT, rows.to_csv(index=False).encode(), "text/csv")
    assert status == 422
    assert [p["field"] for p in json.loads(body)["problems"]] == MISSING
    records = json.loads(rows.to_json(orient="records"))
    status, _, body = post(live_url + PREDICT, json.dumps(records[0]).encode(), "application/json")
    assert status == 422
    assert [(p["field"], p["message"]) for p in json.loads(body)["problems"]] == [(m, "missing field") for m in MISSING]
    key = keys.data_key("test", PROJECT, "missing.csv")
    storage.put_bytes(key, rows.to_csv(index=False).encode(), "text/csv")
    with pytest.raises(BadInput) as caught:
        score_file(key)
    assert caught.value.http_status == 422
    assert [p["field"] for p in caught.value.problems] == MISSING

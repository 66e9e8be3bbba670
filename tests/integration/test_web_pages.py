"""The HTML pages through Flask's test client: form, upload and download, models and reports."""

from __future__ import annotations

import io
import re
from html import unescape

import pandas as pd
import pytest
from support.versions import BREAST_CANCER, DIABETES

from dropml import audit
from dropml.config import load_settings
from web import create_app

FEATURES = pd.read_csv(BREAST_CANCER).drop(columns=["target"])
DIABETES_FEATURES = pd.read_csv(DIABETES).drop(columns=["target"])


@pytest.fixture(autouse=True)
def _flush_audit(aws):
    yield
    audit.flush()


@pytest.fixture
def client(aws):
    app = create_app(load_settings())
    app.config["TESTING"] = True
    return app.test_client()


def _text(html: bytes) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode())))


def _form(record: dict) -> dict:
    return {f"col:{name}": str(value) for name, value in record.items()}


def test_pages_before_any_model_say_so_without_a_stack_trace(client):
    for url in ("/", "/upload", "/models", "/p/glass/"):
        response = client.get(url)
        assert response.status_code == 503, url
        text = _text(response.data)
        assert "No model is live yet" in text
        assert "has no published model yet" in text
        assert "Traceback" not in text


def test_form_has_a_typed_field_per_column_with_ranges(aws, trained_versions, client):
    trained_versions.write("diabetes", DIABETES)
    response = client.get("/p/diabetes/")
    assert response.status_code == 200
    html = response.data.decode()
    assert html.count('type="number"') == 9
    assert re.search(r'<select id="f-\d+" name="col:sex">', html)
    assert '<option value="F" >F</option>' in html or '<option value="F">F</option>' in html
    assert "training range 19 – 79" in _text(response.data)
    assert 'action="/p/diabetes/"' in html


def test_form_post_shows_every_model_with_the_champion_marked(aws, trained_versions, client):
    manifest = trained_versions.write()
    response = client.post("/", data=_form(FEATURES.iloc[0].to_dict()))
    assert response.status_code == 200
    html = response.data.decode()
    rows = re.findall(r'<tr class="(champion)?" data-model="(\w+)">', html)
    champion, *others = manifest.model_names
    assert rows == [("champion", champion)] + [("", name) for name in others]
    assert re.search(r'data-testid="champion-prediction">malignant<', html)
    assert 'data-testid="model-version">v1<' in html
    assert "★ champion" in html


def test_form_errors_are_shown_next_to_their_field(aws, trained_versions, client):
    trained_versions.write()
    record = FEATURES.iloc[0].to_dict()
    record["mean_radius"] = "twelve"
    response = client.post("/", data=_form(record))
    assert response.status_code == 422
    text = _text(response.data)
    assert "Please check 1 field." in text
    assert "mean_radius : expected a number, got 'twelve'" in text
    assert 'value="twelve"' in response.data.decode()  # what the user typed stays


def test_upload_shows_a_table_and_downloads_the_same_results_as_csv(aws, trained_versions, client):
    manifest = trained_versions.write()
    data = FEATURES.head(5).copy()
    data.insert(0, "note", ["=1+1", "ok", "@sum", "-x", "fine"])
    upload = {"file": (io.BytesIO(data.to_csv(index=False).encode()), "patients.csv")}
    response = client.post("/upload", data=upload, content_type="multipart/form-data")
    assert response.status_code == 200
    html = response.data.decode()
    headers = re.findall(r"<th(?: class=\"(\w+)\")?>([^<]+)</th>", html)
    assert headers[0] == ("", "note")
    assert ("champion", f"{manifest.champion} ★") in headers
    assert [name for kind, name in headers if kind == "model"] == manifest.model_names[1:]
    assert html.count("<tr>") == 1 + 5
    assert "Columns not used by the models (kept in the results): note" in _text(response.data)
    link = re.search(r'id="download" href="([^"]+)"', html).group(1)
    download = client.get(link)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    assert 'filename="patients-predictions-v1.csv"' in download.headers["Content-Disposition"]
    out = pd.read_csv(io.BytesIO(download.data))
    assert out["note"].tolist() == ["'=1+1", "ok", "'@sum", "'-x", "fine"]
    assert out.columns.tolist() == [
        "note", *FEATURES.columns, *(f"pred_{name}" for name in manifest.model_names),
        "prediction", "champion", "model_version", "request_id", "outside_training_range",
    ]  # fmt: skip
    assert out["mean_radius"].tolist() == data["mean_radius"].tolist()


def test_upload_problems_are_listed_by_row_and_column(aws, trained_versions, client):
    trained_versions.write()
    data = FEATURES.head(4).drop(columns=["mean_area"]).astype(object)
    data.loc[1, "mean_texture"] = "n/a!"
    upload = {"file": (io.BytesIO(data.to_csv(index=False).encode()), "broken.csv")}
    response = client.post("/upload", data=upload, content_type="multipart/form-data")
    assert response.status_code == 422
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", response.data.decode()
    )
    assert ("—", "mean_area", "", "missing column") in rows
    assert ("2", "mean_texture", "n/a!", "expected a number, got &#39;n/a!&#39;") in rows


def test_upload_without_a_file_or_with_an_empty_one_says_so(aws, trained_versions, client):
    trained_versions.write()
    assert "choose a CSV file" in _text(client.post("/upload", data={}).data)
    empty = {"file": (io.BytesIO(b""), "empty.csv")}
    response = client.post("/upload", data=empty, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "empty.csv is empty" in _text(response.data)


def test_unknown_result_ids_are_404_pages(aws, trained_versions, client):
    trained_versions.write()
    assert client.get("/results/" + "0" * 32 + ".csv").status_code == 404
    assert client.get("/results/../../x.csv").status_code == 404


def test_models_page_shows_leaderboard_reports_manifest_and_versions(aws, trained_versions, client):
    trained_versions.write()
    manifest = trained_versions.write()
    response = client.get("/models")
    assert response.status_code == 200
    html = response.data.decode()
    text = _text(response.data)
    assert 'data-testid="model-version">v2<' in html
    leaderboard = re.findall(r"<td>(\d)</td>\s*<td>(\w+) ", html)
    assert leaderboard == [(str(rank), name) for rank, name in enumerate(manifest.model_names, start=1)]
    plots = sorted(name for name, key in manifest.reports.items() if key.endswith(".png"))
    assert "leaderboard" in plots  # the job always plots its leaderboard
    assert sorted(re.findall(r'<img src="/p/default/v2/reports/([^"]+)"', html)) == plots
    assert 'href="/p/default/v2/reports/report"' in html
    assert f'"champion": "{manifest.champion}"' in unescape(html)
    assert re.findall(r'href="/models\?version=(\d)">', html) == ["2", "1"]
    older = client.get("/models?version=1")
    assert "(live is" in _text(older.data)
    assert "v1" in text


def test_reports_are_served_from_s3_through_the_app(aws, trained_versions, client):
    trained_versions.write()
    for url in ("/p/default/v1/reports/features", "/p/default/v1/reports/features.png"):  # by name, by file name
        image = client.get(url)
        assert (image.status_code, image.mimetype) == (200, "image/png"), url
        assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    report = client.get("/p/default/v1/reports/report.html")
    assert report.mimetype == "text/html"
    assert "sandbox" in report.headers["Content-Security-Policy"]
    assert "breast_cancer.csv" in report.data.decode()  # the training job's report names its data
    assert client.get("/p/default/v1/reports/secret.txt").status_code == 404
    assert client.get("/p/default/v9/reports/features.png").status_code == 404


def test_projects_by_path_and_query(aws, trained_versions, client):
    trained_versions.write("diabetes", DIABETES)
    by_path = client.post("/p/diabetes/", data=_form(DIABETES_FEATURES.iloc[0].to_dict()))
    assert by_path.status_code == 200
    by_query = client.get("/?project=diabetes")
    assert by_query.status_code == 200
    assert "Project diabetes" in _text(by_query.data)
    assert client.get("/?project=Bad..Name").status_code == 400

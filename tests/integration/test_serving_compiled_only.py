"""A version whose models are all compiled is served on every channel without scikit-learn, scipy or onnx.

Versions trained by the real training code on data people have (penguins:
categories and gaps; vega cars: a date, a name per car, categories; the crypto
example: time-ordered, lags and returns per symbol) are served by a fresh
Python process, as a serving container or Lambda starts: the JSON API, a CSV
body, the form page (shown and posted), the upload page, and file scoring of a
CSV under ``test/``. Every answer is each model's scikit-learn answer (the
parent computes those), and the child never imports scikit-learn, scipy or
onnx; a JSON record is answered without pandas too, and the champion's reasons
(``?explain=true``) need none of them either.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from support.zoo import ZOO

from dropml.scoring import load_version, validate_frame
from dropml.scoring.csv_input import read_scoring_csv
from tests.conftest import ROOT

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

TRAINING = {
    "cv_folds": 2,
    "models": {
        "baseline": {"estimator": "dummy"},
        "linear": {"estimator": "linear"},
        "random_forest": {"estimator": "random_forest", "params": {"n_estimators": 10}},
        "gradient_boosting": {"estimator": "hist_gradient_boosting", "params": {"max_iter": 10}},
        "extra_trees": {"estimator": "extra_trees", "params": {"n_estimators": 10}},
    },
}
SETS = ("penguins", "vega-cars", "crypto-ohlcv")
ROWS = 12  # over dask.batch_threshold (10): batches go the way big ones do
NOT_IN_SERVING = ("sklearn", "scipy", "onnx", "skl2onnx", "joblib")

CHILD = r"""
import io, json, sys, time
HEAVY = set(json.loads(sys.argv[2]))
heavy = lambda: sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
cases = json.loads(open(sys.argv[1]).read())
from web.app import app
from dropml import storage
from dropml.usecases.score_file import score_file
client = app.test_client()
out = {project: {} for project in cases}
for project, case in cases.items():  # first, one JSON record for each: the usual request, no DataFrame
    answer = client.post(f"/api/v1/predict?project={project}", json=case["records"][:1])
    out[project]["json"] = [answer.status_code, answer.get_json().get("models")]
pandas_after_json_records = "pandas" in sys.modules
for project, case in cases.items():
    got = out[project]
    answer = client.post(f"/api/v1/predict?project={project}", json=case["records"])
    got["json_batch"] = [answer.status_code, answer.get_json().get("models"), answer.get_json().get("engine")]
    answer = client.post(f"/api/v1/predict?project={project}", data=case["csv"],
                         headers={"Content-Type": "text/csv", "Accept": "application/json"})
    got["csv"] = [answer.status_code, answer.get_json().get("models")]
    answer = client.post(f"/api/v1/predict?project={project}&explain=true", json=case["records"])
    got["explained"] = [answer.status_code, answer.get_json().get("explanations")]
    got["form_page"] = client.get(f"/p/{project}/").status_code
    form = {"col:" + name: ("" if value is None else str(value)) for name, value in case["records"][0].items()}
    answer = client.post(f"/p/{project}/", data=form)
    got["form_post"] = [answer.status_code, answer.data.decode()]
    answer = client.post(f"/p/{project}/upload", data={"file": (io.BytesIO(case["csv"].encode()), "rows.csv")},
                         content_type="multipart/form-data")
    got["upload"] = [answer.status_code, answer.data.decode()]
    storage.put_bytes(f"test/{project}/rows.csv", case["csv"].encode(), "text/csv")
    key = score_file(f"test/{project}/rows.csv")
    got["file"] = storage.get_bytes(key).body.decode()
print(json.dumps({"answers": out, "imported": heavy(), "pandas_after_json_records": pandas_after_json_records}))
"""


def _case(trained_versions, tmp_path: Path, name: str) -> tuple[str, dict]:
    case = next(c for c in ZOO if c.name == name)
    csv = tmp_path / f"{name}.csv"
    csv.write_bytes(case.load())
    manifest = trained_versions.write(name, csv, overrides={**TRAINING, "target": case.target, **case.overrides})
    assert manifest.uncompiled == {}, manifest.uncompiled
    raw = read_scoring_csv(csv.read_bytes(), manifest.input_schema, csv.name)
    rows = raw.sample(ROWS, random_state=5).sort_index().reset_index(drop=True)
    if name == "crypto-ohlcv":  # a batch of one symbol's days: each row's lags come from the rows before it
        rows = raw[raw["symbol"] == "ETH"].tail(ROWS).reset_index(drop=True)
    loaded = load_version(name, manifest.version)
    checked = validate_frame(loaded.schema, rows)
    expected = {model: loaded.pipelines[model].predict(checked).tolist() for model in loaded.model_names}
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    return name, {"records": records, "csv": rows.to_csv(index=False), "expected": expected}


def _close(answers: dict, expected: dict) -> list[str]:
    """The models whose answers differ: other classes, or values further than 1e-9 of the largest apart."""
    differ = []
    for model, values in expected.items():
        got = answers[model]
        if values and isinstance(values[0], float):
            scale = max(*(abs(v) for v in values), 1.0)
            rows = [i for i, (a, b) in enumerate(zip(got, values, strict=True)) if abs(a - b) > 1e-9 * scale]
        else:
            rows = [i for i, (a, b) in enumerate(zip(got, json.loads(json.dumps(values)), strict=True)) if a != b]
        if rows:
            differ.append(f"{model}, rows {rows}: {[got[i] for i in rows[:3]]} != {[values[i] for i in rows[:3]]}")
    return differ


@pytest.mark.timeout(900)
def test_a_compiled_version_answers_every_channel_without_scikit_learn(aws, trained_versions, tmp_path):
    cases = dict(_case(trained_versions, tmp_path, name) for name in SETS)
    given = tmp_path / "cases.json"
    given.write_text(json.dumps({name: {k: v for k, v in c.items() if k != "expected"} for name, c in cases.items()}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DROPML__SERVING__MODEL_TTL_SECONDS": "0"}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(given), json.dumps(NOT_IN_SERVING)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["imported"] == [], f"serving imported {result['imported']}"
    assert result["pandas_after_json_records"] is False
    for name, case in cases.items():
        got, expected = result["answers"][name], case["expected"]
        for channel in ("json", "json_batch", "csv"):
            assert got[channel][0] == 200, got[channel]
        assert _close(got["json"][1], {model: values[:1] for model, values in expected.items()}) == []
        assert _close(got["json_batch"][1], expected) == []
        # over the threshold: on the Dask executor, compiled there too; a time-ordered batch whole (its lags)
        assert got["json_batch"][2] == ("in-process" if name == "crypto-ohlcv" else "dask")
        assert _close(got["csv"][1], expected) == []
        assert got["explained"][0] == 200
        assert len(got["explained"][1]) == ROWS  # the champion's reasons, in numpy: no scikit-learn either
        for row in got["explained"][1]:
            total = row["base"] + sum(c["contribution"] for c in row["top"]) + row["others"]
            assert abs(total - row["value"]) <= 1e-9 * max(1.0, abs(row["value"]))
        assert got["form_page"] == 200
        assert got["form_post"][0] == 200, got["form_post"][1][:2000]
        assert got["upload"][0] == 200, got["upload"][1][:2000]
        scored = pd.read_csv(io.StringIO(got["file"]))
        assert len(scored) == ROWS
        assert _close({m: scored[f"pred_{m}"].tolist() for m in expected}, expected) == []

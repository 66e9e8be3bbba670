"""The deployable web package, built as web/README.md says, fits Lambda and answers under its runtime's Python.

`zappa package dev` runs in a virtualenv of the stage's runtime (python3.12; Zappa packages the ACTIVE venv,
so its compiled wheels are the runtime's). The package is stored in the stand-in's S3, fetched and unzipped as
Lambda lays out a function's code, and Zappa's own handler is imported and called in a fresh, isolated
python3.12 that writes no bytecode (Lambda's code folder is read-only), with only what the Lambda runtime
provides beside it (tests/support/lambda_package.py). It answers a version the real training code made of
examples/breast_cancer.csv (every model compiled) on every channel, without scikit-learn; and it refuses a
version with a model that has no compiled form, naming the stage that serves it.
"""

from __future__ import annotations

import io
import json
import os
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from support import lambda_package
from support.lambda_package import LAMBDA_CODE_LIMIT

from dropml import aws, registry
from dropml.scoring.engines import FULL_STAGE
from dropml.usecases import register
from tests.conftest import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path

CODE_BUCKET = "dropml-zappa-test-code"  # what `dropml deploy zappa-settings` writes into s3_bucket
NOT_SERVING = {"sklearn", "scipy", "onnx", "skl2onnx", "joblib", "pyarrow", "boto3", "botocore", "matplotlib"}


@pytest.fixture(scope="module")
def lean_package(tmp_path_factory: pytest.TempPathFactory) -> lambda_package.Package:
    """`zappa package dev` in the runtime venv, once for this module (a venv on first use, then ~1 min)."""
    return lambda_package.build("dev", tmp_path_factory.mktemp("zappa-dev"), CODE_BUCKET)


def _runtime_env(aws_endpoint: str) -> dict[str, str]:
    """The stand-in's endpoint and credentials, the data bucket, and models checked on every request."""
    from dropml.config import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DROPML__", "PYTHON"))}
    env.update(AWS_ENDPOINT_URL=aws_endpoint, DROPML__STORAGE__BUCKET=settings().storage.bucket)
    env["DROPML__SERVING__MODEL_TTL_SECONDS"] = "0"
    return env


def _cold_start(package, events, tmp_path: Path, endpoint: str) -> lambda_package.ColdStart:
    s3 = aws.client("s3")
    lambda_package.upload(package, s3)
    return lambda_package.start_cold(package, events, tmp_path, _runtime_env(endpoint), s3)


@pytest.mark.slow
@pytest.mark.timeout(2400)  # a runtime venv on first use, zappa package, a session's training
def test_the_lean_package_fits_lambda_and_answers_every_channel_without_scikit_learn(
    aws, trained_versions, lean_package, tmp_path
):
    package = lean_package
    # Lambda loads it from its own code storage: a zip under the 250 MB unzipped quota, no slim handler
    assert not package.slim
    assert package.unpacked_bytes <= LAMBDA_CODE_LIMIT, f"{package.unpacked_bytes:,} B unzipped: {package.sizes}"
    assert not NOT_SERVING & set(package.sizes), NOT_SERVING & set(package.sizes)
    assert {"web", "dropml", "flask", "onnxruntime", "pandas", "numpy", "handler.py"} <= set(package.sizes)

    manifest = trained_versions.write()
    assert all(model.compiled is not None for model in manifest.models)
    frame = pd.read_csv(EXAMPLES / "breast_cancer.csv").drop(columns=["target"])
    record = frame.iloc[0].to_dict()
    form = urlencode({f"col:{name}": value for name, value in record.items()})
    semicolons = frame.head(2).to_csv(index=False, sep=";")  # as a European spreadsheet saves a CSV
    events = [
        ("json", lambda_package.api_event("POST", "/api/v1/predict", json.dumps(record), "application/json")),
        ("csv", lambda_package.api_event("POST", "/api/v1/predict", frame.head(3).to_csv(index=False), "text/csv")),
        ("form", lambda_package.api_event("POST", "/", form, "application/x-www-form-urlencoded")),
        # its delimiter is detected by clevercsv, which imports regex (the old package left regex out)
        ("csv;", lambda_package.api_event("POST", "/api/v1/predict", semicolons, "text/csv")),
    ]
    run = _cold_start(package, events, tmp_path, aws.endpoint)

    answers = {name: run.steps[name] for name, _ in events}
    assert {name: a["status"] for name, a in answers.items()} == {"json": 200, "csv": 200, "form": 200, "csv;": 200}
    one = json.loads(answers["json"]["body"])
    assert (one["model_version"], one["champion"], one["predictions"]) == (1, manifest.champion, ["malignant"])
    assert json.loads(answers["csv"]["body"])["predictions"] == ["malignant", "malignant", "malignant"]
    assert json.loads(answers["csv;"]["body"])["predictions"] == ["malignant", "malignant"]
    assert "malignant" in answers["form"]["body"]
    assert manifest.champion in answers["form"]["body"]
    # a JSON record of numbers, every model compiled: onnxruntime reads its matrix, so the cold function imports
    # neither pandas nor scikit-learn; the CSV body and the page need pandas, never scikit-learn or scipy
    assert not {"sklearn", "scipy", "pandas", "joblib"} & set(answers["json"]["imported"]), answers["json"]
    for name in ("csv", "form"):
        assert not {"sklearn", "scipy", "joblib"} & set(answers[name]["imported"]), (name, answers[name]["imported"])
    print(
        f"\n{lambda_package.RUNTIME} lean package: {package.zipped_bytes / 1e6:.1f} MB zipped, "
        f"{package.unpacked_bytes / 1e6:.1f} MB unzipped ({package.unpacked_bytes / LAMBDA_CODE_LIMIT:.0%} of "
        f"Lambda's limit); code fetch {run.code_fetch_s:.2f} s + unzip {run.code_unpack_s:.2f} s, spawn to Init "
        f"{run.process_s:.2f} s, JSON {answers['json']['seconds']:.2f} s, CSV {answers['csv']['seconds']:.2f} s, "
        f"form {answers['form']['seconds']:.2f} s"
    )


def _uncompilable_pickle() -> bytes:
    """A pipeline ONNX has no converter for (a FunctionTransformer), so only scikit-learn can serve it."""
    frame = pd.read_csv(EXAMPLES / "breast_cancer.csv")
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=2000))
    model.fit(frame[["mean_radius", "mean_texture"]], frame["target"])
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_the_lean_package_refuses_a_version_only_scikit_learn_serves_and_names_the_full_stage(
    aws, lean_package, tmp_path
):
    schema = {
        "target": "target",
        "task": "classification",
        "columns": [{"name": c, "dtype": "float64", "kind": "numeric"} for c in ("mean_radius", "mean_texture")],
    }
    manifest = register.register_model("registered", _uncompilable_pickle(), json.dumps(schema))
    registry.promote("registered", manifest.version)
    assert manifest.models[0].compiled is None
    record = {"mean_radius": 14.0, "mean_texture": 19.0}
    project = {"project": "registered"}
    events = [
        ("json", lambda_package.api_event("POST", "/api/v1/predict", json.dumps(record), "application/json", project)),
        ("health", lambda_package.api_event("GET", "/api/v1/health", query=project)),
    ]
    run = _cold_start(lean_package, events, tmp_path, aws.endpoint)

    refused = run.steps["json"]
    assert refused["status"] == 503, refused
    message = json.loads(refused["body"])["message"]
    assert "'registered'" in message, message
    assert "no compiled form" in message, message
    assert f"zappa deploy {FULL_STAGE}" in message, message
    assert not {"sklearn", "scipy", "joblib"} & set(refused["imported"])
    health = json.loads(run.steps["health"]["body"])
    assert (run.steps["health"]["status"], health["status"]) == (503, "no_model")
    assert "NeedsScikitLearn" in health["reason"], health
    print(f"\nthe lean package on a version only scikit-learn serves: {refused['status']} {message}\nhealth: {health}")

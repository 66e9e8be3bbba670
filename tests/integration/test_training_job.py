"""The training job against the moto server: sample CSVs become published versions; bad files publish nothing."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from fakes import FAST_TRAINING

from dropml import local, notify, registry, storage
from dropml.aws import client as aws_client
from dropml.config import reset_settings_cache
from dropml.errors import BadInput, ConfigError, TooLarge
from dropml.storage import keys
from dropml.usecases.train import run_training

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def inbox(aws):
    """An SQS queue subscribed to the notification topic: what an operator's subscription receives."""
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName="training-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns").subscribe(TopicArn=notify.topic_arn(), Protocol="sqs", Endpoint=arn)

    def messages() -> list[dict]:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in found]

    return messages


def _upload(key: str, example: str) -> bytes:
    body = (EXAMPLES / example).read_bytes()
    storage.put_bytes(key, body, "text/csv")
    return body


def _audit(run_id: str) -> dict:
    matches = [k for k in storage.list_keys(keys.audit_prefix("training")) if k.endswith(f"/{run_id}.json")]
    assert len(matches) == 1
    return storage.get_json(matches[0])


def _check_published(manifest, csv_body: bytes, model_names: list[str]) -> pd.DataFrame:
    """Everything a consumer of a version relies on; returns the raw CSV rows for predictions."""
    key = keys.manifest_key(manifest.project, manifest.version)
    assert registry.read_manifest(manifest.project, manifest.version) == manifest
    for name, artifact in manifest.artifacts.items():
        assert storage.get_bytes(artifact.key).sha256 == artifact.sha256, name
    compiled = [m.compiled.artifact for m in manifest.models if m.compiled]  # ONNX forms that matched sklearn
    champion = manifest.model(manifest.champion)
    assert champion.explainer is not None, champion.not_explained  # every default champion is a tree or linear
    assert sorted(champion.explainer.importance) == sorted(manifest.input_schema.names)
    assert sorted(manifest.artifacts) == sorted(
        [
            *model_names,
            *compiled,
            champion.explainer.artifact,
            "leaderboard",
            "profile",  # the training profile that monitoring compares every batch with
            "report",
            "plot_target",
            "plot_features",
            "plot_correlation",
            "plot_leaderboard",
        ]
    )
    board = pd.read_csv(io.BytesIO(storage.get_bytes(manifest.artifacts["leaderboard"].key).body))
    assert manifest.artifacts["leaderboard"].key == keys.artifact_key(
        manifest.project, manifest.version, "leaderboard.csv"
    )
    assert sorted(board["model"]) == sorted(model_names)
    assert board["rank"].tolist() == list(range(1, len(model_names) + 1))
    assert board.loc[0, "model"] == manifest.champion
    assert not board.loc[0, "baseline"]
    assert {m.name: m.rank for m in manifest.models} == dict(zip(board["model"], board["rank"], strict=True))
    assert manifest.model("baseline").baseline
    assert {"fit_seconds", "predict_seconds", f"holdout_{manifest.rank_metric}", manifest.rank_metric} <= set(
        manifest.model(manifest.champion).metrics
    )
    assert manifest.reports["report"] == keys.report_key(manifest.project, manifest.version, "report.html")
    html = storage.get_bytes(manifest.reports["report"]).body.decode()
    assert f"<h1>dropml: project {manifest.project}, version {manifest.version}</h1>" in html
    for plot in ("target", "features", "correlation", "leaderboard"):
        assert storage.get_bytes(manifest.reports[plot]).body.startswith(PNG)
    assert manifest.data.sha256 == storage.sha256_hex(csv_body)
    assert manifest.code.libraries.keys() >= {"scikit-learn", "pandas", "numpy", "joblib"}
    assert storage.exists(key)
    return pd.read_csv(io.BytesIO(csv_body))


def _load(manifest, name: str):
    pipeline = joblib.load(io.BytesIO(registry.read_artifact(manifest.artifacts[name])))
    assert [step for step, _ in pipeline.steps] == ["preprocess", "select", "model"]
    return pipeline


def test_breast_cancer_trains_the_default_project_with_config_defaults(aws, inbox):
    body = _upload("train/breast_cancer.csv", "breast_cancer.csv")
    manifest = run_training("train/breast_cancer.csv", run_id="bc-run-1")
    assert (manifest.project, manifest.version, manifest.task) == ("default", 1, "classification")
    assert manifest.classes == ["benign", "malignant"]
    assert manifest.rank_metric == "f1_macro"
    rows = _check_published(manifest, body, ["baseline", "linear", "random_forest", "gradient_boosting", "extra_trees"])
    assert manifest.input_schema.names == [c for c in rows.columns if c != "target"]
    assert {c.kind for c in manifest.input_schema.columns} == {"numeric"}
    assert 1 <= len(manifest.selected_features) <= 30
    champion = manifest.model(manifest.champion)
    assert champion.metrics["f1_macro"] > 0.9
    assert manifest.model("baseline").metrics["f1_macro"] < 0.5

    predictions = _load(manifest, manifest.champion).predict(rows[manifest.input_schema.names].head(20))
    assert set(predictions) <= {"benign", "malignant"}
    assert (predictions == rows["target"].head(20).to_numpy()).mean() >= 0.9

    record = _audit("bc-run-1")
    assert (record["outcome"], record["version"], record["champion"]) == ("succeeded", 1, manifest.champion)
    assert record["data"]["sha256"] == storage.sha256_hex(body)
    assert record["data"]["etag"] == storage.head("train/breast_cancer.csv").etag
    assert record["manifest_key"] == "models/default/v1/manifest.json"
    assert record["code"]["git"] == manifest.code.git
    assert record["config"]["target"] == "target"
    assert record["metrics"][manifest.champion]["f1_macro"] == champion.metrics["f1_macro"]
    (message,) = inbox()
    assert (message["step"], message["outcome"], message["project"], message["version"]) == (
        "training",
        "succeeded",
        "default",
        1,
    )
    assert message["champion"] == manifest.champion
    assert (sorted(message["compiled"]), message["not_compiled"]) == (sorted(manifest.model_names), {})  # defaults
    assert message["artifacts"]["report"] == "reports/default/v1/report.html"
    assert message["manifest_key"] == "models/default/v1/manifest.json"


def test_diabetes_regression_then_a_cli_run_publishes_version_2(aws):
    body = _upload("train/diabetes/diabetes.csv", "diabetes.csv")
    first = run_training("train/diabetes/diabetes.csv", overrides=FAST_TRAINING)
    assert (first.project, first.version, first.task, first.rank_metric) == ("diabetes", 1, "regression", "rmse")
    rows = _check_published(first, body, list(FAST_TRAINING["models"]))
    sex = first.input_schema.column("sex")
    assert (sex.kind, sex.categories) == ("categorical", ["F", "M"])
    age = first.input_schema.column("age")
    assert (age.kind, age.minimum, age.maximum) == ("numeric", rows["age"].min(), rows["age"].max())
    predictions = _load(first, "random_forest").predict(rows[first.input_schema.names].head(5))
    assert predictions.dtype.kind == "f"
    assert len(predictions) == 5

    env = {**os.environ, **local.local_environment(aws.endpoint)}
    command = [sys.executable, "-m", "training_job.main", "train", "--key", "train/diabetes/diabetes.csv"]
    done = subprocess.run(
        [*command, "--overrides", json.dumps(FAST_TRAINING), "--run-id", "cli-run"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "job": "train",
        "project": "diabetes",
        "version": 2,
        "manifest": "models/diabetes/v2/manifest.json",
        "champion": registry.read_manifest("diabetes", 2).champion,
        "run_id": "cli-run",
    }
    assert registry.list_versions("diabetes") == [1, 2]

    storage.put_bytes("train/diabetes/empty.csv", b"age,sex,target\n")
    bad = subprocess.run(
        [*command[:-1], "train/diabetes/empty.csv"], capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.splitlines()[-1] == (
        "error: BadInput: train/diabetes/empty.csv has a header (3 columns) but no data rows"
    )


def test_crypto_time_series_predicts_next_open_per_symbol(aws):
    body = _upload("train/crypto/crypto_ohlcv.csv", "crypto_ohlcv.csv")
    manifest = run_training("train/crypto/crypto_ohlcv.csv", overrides=FAST_TRAINING)
    assert (manifest.project, manifest.task, manifest.target) == ("crypto", "regression", "open")
    rows = _check_published(manifest, body, [*FAST_TRAINING["models"], "persistence"])
    assert manifest.input_schema.names == ["date", "symbol", "open", "high", "low", "close", "volume"]
    assert (manifest.input_schema.time_column, manifest.input_schema.group_column) == ("date", "symbol")
    assert manifest.input_schema.column("date").kind == "datetime"
    assert manifest.input_schema.column("symbol").categories == sorted(rows["symbol"].unique())
    assert manifest.data_quality["split"] == "TimeSeriesSplit(3, gap=1)"
    derived = [a for a in manifest.data_quality["actions"] if a["action"] == "derived_time_target"]
    assert derived[0]["message"] == (
        f"target = 'open' 1 step(s) ahead per symbol; {rows['symbol'].nunique()} row(s) without a future value dropped"
    )
    recent = rows[rows["date"] >= sorted(rows["date"].unique())[-10]]  # raw ISO strings, as serving sends them
    predictions = _load(manifest, manifest.champion).predict(recent)
    assert len(predictions) == len(recent)
    btc = recent["symbol"] == "BTC"
    assert abs(predictions[btc.to_numpy()].mean() / recent.loc[btc, "open"].mean() - 1) < 0.2


def test_a_time_ordered_project_gets_a_persistence_baseline_from_past_values_only(aws):
    body = _upload("train/crypto/crypto_ohlcv.csv", "crypto_ohlcv.csv")
    manifest = run_training("train/crypto/crypto_ohlcv.csv", overrides=FAST_TRAINING)
    persistence = manifest.model("persistence")
    assert (persistence.estimator, persistence.baseline, persistence.params) == ("last_value", True, {"column": "open"})
    assert manifest.champion != "persistence"
    board = pd.read_csv(io.BytesIO(storage.get_bytes(manifest.artifacts["leaderboard"].key).body))
    row = board[board["model"] == "persistence"].iloc[0]
    assert (row["estimator"], bool(row["baseline"]), bool(row["champion"])) == ("last_value", True, False)

    # the forecast for a row is that row's own open: the latest value known on its date, never a later one
    rows = pd.read_csv(io.BytesIO(body))
    pipeline = _load(manifest, "persistence")
    latest = rows[rows["date"] == rows["date"].max()]
    assert pipeline.predict(latest).tolist() == latest["open"].tolist()
    past_only = rows[rows["date"] <= "2024-06-01"]
    assert pipeline.predict(past_only).tolist() == past_only["open"].tolist()

    # its holdout score is the error of "next open = today's open" over the holdout rows
    ordered = rows.sort_values(["symbol", "date"], kind="mergesort")
    ordered["next_open"] = ordered.groupby("symbol")["open"].shift(-1)
    labelled = ordered[ordered["next_open"].notna()]  # the last day has no next open: not trained on
    holdout_days = sorted(labelled["date"].unique())[-manifest.data_quality["holdout_rows"] // 4 :]  # 4 symbols
    held = labelled[labelled["date"].isin(holdout_days)]
    assert len(held) == manifest.data_quality["holdout_rows"]
    rmse = float(np.sqrt(((held["next_open"] - held["open"]) ** 2).mean()))
    assert persistence.metrics["holdout_rmse"] == pytest.approx(rmse, rel=1e-9)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _rows(count: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(count), "z": [i % 7 for i in range(count)], "target": ["a", "b"] * (count // 2)})


BAD_FILES = [
    ("empty", b"", "train/bad.csv is empty"),
    ("header only", b"x,z,target\n", "train/bad.csv has a header (3 columns) but no data rows"),
    (
        "missing target",
        b"x,z,label\n1,2,a\n3,4,b\n",
        "target 'target' is not a column of the file; found: x, z, label. Name the column to predict in the "
        "project's training settings (target: projects.<project>.target in config.json, or the project's stored "
        "settings), or retrain on this file with `dropml train <project> --set target=<column>`",
    ),
    (
        "one class",
        _csv(_rows(40).assign(target="a")),
        "target 'target' has a single class ('a' (40 rows)); classification needs at least 2 classes",
    ),
    (
        "junk numbers",
        _csv(_rows(40).assign(z=["oops"] * 10 + [str(i) for i in range(30)])),
        "column 'z' looks numeric but 10 of 40 values (25%) are not numbers, e.g. 'oops'; fix the values or "
        "remove the column (up to 5% would be treated as missing)",
    ),
    ("binary", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)), None),
    (
        "too few rows",
        _csv(_rows(12)),
        "only 12 usable rows after cleaning; at least 20 are needed for cross-validation and a holdout",
    ),
]


@pytest.mark.parametrize(("case", "body", "message"), BAD_FILES, ids=[case for case, _, _ in BAD_FILES])
def test_bad_files_publish_nothing_and_say_why(aws, inbox, case, body, message):
    storage.put_bytes("train/bad.csv", body)
    with pytest.raises(BadInput) as caught:
        run_training("train/bad.csv", run_id=f"bad-{case.replace(' ', '-')}")
    if message is None:  # undecodable files: the reason depends on where decoding fails
        assert str(caught.value).startswith(("train/bad.csv is not a text CSV file", "train/bad.csv is not UTF-8"))
    else:
        assert str(caught.value) == message
    _assert_nothing_published(caught.value, f"bad-{case.replace(' ', '-')}", inbox)


def test_a_file_over_the_size_limit_is_refused_before_download(aws, inbox, monkeypatch):
    monkeypatch.setenv("DROPML__STORAGE__MAX_TRAINING_BYTES", "1000")
    reset_settings_cache()
    body = _csv(_rows(400))
    storage.put_bytes("train/big.csv", body)
    with pytest.raises(TooLarge) as caught:
        run_training("train/big.csv", run_id="too-big")
    assert str(caught.value).startswith(
        f"train/big.csv is {len(body):,} bytes, over the training limit of 1,000 bytes (storage.max_training_bytes): "
        "sample the file, or raise the limit (DROPML__STORAGE__MAX_TRAINING_BYTES)"
    )
    _assert_nothing_published(caught.value, "too-big", inbox)


def _assert_nothing_published(error: Exception, run_id: str, inbox) -> None:
    assert list(storage.list_keys("models/")) == []
    assert list(storage.list_keys("reports/")) == []
    assert list(storage.list_keys("locks/")) == []  # no version number burnt
    record = _audit(run_id)
    assert (record["outcome"], record["version"], record["error"]) == ("failed", None, str(error))
    assert record["data"]["key"].startswith("train/")
    (message,) = inbox()
    assert (message["step"], message["outcome"], message["error"]) == ("training", "failed", str(error))
    assert message["error_type"] == type(error).__name__


def test_invalid_overrides_are_a_config_error_and_publish_nothing(aws, inbox):
    _upload("train/diabetes/diabetes.csv", "diabetes.csv")
    with pytest.raises(ConfigError) as caught:
        run_training("train/diabetes/diabetes.csv", overrides={"cv_folds": 1}, run_id="bad-config")
    assert str(caught.value) == (
        "training settings of project 'diabetes': cv_folds: Input should be greater than or equal to 2 (got 1)"
    )
    _assert_nothing_published(caught.value, "bad-config", inbox)


def test_vega_cars_keeps_the_car_names_maker_and_serves_a_name_it_never_saw(aws):
    """vega_datasets' cars: ``Name`` is a name per car ("chevrolet chevelle malibu"); its first word is the maker."""
    from support.zoo import ZOO

    from dropml.scoring import frame_from_records, load_version, predict

    cars = next(case for case in ZOO if case.name == "vega-cars")
    body = cars.load()
    storage.put_bytes("train/cars/cars.csv", body, "text/csv")
    manifest = run_training("train/cars/cars.csv", overrides={**FAST_TRAINING, "target": "Origin"})
    [name] = [c for c in manifest.input_schema.columns if c.name == "Name"]
    assert (name.kind, name.categories) == ("categorical", None)  # any text: a new model is no unseen category
    loaded = load_version("cars", manifest.version)
    preprocess = loaded.pipelines[manifest.champion].named_steps["preprocess"]
    makers = [f for f in preprocess.get_feature_names_out() if "Name" in f]
    assert any(f.endswith("_chevrolet") for f in makers), makers
    assert any(f.endswith("_toyota") for f in makers), makers
    rows = pd.read_csv(io.BytesIO(body))
    small = rows[rows["Cylinders"] == 4].drop(columns=["Origin"]).iloc[0].to_dict()  # a 4-cylinder car
    records = [{**small, "Name": f"{maker} model never made"} for maker in ("chevrolet", "toyota", "volkswagen")]
    answer = predict(loaded, frame_from_records(loaded.schema, records), engine="in-process")
    # one car, told apart by its maker alone (the linear model: the one whose answer a maker can flip by itself)
    assert answer.by_model["linear"].tolist() == ["USA", "Japan", "Europe"]

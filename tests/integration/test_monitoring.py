"""Monitoring on the stand-in's S3 and SNS, read through the live HTTP server: drift, realized accuracy, rollback."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from support.live_server import multipart_csv, post, serving
from support.versions import BREAST_CANCER, EXAMPLES, TAMPERED_BYTES
from test_web_api import _validator

from dropml import audit, registry, storage
from dropml.aws import client as aws_client
from dropml.config import reset_settings_cache
from dropml.errors import ChecksumMismatch
from dropml.monitoring.realized import metrics_of
from dropml.notify import topic_arn
from dropml.scoring.metrics import compute_metrics
from dropml.storage import keys
from dropml.usecases import daily_monitoring, drift, realized
from dropml.usecases.score_file import score_file
from web.openapi import openapi_document

CRYPTO = EXAMPLES / "crypto_ohlcv.csv"
TRAINING = pd.read_csv(BREAST_CANCER)


@pytest.fixture
def inbox(aws):
    """Every message the SNS topic publishes, from an SQS queue subscribed to it."""
    sqs = aws_client("sqs")
    url = sqs.create_queue(QueueName="monitoring-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns").subscribe(TopicArn=topic_arn(), Protocol="sqs", Endpoint=arn)

    def received() -> list[dict]:
        found = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                found.append(json.loads(json.loads(message["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    return received


@pytest.fixture
def monitoring_settings(monkeypatch):
    """Set ``monitoring.<key>`` for this test (e.g. ``auto_rollback=True``, ``realized={"window_rows": 40}``)."""

    def apply(**values):
        for name, value in values.items():
            monkeypatch.setenv(f"DROPML__MONITORING__{name.upper()}", json.dumps(value))
        reset_settings_cache()

    yield apply
    reset_settings_cache()


def _drifted(rows: int = 200, seed: int = 1) -> pd.DataFrame:
    frame = TRAINING.sample(rows, random_state=seed).reset_index(drop=True)
    for column in frame.columns[:20]:
        frame[column] = frame[column] * 1.8
    return frame.drop(columns=["target"])


def _put(key: str, frame: pd.DataFrame) -> str:
    storage.put_bytes(key, frame.to_csv(index=False).encode(), "text/csv")
    return key


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _monitoring_json(base: str, project: str = "default") -> dict:
    status, body = _get(f"{base}/api/v1/projects/{project}/monitoring")
    assert status == 200, body[:300]
    document = json.loads(body)
    schema = openapi_document()["components"]["schemas"]["Monitoring"]
    assert [e.message for e in _validator(schema).iter_errors(document)] == []
    return document


def test_the_profile_is_written_with_the_manifest_and_covered_by_its_checksums(aws, trained_versions):
    manifest = trained_versions.write()
    artifact = manifest.artifacts[manifest.profile]
    assert (manifest.profile, artifact.key) == ("profile", "models/default/v1/profile.json")
    registry.verify_artifacts(manifest)  # what publishing checks: the profile too
    profile = drift.profile_of(manifest)
    assert set(profile.columns) == set(manifest.input_schema.names)
    assert profile.rows == len(TRAINING)
    storage.put_bytes(artifact.key, TAMPERED_BYTES)
    with pytest.raises(ChecksumMismatch):
        registry.verify_artifacts(manifest)
    drift._profiles.clear()
    with pytest.raises(ChecksumMismatch, match="profile.json"):
        drift.profile_of(manifest)


def test_a_drifted_file_is_announced_and_shown_on_the_page_and_in_the_json(aws, trained_versions, inbox):
    trained_versions.write()
    score_file(_put("test/like-training.csv", TRAINING.sample(150, random_state=3).drop(columns=["target"])))
    assert [m for m in inbox() if m["step"] == "drift"] == []  # rows like the training data: a report, no alert
    score_file(_put("test/drifted.csv", _drifted()))
    [alert] = [m for m in inbox() if m["step"] == "drift"]
    assert (alert["outcome"], alert["project"], alert["version"]) == ("alert", "default", 1)
    assert alert["source"]["name"] == "test/drifted.csv"
    assert {a["threshold"] for a in alert["alerts"]} >= {"drifted_share", "outside_range_share"}
    assert len(alert["drifted_columns"]) >= 15
    report = storage.get_json(alert["report_key"])
    assert report["reference"] == "models/default/v1/profile.json"
    assert report["rows"] == 200
    with serving() as base:
        document = _monitoring_json(base)
        status, page = _get(f"{base}/monitoring")
    assert [r["source"]["name"] for r in document["drift"]] == ["test/like-training.csv", "test/drifted.csv"]
    assert document["latest"]["key"] == alert["report_key"]
    assert document["drift"][0]["alerts"] == []
    assert status == 200
    text = page.decode()
    assert "test/drifted.csv" in text
    assert 'data-testid="drift-alert"' in text
    assert text.count("<svg") >= 2
    assert 'class="monitoring-chart drift-chart"' in text
    assert 'class="drifted" data-column="mean_radius"' in text


def test_a_version_without_a_profile_still_loads_and_its_report_says_there_is_no_reference(aws, trained_versions):
    manifest = trained_versions.write(promote=False)
    older = manifest.model_dump(mode="json")  # as dropml wrote manifests before profiles existed
    older.pop("profile")
    older["artifacts"].pop("profile")
    older["version"] = 2
    older["artifacts"] = {
        name: {**artifact, "key": artifact["key"].replace("/v1/", "/v2/")}
        for name, artifact in older["artifacts"].items()
    }
    for name, artifact in manifest.artifacts.items():
        if name != "profile":
            storage.copy(artifact.key, artifact.key.replace("/v1/", "/v2/"))
    storage.put_json(keys.manifest_key("default", 2), older)
    registry.promote("default", 2)
    score_file(_put("test/rows.csv", _drifted(50)))
    [key] = storage.list_keys(keys.drift_reports_prefix("default"))
    report = storage.get_json(key)
    assert report["version"] == 2
    assert report["reference"] is None
    assert "no training profile" in report["note"]
    assert report["tested_columns"] == 0
    assert report["outside_range_share"] > 0.5  # what the schema alone tells


def test_an_upload_gets_its_drift_report_and_the_results_page_says_so(aws, trained_versions, inbox):
    trained_versions.write()
    body, content_type = multipart_csv("drifted.csv", _drifted(80).to_csv(index=False).encode())
    with serving() as base:
        status, _, page = post(f"{base}/upload", body, content_type)
        document = _monitoring_json(base)
    assert status == 200
    assert 'data-testid="drift-alert"' in page.decode()
    [report] = document["drift"]
    assert (report["source"]["kind"], report["source"]["name"], report["rows"]) == ("upload", "drifted.csv", 80)
    assert [m["source"]["kind"] for m in inbox() if m["step"] == "drift"] == ["upload"]


def test_a_day_of_api_traffic_is_sampled_by_the_audit_trail_and_reported_without_a_server(
    aws, trained_versions, monitoring_settings
):
    monitoring_settings(traffic_sample={"rows": 40, "window_seconds": 0.01})
    trained_versions.write()
    records = _drifted(120, seed=4).to_dict(orient="records")
    with serving() as base:
        for start in range(0, 100, 1):  # 100 one-record requests
            status, _, _ = post(f"{base}/api/v1/predict", json.dumps(records[start]).encode(), "application/json")
            assert status == 200
        body = pd.DataFrame(records[100:]).to_csv(index=False).encode()  # and one 20-row CSV request
        assert post(f"{base}/api/v1/predict", body, "text/csv")[0] == 200
    audit.flush()  # the window is due: the sample goes with the records
    today = datetime.now(UTC).date().isoformat()
    lines = daily_monitoring._sample_lines("default", today)
    assert sum(line["rows_seen"] for line in lines) == 120
    assert all(len(line["rows"]) <= 40 for line in lines)
    done = daily_monitoring.monitor_day(today, "default")
    [key] = done["projects"]["default"]["drift_reports"]
    report = storage.get_json(key)
    assert report["source"]["kind"] == "traffic"
    assert report["source"]["rows_seen"] == 120
    assert report["rows"] == pytest.approx(120)  # the kept rows, weighted, stand for every row scored
    assert report["drifted_share"] > 0.5
    assert daily_monitoring.monitor_day(today, "default")["projects"]["default"]["drift_reports"] == [key]  # rerun


def test_a_labelled_file_gives_realized_metrics_like_the_holdout(aws, trained_versions):
    manifest = trained_versions.write()
    labelled = TRAINING.sample(120, random_state=7).reset_index(drop=True)
    labelled.loc[:9, "target"] = None  # rows without a label are scored, not counted
    predictions_key = score_file(_put("test/labelled.csv", labelled))
    scored = pd.read_csv(io.BytesIO(storage.get_bytes(predictions_key).body))
    kept = scored["target"].notna()
    expected = compute_metrics(
        "classification", scored.loc[kept, "target"].astype(str), scored.loc[kept, "prediction"].astype(str)
    )
    summary = realized.realized_summary("default", 1)
    assert summary.rows == 110
    assert summary.metrics == pytest.approx(expected)
    assert summary.holdout["f1_macro"] == manifest.model(manifest.champion).metrics["holdout_f1_macro"]
    [day] = summary.by_day
    assert (day["rows"], day["rank_metric"]) == (110, "f1_macro")
    with serving() as base:
        document = _monitoring_json(base)
        status, page = _get(f"{base}/p/default/monitoring")
    [line] = document["realized"]
    assert (line["version"], line["live"], line["rows"]) == (1, True, 110)
    assert line["days"][0]["value"] == pytest.approx(expected["f1_macro"])
    assert status == 200
    assert 'data-testid="realized-table"' in page.decode()
    assert 'class="monitoring-chart realized-chart"' in page.decode()


def _crypto_days(last: int, days: int = 20) -> pd.DataFrame:
    frame = pd.read_csv(CRYPTO)
    dates = sorted(frame.date.unique())
    chosen = dates[-(last + days) : len(dates) - last]
    return frame[frame.date.isin(chosen)]


def test_a_time_ordered_projects_next_rows_answer_its_earlier_forecasts(aws, trained_versions):
    trained_versions.write("crypto", CRYPTO)
    symbols = pd.read_csv(CRYPTO).symbol.nunique()
    score_file(_put("test/crypto/day1.csv", _crypto_days(last=1)))
    first = realized.realized_summary("crypto", 1)
    assert first.rows == symbols * 19  # within the file: each row but the last of each symbol is answered
    score_file(_put("test/crypto/day2.csv", _crypto_days(last=0)))  # one day later: 19 rows repeated, 1 new
    second = realized.realized_summary("crypto", 1)
    assert second.rows == symbols * 20  # day 1's last forecasts answered; repeated rows counted once
    keyed = list(realized.keyed_predictions("crypto", datetime.now(UTC).date(), 1))
    assert len(keyed) == 2
    assert all(len(k.times) == symbols * 20 for k in keyed)
    pairs = realized.recent_pairs("crypto", 1, 1)
    assert len(set(pairs.keys)) == len(pairs) == symbols * 20
    assert second.metrics == pytest.approx(metrics_of("regression", pairs))
    frame = pd.read_csv(CRYPTO).sort_values(["symbol", "date"])
    btc = frame[frame.symbol == "BTC"].set_index("date")["open"]
    last_day1 = sorted(_crypto_days(last=1).date.unique())[-1]
    answer = btc.shift(-1)[last_day1]  # day 2's open answers day 1's last forecast
    [index] = [i for i, key in enumerate(pairs.keys) if key.startswith(last_day1) and key.endswith("|BTC")]
    assert pairs.y_true[index] == pytest.approx(answer)


def _two_versions(trained_versions) -> None:
    trained_versions.write()  # v1, live, then
    trained_versions.write()  # v2, live


def _labelled(rows: int, wrong: bool, seed: int = 11) -> pd.DataFrame:
    frame = TRAINING.sample(rows, random_state=seed).reset_index(drop=True)
    if wrong:  # the world changed: every label flipped
        classes = sorted(frame.target.unique())
        frame["target"] = frame.target.map({classes[0]: classes[1], classes[1]: classes[0]})
    return frame


def test_realized_below_the_holdout_rolls_back_to_the_previous_live_version(
    aws, trained_versions, inbox, monitoring_settings
):
    monitoring_settings(auto_rollback=True, realized={"window_rows": 60})
    _two_versions(trained_versions)
    score_file(_put("test/bad-news.csv", _labelled(80, wrong=True)))
    assert registry.live_version("default").version == 1
    messages = inbox()
    [below] = [m for m in messages if m["step"] == "realized"]
    assert (below["outcome"], below["version"], below["below"], below["auto_rollback"]) == ("alert", 2, True, True)
    [rolled] = [m for m in messages if m["step"] == "rollback"]
    assert (rolled["outcome"], rolled["version"], rolled["was"], rolled["by"]) == ("succeeded", 1, 2, "monitoring")
    assert [e.model_version for e in registry.history("default")][-1] == 1  # recorded like any rollback


def test_without_auto_rollback_realized_below_the_holdout_is_only_announced(
    aws, trained_versions, inbox, monitoring_settings
):
    monitoring_settings(realized={"window_rows": 60})
    _two_versions(trained_versions)
    score_file(_put("test/bad-news.csv", _labelled(80, wrong=True)))
    assert registry.live_version("default").version == 2
    [below] = [m for m in inbox() if m["step"] == "realized"]
    assert (below["below"], below["auto_rollback"]) == (True, False)


@pytest.mark.parametrize(("rows", "wrong"), [(80, False), (40, True)], ids=["as-good-as-holdout", "too-few-rows"])
def test_auto_rollback_leaves_a_version_that_holds_up_or_has_too_few_labels(
    aws, trained_versions, inbox, monitoring_settings, rows, wrong
):
    monitoring_settings(auto_rollback=True, realized={"window_rows": 60})
    _two_versions(trained_versions)
    score_file(_put("test/news.csv", _labelled(rows, wrong=wrong)))
    assert registry.live_version("default").version == 2
    assert [m for m in inbox() if m["step"] in ("realized", "rollback")] == []
    assert realized.realized_summary("default", 2).rows == rows


def test_a_registered_version_gets_its_profile_from_the_labelled_data_given(aws):
    from test_byom import SCHEMA, _pickles

    from dropml.usecases import register

    model, scaler = _pickles()
    rng = np.random.default_rng(3)
    heights, weights = rng.normal(150, 20, 60), rng.normal(80, 20, 60)
    labelled = pd.DataFrame(
        {"height": heights, "weight": weights, "label": np.where(heights + weights > 230, "yes", "no")}
    )
    without = register.register_model("people", model, json.dumps(SCHEMA), scaler)
    assert without.profile is None
    given = register.register_model(
        "people", model, json.dumps(SCHEMA), scaler, labelled_csv=labelled.to_csv(index=False).encode()
    )
    profile = drift.profile_of(given)
    assert set(profile.columns) == {"height", "weight"}
    assert profile.rows == 60
    registry.verify_artifacts(given)


def test_predictions_audited_for_any_version_and_role_accrue_realized_metrics_of_that_version(aws, trained_versions):
    trained_versions.write("crypto", CRYPTO)  # v1 live
    challenger = trained_versions.write("crypto", CRYPTO, promote=False)  # v2, scoring in the shadow
    days = _crypto_days(last=0, days=6)
    rows = days.assign(date=pd.to_datetime(days.date))
    predicted = np.full(len(rows), 1.0)
    for version, role in ((1, "live"), (challenger.version, "challenger")):
        keyed = audit.RowKeys(rows, "date", "symbol", "open", predicted * version)
        audit.record_prediction(
            audit.prediction_record(
                request_id=f"r{version}", project="crypto", model_version=version, champion="x", models=["x"],
                engine="in-process", rows=len(rows), inputs_sha256="-", latency_ms=1.0, channel="json",
                role=role, row_keys=keyed,
            )
        )  # fmt: skip
    audit.flush()
    joined = realized.join_time_ordered_predictions("crypto")
    today = datetime.now(UTC).date().isoformat()
    symbols = rows.symbol.nunique()
    assert joined == {(1, today): symbols * 5, (2, today): symbols * 5}
    shadow = realized.realized_summary("crypto", 2)
    assert shadow.rows == symbols * 5
    assert shadow.metrics["mae"] != realized.realized_summary("crypto", 1).metrics["mae"]
    assert [d["version"] for d in shadow.by_day] == [2]

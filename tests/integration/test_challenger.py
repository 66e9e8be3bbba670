"""A challenger in the shadow, on the stand-in's S3, SSM and SNS, through the live HTTP server and the CLI.

The answers of every channel (the JSON lane, JSON and CSV through Flask, the form, an upload) are compared byte for
byte with and without a challenger, one that scores and ones that fail; the challenger's shadow scores are audited
under the answer's request id and accrue realized accuracy; a labelled file decides auto-promotion.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import test_monitoring
from cli_runner import run_cli
from support.live_server import multipart_csv, post, serving
from support.versions import BREAST_CANCER, DIABETES, tamper_with_artifact

from dropml import audit, registry, storage
from dropml.config import load_settings
from dropml.usecases import challenger, live, realized
from dropml.usecases.score_file import score_file

TRAINING = pd.read_csv(BREAST_CANCER)
inbox = test_monitoring.inbox  # fixtures: every SNS message; monitoring.<key> set for a test
monitoring_settings = test_monitoring.monitoring_settings
WEAK_COLUMNS = ["texture_error", "smoothness_error"]  # alone they tell little: the weak version's only inputs
ADMIN_KEY = "challenger-admin-key-0123456789"


@pytest.fixture(scope="module")
def weak_csv(tmp_path_factory) -> Path:
    """Breast cancer with two uninformative columns: a version trained on it is a poor champion."""
    path = tmp_path_factory.mktemp("weak") / "weak_breast_cancer.csv"
    TRAINING[[*WEAK_COLUMNS, "target"]].to_csv(path, index=False)
    return path


def _put(key: str, frame: pd.DataFrame) -> str:
    storage.put_bytes(key, frame.to_csv(index=False).encode(), "text/csv")
    return key


def _records(rows: int, seed: int) -> pd.DataFrame:
    return TRAINING.sample(rows, random_state=seed).drop(columns=["target"]).reset_index(drop=True)


def _answers(base: str, tag: str) -> dict[str, tuple[int, str, bytes]]:
    """One request per channel, each under a fixed request id: status, content type and body of each answer."""
    one = _records(1, 1).iloc[0].to_dict()
    batch = _records(5, 2)
    form = urllib.parse.urlencode({f"col:{k}": str(v) for k, v in one.items()}).encode()
    upload, upload_type = multipart_csv("batch.csv", batch.to_csv(index=False).encode())
    asks = {
        "lane": (f"{base}/api/v1/predict", json.dumps(one).encode(), "application/json", None),
        "flask-json": (f"{base}/api/v1/predict", json.dumps(batch.to_dict("records")).encode(), "application/json",
                       "application/json;q=0.9"),
        "csv": (f"{base}/api/v1/predict", batch.to_csv(index=False).encode(), "text/csv", None),
        "form": (f"{base}/", form, "application/x-www-form-urlencoded", None),
        "upload": (f"{base}/upload", upload, upload_type, None),
    }  # fmt: skip
    found = {}
    for name, (url, body, content_type, accept) in asks.items():
        status, headers, answer = post(url, body, content_type, accept=accept, request_id=f"{tag}-{name}")
        if name == "upload":  # each upload's results are kept under a new random id: the one difference allowed
            answer = re.sub(rb"[0-9a-f]{32}", b"<result-id>", answer)
        found[name] = (status, headers.get("Content-Type", ""), answer)
    return found


def _challenger_records(request_ids: list[str], timeout: float = 30.0) -> dict[str, dict]:
    """The challenger's audit records of ``request_ids`` (their shadow runs after the answers: waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        audit.flush()
        found = {}
        for key in storage.list_keys("audit/predictions/"):
            for line in storage.get_bytes(key).body.splitlines():
                record = json.loads(line)
                if record.get("role") == "challenger" and record["request_id"] in request_ids:
                    found[record["request_id"]] = record
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _with_admin_key():
    return load_settings().model_copy(update={"admin_api_key": ADMIN_KEY})


def _admin(base: str, project: str, body: dict) -> tuple[int, dict]:
    """POST the admin API's promote with the admin key: its status and JSON answer."""
    request = urllib.request.Request(
        f"{base}/api/v1/admin/projects/{project}/promote",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": ADMIN_KEY},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_cli_and_the_admin_api_make_record_and_clear_a_challenger(aws, trained_versions, inbox):
    trained_versions.write()  # v1 live
    trained_versions.write(promote=False)  # v2
    done = run_cli(aws.endpoint, "promote", "default", "2", "--shadow")
    assert done.returncode == 0, done.stderr
    assert "v2 is the challenger, scored in the shadow of v1" in done.stdout
    assert registry.challenger_version("default").version == 2
    assert registry.live_version("default").version == 1  # the live version is untouched
    refused = run_cli(aws.endpoint, "promote", "default", "1", "--shadow")
    assert (refused.returncode, "is live" in refused.stderr) == (2, True), refused.stderr
    assert run_cli(aws.endpoint, "promote", "default", "2", "--no-shadow").returncode == 2  # no version to clear
    with serving(_with_admin_key()) as base:
        assert _admin(base, "default", {"shadow": False}) == (
            200, {"project": "default", "challenger": None, "was": 2, "live_version": 1}
        )  # fmt: skip
        assert _admin(base, "default", {"version": 2, "shadow": True})[0] == 200
        status, answer = _admin(base, "default", {"version": 2, "shadow": "yes"})
        assert (status, answer["error"]) == (400, "bad_input")
        assert _admin(base, "default", {"version": 9, "shadow": True})[0] == 404
    cleared = run_cli(aws.endpoint, "promote", "default", "--no-shadow")
    assert (cleared.returncode, cleared.stdout.strip()) == (0, "default: no challenger (v2 was)")
    assert registry.challenger_version("default") is None
    # every change kept in the parameter's history, and announced
    assert [e.model_version for e in registry.history("default", "challenger")] == [2, None, 2, None]
    shown = run_cli(aws.endpoint, "history", "default", "--challenger")
    assert [line.split()[1] for line in shown.stdout.splitlines()[1:]] == ["v2", "-", "v2", "-"], shown.stdout
    said = [(m["step"], m["version"], m.get("cleared", False)) for m in inbox() if m["step"] == "challenger"]
    assert said == [
        ("challenger", 2, False),
        ("challenger", 2, True),
        ("challenger", 2, False),
        ("challenger", 2, True),
    ]
    # promoting the challenger ends its shadow: it answers now
    live.challenge("default", 2)
    live.promote("default", 2)
    assert registry.challenger_version("default") is None


@pytest.mark.parametrize("kind", ["scores", "other-schema", "tampered"])
def test_a_challengers_shadow_scores_never_change_an_answer(aws, trained_versions, kind):
    trained_versions.write()  # v1 live
    with serving() as base:
        without = _answers(base, "same")
    if kind == "other-schema":  # a challenger whose schema no request here fits: it fails on every one
        shadow = trained_versions.write(csv=DIABETES, promote=False)
    else:
        shadow = trained_versions.write(promote=False)
    live.challenge("default", shadow.version)
    if kind == "tampered":  # checked when made the challenger, tampered with after: it cannot be loaded
        tamper_with_artifact(shadow, shadow.champion)
    audit.flush()
    with serving() as base:
        with_challenger = _answers(base, "same")
    assert with_challenger == without  # byte for byte, status and content type too
    assert {name: status for name, (status, _, _) in without.items()} == dict.fromkeys(without, 200)
    request_ids = [f"same-{name}" for name in without]
    shadowed = _challenger_records(request_ids, timeout=30 if kind == "scores" else 3)
    if kind != "scores":
        assert shadowed == {}
        return
    assert set(shadowed) == set(request_ids)
    for request_id, record in shadowed.items():
        assert (record["model_version"], record["role"], record["inputs"]) == (2, "challenger", None), request_id
    assert {r["channel"] for r in shadowed.values()} == {"json", "csv", "form", "upload"}
    assert shadowed["same-csv"]["rows"] == 5
    # the answer's own record is the one a request id is traced to
    assert audit.find_prediction("same-csv")["role"] == "live"


def test_a_labelled_files_shadow_promotes_a_better_challenger(
    aws,
    trained_versions,
    inbox,
    monitoring_settings,
    weak_csv,
):
    monitoring_settings(auto_promote=True, challenger={"window_rows": 100, "margin": 0.05})
    weak = trained_versions.write(csv=weak_csv)  # v1 live: a poor champion
    strong = trained_versions.write(promote=False)  # v2: the challenger
    live.challenge("default", strong.version)
    labelled = TRAINING.sample(60, random_state=21).reset_index(drop=True)
    score_file(_put("test/first.csv", labelled))  # 60 shared labelled rows: too few to decide
    assert registry.live_version("default").version == weak.version
    said = [(m["step"], m["outcome"]) for m in inbox() if m["step"] in ("challenger", "promote")]
    assert said == [("challenger", "succeeded")]  # made the challenger; no win, no promotion yet
    comparison = challenger.compare("default")
    assert (comparison.head_to_head.rows, comparison.beats) == (60, False)
    assert comparison.head_to_head.gain > 0.05  # better already, but not over enough rows
    assert (comparison.champion.rows, comparison.challenger.rows) == (60, 60)
    shown = run_cli(aws.endpoint, "compare", "default")
    assert shown.returncode == 0, shown.stderr
    assert "champion v1 against challenger v2 on f1_macro" in shown.stdout
    assert "same 60 labelled rows:" in shown.stdout
    assert "(needs 100)" in shown.stdout
    with serving() as base:
        document = test_monitoring._monitoring_json(base)
        page = urllib.request.urlopen(f"{base}/monitoring", timeout=60).read().decode()
    assert document["challenger_version"] == 2
    assert document["challenger"]["head_to_head"]["rows"] == 60
    assert [(v["version"], v["live"], v["challenger"]) for v in document["realized"]] == [
        (1, True, False),
        (2, False, True),
    ]
    assert 'data-testid="challenger-table"' in page
    assert "v2 (challenger) realized" in page

    score_file(_put("test/second.csv", TRAINING.sample(60, random_state=22).reset_index(drop=True)))
    assert registry.live_version("default").version == strong.version  # 120 shared rows: promoted
    assert registry.challenger_version("default") is None
    messages = inbox()
    [won] = [m for m in messages if (m["step"], m["outcome"]) == ("challenger", "alert")]
    assert (won["version"], won["champion"], won["rows"], won["auto_promote"]) == (2, 1, 100, True)
    [promoted] = [m for m in messages if m["step"] == "promote"]
    assert (promoted["outcome"], promoted["version"], promoted["was"], promoted["by"]) == (
        "succeeded",
        2,
        1,
        "monitoring",
    )
    assert [e.model_version for e in registry.history("default")][-1] == 2  # recorded like any promotion
    assert realized.realized_summary("default", 2).rows == 120


@pytest.mark.parametrize("case", ["auto-promote-off", "challenger-worse", "same-version-quality"])
def test_no_auto_promotion_unless_on_and_better_by_the_margin(
    aws,
    trained_versions,
    inbox,
    monitoring_settings,
    weak_csv,
    case,
):
    monitoring_settings(auto_promote=case != "auto-promote-off", challenger={"window_rows": 50, "margin": 0.05})
    if case == "challenger-worse":
        trained_versions.write()  # v1 live: strong
        trained_versions.write(csv=weak_csv, promote=False)  # v2: weak
    elif case == "same-version-quality":
        trained_versions.write()
        trained_versions.write(promote=False)  # the same training: the same answers, no gain
    else:
        trained_versions.write(csv=weak_csv)
        trained_versions.write(promote=False)
    live.challenge("default", 2)
    score_file(_put("test/labelled.csv", TRAINING.sample(80, random_state=23).reset_index(drop=True)))
    assert registry.live_version("default").version == 1
    assert registry.challenger_version("default").version == 2
    messages = inbox()
    assert [m for m in messages if m["step"] == "promote"] == []
    wins = [m for m in messages if (m["step"], m["outcome"]) == ("challenger", "alert")]
    assert len(wins) == (1 if case == "auto-promote-off" else 0)  # a win is announced, promoted only when on
    comparison = challenger.compare("default")
    assert comparison.head_to_head.rows == 50
    assert comparison.beats == (case == "auto-promote-off")


def _written_records(request_id: str) -> list[dict]:
    """The audit records of ``request_id`` already in S3 (nothing flushed here)."""
    found = []
    for key in storage.list_keys("audit/predictions/"):
        for line in storage.get_bytes(key).body.splitlines():
            record = json.loads(line)
            if record["request_id"] == request_id:
                found.append(record)
    return found


@pytest.mark.parametrize("channel", ["json-lane", "csv"])
def test_on_lambda_the_shadow_runs_after_the_body_is_built_and_before_the_invocation_returns(
    aws, trained_versions, channel
):
    """Zappa's handler (zappa/handler.py) runs the app as ``with Response.from_app(self.wsgi_app, environ) as
    response:``, reads ``response.data`` and returns from inside the block, whose exit closes the response: the
    challenger runs there, with ``audit.flush_every_request`` its record written before the handler returns."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Response

    from web import create_app

    trained_versions.write()
    trained_versions.write(promote=False)
    live.challenge("default", 2)
    conf = load_settings()
    conf = conf.model_copy(update={"audit": conf.audit.model_copy(update={"flush_every_request": True})})
    app = create_app(conf)
    frame = _records(3, 5)
    body, content_type = (
        (json.dumps(frame.iloc[0].to_dict()).encode(), "application/json")
        if channel == "json-lane"
        else (frame.to_csv(index=False).encode(), "text/csv")
    )
    request_id = f"lambda-{channel}"
    environ = EnvironBuilder(
        path="/api/v1/predict", method="POST", data=body, content_type=content_type,
        headers={"X-Request-ID": request_id},
    ).get_environ()  # fmt: skip
    with Response.from_app(app.wsgi_app, environ) as response:
        assert response.data  # the body, as Zappa reads it
        assert (response.status_code, response.headers["X-Model-Version"]) == (200, "1")
        assert [r["role"] for r in _written_records(request_id)] in (["live"], [])  # the challenger: not yet
    assert sorted(r["role"] for r in _written_records(request_id)) == ["challenger", "live"]

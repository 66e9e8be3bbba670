"""The job's entry point: exit 0 with one JSON line, 2 with one stderr line for DropmlError, 1 otherwise."""

from __future__ import annotations

import json

import pytest

from dropml.errors import BadInput
from dropml.logs import JsonFormatter
from dropml.manifest import CodeVersion, ColumnSchema, InputSchema, Manifest, ModelEntry
from training_job import main as entry


def _manifest() -> Manifest:
    return Manifest(
        project="crypto",
        version=4,
        created_at="2026-11-23T16:00:00Z",
        run_id="run-9",
        code=CodeVersion(dropml="0", git="abc", python="3.11", libraries={}),
        config={},
        target="open",
        task="regression",
        input_schema=InputSchema(columns=[ColumnSchema(name="x", dtype="float64", kind="numeric")]),
        artifacts={},
        models=[ModelEntry(name="m", estimator="linear", artifact="m", rank=1, metrics={})],
        rank_metric="rmse",
        champion="m",
    )


def test_train_prints_one_json_line_and_exits_0(monkeypatch, capsys):
    calls = []

    def fake_run_training(key, overrides, run_id):
        calls.append((key, overrides, run_id))
        return _manifest()

    monkeypatch.setattr("dropml.usecases.train.run_training", fake_run_training)
    code = entry.main(["train", "--key", "train/crypto/x.csv", "--overrides", '{"cv_folds": 3}', "--run-id", "r1"])
    assert code == 0
    assert calls == [("train/crypto/x.csv", {"cv_folds": 3}, "r1")]
    assert json.loads(capsys.readouterr().out) == {
        "job": "train",
        "project": "crypto",
        "version": 4,
        "manifest": "models/crypto/v4/manifest.json",
        "champion": "m",
        "run_id": "run-9",
    }


def test_dropml_errors_exit_2_with_one_line(monkeypatch, capsys):
    def bad(key, overrides, run_id):
        raise BadInput("target", "y", "target 'y' is not a column of the file; found: a, b")

    monkeypatch.setattr("dropml.usecases.train.run_training", bad)
    assert entry.main(["train", "--key", "train/x.csv"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: BadInput: target 'y' is not a column of the file; found: a, b\n"


def test_bad_overrides_exit_64_before_anything_runs(capsys):
    assert entry.main(["train", "--key", "train/x.csv", "--overrides", "[1, 2]"]) == 64
    assert capsys.readouterr().err == "error: UsageError: --overrides must be a JSON object (got '[1, 2]')\n"


def test_unexpected_errors_exit_1_with_a_logged_traceback(monkeypatch, caplog, capsys):
    def broken(key, overrides, run_id):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("dropml.usecases.train.run_training", broken)
    assert entry.main(["train", "--key", "train/x.csv"]) == 1
    assert capsys.readouterr().out == ""
    record = next(r for r in caplog.records if r.getMessage() == "job failed unexpectedly")
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["job"], line["key"]) == ("ERROR", "train", "train/x.csv")
    assert line["exception"].endswith("RuntimeError: disk on fire")


def test_score_calls_dropml_scoring(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(
        "dropml.usecases.score_file.score_file",
        lambda key, request_id=None: calls.append((key, request_id)) or "predictions/x.csv",
    )
    assert entry.main(["score", "--key", "test/x.csv", "--request-id", "q1"]) == 0
    assert calls == [("test/x.csv", "q1")]
    assert json.loads(capsys.readouterr().out) == {
        "job": "score",
        "key": "test/x.csv",
        "predictions": "predictions/x.csv",
    }


def test_monitor_reports_the_day_of_its_key(monkeypatch, capsys):
    calls = []

    def fake_monitor_day(day, project):
        calls.append((day, project))
        return {"day": day, "projects": {}}

    monkeypatch.setattr("dropml.usecases.daily_monitoring.monitor_day", fake_monitor_day)
    assert entry.main(["monitor", "--key", "audit/samples/date=2026-12-06/glass/", "--run-id", "m1"]) == 0
    assert entry.main(["monitor", "--key", "audit/samples/date=2026-12-06/"]) == 0
    assert calls == [("2026-12-06", "glass"), ("2026-12-06", None)]
    assert json.loads(capsys.readouterr().out.splitlines()[0])["job"] == "monitor"
    assert entry.main(["monitor", "--key", "audit/samples/date=yesterday/"]) == 2
    assert "not a monitoring day" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [([], "required: job"), (["train"], "required: --key"), (["train", "--key", "k", "--nope"], "--nope")],
)
def test_bad_arguments_exit_64_naming_the_problem(argv, named, capsys):
    assert entry.main(argv) == 64  # not 2: exit 2 means "bad input, announced by the job"
    err = capsys.readouterr().err
    assert err.startswith("error: UsageError: python -m training_job.main")
    assert named in err

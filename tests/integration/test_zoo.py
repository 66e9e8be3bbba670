"""The training zoo end to end: each file (tests/support/zoo.py) through the real job entry point on the moto server.

A file either publishes a version (manifest, artifacts matching their sha256,
a champion, a leaderboard row per model, every model predicting some of the
file's own rows in the file's own label values through dropml.scoring), or is
refused: exit code 2, a message naming the problem, an audit record saying so
and no manifest.

A published version has every model compiled (one of each default estimator:
the dummy baseline, the bounded ridge or logistic regression, a forest, extra
trees, gradient boosting; and the persistence baseline of a time-ordered set),
and what the API answers for the file's rows, sent as JSON records and as a
CSV body, is exactly what each model's scikit-learn pipeline answers (the file
holds the holdout the compile step checked, and the rows trained on).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os

import pandas as pd
import pytest
from fakes import FAST_TRAINING
from support.zoo import ZOO, ZooCase

from dropml import registry, storage
from dropml.config import reset_settings_cache, settings
from dropml.errors import BadInput
from dropml.scoring import load_version, predict, validate_frame
from dropml.scoring.csv_input import read_scoring_csv
from dropml.storage import keys
from dropml.storage.csv_format import detect_csv_format
from training_job import main as job_main
from web import create_app

pytestmark = pytest.mark.slow
PREDICTED_ROWS = 5
# FAST_TRAINING's models plus extra trees: one model of each default estimator (small, for make test's time)
ZOO_TRAINING = {
    **FAST_TRAINING,
    "models": {**FAST_TRAINING["models"], "extra_trees": {"estimator": "extra_trees", "params": {"n_estimators": 20}}},
}
REGRESSION_TOLERANCE = 1e-9  # of the largest answer, as dropml.training.compile checks


@pytest.fixture(autouse=True)
def _job_logs_go_to_this_tests_stderr():
    """The job's main adds a JSON log handler on the stderr of its time; a test's captured stderr closes after it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def _train(case: ZooCase, body: bytes, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, str]:
    key = f"train/{case.name}/{case.name}.csv"
    storage.put_bytes(key, body, "text/csv")
    overrides = {**ZOO_TRAINING, "target": case.target, **case.overrides}
    run_id = f"zoo-{case.name}"
    code = job_main.main(["train", "--key", key, "--overrides", json.dumps(overrides), "--run-id", run_id])
    out, err = capsys.readouterr()
    return code, out, err, run_id


def _audit(run_id: str) -> dict:
    found = [k for k in storage.list_keys(keys.audit_prefix("training")) if k.endswith(f"/{run_id}.json")]
    assert len(found) == 1, found
    return storage.get_json(found[0])


def _file_labels(body: bytes, target: str) -> pd.Series:
    """The target column as pandas reads the file the user uploaded (its own values and types)."""
    found = detect_csv_format(body)
    return pd.read_csv(io.BytesIO(body), **found.read_csv_options())[target].dropna()


def _same_label(value: object, original: object) -> bool:
    if isinstance(original, str):
        return isinstance(value, str) and " ".join(original.split()).casefold() == value.casefold()
    return type(value) is type(original) and value == original


def _check_classes(classes: list, body: bytes, target: str) -> None:
    originals = _file_labels(body, target).tolist()
    plain = originals[0].item() if hasattr(originals[0], "item") else originals[0]
    if (
        isinstance(plain, float)
        and all(float(v).is_integer() for v in originals)
        and pd.isna(pd.read_csv(io.BytesIO(body), **detect_csv_format(body).read_csv_options())[target]).any()
    ):
        originals = [int(v) for v in originals]  # whole numbers read as floats only because of blank targets
    originals = [v.item() if hasattr(v, "item") else v for v in originals]
    for value in classes:
        assert any(_same_label(value, original) for original in originals), (value, originals[:5])


def _check_published(case: ZooCase, body: bytes, code: int, out: str, err: str, record_property) -> None:
    assert code == 0, err
    shown = json.loads(out.strip().splitlines()[-1])
    manifest = registry.read_manifest(case.name, shown["version"])
    registry.verify_artifacts(manifest)
    assert manifest.task == case.task, manifest.data_quality.get("task_reason")
    assert manifest.champion == shown["champion"] == manifest.model_names[0]
    assert not manifest.model(manifest.champion).baseline
    board = pd.read_csv(io.BytesIO(storage.get_bytes(manifest.artifacts["leaderboard"].key).body))
    assert board["model"].tolist() == manifest.model_names
    assert set(board["model"]) - {"persistence"} == set(ZOO_TRAINING["models"])
    assert manifest.data_quality["file_format"] == detect_csv_format(body).describe()
    _check_every_row_accounted_for(manifest.data_quality, body)
    champion_score = manifest.model(manifest.champion).metrics[manifest.rank_metric]
    record_property("outcome", f"{manifest.champion} {manifest.rank_metric}={champion_score:.3f}")

    loaded = load_version(case.name, manifest.version)
    raw = read_scoring_csv(body, manifest.input_schema, f"{case.name}.csv")
    rows = validate_frame(manifest.input_schema, raw.head(PREDICTED_ROWS))
    answer = predict(loaded, rows, models="all", engine="in-process")
    assert set(answer.by_model) == set(manifest.model_names)
    for name, values in answer.by_model.items():
        assert len(values) == min(PREDICTED_ROWS, len(raw)), name
        predicted = values.tolist()
        if case.task == "classification":
            assert set(predicted) <= set(manifest.classes), (name, predicted, manifest.classes)
        else:
            assert all(isinstance(v, float) for v in predicted), name
    if case.task == "classification":
        _check_classes(manifest.classes, body, case.target)
        assert json.loads(json.dumps(answer.to_json()))["predictions"] == answer.champion_predictions.tolist()
    _check_compiled(case, manifest, body, raw)


def _valid_rows(schema, raw: pd.DataFrame) -> pd.DataFrame:
    """The file's rows that validation accepts (a row cleaning dropped may hold a value scoring refuses)."""
    try:
        validate_frame(schema, raw)
    except BadInput as err:
        refused = {problem["row"] - 1 for problem in err.problems if "row" in problem}
        return raw.drop(index=raw.index[sorted(refused)]).reset_index(drop=True)
    return raw


def _same_answers(served: list, expected, task: str) -> bool:
    if task == "classification":  # the same classes, of the same JSON types (true is not 1)
        typed = [(type(value), value) for value in json.loads(json.dumps(expected.tolist()))]
        return [(type(value), value) for value in served] == typed
    values = expected.astype(float).tolist()
    allowed = REGRESSION_TOLERANCE * max(*(abs(e) for e in values), 1.0)
    return all(abs(s - e) <= allowed for s, e in zip(served, values, strict=True))


def _check_compiled(case: ZooCase, manifest, body: bytes, raw: pd.DataFrame) -> None:
    assert manifest.uncompiled == {}, manifest.uncompiled
    loaded = load_version(case.name, manifest.version)
    assert set(loaded.compiled) == set(manifest.model_names)
    rows = _valid_rows(manifest.input_schema, raw)
    assert len(rows) >= 0.9 * len(raw), f"{len(raw) - len(rows)} of {len(raw)} rows refused by validation"
    checked = validate_frame(manifest.input_schema, rows)
    expected = {name: loaded.pipelines[name].predict(checked) for name in manifest.model_names}
    registry.promote(case.name, manifest.version)  # as the publish function does on the manifest's put
    os.environ["DROPML__DASK__BATCH_THRESHOLD"] = str(len(rows) + 1)  # in process: these are the models' answers
    reset_settings_cache()
    try:
        client = create_app(settings()).test_client()
        path = f"/api/v1/predict?project={case.name}"
        records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")  # every digit (not to_json)
        as_json = client.post(path, json=records)
        as_csv = client.post(path, data=rows.to_csv(index=False), headers={"Content-Type": "text/csv",
                                                                           "Accept": "application/json"})  # fmt: skip
    finally:
        os.environ.pop("DROPML__DASK__BATCH_THRESHOLD")
        reset_settings_cache()
    for answer in (as_json, as_csv):
        assert answer.status_code == 200, answer.data[:500]
        assert answer.json["engine"] == "in-process"
        for name, served in answer.json["models"].items():
            assert _same_answers(served, expected[name], manifest.task), name


def _check_every_row_accounted_for(quality: dict, body: bytes) -> None:
    """Every data row of the file is trained on, held out, or removed by an action that says why (no silent loss).

    The file's records are counted with Python's csv module, not the reader ingest uses, and blank lines are not
    records.
    """
    found = detect_csv_format(body)
    records = csv.reader(io.StringIO(body.decode(found.encoding), newline=""), delimiter=found.delimiter)
    rows = sum(1 for record in records if any(cell.strip() for cell in record)) - 1  # the header
    removed = sum(action.get("rows", 0) for action in quality["actions"])
    assert quality["rows_in"] == rows
    assert quality["rows_in"] - quality["rows_out"] == quality["rows_removed"] == removed, quality["actions"]
    assert quality["rows_out"] == quality["train_rows"] + quality["holdout_rows"] + quality.get("gap_rows", 0)
    assert not [w for w in quality["warnings"] if "without a recorded reason" in w]


def _check_refused(case: ZooCase, code: int, err: str, run_id: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    assert "unknown" not in err
    assert case.refusal in err, err
    assert not [k for k in storage.list_keys(f"models/{case.name}/") if k.endswith("manifest.json")]
    record = _audit(run_id)
    assert (record["outcome"], record["version"]) == ("failed", None)
    assert case.refusal in record["error"]


@pytest.mark.parametrize("case", ZOO, ids=[case.name for case in ZOO])
def test_zoo_file_publishes_or_is_refused_by_name(aws, capsys, record_property, case):
    body = case.load()
    code, out, err, run_id = _train(case, body, capsys)
    if case.publishes:
        _check_published(case, body, code, out, err, record_property)
    else:
        _check_refused(case, code, err, run_id)
        record_property("outcome", "refused: " + err.strip().splitlines()[-1][:160])

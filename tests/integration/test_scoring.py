"""Loading versions, predicting in process and on Dask, and scoring test/ files, against moto over HTTP."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from support.versions import BREAST_CANCER, VERSION_TRAINING, tamper_with_artifact

from dropml import notify, storage
from dropml.config import reset_settings_cache, settings
from dropml.errors import BadInput, ChecksumMismatch, NoLiveModel
from dropml.scoring import frame_from_records, load_version, predict, validate_frame
from dropml.usecases.score_file import score_file

FEATURES = pd.read_csv(BREAST_CANCER).drop(columns=["target"])


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The scoring step's announcements (a file's drift report announces itself as step ``drift``)."""
    calls: list[tuple] = []
    monkeypatch.setattr(notify, "announce", lambda *a, **k: calls.append((a, k)) if a[0] == "scoring" else None)
    return calls


def _use_threshold(monkeypatch: pytest.MonkeyPatch, rows: int, partition_rows: int = 50_000) -> None:
    monkeypatch.setenv("DROPML__DASK__BATCH_THRESHOLD", str(rows))
    monkeypatch.setenv("DROPML__DASK__PARTITION_ROWS", str(partition_rows))
    reset_settings_cache()


def test_load_version_checks_every_artifact_and_loads_real_pipelines(aws, trained_versions):
    manifest = trained_versions.write()
    loaded = load_version("default", manifest.version)
    assert sorted(loaded.model_names) == sorted(VERSION_TRAINING["models"])
    assert loaded.model_names[0] == loaded.champion == manifest.champion  # leaderboard order, champion first
    assert loaded.champion != "baseline"  # a real model beats the dummy on this data
    assert {type(p).__name__ for p in loaded.pipelines.values()} == {"Pipeline"}
    for name, pipeline in loaded.pipelines.items():
        assert [s[0] for s in pipeline.steps] == ["preprocess", "select", "model"], name


def test_tampered_artifact_loads_nothing(aws, trained_versions):
    manifest = trained_versions.write(promote=False)
    tamper_with_artifact(manifest, "random_forest")
    with pytest.raises(ChecksumMismatch, match=r"random_forest\.pkl"):
        load_version("default", manifest.version)


def test_predict_matches_a_bare_pipeline_predict(aws, trained_versions):
    manifest = trained_versions.write()
    loaded = load_version("default", 1)
    frame = validate_frame(loaded.schema, FEATURES.head(8))
    result = predict(loaded, frame, request_id="r-1", engine="in-process")
    assert result.engine == "in-process"
    assert result.version == 1
    assert list(result.by_model) == manifest.model_names
    expected = loaded.pipelines[manifest.champion].predict(FEATURES.head(8))
    assert result.champion_predictions.tolist() == expected.tolist()
    assert result.to_json()["predictions"] == expected.tolist()
    for name in manifest.model_names:
        assert result.by_model[name].tolist() == loaded.pipelines[name].predict(FEATURES.head(8)).tolist(), name
    champion_only = predict(loaded, frame, models="champion", engine="in-process")
    assert list(champion_only.by_model) == [manifest.champion]


@pytest.mark.parametrize("local_processes", [False, True], ids=["worker threads", "worker processes"])
def test_dask_gives_exactly_the_in_process_result(aws, trained_versions, monkeypatch, local_processes):
    monkeypatch.setenv("DROPML__DASK__LOCAL_PROCESSES", str(local_processes).lower())
    _use_threshold(monkeypatch, rows=10, partition_rows=100)
    trained_versions.write()
    loaded = load_version("default", 1)
    frame = validate_frame(loaded.schema, FEATURES)
    on_dask = predict(loaded, frame)
    in_process = predict(loaded, frame, engine="in-process")
    assert on_dask.engine == "dask"
    for name in loaded.model_names:
        assert np.array_equal(on_dask.by_model[name], in_process.by_model[name])
    small = predict(loaded, frame.head(10))
    assert small.engine == "in-process"


def _put_test_file(name: str, frame: pd.DataFrame) -> str:
    key = f"test/{name}"
    storage.put_bytes(key, frame.to_csv(index=False).encode(), "text/csv")
    return key


def test_score_file_writes_inputs_every_model_champion_version_and_request_id(
    aws, trained_versions, announced, monkeypatch
):
    _use_threshold(monkeypatch, rows=1000)
    manifest = trained_versions.write()
    data = FEATURES.head(20).copy()
    data.insert(0, "patient_id", [f"p{i}" for i in range(20)])
    key = _put_test_file("batch.csv", data)
    out_key = score_file(key, request_id="req-7")
    assert out_key == "predictions/batch.csv"
    written = storage.get_bytes(out_key)
    out = pd.read_csv(io.BytesIO(written.body))
    assert list(out.columns) == [
        "patient_id", *FEATURES.columns, *(f"pred_{name}" for name in manifest.model_names),
        "prediction", "champion", "model_version", "request_id", "outside_training_range",
    ]  # fmt: skip
    assert out["patient_id"].tolist() == data["patient_id"].tolist()
    assert out["prediction"].tolist() == out[f"pred_{manifest.champion}"].tolist()
    assert set(out["champion"]) == {manifest.champion}
    assert set(out["model_version"]) == {1}
    assert set(out["request_id"]) == {"req-7"}
    assert written.metadata["model-version"] == "1"
    assert written.metadata["engine"] == "in-process"
    assert announced[0][0][:2] == ("scoring", "succeeded")
    assert announced[0][1]["rows"] == 20


def test_score_file_is_idempotent_and_rescores_for_a_new_version(aws, trained_versions, announced):
    trained_versions.write()
    key = _put_test_file("again.csv", FEATURES.head(5))
    score_file(key, request_id="first")
    first = storage.get_bytes("predictions/again.csv")
    score_file(key, request_id="second")  # duplicate event: nothing rewritten
    assert storage.get_bytes("predictions/again.csv").body == first.body
    assert len(announced) == 1
    trained_versions.write()
    score_file(key, request_id="third")
    again = pd.read_csv(io.BytesIO(storage.get_bytes("predictions/again.csv").body))
    assert set(again["model_version"]) == {2}
    assert set(again["request_id"]) == {"third"}


def test_score_file_on_dask_reads_blocks_from_s3_and_matches_in_process_bytes(
    aws, trained_versions, announced, monkeypatch
):
    trained_versions.write()
    big = pd.concat([FEATURES] * 8, ignore_index=True)
    big.insert(0, "row_id", range(len(big)))
    key = _put_test_file("big.csv", big)
    _use_threshold(monkeypatch, rows=10, partition_rows=100)  # 64 KiB blocks: ~15 of them
    score_file(key, request_id="same")
    on_dask = storage.get_bytes("predictions/big.csv")
    assert on_dask.metadata["engine"] == "dask"
    storage.delete("predictions/big.csv")
    _use_threshold(monkeypatch, rows=10_000_000)
    score_file(key, request_id="same")
    in_process = storage.get_bytes("predictions/big.csv")
    assert in_process.metadata["engine"] == "in-process"
    assert on_dask.body == in_process.body
    out = pd.read_csv(io.BytesIO(on_dask.body))
    assert out["row_id"].tolist() == list(range(len(big)))


def test_score_file_reports_bad_rows_by_number_and_writes_nothing(aws, trained_versions, announced):
    trained_versions.write()
    data = FEATURES.head(6).astype(object)
    data.loc[4, "mean_radius"] = "n/a?"
    key = _put_test_file("bad.csv", data.drop(columns=["mean_area"]))
    with pytest.raises(BadInput) as err:
        score_file(key)
    problems = [(p["field"], p.get("row")) for p in err.value.problems]
    assert ("mean_area", None) in problems
    assert ("mean_radius", 5) in problems
    assert not storage.exists("predictions/bad.csv")
    assert announced[-1][0][:2] == ("scoring", "failed")


def test_score_file_without_a_live_model_fails_loudly(aws, announced):
    key = _put_test_file("early.csv", FEATURES.head(2))
    with pytest.raises(NoLiveModel):
        score_file(key)
    assert announced[-1][0][:2] == ("scoring", "failed")


def test_score_file_refuses_keys_outside_test(aws):
    with pytest.raises(BadInput, match="must start with test/"):
        score_file("train/x.csv")


def test_records_and_frames_give_the_same_predictions(aws, trained_versions):
    trained_versions.write()
    loaded = load_version("default", 1)
    records = FEATURES.head(3).to_dict("records")
    by_records = predict(loaded, frame_from_records(loaded.schema, records), engine="in-process")
    by_frame = predict(loaded, validate_frame(loaded.schema, FEATURES.head(3)), engine="in-process")
    assert by_records.to_json()["models"] == by_frame.to_json()["models"]
    assert settings().dask.batch_threshold == 10


def test_unreachable_dask_scheduler_falls_back_to_in_process(aws, trained_versions, monkeypatch):
    from dropml.local import free_port
    from dropml.scoring import dask_executor

    manifest = trained_versions.write()
    loaded = load_version("default", 1)
    frame = validate_frame(loaded.schema, FEATURES.head(50))
    monkeypatch.setenv("DROPML__DASK__SCHEDULER_ADDRESS", f"tcp://127.0.0.1:{free_port()}")
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT_SECONDS", 1)
    reset_settings_cache()
    try:
        result = predict(loaded, frame)
        assert result.engine == "in-process"
        expected = loaded.pipelines[manifest.champion].predict(FEATURES.head(50))
        assert result.champion_predictions.tolist() == expected.tolist()
        with pytest.raises(dask_executor.DaskUnavailable, match="unavailable"):  # fails fast now, no new wait
            dask_executor.get_client()
    finally:
        dask_executor._state["failed_at"] = None


def test_a_batch_dask_loses_is_scored_in_process_and_dask_is_used_again(aws, trained_versions, monkeypatch):
    from distributed.client import FutureCancelledError

    from dropml.scoring import dask_executor

    _use_threshold(monkeypatch, rows=10, partition_rows=100)
    trained_versions.write()
    loaded = load_version("default", 1)
    frame = validate_frame(loaded.schema, FEATURES)
    client = dask_executor.get_client()
    real_gather = client.gather
    lost = []

    def gather_losing_the_first(futures, *args, **kwargs):
        if not lost:
            lost.append(True)
            raise FutureCancelledError("_predict_partition-0", reason="lost dependencies")  # seen under load
        return real_gather(futures, *args, **kwargs)

    monkeypatch.setattr(client, "gather", gather_losing_the_first)
    rescued = predict(loaded, frame)
    assert rescued.engine == "in-process"
    expected = predict(loaded, frame, engine="in-process")
    assert np.array_equal(rescued.by_model["linear"], expected.by_model["linear"])
    again = predict(loaded, frame)
    assert again.engine == "dask"  # a lost batch is not an unavailable Dask
    assert np.array_equal(again.by_model["random_forest"], expected.by_model["random_forest"])

"""Drops become one partitioned Parquet dataset (checked, keyed, refused whole), and a dataset trains in process or on
Dask into a version that serving loads like any other (the moto server over HTTP)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from dropml import storage
from dropml.config import reset_settings_cache, settings
from dropml.errors import BadInput
from dropml.events import S3Object
from dropml.scoring.load import load_version, predict_in_process
from dropml.storage import keys
from dropml.training import dataset, sources
from dropml.usecases import drops, triggers
from dropml.usecases.train import run_training


def _drop(key: str, frame: pd.DataFrame, when: str = "2026-12-07T10:00:00.000Z") -> S3Object:
    if key.endswith(".parquet"):
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        body = buffer.getvalue()
    else:
        body = frame.to_csv(index=False).encode()
    storage.put_bytes(key, body)
    obj = S3Object(storage.bucket(), key, len(body), storage.head(key).etag, "ObjectCreated:Put", when)
    drops.append(obj)
    return obj


def _prices(days: int, symbols: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"date": f"2026-11-{day + 1:02d}", "symbol": f"S{s}", "volume": float(rng.integers(1, 100)), "open": 10.0 + s}
        for day in range(days)
        for s in range(symbols)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def keyed(aws, monkeypatch):
    monkeypatch.setenv("DROPML__PROJECTS", '{"prices": {"target": "open", "task": "regression", '
                       '"time_column": "date", "group_column": "symbol"}}')  # fmt: skip
    reset_settings_cache()
    return aws


def test_drops_append_one_part_per_day_and_a_repeated_key_keeps_its_latest_row(keyed):
    first = _prices(days=2, symbols=3)
    _drop("data/prices/a.csv", first, "2026-12-01T00:00:00Z")
    again = first.iloc[[0]].assign(volume=999.0)  # the same (date, symbol) dropped later: it replaces the first
    _drop("data/prices/b.csv", again, "2026-12-02T00:00:00Z")
    parts = dataset.list_parts("prices")
    assert [p.day for p in parts] == ["2026-11-01", "2026-11-01", "2026-11-02"]
    assert sum(p.rows for p in parts) == 7
    frame = dataset.read_frame(dataset.describe("prices"), keyed_conf())
    assert len(frame) == 6
    assert frame.loc[(frame["date"] == "2026-11-01") & (frame["symbol"] == "S0"), "volume"].tolist() == [999.0]


def keyed_conf():
    from dropml.config import settings

    return settings().training_for("prices")


def test_a_redelivered_drop_writes_the_same_parts_not_twice_the_rows(keyed):
    obj = _drop("data/prices/a.csv", _prices(days=1, symbols=2))
    drops.append(obj)
    assert sum(p.rows for p in dataset.list_parts("prices")) == 2


def test_a_malformed_drop_is_refused_naming_the_problem_and_nothing_is_appended(keyed):
    _drop("data/prices/a.csv", _prices(days=1, symbols=2))
    before = dataset.list_parts("prices")
    with pytest.raises(BadInput, match=r"missing volume; unexpected vol"):
        _drop("data/prices/b.csv", _prices(1, 1).rename(columns={"volume": "vol"}))
    with pytest.raises(BadInput, match=r"column 'volume' must hold number values; rows \[2\] hold 'lots'"):
        _drop("data/prices/c.csv", _prices(1, 2).astype({"volume": object}).assign(volume=[1.0, "lots"]))
    with pytest.raises(BadInput, match=r"key column 'symbol' is empty in rows \[1\]"):
        _drop("data/prices/d.csv", _prices(1, 2).assign(symbol=[None, "S1"]))
    assert dataset.list_parts("prices") == before


def test_equal_rows_of_a_project_without_keys_are_all_kept(aws):
    frame = pd.DataFrame({"answer": ["yes"] * 5, "target": [1] * 5})
    _drop("data/survey/a.csv", frame)
    _drop("data/survey/b.parquet", frame)
    assert len(dataset.read_frame(dataset.describe("survey"), keyed_conf_default())) == 10


def keyed_conf_default():
    from dropml.config import settings

    return settings().training_for("survey")


def test_the_schedule_trains_the_dataset_not_a_file_per_drop(keyed):
    for n in range(3):
        _drop(f"data/prices/{n}.csv", _prices(days=1, symbols=2, seed=n).assign(date=f"2026-11-0{n + 1}"))
    found = triggers.training_source("prices")
    assert found.key == "datasets/prices/"
    assert found.size == dataset.describe("prices").size
    assert list(storage.list_keys("idempotency/")) == []  # no drop started a run


def _regression(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["target"] = 3 * x[:, 0] - 2 * x[:, 1] + np.sin(3 * x[:, 2]) + 0.1 * rng.standard_normal(rows)
    return frame


@pytest.mark.slow
def test_a_dataset_over_the_dask_threshold_trains_on_a_local_cluster_and_serves_like_any_version(aws, monkeypatch):
    for n in range(4):
        _drop(f"data/big/{n}.parquet", _regression(5000, n))
    monkeypatch.setenv("DROPML__DASK__TRAIN_ABOVE_BYTES", "1000")
    monkeypatch.setenv("DROPML__DASK__TRAINING_PARTITION_BYTES", "100000")
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKER_MEMORY", "1GiB")
    reset_settings_cache()
    manifest = run_training(keys.dataset_prefix("big"))
    assert manifest.config["engine"] == "dask"
    assert {m.name for m in manifest.models} == {"baseline", "linear", "gradient_boosting"}
    assert manifest.data.rows == 20_000
    assert manifest.champion == "gradient_boosting"
    champion = manifest.model("gradient_boosting")
    assert champion.metrics["holdout_r2"] > 0.9
    assert champion.compiled is not None
    assert manifest.model("linear").compiled is not None
    loaded = load_version("big", manifest.version)
    rows = _regression(200, 99)
    predicted = predict_in_process(loaded, rows.drop(columns="target"), loaded.model_names)
    assert np.corrcoef(predicted["gradient_boosting"], rows["target"])[0, 1] > 0.95


@pytest.mark.slow
def test_a_csv_file_over_the_dask_threshold_trains_a_classifier_on_dask_read_by_byte_ranges(aws, monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12_000, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame["target"] = np.where(x[:, 0] + x[:, 1] > 0.5, "high", np.where(x[:, 0] - x[:, 2] > 0, "mid", "low"))
    body = frame.to_csv(index=False, sep=";").encode()
    storage.put_bytes("train/classes/rows.csv", body, "text/csv")
    monkeypatch.setenv("DROPML__DASK__TRAIN_ABOVE_BYTES", "1000")
    monkeypatch.setenv("DROPML__DASK__TRAINING_PARTITION_BYTES", str(len(body) // 5))  # cuts inside lines
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKER_MEMORY", "1GiB")
    reset_settings_cache()
    manifest = run_training("train/classes/rows.csv")
    assert manifest.config["engine"] == "dask"
    assert manifest.data.rows == 12_000  # every line read once, none lost at a cut
    assert manifest.task == "classification"
    assert manifest.classes == ["high", "low", "mid"]
    assert manifest.model("gradient_boosting").metrics["holdout_accuracy"] > 0.9
    assert manifest.model("linear").metrics["holdout_f1_macro"] > 0.6
    loaded = load_version("classes", manifest.version)
    assert set(loaded.compiled) >= {"linear"}
    rows = frame.drop(columns="target").iloc[:500]
    predicted = predict_in_process(loaded, rows, loaded.model_names)
    assert (predicted["gradient_boosting"] == frame["target"].iloc[:500].to_numpy()).mean() > 0.9


@pytest.fixture
def members(aws, monkeypatch):
    """A project whose rows are versions of a member's record: row_key member, the latest kept."""
    monkeypatch.setenv("DROPML__PROJECTS", '{"members": {"target": "spend", "task": "regression", '
                       '"row_key": ["member"], "repeated_row_keys": "keep_latest"}}')  # fmt: skip
    reset_settings_cache()
    return aws


def _members(ids: range, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(ids), 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    frame.insert(0, "member", [f"m{i}" for i in ids])
    frame["spend"] = 3 * x[:, 0] - 2 * x[:, 1] + 0.1 * rng.standard_normal(len(ids))
    return frame


@pytest.mark.slow
def test_a_row_key_kept_latest_replaces_earlier_rows_across_partitions_on_dask_as_in_process(members, monkeypatch):
    _drop("data/members/first.parquet", _members(range(4000), seed=1), "2026-12-01T00:00:00Z")
    _drop("data/members/second.parquet", _members(range(3000, 6000), seed=2), "2026-12-02T00:00:00Z")
    updated = _members(range(0, 4000, 4), seed=3)  # every 4th member of the first drop again, a day later
    _drop("data/members/third.parquet", updated, "2026-12-03T00:00:00Z")
    from dropml.config import settings

    conf = settings().training_for("members")
    in_process = dataset.read_frame(dataset.describe("members", conf), conf)
    assert len(in_process) == 6000
    assert in_process["member"].is_unique
    latest = in_process.set_index("member").loc[updated["member"], "spend"].to_numpy()
    assert latest.tolist() == updated["spend"].tolist()

    monkeypatch.setenv("DROPML__DASK__TRAIN_ABOVE_BYTES", "1000")
    monkeypatch.setenv("DROPML__DASK__TRAINING_PARTITION_BYTES", "1024")  # a partition per part: keys meet across
    monkeypatch.setenv("DROPML__DASK__TRAINING_WORKER_MEMORY", "1GiB")
    reset_settings_cache()
    manifest = run_training(keys.dataset_prefix("members"))
    assert manifest.config["engine"] == "dask"
    assert manifest.data.rows == 6000  # 1,000 + 1,000 earlier versions replaced
    replaced = {a["action"]: a for a in manifest.data_quality["actions"]}["kept_latest_per_row_key"]
    assert replaced["count"] == 1000 + 1000  # the second drop's 1,000 overlap the first; the third's 1,000
    assert "member" not in manifest.input_schema.names  # a row key says which thing a row is: not a feature
    assert manifest.data_quality["split"].startswith("by row key member")
    assert manifest.model("linear").metrics["holdout_r2"] > 0.95


def test_a_dataset_is_as_big_as_its_frame_when_parquet_compresses_it(aws):
    repetitive = pd.DataFrame({"x": np.tile([1.0, 2.0], 20_000), "target": np.tile([0.0, 1.0], 20_000)})
    _drop("data/flat/a.parquet", repetitive)
    conf = settings().training_for("flat")
    found = dataset.describe("flat", conf)
    assert found.size < 40_000 * 2 * 8 / 10  # Parquet: a tenth of the frame, or less
    assert sources.training_bytes("datasets/flat/", "flat", conf) == 40_000 * 2 * 8

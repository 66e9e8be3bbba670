"""One cache of loaded versions per process: the web app, file scoring, evaluation and Dask share one load.

Everything here runs the real code against moto over HTTP, on what the real
training job publishes. Loads are counted from the log line every unpickling
of a version writes (``model version loaded``), so a path that bypassed the
cache would be counted too.
"""

from __future__ import annotations

import gc
import io
import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from fakes import FAST_TRAINING

from dropml import audit, registry, storage
from dropml.config import load_settings, reset_settings_cache
from dropml.scoring import dask_executor, load_version, predict, validate_frame, version_cache
from dropml.usecases.score_file import score_file
from dropml.usecases.train import run_training
from web import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DIABETES = EXAMPLES / "diabetes.csv"
PROJECT = "diabetes"


def _loads(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int]]:
    """(project, version) of every version unpickled in this process since the test started."""
    return [(r.project, r.model_version) for r in caplog.records if r.getMessage() == "model version loaded"]


@pytest.fixture
def trained(aws) -> int:
    """Train and publish a diabetes version (what the training job and the publish event do); its number."""
    key = f"train/{PROJECT}/diabetes.csv"
    storage.put_bytes(key, DIABETES.read_bytes(), "text/csv")
    manifest = run_training(key, overrides=FAST_TRAINING)
    if registry.live_version(PROJECT) is None:
        registry.promote(PROJECT, manifest.version)
    return manifest.version


def test_a_version_is_loaded_once_whichever_path_asks(trained, caplog):
    caplog.set_level(logging.INFO, logger="dropml.scoring")
    data = pd.read_csv(DIABETES)
    features = data.drop(columns=["target"])
    client = create_app(load_settings()).test_client()

    answer = client.post(f"/api/v1/predict?project={PROJECT}", json=features.head(3).to_dict("records"))
    assert answer.status_code == 200, answer.json
    assert answer.json["model_version"] == trained
    assert _loads(caplog) == [(PROJECT, trained)]

    storage.put_bytes(f"test/{PROJECT}/holdout.csv", data.head(30).to_csv(index=False).encode(), "text/csv")
    out_key = score_file(f"test/{PROJECT}/holdout.csv", request_id="one-cache")
    scored = pd.read_csv(io.BytesIO(storage.get_bytes(out_key).body))
    assert len(scored) == 30
    assert set(scored["model_version"]) == {trained}

    labelled = data.head(40).to_csv(index=False).encode()
    for _ in range(2):  # every evaluation used to unpickle every model
        evaluated = client.post(
            f"/api/v1/experiments/{PROJECT}/evaluate", data=labelled, headers={"Content-Type": "text/csv"}
        )
        assert evaluated.status_code == 200, evaluated.json
        assert (evaluated.json["model_version"], evaluated.json["rows"]) == (trained, 40)

    assert client.get(f"/api/v1/health?project={PROJECT}").json["status"] == "ok"
    assert _loads(caplog) == [(PROJECT, trained)]  # file scoring and evaluation found the web app's copy
    audit.flush()


def test_big_files_on_dask_use_the_cached_version(trained, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="dropml.scoring")
    monkeypatch.setenv("DROPML__DASK__BATCH_THRESHOLD", "10")
    monkeypatch.setenv("DROPML__DASK__PARTITION_ROWS", "100")
    reset_settings_cache()
    data = pd.read_csv(DIABETES)
    loaded = version_cache.cached_version(PROJECT, trained)

    storage.put_bytes(f"test/{PROJECT}/all.csv", data.to_csv(index=False).encode(), "text/csv")
    out_key = score_file(f"test/{PROJECT}/all.csv")
    written = storage.get_bytes(out_key)
    assert written.metadata["engine"] == "dask"
    scored = pd.read_csv(io.BytesIO(written.body))
    expected = loaded.pipelines[loaded.champion].predict(data.drop(columns=["target"]))
    assert scored["prediction"].tolist() == pytest.approx(expected.tolist())
    assert _loads(caplog) == [(PROJECT, trained)]  # loaded once above; the blocks on the workers reused it


def _copies_on_workers(client) -> list[str]:
    """The keys of loaded versions the workers hold (scatter names them after the object's type)."""
    return [key for keys in client.has_what().values() for key in keys if str(key).startswith("LoadedVersion-")]


def test_dask_workers_hold_a_version_exactly_as_long_as_the_loaded_object_lives(trained, monkeypatch):
    monkeypatch.setenv("DROPML__DASK__LOCAL_PROCESSES", "true")  # workers in other processes get copies
    monkeypatch.setenv("DROPML__DASK__BATCH_THRESHOLD", "10")
    monkeypatch.setenv("DROPML__DASK__PARTITION_ROWS", "100")
    reset_settings_cache()
    workers = load_settings().dask.n_workers
    loaded = load_version(PROJECT, trained)  # outside the cache: only this test holds it
    frame = validate_frame(loaded.schema, pd.read_csv(DIABETES).drop(columns=["target"]))
    try:
        client = dask_executor.get_client()
        first = predict(loaded, frame)
        assert first.engine == "dask"
        copies = _copies_on_workers(client)
        assert len(copies) == workers  # broadcast: one copy per worker
        assert len(set(copies)) == 1
        again = predict(loaded, frame)
        assert again.engine == "dask"
        # sent once, reused by the next batch: no new key. (Dask's active memory manager may drop a replica it no
        # longer needs between batches, so the count of copies is not the invariant, the one key is.)
        assert set(_copies_on_workers(client)) == set(copies)

        del loaded, first, again
        gc.collect()
        deadline = time.monotonic() + 10
        while _copies_on_workers(client):  # released asynchronously by the scheduler
            assert time.monotonic() < deadline, client.has_what()
            time.sleep(0.1)
    finally:
        dask_executor.close()  # the next test gets the default (threads) cluster

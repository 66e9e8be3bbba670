"""Past one worker's memory, end to end on the local world (moto enforcing IAM, each component as its own role):
Parquet drops under data/ → the drop function appends them to the project's dataset → the weekly schedule starts one
training run on the dataset → the job trains on a LocalCluster whose per-worker memory limit is below the data →
the version is published and served through the API, and every call was allowed by the template's policies."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from dask.utils import parse_bytes

from dropml import aws, registry, storage
from dropml.config import reset_settings_cache, settings
from dropml.local import jobs, poller
from dropml.local.demo import serve_web, stop_web
from dropml.local.moto_server import free_port
from dropml.training import dataset
from tests.integration.test_end_to_end import _all_jobs_finished, _call, chain, wait_until  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
PROJECT = "sensors"
DROPS = 52
ROWS_PER_DROP = 50_000
FEATURES = 30
# The data read is 2.6M rows x 31 float64 columns (645 MB); each of the 4 workers may hold 580 MiB (608 MB). A
# worker's own floor is most of that (bench/scale.py, 4 workers on 1M rows with no binding limit: 430 MiB each, of
# which 227 MiB are pandas, pyarrow, scikit-learn and LightGBM imported), so the data cannot shrink much below the
# limit: what makes the run short is small parts (a 12 MiB drop read at a time), a few boosting rounds and fewer bytes.
WORKER_MEMORY = "580MiB"
ENVIRONMENT = {
    "DROPML__DASK__TRAIN_ABOVE_BYTES": str(50 * 1024 * 1024),
    "DROPML__DASK__TRAINING_WORKERS": "4",
    "DROPML__DASK__TRAINING_WORKER_MEMORY": WORKER_MEMORY,
    "DROPML__DASK__TRAINING_PARTITION_BYTES": str(8 * 1024 * 1024),  # one drop's part per partition
    "DROPML__TRAINING__BOOSTING_ROUNDS": "80",
}


def _drop_body(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS_PER_DROP, FEATURES))
    frame = pd.DataFrame(x, columns=[f"x{i:02d}" for i in range(FEATURES)])
    frame["target"] = (
        3 * x[:, 0] - 2 * x[:, 1] + np.sin(3 * x[:, 2]) + x[:, 3] * x[:, 4] + 0.1 * rng.standard_normal(len(x))
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_drops_become_a_dataset_that_trains_on_dask_past_a_workers_memory_and_is_served(chain, monkeypatch, tmp_path):  # noqa: F811
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)  # the job processes inherit them
    reset_settings_cache()
    chain.poller.start()
    for n in range(DROPS):
        storage.put_bytes(f"data/{PROJECT}/day-{n}.parquet", _drop_body(n), "application/vnd.apache.parquet")
    storage.put_bytes(f"data/{PROJECT}/broken.csv", b"x00,x01\n1,2\n", "text/csv")  # refused: wrong columns

    notes: list[dict] = []

    def drops_handled() -> bool:
        notes.extend(chain.announcements())
        return len([n for n in notes if n["step"] == "drop"]) >= DROPS + 1

    wait_until("every drop handled", drops_handled, timeout=400)
    appended = [n for n in notes if n["step"] == "drop" and n["outcome"] == "succeeded"]
    refused = [n for n in notes if n["step"] == "drop" and n["outcome"] == "failed"]
    assert sorted(n["rows"] for n in appended) == [ROWS_PER_DROP] * DROPS
    assert [n["key"] for n in refused] == [f"data/{PROJECT}/broken.csv"]
    assert "missing x02, x03" in refused[0]["error"]
    assert jobs.local_jobs() == []  # drops start no training run
    found = dataset.describe(PROJECT)
    assert found.rows == DROPS * ROWS_PER_DROP

    trigger = poller.load_handler("functions/train_trigger/")
    with aws.using_credentials(chain.running.roles["TrainTriggerFunction"].credentials):  # the schedule, as its role
        started = trigger({"schedule": "weekly-retrain", "job": "train", "project": PROJECT}, None)
    assert started["key"] == f"datasets/{PROJECT}/", started
    wait_until("the dataset's version live", lambda: registry.live_version(PROJECT) is not None, timeout=600)
    wait_until("jobs to finish", _all_jobs_finished)
    assert [job.process.returncode for job in jobs.local_jobs()] == [0]

    manifest = registry.read_manifest(PROJECT, 1)
    read_bytes = manifest.data.rows * (FEATURES + 1) * 8  # the data as one process would hold it (float64)
    limit = parse_bytes(settings().dask.training_worker_memory)
    assert limit < read_bytes, (limit, read_bytes)
    assert limit < manifest.data.bytes, (limit, manifest.data.bytes)
    assert manifest.config["engine"] == "dask"
    assert (manifest.data.key, manifest.data.rows) == (f"datasets/{PROJECT}/", DROPS * ROWS_PER_DROP)
    assert manifest.champion == "gradient_boosting"
    assert manifest.model("gradient_boosting").metrics["holdout_r2"] > 0.9
    assert manifest.model("gradient_boosting").compiled is not None
    log = jobs.local_jobs()[0].log_path.read_text()
    assert "training on dask" in log
    assert "training cluster started" in log
    assert "exceeded 95% memory budget" not in log  # no worker was restarted: the run fit its limit

    port = free_port()
    web = serve_web(port, chain.running.component_environment("WebApp"), log_path=tmp_path / "web.log")
    assert web is not None, (tmp_path / "web.log").read_text()[-3000:]
    try:
        record = {f"x{i:02d}": 0.5 for i in range(FEATURES)}
        status, answer = _call(f"http://127.0.0.1:{port}/api/v1/predict?project={PROJECT}", record)
    finally:
        stop_web(web)
    assert status == 200, answer
    assert (answer["model_version"], answer["champion"]) == (1, "gradient_boosting"), answer
    expected = 3 * 0.5 - 2 * 0.5 + np.sin(1.5) + 0.25
    assert abs(answer["predictions"][0] - expected) < 0.5, answer

    checked = chain.running.check_iam()
    print(f"\n{checked.report}")
    assert checked.unknown == []
    assert checked.denied == [], json.dumps([str(d) for d in checked.denied])[:3000]

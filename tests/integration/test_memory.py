"""Serving memory stays flat: RSS after 500 batch requests is within 30 MiB of RSS after the warm-up."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from support.versions import BREAST_CANCER

from dropml import audit
from dropml.config import load_settings
from web import create_app

BATCH = pd.read_csv(BREAST_CANCER).drop(columns=["target"]).head(50).to_dict("records")
WARM_UP = 100
REQUESTS = 500
BOUND_MIB = 30


def rss_mib() -> float:
    """This process's resident set size (Linux /proc)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.slow
def test_rss_is_flat_over_500_batch_requests(aws, trained_versions):
    trained_versions.write()
    conf = load_settings()
    # in process (not Dask): this measures the app, validation and the pipelines, not a LocalCluster
    conf = conf.model_copy(update={"dask": conf.dask.model_copy(update={"batch_threshold": 1000})})
    client = create_app(conf).test_client()
    for _ in range(WARM_UP):
        assert client.post("/api/v1/predict", json=BATCH).status_code == 200
    audit.flush()
    before = rss_mib()
    for number in range(REQUESTS):
        response = client.post("/api/v1/predict", json=BATCH)
        assert response.status_code == 200, number
        assert response.json["rows"] == 50
    audit.flush()
    growth = rss_mib() - before
    assert growth < BOUND_MIB, f"RSS grew {growth:.1f} MiB over {REQUESTS} requests"
